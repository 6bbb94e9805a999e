package control

import (
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/api"
)

// TestMatchRules: on a private connection a client gets every signal
// until it adds a match rule (Upstart's behaviour), then only what its
// rules match; another connection without rules still gets everything;
// bad rules and too many rules are refused and change nothing.
func TestMatchRules(t *testing.T) {
	fx := newFixture(t, Options{})
	filtered, all := fx.dial(t), fx.dial(t)
	chF, chA := make(chan *dbus.Signal, 64), make(chan *dbus.Signal, 64)
	filtered.Signal(chF)
	all.Signal(chA)
	if err := filtered.AddMatchSignal(dbus.WithMatchInterface(ManagerIface), dbus.WithMatchMember("JobAdded")); err != nil {
		t.Fatal(err)
	}
	if err := pcall(all, ManagerPath, "org.freedesktop.DBus.Peer.Ping").Err; err != nil {
		t.Fatal(err)
	}
	bus := func(method, rule string) error {
		return pcall(filtered, "/org/freedesktop/DBus", "org.freedesktop.DBus."+method, rule).Err
	}
	if err := bus("AddMatch", "type='signal',interface"); err == nil {
		t.Error("a malformed rule was accepted")
	}
	if err := bus("RemoveMatch", "member='Nope'"); err == nil {
		t.Error("removing an unknown rule succeeded")
	}
	fx.fake.Send(api.Signal{Kind: api.EventEmitted, Value: "startup"})
	fx.fake.Send(api.Signal{Kind: api.StateChanged, Job: "foo", Value: "running"})
	fx.fake.Send(api.Signal{Kind: api.JobAdded, Job: "j"})
	got := func(ch chan *dbus.Signal) string {
		select {
		case s := <-ch:
			return s.Name
		case <-time.After(5 * time.Second):
			return "(none)"
		}
	}
	if n := got(chF); n != ManagerIface+".JobAdded" {
		t.Errorf("filtered connection got %s first, want JobAdded only", n)
	}
	for _, want := range []string{".EventEmitted", ".StateChanged", ".JobAdded"} {
		if n := got(chA); n[len(n)-len(want):] != want {
			t.Errorf("unfiltered connection got %s, want %s", n, want)
		}
	}
	// A rule that names what it cannot test (arg0) lets more through,
	// never less: EventEmitted now passes.
	if err := bus("AddMatch", "type='signal',member='EventEmitted',arg0='startup'"); err != nil {
		t.Fatal(err)
	}
	fx.fake.Send(api.Signal{Kind: api.StateChanged, Job: "foo", Value: "stopping"})
	fx.fake.Send(api.Signal{Kind: api.EventEmitted, Value: "other"})
	if n := got(chF); n != ManagerIface+".EventEmitted" {
		t.Errorf("filtered connection got %s, want EventEmitted", n)
	}
	for i := 0; i < maxMatchRules; i++ {
		if err := bus("AddMatch", "member='X'"); err != nil {
			if i+2 < maxMatchRules {
				t.Fatalf("rule %d refused: %v", i, err)
			}
			return
		}
	}
	t.Errorf("more than %d rules accepted", maxMatchRules)
}

func TestParseMatchRule(t *testing.T) {
	r, ok := parseMatchRule(`type='signal',interface='com.ubuntu.Upstart0_6',member='JobAdded',path_namespace='/com'`)
	if !ok || r.typ != "signal" || r.iface != "com.ubuntu.Upstart0_6" || r.member != "JobAdded" || r.pathNamespace != "/com" {
		t.Fatalf("parsed %+v %v", r, ok)
	}
	if !r.matches(outSignal{path: ManagerPath, name: ManagerIface + ".JobAdded"}) {
		t.Error("JobAdded did not match")
	}
	if r.matches(outSignal{path: ManagerPath, name: ManagerIface + ".JobRemoved"}) {
		t.Error("JobRemoved matched")
	}
	if r, ok := parseMatchRule(`arg0='it'\''s',member=a`); !ok || r.member != "a" {
		t.Errorf("escaped quote: %+v %v", r, ok)
	}
	for _, bad := range []string{"member", "member='a", "=x"} {
		if _, ok := parseMatchRule(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
