package cond

import (
	"strings"
	"testing"
)

// toks splits a test expression: words on spaces, "(" and ")" standalone,
// `'x'` is the quoted word x. A "\n" word advances the line.
func toks(s string) []Token {
	var out []Token
	line := 1
	s = strings.ReplaceAll(s, "(", " ( ")
	s = strings.ReplaceAll(s, ")", " ) ")
	for _, w := range strings.Fields(s) {
		if w == `\n` {
			line++
			continue
		}
		q := false
		if len(w) >= 2 && w[0] == '\'' && w[len(w)-1] == '\'' {
			w, q = w[1:len(w)-1], true
		}
		out = append(out, Token{Text: w, Line: line, Quoted: q})
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"startup", "startup"},
		{"runlevel [2345]", "runlevel [2345]"},
		{"started gdm or started kdm", "(started gdm or started kdm)"},
		{"A or B and C", "((A or B) and C)"},
		{"A and B or C", "((A and B) or C)"},
		{"A or (B and C)", "(A or (B and C))"},
		{"(A)", "A"},
		{"((A))", "A"},
		{"(A and B)", "(A and B)"},
		{"A and (B FOO=BAR or starting C x=y)", "(A and (B FOO=BAR or starting C x=y))"},
		{"stopped JOB=foo RESULT=failed PROCESS=pre-start", "stopped JOB=foo RESULT=failed PROCESS=pre-start"},
		{"net-device-added INTERFACE!=lo", "net-device-added INTERFACE!=lo"},
		{"a b c K=V L!=W", "a b c K=V L!=W"},
		{"'and'", "and"},
		{"'and' and 'or' 'and'", "(and and or and)"},
		{"(a or b) and (c or d)", "((a or b) and (c or d))"},
		{"a and b and c and d", "(((a and b) and c) and d)"},
	}
	for _, tt := range tests {
		n, err := Parse(toks(tt.in))
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := n.String(); got != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTree(t *testing.T) {
	n, err := Parse(toks("A or B and C"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Op != And || n.Left.Op != Or || n.Right.Name != "C" ||
		n.Left.Left.Name != "A" || n.Left.Right.Name != "B" {
		t.Fatalf("wrong shape: %s", n)
	}
	if n.Left.Left.Args != nil {
		t.Errorf("args of bare event should be nil, got %#v", n.Left.Left.Args)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		msg  string
		line int
	}{
		{"", ErrExpectedEvent, 0},
		{"and", ErrExpectedEvent, 1},
		{"or a", ErrExpectedEvent, 1},
		{"a and", ErrExpectedEvent, 1},
		{`a or \n`, ErrExpectedEvent, 1},
		{`a and \n or b`, ErrExpectedEvent, 2},
		{"a and or b", ErrExpectedEvent, 1},
		{"()", ErrExpectedEvent, 1},
		{"(", ErrExpectedEvent, 1},
		{"(a and )", ErrExpectedEvent, 1},
		{"a (b)", ErrExpectedOperator, 1},
		{`(a) \n b`, ErrExpectedOperator, 2},
		{"(a) (b)", ErrExpectedOperator, 1},
		{"(a) b and c", ErrExpectedOperator, 1},
		{`(a \n b`, ErrMismatchedParens, 1},
		{`a and (b or (c) \n`, ErrMismatchedParens, 1},
		{`a ) \n`, ErrMismatchedParens, 1},
		{`(a)) or b`, ErrMismatchedParens, 1},
		{`a K=V \n x`, ErrExpectedVariable, 2},
		{`a K!=V x`, ErrExpectedVariable, 1},
		{`a x K=V y=z w`, ErrExpectedVariable, 1},
	}
	for _, tt := range tests {
		n, err := Parse(toks(tt.in))
		if err == nil {
			t.Errorf("Parse(%q) = %s, want error %q", tt.in, n, tt.msg)
			continue
		}
		pe, ok := err.(*ParseError)
		if !ok {
			t.Errorf("Parse(%q): error type %T", tt.in, err)
			continue
		}
		if pe.Msg != tt.msg || pe.Line != tt.line {
			t.Errorf("Parse(%q) error = %d:%q, want %d:%q", tt.in, pe.Line, pe.Msg, tt.line, tt.msg)
		}
	}
}

func TestQuotedParenIsWord(t *testing.T) {
	n, err := Parse([]Token{{Text: "(", Line: 1, Quoted: true}, {Text: ")", Line: 1, Quoted: true}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Op != Match || n.Name != "(" || len(n.Args) != 1 || n.Args[0] != ")" {
		t.Fatalf("got %#v", n)
	}
}

func TestTooDeep(t *testing.T) {
	var ts []Token
	for i := 0; i < MaxDepth+1; i++ {
		ts = append(ts, Token{Text: "(", Line: 1})
	}
	ts = append(ts, Token{Text: "a", Line: 1})
	if _, err := Parse(ts); err == nil || err.(*ParseError).Msg != ErrTooDeep {
		t.Fatalf("got %v", err)
	}
	ok := append(ts[1:len(ts):len(ts)], make([]Token, 0)...)
	for i := 0; i < MaxDepth; i++ {
		ok = append(ok, Token{Text: ")", Line: 1})
	}
	if _, err := Parse(ok); err != nil {
		t.Fatal(err)
	}
}
