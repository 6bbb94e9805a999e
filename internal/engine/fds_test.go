package engine

import (
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/goupstart/upstart/internal/conf"
)

// An event with a file (the socket bridge's listening socket) gives the
// instance it starts a copy of it, which each process gets as descriptor
// 3 with UPSTART_FDS, LISTEN_FDS and LISTEN_PID, a respawn included, and
// which is closed when the instance goes.
func TestEventFileToInstance(t *testing.T) {
	h := newHarness(t)
	h.job("web", "socket PROTO=inet", "", "main respawn")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := h.e.Emit("socket", []string{"PROTO=inet", "PORT=80"}, w, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("web", "", "start/running")
	check := func(pid int) *os.File {
		t.Helper()
		req := h.sp.procs[pid]
		if len(req.Files) != 1 || req.Files[0].Num != 3 || !slices.Contains(req.PidEnv, "LISTEN_PID") ||
			lookup(req.Env, "UPSTART_FDS") != "3" || lookup(req.Env, "LISTEN_FDS") != "1" || lookup(req.Env, "LISTEN_FDNAMES") != "socket" {
			t.Fatalf("request files %v pid env %v env %v", req.Files, req.PidEnv, req.Env)
		}
		return req.Files[0].File
	}
	f := check(h.pid("web", "", conf.Main))
	if f == w {
		t.Fatal("the instance holds the event's own file, not a copy")
	}
	h.kill(h.pid("web", "", conf.Main), syscall.SIGKILL) // respawns with the socket
	h.wantStatus("web", "", "start/running")
	check(h.pid("web", "", conf.Main))
	h.e.StopJob("web", nil, nil)
	h.kill(h.pid("web", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("web", "", "stop/waiting")
	if err := syscall.Fstat(int(f.Fd()), &syscall.Stat_t{}); err == nil && f.Fd() != ^uintptr(0) {
		t.Fatal("the instance's copy is still open after it went")
	}
}
