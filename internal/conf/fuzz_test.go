package conf

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/cond"
)

// simpleWord reports whether a word survives show-config formatting
// unchanged when parsed again as part of a condition.
func simpleWord(s string) bool {
	if s == "" || s == "and" || s == "or" {
		return false
	}
	return !strings.ContainsAny(s, " \t\r\n#()\"'\\")
}

func simpleTree(n *cond.Node) bool {
	if n == nil {
		return true
	}
	if n.Op != cond.Match {
		return simpleTree(n.Left) && simpleTree(n.Right)
	}
	if !simpleWord(n.Name) {
		return false
	}
	for _, a := range n.Args {
		if !simpleWord(a) {
			return false
		}
	}
	return true
}

func checkCondition(t *testing.T, what string, n *cond.Node) {
	if n == nil {
		return
	}
	back, err := cond.FromRPN(n.RPN())
	if err != nil || !back.Equal(n) {
		t.Fatalf("%s: RPN round trip failed: %v (%s vs %s)", what, err, back, n)
	}
	if !simpleTree(n) {
		return
	}
	s := n.String()
	j, err := Parse("re", "re.conf", []byte("start on "+s+"\n"))
	if err != nil {
		t.Fatalf("%s: re-parsing %q: %v", what, s, err)
	}
	if !j.StartOn.Equal(n) {
		t.Fatalf("%s: re-parsing %q gave %s", what, s, j.StartOn)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "start on a or b and c\n", "script\n  x\nend script\n", "exec a \"b\n c\" \\\n d # e",
		"start on (a\n or b)", "env A=\"x y\"\\\n", "oom -17\nlimit nofile unlimited 3\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Parse("job", "job.conf", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			lines := 1 + bytes.Count(data, []byte{'\n'})
			if e.Path != "job.conf" || e.Line < 0 || e.Line > lines+1 || e.Msg == "" {
				t.Fatalf("bad error %#v for %d lines", e, lines)
			}
			if j != nil {
				t.Fatal("job and error")
			}
			return
		}
		// Deterministic.
		j2, err := Parse("job", "job.conf", data)
		if err != nil || !reflect.DeepEqual(j, j2) {
			t.Fatalf("second parse differs: %v", err)
		}
		checkCondition(t, "start on", j.StartOn)
		checkCondition(t, "stop on", j.StopOn)
		for _, p := range j.Process {
			if p != nil && (p.Line < 1 || p.Line > 1+bytes.Count(data, []byte{'\n'})) {
				t.Fatalf("process line %d out of range", p.Line)
			}
		}
		// The same text as an override of itself parses, and leaves the
		// base alone.
		before := j.Clone()
		o, err := ParseOverride(j, "job.override", data)
		if err != nil {
			t.Fatalf("as override: %v", err)
		}
		if !reflect.DeepEqual(j, before) {
			t.Fatal("override changed its base")
		}
		if len(o.Env) != 2*len(j.Env) || len(o.Emits) != 2*len(j.Emits) || len(o.NormalExit) != 2*len(j.NormalExit) {
			t.Fatal("override lists did not accumulate")
		}
	})
}
