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

// SpawnAll on several threads: each request gets what Spawn would give it
// (a pid and, later, exactly one Exit with its own exit status; a program
// that is not there fails that request only), and GOMAXPROCS is back to
// what it was afterwards.
func TestSpawnAllParallel(t *testing.T) {
	h := newHarness(t, Options{SpawnThreads: 4})
	before := runtime.GOMAXPROCS(0)
	const n = 40
	rs := make([]Request, n)
	for k := range rs {
		cmd := "/bin/sh -c 'exit " + strconv.Itoa(k%7) + "'"
		if k == 13 {
			cmd = "/nonexistent/program"
		}
		rs[k] = Request{Job: execJob(cmd), Console: conf.ConsoleNone, Env: []string{"PATH=/usr/bin:/bin", "K=" + strconv.Itoa(k)}}
	}
	// Mark the pids spawned before the reaper can report them: the
	// harness rejects an Exit of a pid it does not know.
	const skipped = 20 // next says there is no request 20
	h.mu.Lock()
	pids, errs := h.s.SpawnAll(len(rs), func(k int) (Request, bool) { return rs[k], k != skipped })
	for k, pid := range pids {
		if errs[k] == nil && k != skipped {
			h.spawned[pid] = true
		}
	}
	h.mu.Unlock()
	if pids[skipped] != 0 || errs[skipped] != nil {
		t.Errorf("skipped request: pid %d err %v", pids[skipped], errs[skipped])
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after SpawnAll, was %d", got, before)
	}
	seen := map[int]bool{}
	for k := range rs {
		if k == skipped {
			continue
		}
		if k == 13 {
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
		if k == 13 || k == skipped {
			continue
		}
		e := h.wait(pid)
		if e.SpawnErr != nil || !e.Status.Exited() || e.Status.ExitStatus() != k%7 {
			t.Errorf("request %d (pid %d): %+v, want exit %d", k, pid, e, k%7)
		}
	}
}

// With one thread SpawnAll is Spawn in order; each process is a session
// leader, as from Spawn.
func TestSpawnAllSerial(t *testing.T) {
	h := newHarness(t, Options{SpawnThreads: 1})
	dir := t.TempDir()
	var rs []Request
	for k := range 3 {
		rs = append(rs, Request{Job: execJob("/bin/sh -c 'echo $$ $(cat /proc/$$/stat | cut -d\" \" -f6) > " + dir + "/" + strconv.Itoa(k) + "'"),
			Console: conf.ConsoleNone, Env: []string{"PATH=/usr/bin:/bin"}})
	}
	h.mu.Lock()
	pids, errs := h.s.SpawnAll(len(rs), func(k int) (Request, bool) { return rs[k], true })
	for k, pid := range pids {
		if errs[k] != nil {
			t.Fatal(errs[k])
		}
		h.spawned[pid] = true
	}
	h.mu.Unlock()
	for k, pid := range pids {
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
		if k > 0 && pids[k] < pids[k-1] && pids[k-1]-pids[k] < 1<<20 {
			t.Errorf("serial spawns out of order: %v", pids)
		}
	}
}
