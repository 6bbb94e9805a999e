package cond

import "fmt"

// Parse-error messages, as Upstart reports them.
const (
	ErrExpectedEvent    = "Expected event"
	ErrExpectedOperator = "Expected operator"
	ErrExpectedVariable = "Expected variable name before value"
	ErrMismatchedParens = "Mismatched parentheses"
	// Not an Upstart message: a guard against unbounded recursion.
	ErrTooDeep = "Parentheses nested too deeply"
)

// MaxDepth is how deeply parentheses may nest.
const MaxDepth = 1000

// ParseError is a syntax error in a condition, with the line of the token
// that caused it (0 when there is no token to blame, e.g. an empty input).
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Parse builds the tree of a `start on` / `stop on` expression from its
// dequoted tokens. An unquoted "(" or ")" token is a parenthesis and an
// unquoted "and" / "or" an operator; everything else is an event name or an
// argument of the event before it.
//
// The two operators have equal precedence and associate to the left, so
// `A or B and C` is `(A or B) and C`. Within one event, positional
// arguments must come before named ones (any argument containing "=",
// which includes "KEY!=VALUE").
func Parse(toks []Token) (*Node, error) {
	p := &condParser{toks: toks}
	n, err := p.expr(0, nil)
	if err != nil {
		return nil, err
	}
	return n, nil
}

type condParser struct {
	toks  []Token
	pos   int
	depth int
}

func (p *condParser) peek() (Token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return Token{}, false
}

// lastLine is the line to blame when the input ends too early.
func (p *condParser) lastLine() int {
	if n := len(p.toks); n > 0 {
		return p.toks[n-1].Line
	}
	return 0
}

func isParen(t Token, c string) bool { return !t.Quoted && t.Text == c }

func operatorOf(t Token) (Op, bool) {
	if t.Quoted {
		return Match, false
	}
	switch t.Text {
	case "and":
		return And, true
	case "or":
		return Or, true
	}
	return Match, false
}

func perr(line int, msg string) error { return &ParseError{Line: line, Msg: msg} }

// expr parses operand (operator operand)* up to the end of the input (depth
// 0) or the ")" closing the group opened by open (depth > 0; the ")" is
// left for the caller).
func (p *condParser) expr(depth int, open *Token) (*Node, error) {
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok {
			if depth > 0 {
				return nil, perr(open.Line, ErrMismatchedParens)
			}
			return left, nil
		}
		if isParen(t, ")") {
			if depth == 0 {
				return nil, perr(t.Line, ErrMismatchedParens)
			}
			return left, nil
		}
		op, isOp := operatorOf(t)
		if !isOp {
			// After a complete operand only an operator, ")" or the end
			// may follow: `A (B)` or `(A) B`.
			return nil, perr(t.Line, ErrExpectedOperator)
		}
		p.pos++
		right, err := p.operand()
		if err != nil {
			return nil, err
		}
		left = &Node{Op: op, Left: left, Right: right}
	}
}

// operand parses "(" expr ")" or an event with its arguments.
func (p *condParser) operand() (*Node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, perr(p.lastLine(), ErrExpectedEvent)
	}
	if _, isOp := operatorOf(t); isOp {
		return nil, perr(t.Line, ErrExpectedEvent)
	}
	if isParen(t, ")") {
		return nil, perr(t.Line, ErrExpectedEvent)
	}
	if isParen(t, "(") {
		p.depth++
		if p.depth > MaxDepth {
			return nil, perr(t.Line, ErrTooDeep)
		}
		p.pos++
		n, err := p.expr(1, &t)
		p.depth--
		if err != nil {
			return nil, err
		}
		p.pos++ // the ")" expr stopped at
		return n, nil
	}
	p.pos++
	n := &Node{Op: Match, Name: t.Text}
	named := false
	for {
		a, ok := p.peek()
		if !ok || isParen(a, "(") || isParen(a, ")") {
			break
		}
		if _, isOp := operatorOf(a); isOp {
			break
		}
		p.pos++
		if containsByte(a.Text, '=') {
			named = true
		} else if named {
			return nil, perr(a.Line, ErrExpectedVariable)
		}
		n.Args = append(n.Args, a.Text)
	}
	return n, nil
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
