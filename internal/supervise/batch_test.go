package supervise

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/goupstart/upstart/internal/conf"
)

// spawnBatch runs rs as one Batch and marks the pids spawned before the
// reaper can report them (the harness rejects an Exit of a pid it does
// not know).
func (h *harness) spawnBatch(rs []Request) ([]int, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.s.Begin()
	for _, r := range rs {
		b.Add(r)
	}
	pids, errs := b.Wait()
	for k, pid := range pids {
		if errs[k] == nil {
			h.spawned[pid] = true
		}
	}
	return pids, errs
}

// A Batch on several threads: each request gets what Spawn would give it
// (a pid and, later, exactly one Exit with its own exit status; a program
// that is not there fails that request only), in the order added, and
// GOMAXPROCS is back to what it was afterwards.
func TestBatchParallel(t *testing.T) {
	h := newHarness(t, Options{SpawnThreads: 4})
	before := runtime.GOMAXPROCS(0)
	const n, missing = 40, 13
	rs := make([]Request, n)
	for k := range rs {
		cmd := "/bin/sh -c 'exit " + strconv.Itoa(k%7) + "'"
		if k == missing {
			cmd = "/nonexistent/program"
		}
		rs[k] = Request{Job: execJob(cmd), Console: conf.ConsoleNone, Env: []string{"PATH=/usr/bin:/bin"}}
	}
	pids, errs := h.spawnBatch(rs)
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after the batch, was %d", got, before)
	}
	seen := map[int]bool{}
	for k := range rs {
		if k == missing {
			var se *SpawnError
			if !errors.As(errs[k], &se) || !errors.Is(errs[k], syscall.ENOENT) || pids[k] != 0 {
				t.Errorf("request %d: pid %d err %v, want ENOENT", k, pids[k], errs[k])
			}
			continue
		}
		if errs[k] != nil || pids[k] <= 0 || seen[pids[k]] {
			t.Fatalf("request %d: pid %d err %v", k, pids[k], errs[k])
		}
		seen[pids[k]] = true
	}
	for k, pid := range pids {
		if k == missing {
			continue
		}
		e := h.wait(pid)
		if e.SpawnErr != nil || !e.Status.Exited() || e.Status.ExitStatus() != k%7 {
			t.Errorf("request %d (pid %d): %+v, want exit %d", k, pid, e, k%7)
		}
	}
}

// With one thread a Batch spawns in order; each process is a session
// leader, as from Spawn. A batch with nothing added is over at once.
func TestBatchSerial(t *testing.T) {
	h := newHarness(t, Options{SpawnThreads: 1})
	if pids, errs := h.spawnBatch(nil); len(pids) != 0 || len(errs) != 0 {
		t.Fatalf("empty batch: %v %v", pids, errs)
	}
	dir := t.TempDir()
	var rs []Request
	for k := range 3 {
		rs = append(rs, Request{Job: execJob("/bin/sh -c 'echo $$ $(cut -d\" \" -f6 /proc/$$/stat) > " + dir + "/" + strconv.Itoa(k) + "'"),
			Console: conf.ConsoleNone, Env: []string{"PATH=/usr/bin:/bin"}})
	}
	pids, errs := h.spawnBatch(rs)
	for k, pid := range pids {
		if errs[k] != nil {
			t.Fatal(errs[k])
		}
		h.wait(pid)
		b, err := os.ReadFile(dir + "/" + strconv.Itoa(k))
		if err != nil {
			t.Fatal(err)
		}
		// pid and session id are the same: a session leader.
		f := strings.Fields(string(b))
		if len(f) != 2 || f[0] != strconv.Itoa(pid) || f[1] != f[0] {
			t.Errorf("request %d: %q, want pid %d as its own session", k, b, pid)
		}
	}
}
