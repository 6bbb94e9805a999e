package control

import (
	"testing"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control/controltest"
)

// shutdownFake adds our manager extensions to the fake backend.
type shutdownFake struct {
	*controltest.Fake
	disabled int
	asked    []string
}

func (f *shutdownFake) DisableRespawn() error { f.disabled++; return nil }
func (f *shutdownFake) SystemShutdown(how string) error {
	f.asked = append(f.asked, how)
	return nil
}

func TestExtManager(t *testing.T) {
	// Without the capabilities: a clear error, never a fake success.
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	wantErr(t, pcall(conn, ManagerPath, ExtManagerIface+".DisableRespawn"), ErrNotSupported, "")
	wantErr(t, pcall(conn, ManagerPath, ExtManagerIface+".Shutdown", "poweroff"), ErrNotSupported, "")

	f := &shutdownFake{Fake: controltest.New()}
	addr := "unix:path=" + t.TempDir() + "/sock"
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(f, Options{})
	go srv.Serve(l)
	defer srv.Close()
	c := (&fixture{addr: addr}).dial(t)
	if call := pcall(c, ManagerPath, ExtManagerIface+".DisableRespawn"); call.Err != nil {
		t.Fatal(call.Err)
	}
	wantErr(t, pcall(c, ManagerPath, ExtManagerIface+".Shutdown", "explode"), api.ErrInvalidArgs,
		"Unknown shutdown action: explode (halt, poweroff or reboot)")
	for _, how := range []string{"halt", "poweroff", "reboot"} {
		if call := pcall(c, ManagerPath, ExtManagerIface+".Shutdown", how); call.Err != nil {
			t.Fatal(call.Err)
		}
	}
	if f.disabled != 1 || len(f.asked) != 3 || f.asked[1] != "poweroff" {
		t.Fatalf("disabled %d, asked %v", f.disabled, f.asked)
	}

	// Unprivileged callers are refused before the backend hears of it.
	fx2 := newFixture(t, Options{Privileged: func(uint32) bool { return false }})
	c2 := fx2.dial(t)
	wantErr(t, pcall(c2, ManagerPath, ExtManagerIface+".DisableRespawn"), api.ErrPermissionDenied, "You do not have permission to disable respawn")
	wantErr(t, pcall(c2, ManagerPath, ExtManagerIface+".Shutdown", "reboot"), api.ErrPermissionDenied, "")
}
