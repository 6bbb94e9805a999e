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
		j := execJob(`/bin/sh -c 'echo "$WATCHDOG_PID $$ $LISTEN_PID" >&5'`)
		if pre {
			j = forcePre(j)
		}
		req := Request{Job: j, Files: []ChildFile{{Num: 5, File: w}}}
		if pre {
			req.PidEnv = []string{"WATCHDOG_PID", "LISTEN_PID"}
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
		if pre && (len(f) != 3 || f[0] != strconv.Itoa(pid) || f[1] != f[0] || f[2] != f[0]) {
			t.Errorf("pre-exec: fd 5 got %q, want the pid %d three times", out, pid)
		}
		if !pre && (len(f) != 1 || f[0] != strconv.Itoa(pid)) {
			t.Errorf("direct: fd 5 got %q, want pid %d", out, pid)
		}
	}
	// Descriptor 3 with the pre-exec step (whose status pipe is 3 by
	// default): the job gets it, and a failure is still reported.
	r, w, _ := os.Pipe()
	pid, err := h.spawn(Request{Job: forcePre(execJob(`/bin/sh -c 'echo three >&3'`)), Files: []ChildFile{{Num: 3, File: w}}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	r.Close()
	if x := h.wait(pid); string(out) != "three\n" || x.SpawnErr != nil {
		t.Errorf("fd 3 with pre-exec: %q %+v", out, x)
	}
	_, w, _ = os.Pipe()
	defer w.Close()
	bad := forcePre(execJob("/bin/true"))
	bad.Chdir = "/nonexistent-dir-of-a-test"
	pid, err = h.spawn(Request{Job: bad, Files: []ChildFile{{Num: 3, File: w}}})
	if err != nil {
		t.Fatal(err)
	}
	if x := h.wait(pid); x.SpawnErr == nil || !strings.Contains(x.SpawnErr.Error(), "working directory") {
		t.Errorf("a pre-exec failure with fd 3 taken is not reported: %+v", x)
	}
	// Descriptors 0-2 are not the job's to ask for.
	if _, err := h.spawn(Request{Job: execJob("/bin/true"), Files: []ChildFile{{Num: 1, File: w}}}); err == nil || !strings.Contains(err.Error(), "descriptor 1 is taken") {
		t.Errorf("fd 1: %v", err)
	}
}
