package supervise

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// An extra descriptor reaches the child at the number asked for (the
// write end of an s6-style notification pipe), in direct and pre-exec
// mode; PidEnv gives the process its own pid before its program runs.
func TestChildFilesAndPidEnv(t *testing.T) {
	h := newHarness(t, Options{})
	for _, pre := range []bool{false, true} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		j := execJob(`/bin/sh -c 'echo "$WATCHDOG_PID $$" >&5'`)
		if pre {
			j = forcePre(j)
		}
		req := Request{Job: j, Files: []ChildFile{{Num: 5, File: w}}}
		if pre {
			req.PidEnv = "WATCHDOG_PID"
		}
		pid, err := h.spawn(req)
		w.Close()
		if err != nil {
			t.Fatalf("pre=%v: %v", pre, err)
		}
		out, _ := io.ReadAll(r)
		r.Close()
		h.wait(pid)
		f := strings.Fields(string(out))
		if pre && (len(f) != 2 || f[0] != strconv.Itoa(pid) || f[1] != f[0]) {
			t.Errorf("pre-exec: fd 5 got %q, want the pid %d twice", out, pid)
		}
		if !pre && (len(f) != 1 || f[0] != strconv.Itoa(pid)) {
			t.Errorf("direct: fd 5 got %q, want pid %d", out, pid)
		}
	}
	// A taken descriptor is an error and nothing runs.
	_, w, _ := os.Pipe()
	defer w.Close()
	if _, err := h.spawn(Request{Job: forcePre(execJob("/bin/true")), Files: []ChildFile{{Num: 3, File: w}}}); err == nil || !strings.Contains(err.Error(), "descriptor 3 is taken") {
		t.Errorf("fd 3 with pre-exec: %v", err)
	}
}
