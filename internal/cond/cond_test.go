package cond

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) *Node {
	t.Helper()
	var toks []Token
	for _, w := range strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)) {
		toks = append(toks, Token{Text: w, Line: 1})
	}
	n, err := Parse(toks)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}

// ev builds an event from "name KEY=VAL ..."; job-state events get JOB and
// INSTANCE from "started b" / "started b/1".
func ev(s string) *Event {
	f := strings.Fields(s)
	e := &Event{Name: f[0]}
	rest := f[1:]
	if _, ok := retractedBy[e.Name]; ok && len(rest) > 0 && !strings.Contains(rest[0], "=") {
		job, inst, _ := strings.Cut(rest[0], "/")
		e.Env = append(e.Env, "JOB="+job, "INSTANCE="+inst)
		rest = rest[1:]
	}
	e.Env = append(e.Env, rest...)
	return e
}

// Each step feeds one event; "!" after it means the condition must fire
// then, and the condition is fired (Fire) as the engine would.
func TestSequences(t *testing.T) {
	tests := []struct {
		name, expr string
		steps      []string
	}{
		{"and keeps job states across a restart", "started a and started b", []string{
			"started a", "started b!",
			// b restarts while a runs on: stopping retracts, started re-fires.
			"stopping b", "starting b", "started b!",
		}},
		{"and of plain events forgets on firing (as Upstart)", "A and B", []string{
			"A", "B!", "B", "A!",
		}},
		{"A and (B or C) fired once: C then A starts it again", "A and ( B or C )", []string{
			"A", "B!", "C", "A!",
		}},
		{"stopped and stopped waits for both tasks", "stopped startup and stopped boot-splash", []string{
			"starting startup", "starting boot-splash", "stopped startup", "stopped boot-splash!",
		}},
		{"a retracted operand stays false", "started a and started b", []string{
			"started a", "stopping a", "started b", "started a!",
		}},
		{"instances: true until every instance retracts", "started net and ready", []string{
			"started net/eth0", "started net/eth1", "stopping net/eth0", "ready!",
			"stopping net/eth1", "ready", "started net/eth1!", "ready!",
		}},
		{"or fires on either side", "A or B", []string{"A!", "B!"}},
		{"left to right: A or B and C == (A or B) and C", "A or B and C", []string{
			"A", "C!", "B", "C!",
		}},
		{"env match and glob", "up IFACE=eth* or down IFACE!=lo", []string{
			"up IFACE=lo", "up IFACE=eth0!", "down IFACE=lo", "down", "down IFACE=wlan0!",
		}},
		{"positional match", "runlevel [2345]", []string{
			"runlevel RUNLEVEL=S", "runlevel RUNLEVEL=2!", "runlevel",
		}},
		{"start on $VAR never matches", "foo X=$X", []string{"foo X=1", "foo X=$X"}},
		{"${VAR:-default} does", "foo X=${X:-1}", []string{"foo X=2", "foo X=1!"}},
		{"job name positional and JOB= alike", "stopped JOB=a RESULT=failed", []string{
			"stopped a RESULT=ok", "stopped a RESULT=failed!",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(mustParse(t, tt.expr))
			for i, step := range tt.steps {
				want := strings.HasSuffix(step, "!")
				r := c.Handle(ev(strings.TrimSuffix(step, "!")), nil)
				if r.Fired != want {
					t.Fatalf("step %d %q: fired=%v want %v", i, step, r.Fired, want)
				}
				if r.Fired {
					c.Fire()
				}
			}
		})
	}
}

// Holding: a latched event is held until the condition fires or the
// operand is retracted; kept knowledge holds nothing.
func TestHolding(t *testing.T) {
	c := New(mustParse(t, "started a and B"))
	sa := ev("started a")
	if r := c.Handle(sa, nil); r.Held != 1 || r.Fired {
		t.Fatalf("started a: %+v", r)
	}
	if h := c.Held(); len(h) != 1 || h[0] != sa {
		t.Fatalf("held %v", h)
	}
	r := c.Handle(ev("stopping a"), nil)
	if len(r.Released) != 1 || r.Released[0] != sa {
		t.Fatalf("retraction released %v", r.Released)
	}
	sa2 := ev("started a")
	c.Handle(sa2, nil)
	b := ev("B")
	if r := c.Handle(b, nil); !r.Fired || r.Held != 1 {
		t.Fatalf("B: %+v", r)
	}
	m := c.Matched()
	if len(m) != 2 || m[0] != sa2 || m[1] != b {
		t.Fatalf("matched %v", m)
	}
	rel := c.Fire()
	if len(rel) != 2 {
		t.Fatalf("fire released %d events", len(rel))
	}
	if len(c.Held()) != 0 {
		t.Fatal("kept knowledge still holds an event")
	}
	if !c.op(c.root.Left).latches[0].key.ok {
		t.Fatal("started a forgotten after firing")
	}
	if rel := c.Reset(); len(rel) != 0 {
		t.Fatalf("reset released %v", rel)
	}
}

func TestFnMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "a/b", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[2345]", "3", true},
		{"[!2345]", "3", false},
		{"[!2345]", "S", true},
		{"[a-c]x", "bx", true},
		{"eth*", "eth0", true},
		{"eth*", "wlan0", false},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"*.conf", "x.conf", true},
		{"a*b*c", "aXbYbc", true},
		{"[", "[", true},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := FnMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("FnMatch(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}
