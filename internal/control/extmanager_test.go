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

// listFake serves GetAllStatus from fixed answers.
type listFake struct {
	*controltest.Fake
	asked []bool
}

func (f *listFake) AllStatus(members bool) []api.JobStatus {
	f.asked = append(f.asked, members)
	in := api.InstanceInfo{Job: "svc", Name: "a\xff", Goal: "start", State: "running",
		Processes: []api.Process{{Name: "main", Pid: 10}}}
	if members {
		in.Members = []api.Process{{Name: "main", Pid: 10}, {Name: "main", Pid: 11}}
	}
	return []api.JobStatus{{Name: "idle"}, {Name: "svc", Instances: []api.InstanceInfo{in}}}
}

// GetAllStatus: the whole list as one JSON document, members only when
// asked for; anyone may call it (it changes nothing); without the
// capability, NotSupported.
func TestGetAllStatus(t *testing.T) {
	fx := newFixture(t, Options{})
	wantErr(t, pcall(fx.dial(t), ManagerPath, ExtManagerIface+".GetAllStatus", false), ErrNotSupported, "")

	f := &listFake{Fake: controltest.New()}
	addr := "unix:path=" + t.TempDir() + "/sock"
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(f, Options{Privileged: func(uint32) bool { return false }})
	go srv.Serve(l)
	defer srv.Close()
	c := (&fixture{addr: addr}).dial(t)
	for _, members := range []bool{false, true} {
		var doc string
		if err := pcall(c, ManagerPath, ExtManagerIface+".GetAllStatus", members).Store(&doc); err != nil {
			t.Fatal(err)
		}
		want := `[{"name":"idle"},{"name":"svc","instances":[{"name":"a\ufffd","goal":"start","state":"running","processes":[{"name":"main","pid":10}]`
		if members {
			want += `,"members":[{"name":"main","pid":10},{"name":"main","pid":11}]`
		}
		if want += `}]}]`; doc != want {
			t.Errorf("members %v:\n got %s\nwant %s", members, doc, want)
		}
	}
	if len(f.asked) != 2 || f.asked[0] || !f.asked[1] {
		t.Fatalf("asked %v", f.asked)
	}
	wantErr(t, pcall(c, ManagerPath, ExtManagerIface+".GetAllStatus"), api.ErrInvalidArgs, "Invalid arguments to GetAllStatus method")
}
