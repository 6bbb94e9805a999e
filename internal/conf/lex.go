package conf

// The job-file tokenizer. It follows the rules of libnih's config parser,
// which Upstart uses (see the package documentation for the rules).

import (
	"strconv"
	"unicode/utf8"
)

const (
	chWS    = " \t\r"    // whitespace
	chCNL   = "#\n"      // what ends a line: a comment or a newline
	chCNLWS = " \t\r#\n" // what separates arguments
)

func in(c byte, set string) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

type lexer struct {
	path string
	data []byte
	pos  int
	line int
}

func (l *lexer) errAt(line int, msg string) *Error {
	return &Error{Path: l.path, Line: line, Msg: msg}
}

func (l *lexer) err(msg string) *Error { return l.errAt(l.line, msg) }

// hasToken reports whether there is something other than the end of the
// line (or file) or a comment at the current position.
func (l *lexer) hasToken() bool {
	return l.pos < len(l.data) && !in(l.data[l.pos], chCNL)
}

// skipWS skips whitespace, including escaped newlines, on the current line.
func (l *lexer) skipWS() {
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		if c == '\\' {
			if l.pos+1 < len(l.data) && l.data[l.pos+1] == '\n' {
				l.pos += 2
				l.line++
				continue
			}
			return
		}
		if !in(c, chWS) {
			return
		}
		l.pos++
	}
}

// nextLine moves past the end of the current line.
func (l *lexer) nextLine() {
	for l.pos < len(l.data) && l.data[l.pos] != '\n' {
		l.pos++
	}
	if l.pos < len(l.data) {
		l.pos++
		l.line++
	}
}

// skipComment ends a stanza: only a comment may remain on the line.
func (l *lexer) skipComment() error {
	if l.hasToken() {
		return l.err("Unexpected token")
	}
	l.nextLine()
	return nil
}

// scan reads one token ending at an unquoted, unescaped byte of delim.
//
// Quotes group text; a newline inside quotes, and an escaped newline
// anywhere, become a single space together with the whitespace around them.
// With dequote, quote characters are removed, and "\\" and a backslash
// before a space or tab lose the backslash; a backslash before anything
// else is kept (`\"` stays `\"`, but the quote does not open a string).
// Without dequote the text is kept as written apart from the newline
// folding. Whitespace at the end of the token is dropped. quoted reports
// whether any quote or backslash was seen.
func (l *lexer) scan(delim string, dequote bool) (text string, quoted bool, err error) {
	var (
		out   []byte
		ws    []byte // pending whitespace
		nl    bool   // a newline is pending: emit one space, drop ws
		slash bool
		quote byte
	)
	p := l.pos
	for ; p < len(l.data); p++ {
		c := l.data[p]
		keepSlash := false // emit a backslash before c
		isQuote := false
		switch {
		case slash:
			slash = false
			if c == '\n' {
				nl = true
				l.line++
				continue
			}
			if c == '\\' || c == ' ' || c == '\t' || c == '\r' {
				keepSlash = !dequote
			} else {
				keepSlash = true
			}
		case c == '\\':
			slash = true
			quoted = true
			continue
		case quote != 0:
			if c == quote {
				quote = 0
				isQuote = true
			} else if c == '\n' {
				nl = true
				l.line++
				continue
			} else if in(c, chWS) {
				ws = append(ws, c)
				continue
			}
		case c == '"' || c == '\'':
			quote = c
			isQuote = true
			quoted = true
		case in(c, delim):
			goto done
		case in(c, chWS):
			ws = append(ws, c)
			continue
		}
		if nl {
			out = append(out, ' ')
		} else {
			out = append(out, ws...)
		}
		ws, nl = ws[:0], false
		if keepSlash {
			out = append(out, '\\')
		}
		if !(isQuote && dequote) {
			out = append(out, c)
		}
	}
done:
	l.pos = p
	if slash {
		return "", quoted, l.err("Trailing slash in file")
	}
	if quote != 0 {
		return "", quoted, l.err("Unterminated quoted string")
	}
	return string(out), quoted, nil
}

// next reads a non-empty token and the whitespace after it.
func (l *lexer) next(delim string, dequote bool) (tok, error) {
	line := l.line
	text, quoted, err := l.scan(delim, dequote)
	if err != nil {
		return tok{}, err
	}
	if text == "" {
		return tok{}, l.err("Expected token")
	}
	// Names, events, environments and descriptions reach D-Bus, whose
	// strings are UTF-8 (only exec and script text may be any bytes).
	if !utf8.ValidString(text) {
		return tok{}, l.errAt(line, "Invalid UTF-8 in "+strconv.QuoteToASCII(text))
	}
	l.skipWS()
	return tok{text: text, line: line, quoted: quoted}, nil
}

type tok struct {
	text   string
	line   int
	quoted bool
}

// word reads a keyword (not dequoted, so a quoted keyword never matches).
func (l *lexer) word() (tok, error) { return l.next(chCNLWS, false) }

// arg reads one dequoted argument.
func (l *lexer) arg() (tok, error) { return l.next(chCNLWS, true) }

// args reads the dequoted arguments up to the end of the line.
func (l *lexer) args() ([]string, error) {
	var out []string
	for l.hasToken() {
		t, err := l.arg()
		if err != nil {
			return nil, err
		}
		out = append(out, t.text)
	}
	return out, l.skipComment()
}

// command reads the raw rest of the line, as `exec` wants it.
func (l *lexer) command() (string, error) {
	text, _, err := l.scan(chCNL, false)
	if err != nil {
		return "", err
	}
	return text, l.skipComment()
}

// blockEnd reports whether the line at pos is `end TYPE` (with optional
// whitespace and a trailing comment); if so it moves past that line.
func (l *lexer) blockEnd(typ string) bool {
	d, p := l.data, l.pos
	for p < len(d) && in(d[p], chWS) {
		p++
	}
	if len(d)-p < 4 || string(d[p:p+3]) != "end" || !in(d[p+3], chWS) {
		return false
	}
	p += 3
	for p < len(d) && in(d[p], chWS) {
		p++
	}
	if len(d)-p < len(typ) || string(d[p:p+len(typ)]) != typ {
		return false
	}
	p += len(typ)
	for p < len(d) && in(d[p], chWS) {
		p++
	}
	if p < len(d) && d[p] == '#' {
		for p < len(d) && d[p] != '\n' {
			p++
		}
	}
	if p < len(d) && d[p] != '\n' {
		return false
	}
	if p < len(d) {
		p++
		l.line++
	}
	l.pos = p
	return true
}

// block reads the lines up to `end TYPE`. The leading whitespace of the
// first line, as far as every later line shares it byte for byte, is
// removed from every line (so a blank line in the block means nothing is
// removed). Nothing inside the block is tokenised.
func (l *lexer) block(typ string) (string, error) {
	start := l.pos
	var lines [][2]int // start, end (past the newline) of each line
	ws := 0
	for !l.blockEnd(typ) {
		ls := l.pos
		p := ls
		if len(lines) == 0 {
			for p < len(l.data) && in(l.data[p], chWS) {
				p++
			}
			ws = p - ls
		} else {
			for p < len(l.data) && p-ls < ws && l.data[start+p-ls] == l.data[p] {
				p++
			}
			if p-ls < ws {
				ws = p - ls
			}
		}
		l.nextLine()
		if l.pos >= len(l.data) {
			return "", l.err("Unterminated block")
		}
		lines = append(lines, [2]int{ls, l.pos})
	}
	var out []byte
	for _, ln := range lines {
		out = append(out, l.data[ln[0]+ws:ln[1]]...)
	}
	return string(out), nil
}
