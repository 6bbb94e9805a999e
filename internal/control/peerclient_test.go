package control

import (
	"strings"
	"testing"
)

// The lean client against the real server and the fake backend: a call
// goes through, signals on the way (EventEmitted) are skipped, and an
// error reply comes back as the D-Bus error the server sent.
func TestPeerClient(t *testing.T) {
	fx := newFixture(t, Options{})
	pc, err := DialPeer(fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := 0; i < 3; i++ {
		if err := pc.EmitEvent("bench", []string{"A=b"}, true); err != nil {
			t.Fatalf("EmitEvent %d: %v", i, err)
		}
	}
	if n := countCalls(fx.fake.CallLog(), "Emit bench A=b"); n != 3 {
		t.Errorf("backend saw %d emits, want 3: %q", n, fx.fake.CallLog())
	}
	err = pc.EmitEvent("", nil, false)
	if got := errName(err); got != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Errorf("empty name: error %v (name %q), want InvalidArgs", err, got)
	}
	// The connection is still usable after an error.
	if err := pc.EmitEvent("again", nil, false); err != nil {
		t.Errorf("after an error: %v", err)
	}
	if _, err := DialPeer("tcp:host=localhost"); err == nil {
		t.Error("DialPeer accepted a tcp address")
	}
}

func countCalls(calls []string, prefix string) (n int) {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// BenchmarkEmitWaitLean: EmitEvent with wait to the fake backend from the
// lean client.
func BenchmarkEmitWaitLean(b *testing.B) {
	fx := newFixture(b, Options{})
	pc, err := DialPeer(fx.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pc.EmitEvent("x", []string{"A=b"}, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// A panic in a method (a bug of ours) answers the caller with an error;
// the connection and the server go on.
func TestPanicInMethodIsAnError(t *testing.T) {
	fx := newFixture(t, Options{})
	pc, err := DialPeer(fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fx.fake.SetEmitHook(func(string, []string, bool) error { panic("boom") })
	err = pc.EmitEvent("x", nil, false)
	if got := errName(err); got != "org.freedesktop.DBus.Error.Failed" {
		t.Fatalf("error %v (name %q), want org.freedesktop.DBus.Error.Failed", err, got)
	}
	fx.fake.SetEmitHook(nil)
	if err := pc.EmitEvent("x", nil, true); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}
