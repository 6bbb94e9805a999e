package engine

import (
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

// The main processes of the jobs one event starts are forked in one batch
// (a cold start on more than one thread), and each instance moves on as a
// spawn one at a time would have moved it: running, its started event,
// its pid known before any exit is handled. A failed spawn in the batch
// fails that job only; one that failed for want of descriptors is tried
// again on its own.
func TestMainSpawnsBatched(t *testing.T) {
	sp := &fakeSpawner{procs: map[int]supervise.Request{}, fail: map[string]error{}}
	b := &batchSpawner{fakeSpawner: sp}
	h := newHarnessWith(t, sp, &fakeClock{now: time.Unix(1000, 0)})
	h.e = New(Options{Spawner: b, Clock: h.clock, Log: h.e.log, Env: []string{"PATH=/bin"}, OnEvent: h.e.opt.OnEvent})
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, n := range names {
		h.job(n, "boot", "", "main respawn")
	}
	h.job("pre", "boot", "", "pre-start main") // a pre-start runs first: its main comes later, alone
	sp.fail["e/main"] = &supervise.SpawnError{Op: "execute", Err: syscall.ENOENT}
	sp.fail["f/main"] = &supervise.SpawnError{Op: "execute", Err: syscall.EMFILE}
	h.emit("boot")

	if want := []int{len(names)}; !reflect.DeepEqual(b.batches, want) {
		t.Fatalf("batches %v, want %v (every main process of the round in one)", b.batches, want)
	}
	seen := map[int]bool{}
	for _, n := range names[:4] {
		h.wantStatus(n, "", "start/running")
		pid := h.pid(n, "", conf.Main)
		if pid == 0 || seen[pid] || sp.procs[pid].Job.Name != n {
			t.Fatalf("%s: pid %d (request %v)", n, pid, sp.procs[pid].Job)
		}
		seen[pid] = true
		if got := h.eventsFor(n); len(got) != 2 || got[1] != "started JOB="+n+" INSTANCE=" {
			t.Fatalf("%s events %v", n, got)
		}
	}
	h.wantStatus("e", "", "stop/waiting")
	h.wantStatus("f", "", "start/spawning")
	h.wantStatus("pre", "", "start/pre-start")

	// The pre-start ends: its main process is spawned on its own.
	h.exit(h.pid("pre", "", conf.PreStart), 0)
	h.wantStatus("pre", "", "start/running")
	// The retry of f, after the back-off, succeeds.
	delete(sp.fail, "f/main")
	h.clock.Advance(100 * time.Millisecond)
	h.wantStatus("f", "", "start/running")
	if len(b.batches) != 1 {
		t.Fatalf("batches %v: a lone spawn needs none", b.batches)
	}
	// An exit of a batched process is handled as any: a respawn.
	old := h.pid("a", "", conf.Main)
	h.exit(old, 1)
	h.wantStatus("a", "", "start/running")
	if p := h.pid("a", "", conf.Main); p == old || p == 0 {
		t.Fatalf("a not respawned: pid %d", p)
	}
}
