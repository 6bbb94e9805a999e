package control

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/control/controltest"
)

// ender is a backend whose EndSession only returns once the caller has its
// reply: a server that answered after EndSession returned would deadlock.
type ender struct {
	*controltest.Fake
	replied chan struct{}
	called  chan struct{}
}

func (e *ender) EndSession() error {
	close(e.called)
	select {
	case <-e.replied:
	case <-time.After(10 * time.Second):
	}
	return nil
}

func TestEndSessionRepliesFirst(t *testing.T) {
	b := &ender{Fake: controltest.New(), replied: make(chan struct{}), called: make(chan struct{})}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "sock")
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(b, Options{Logf: func(string, ...any) {}})
	go srv.Serve(l)
	defer srv.Close()
	fx := &fixture{addr: addr}
	conn := fx.dial(t)
	start := time.Now()
	if err := pcall(conn, ManagerPath, ManagerIface+".EndSession").Err; err != nil {
		t.Fatal(err)
	}
	close(b.replied)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("reply took %v: sent after EndSession returned", d)
	}
	select {
	case <-b.called:
	case <-time.After(5 * time.Second):
		t.Fatal("EndSession not called")
	}
	// The connection carries on (no second reply confuses it).
	if err := pcall(conn, ManagerPath, "org.freedesktop.DBus.Peer.Ping").Err; err != nil {
		t.Fatal(err)
	}
}
