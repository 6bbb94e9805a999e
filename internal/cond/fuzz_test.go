package cond

import (
	"strings"
	"testing"
)

// FuzzCondition feeds `start on`/`stop on` text to the parser (issue 15:
// every decoder of outside input is fuzzed). A condition that parses must
// survive the round trip through its D-Bus form (RPN) unchanged, and its
// run-time state must take events, including ones that match nothing
// and job-state events that retract, without a panic.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"startup", "started a and started b", "(a or b) and c X=y", "runlevel [!2345]",
		"stopping b or (x and (y or z K!=v))", "a (", "and", "((((a))))", "'and' or b",
		"starting j INSTANCE=$N", "a or b or c or d and e",
	} {
		f.Add(s, "started", "JOB=a")
	}
	f.Fuzz(func(t *testing.T, text, event, env string) {
		n, err := Parse(toks(text))
		if err != nil {
			return
		}
		back, err := FromRPN(n.RPN())
		if err != nil || !back.Equal(n) {
			t.Fatalf("%q: RPN round trip gave %v, %v", text, back, err)
		}
		c := New(n)
		evEnv := strings.Fields(env)
		for _, name := range append(EventNames(n), event, "stopping", "started") {
			r := c.Handle(&Event{Name: name, Env: evEnv}, []string{"N=1"})
			if r.Fired {
				c.Fire()
			}
		}
		c.Matched()
		c.Reset()
	})
}
