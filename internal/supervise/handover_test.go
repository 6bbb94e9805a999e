package supervise

import (
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// newBufferedHarness is newHarness with a buffered exits channel, so that
// collected exits sit in the channel, in the sender and in the queue.
func newBufferedHarness(t *testing.T, n int) *harness {
	t.Helper()
	h := &harness{t: t, exits: make(chan Exit, n), got: map[int]Exit{}, spawned: map[int]bool{}}
	s, err := New(h.exits, Options{PreExec: preExecArgv, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	t.Cleanup(h.close)
	return h
}

// procState returns the state letter of /proc/PID/stat, 0 when the process
// is gone (reaped).
func procState(pid int) byte {
	f, ok := procStat(pid)
	if !ok || len(f) == 0 || f[0] == "" {
		return 0
	}
	return f[0][0]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drainNow takes what is in the exits channel without waiting.
func (h *harness) drainNow() []Exit {
	var out []Exit
	for {
		select {
		case e := <-h.exits:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestDetachReturnsCollected: exits collected but not received come back
// from Detach (or are still in the channel), each pid exactly once.
func TestDetachReturnsCollected(t *testing.T) {
	h := newBufferedHarness(t, 2)
	want := map[int]int{}
	for i := 0; i < 6; i++ {
		pid, err := h.spawn(Request{Job: execJob("sh -c 'exit " + strconv.Itoa(i) + "'")})
		if err != nil {
			t.Fatal(err)
		}
		want[pid] = i
	}
	for pid := range want {
		waitFor(t, "pid "+strconv.Itoa(pid)+" reaped", 10*time.Second, func() bool { return procState(pid) == 0 })
	}
	got := h.s.Detach()
	got = append(h.drainNow(), got...)
	seen := map[int]bool{}
	for _, e := range got {
		code, ok := want[e.Pid]
		switch {
		case !ok:
			t.Errorf("Exit for unknown pid: %+v", e)
		case seen[e.Pid]:
			t.Errorf("second Exit for pid %d: %+v", e.Pid, e)
		case e.Orphan || e.SpawnErr != nil || !e.Status.Exited() || e.Status.ExitStatus() != code:
			t.Errorf("pid %d: got %+v (status %d), want exit %d", e.Pid, e, e.Status.ExitStatus(), code)
		}
		seen[e.Pid] = true
		h.got[e.Pid] = e
	}
	if len(seen) != len(want) {
		t.Errorf("got exits for %d pids, want %d", len(seen), len(want))
	}
	// Nothing is delivered while detached.
	if late := h.drainNow(); len(late) > 0 {
		t.Errorf("exits delivered after Detach: %+v", late)
	}
}

// TestDetachStopsReaping: a child ending after Detach stays a zombie until
// Reattach, which reaps it and delivers its Exit.
func TestDetachStopsReaping(t *testing.T) {
	h := newHarness(t, Options{})
	pid, err := h.spawn(Request{Job: execJob("sleep 30")})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.s.Detach(); len(got) != 0 {
		t.Errorf("Detach returned %+v, want nothing", got)
	}
	if err := h.s.Signal(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a zombie", 10*time.Second, func() bool { return procState(pid) == 'Z' })
	// SIGCHLD has come; it must stay a zombie.
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if st := procState(pid); st != 'Z' {
			t.Fatalf("pid %d reaped while detached (state %q)", pid, st)
		}
	}
	h.s.Reattach()
	e := h.wait(pid)
	if e.Orphan || !e.Status.Signaled() || e.Status.Signal() != syscall.SIGTERM {
		t.Errorf("got %+v, want killed by SIGTERM", e)
	}
	// Reaping and delivery go on as before.
	pid, err = h.spawn(Request{Job: execJob("sh -c 'exit 7'")})
	if err != nil {
		t.Fatal(err)
	}
	if e := h.wait(pid); e.Status.ExitStatus() != 7 {
		t.Errorf("after Reattach: got %+v, want exit 7", e)
	}
}

func TestDetachSpawnAndClose(t *testing.T) {
	t.Run("close after detach", func(t *testing.T) {
		exits := make(chan Exit)
		s, err := New(exits, Options{PreExec: preExecArgv})
		if err != nil {
			t.Fatal(err)
		}
		s.Detach()
		if _, err := s.Spawn(Request{Job: execJob("/bin/true"), Env: []string{"PATH=/bin:/usr/bin"}}); !errors.Is(err, errSpawnDetached) {
			t.Errorf("Spawn after Detach: %v, want %v", err, errSpawnDetached)
		}
		if got := s.Detach(); got != nil {
			t.Errorf("second Detach returned %+v", got)
		}
		s.Close()
		s.Reattach() // no effect after Close
		if _, err := s.Spawn(Request{Job: execJob("/bin/true"), Env: []string{"PATH=/bin:/usr/bin"}}); err == nil {
			t.Error("Spawn after Close succeeded")
		}
		// Close released the process-wide Supervisor.
		s2, err := New(exits, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s2.Close()
	})
	t.Run("close after reattach", func(t *testing.T) {
		exits := make(chan Exit)
		s, err := New(exits, Options{PreExec: preExecArgv})
		if err != nil {
			t.Fatal(err)
		}
		s.Detach()
		s.Reattach()
		pid, err := s.Spawn(Request{Job: execJob("/bin/true"), Env: []string{"PATH=/bin:/usr/bin"}})
		if err != nil {
			t.Fatalf("Spawn after Reattach: %v", err)
		}
		select {
		case e := <-exits:
			if e.Pid != pid || e.Status.ExitStatus() != 0 {
				t.Errorf("got %+v", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no Exit after Reattach")
		}
		s.Close()
		if s.Detach() != nil {
			t.Error("Detach after Close returned exits")
		}
	})
}

// TestDetachPreExec: a pre-exec process reaped before its status pipe is
// read is completed by Detach, with its SpawnErr; when the pipe stays
// unread too long its exit is reported without it, once.
func TestDetachPreExec(t *testing.T) {
	entered := make(chan int, 1)
	release := make(chan struct{})
	testHookStatusRead = func() {
		entered <- 1
		<-release
	}
	defer func() { testHookStatusRead = nil }()

	failing := forcePre(execJob("/bin/true"))
	failing.Chdir = "/no/such/dir"

	t.Run("pipe read during detach", func(t *testing.T) {
		h := newHarness(t, Options{})
		pid, err := h.spawn(Request{Job: failing})
		if err != nil {
			t.Fatal(err)
		}
		<-entered
		waitFor(t, "pid reaped", 10*time.Second, func() bool { return procState(pid) == 0 })
		// Let the watcher go once Detach is (most likely) waiting for it.
		go func() {
			time.Sleep(100 * time.Millisecond)
			release <- struct{}{}
		}()
		got := h.s.Detach()
		if len(got) != 1 || got[0].Pid != pid || !errors.Is(got[0].SpawnErr, syscall.ENOENT) {
			t.Fatalf("Detach returned %+v, want pid %d with SpawnErr chdir ENOENT", got, pid)
		}
		h.got[pid] = got[0]
		h.s.Reattach()
	})

	t.Run("pipe never read", func(t *testing.T) {
		h := newHarness(t, Options{})
		pid, err := h.spawn(Request{Job: failing})
		if err != nil {
			t.Fatal(err)
		}
		<-entered
		waitFor(t, "pid reaped", 10*time.Second, func() bool { return procState(pid) == 0 })
		start := time.Now()
		got := h.s.Detach()
		if d := time.Since(start); d > detachPipeWait+2*time.Second {
			t.Errorf("Detach took %v", d)
		}
		if len(got) != 1 || got[0].Pid != pid || got[0].SpawnErr != nil || got[0].Status.ExitStatus() != 255 {
			t.Fatalf("Detach returned %+v, want pid %d exit 255 without SpawnErr", got, pid)
		}
		h.got[pid] = got[0]
		// The watcher finishes late; its report must not come again
		// (h.close flags a second Exit).
		release <- struct{}{}
		h.s.Reattach()
	})
}
