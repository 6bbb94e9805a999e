package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

// fakePidFiles answers ReadPid from a map (a missing path is an error);
// every pid is init's child but those in notOurs.
type fakePidFiles struct {
	pids    map[string]int
	reads   []string
	notOurs map[int]bool
}

func (f *fakePidFiles) OwnChild(pid int) bool { return !f.notOurs[pid] }

func (f *fakePidFiles) ReadPid(path string) (int, error) {
	f.reads = append(f.reads, path)
	pid, ok := f.pids[path]
	if !ok {
		return 0, errors.New("no such file")
	}
	return pid, nil
}

// logTo sends the engine's log into a buffer.
func logTo(h *harness) *bytes.Buffer {
	var b bytes.Buffer
	h.e.log = slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &b
}

// orphanExit reports the end of a process that was re-parented to us.
func (h *harness) orphanExit(pid, code int, tr *fakeTracker) {
	delete(tr.members, pid)
	h.e.ProcessExited(supervise.Exit{Pid: pid, Orphan: true, Status: syscall.WaitStatus(code << 8)})
}

// A running daemon re-forks: the main process exits after handing over
// to its child. The job stays running with the child as its main process;
// only when the last leader ends is the main process over, with that
// leader's status.
func TestFollowNewLeader(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("d", "", "", "main")
	h.e.StartJob("d", nil, nil)
	h.wantStatus("d", "", "start/running")
	first := h.pid("d", "", conf.Main)
	tr.members[5001] = "main" // the re-forked daemon
	tr.members[5002] = "main" // its worker (started later)
	h.exit(first, 0)
	h.wantStatus("d", "", "start/running")
	if got := h.pid("d", "", conf.Main); got != 5001 {
		t.Fatalf("main is %d, want the oldest, 5001", got)
	}
	info, _ := h.e.InstanceInfo("d", "")
	if len(info.Processes) != 1 || info.Processes[0].Pid != 5001 || len(info.Members) != 2 {
		t.Fatalf("processes %+v, members %+v: want the new leader 5001 (and 5002 among the members)", info.Processes, info.Members)
	}
	// The new leader re-forks again: the worker left is followed.
	other := 5002
	h.orphanExit(5001, 0, tr)
	h.wantStatus("d", "", "start/running")
	if got := h.pid("d", "", conf.Main); got != other {
		t.Fatalf("main is %d, want %d", got, other)
	}
	// The last one fails: the job ends with its status.
	h.orphanExit(other, 3, tr)
	h.wantStatus("d", "", "stop/waiting")
	evs := h.eventsFor("d")
	if last := evs[len(evs)-1]; !strings.Contains(last, "RESULT=failed PROCESS=main EXIT_STATUS=3") {
		t.Fatalf("stopped event %q, want the last leader's status", last)
	}
	if h.spawns("d", conf.Main) != 1 {
		t.Fatalf("spawned main %d times", h.spawns("d", conf.Main))
	}
}

// The pid file names the new leader among several processes; a pid file
// that names a process outside the instance is refused, logged once, and
// the oldest process left is followed instead.
func TestFollowPidFile(t *testing.T) {
	h, tr := newTrackedHarness(t)
	pf := &fakePidFiles{pids: map[string]int{}}
	h.e.opt.PidFiles = pf
	log := logTo(h)
	d := h.job("p", "", "", "main")
	d.PidFile = "/run/p-$N.pid"
	h.e.StartJob("p", []string{"N=1"}, nil)
	first := h.pid("p", "", conf.Main)
	tr.members[5101] = "main" // a worker of the old master
	tr.members[5102] = "main" // the new master
	tr.members[5103] = "post-start"
	pf.pids["/run/p-1.pid"] = 5102
	h.exit(first, 0)
	if got := h.pid("p", "", conf.Main); got != 5102 {
		t.Fatalf("main is %d, want 5102 from the pid file (read %v)", got, pf.reads)
	}
	if !slices.Equal(pf.reads, []string{"/run/p-1.pid"}) {
		t.Fatalf("pid file reads %v", pf.reads)
	}
	// Hostile: a foreign pid, then a process of another group of ours.
	for n, foreign := range []int{1, 5103} {
		pf.pids["/run/p-1.pid"] = foreign
		tr.members[5110+n] = "main"
		h.orphanExit(h.pid("p", "", conf.Main), 0, tr)
		h.wantStatus("p", "", "start/running")
		// The oldest left: the old master's worker, then the next.
		if got, want := h.pid("p", "", conf.Main), []int{5101, 5110}[n]; got != want {
			t.Fatalf("main is %d after a pid file naming %d, want the oldest, %d", got, foreign, want)
		}
	}
	if n := strings.Count(log.String(), "which is not a process of the job's main group: ignored"); n != 1 {
		t.Fatalf("refusal logged %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log.String(), "pid file /run/p-1.pid names process 1,") {
		t.Fatalf("no refusal naming pid 1 in the log:\n%s", log)
	}
}

// A pid file that names a process whose parent (another process of the
// job) is alive: that parent would reap it without init seeing its end,
// so the oldest is followed until the named one is init's child.
func TestFollowPidFileNotOurChild(t *testing.T) {
	h, tr := newTrackedHarness(t)
	pf := &fakePidFiles{pids: map[string]int{}, notOurs: map[int]bool{5802: true}}
	h.e.opt.PidFiles = pf
	log := logTo(h)
	d := h.job("g", "", "", "main")
	d.PidFile = "/run/g.pid"
	h.e.StartJob("g", nil, nil)
	tr.members[5801] = "main" // the middle process
	tr.members[5802] = "main" // its child, named in the pid file
	pf.pids["/run/g.pid"] = 5802
	h.exit(h.pid("g", "", conf.Main), 0)
	if got := h.pid("g", "", conf.Main); got != 5801 {
		t.Fatalf("main %d, want the middle process 5801", got)
	}
	delete(pf.notOurs, 5802) // re-parented to init when 5801 ends
	h.orphanExit(5801, 0, tr)
	if got := h.pid("g", "", conf.Main); got != 5802 {
		t.Fatalf("main %d, want 5802", got)
	}
	if strings.Contains(log.String(), "ignored") {
		t.Fatalf("logged as refused:\n%s", log)
	}
}

// A pid file that still names the old leader, or is missing, is not used;
// the oldest process left is followed, with nothing logged as refused.
func TestFollowStalePidFile(t *testing.T) {
	h, tr := newTrackedHarness(t)
	pf := &fakePidFiles{pids: map[string]int{}}
	h.e.opt.PidFiles = pf
	log := logTo(h)
	d := h.job("s", "", "", "main")
	d.PidFile = "/run/s.pid"
	h.e.StartJob("s", nil, nil)
	first := h.pid("s", "", conf.Main)
	pf.pids["/run/s.pid"] = first
	tr.members[5201] = "main"
	h.exit(first, 0)
	if got := h.pid("s", "", conf.Main); got != 5201 {
		t.Fatalf("main is %d", got)
	}
	delete(pf.pids, "/run/s.pid")
	tr.members[5202] = "main"
	h.orphanExit(5201, 0, tr)
	if got := h.pid("s", "", conf.Main); got != 5202 {
		t.Fatalf("main is %d", got)
	}
	if strings.Contains(log.String(), "ignored") {
		t.Fatalf("a stale or missing pid file was logged as refused:\n%s", log)
	}
}

// Respawn: a crash that leaves nothing respawns as before; a crash that
// leaves a process of the main group follows it (the group is not empty,
// so the main process has not ended).
func TestFollowRespawn(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("r", "", "", "main respawn")
	h.e.StartJob("r", nil, nil)
	h.kill(h.pid("r", "", conf.Main), syscall.SIGSEGV)
	h.wantStatus("r", "", "start/running")
	if n := h.spawns("r", conf.Main); n != 2 {
		t.Fatalf("spawned %d times, want a respawn", n)
	}
	tr.members[5301] = "main"
	h.kill(h.pid("r", "", conf.Main), syscall.SIGSEGV)
	if n := h.spawns("r", conf.Main); n != 2 || h.pid("r", "", conf.Main) != 5301 {
		t.Fatalf("spawned %d times, main %d: want the member followed", n, h.pid("r", "", conf.Main))
	}
	// The follower crashes with the group empty: a respawn.
	delete(tr.members, 5301)
	h.e.ProcessExited(supervise.Exit{Pid: 5301, Orphan: true, Status: syscall.WaitStatus(syscall.SIGSEGV)})
	h.wantStatus("r", "", "start/running")
	if n := h.spawns("r", conf.Main); n != 3 {
		t.Fatalf("spawned %d times, want a respawn", n)
	}
}

// Stop after a follow signals the new leader and waits for it.
func TestFollowStop(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("k", "", "", "main")
	h.e.StartJob("k", nil, nil)
	tr.members[5401] = "main"
	h.exit(h.pid("k", "", conf.Main), 0)
	h.sp.signals = nil
	h.e.StopJob("k", nil, nil)
	h.wantStatus("k", "", "stop/killed")
	if !slices.Contains(h.sp.signals, "5401:TERM") {
		t.Fatalf("signals %v, want TERM to the new leader", h.sp.signals)
	}
	h.e.ProcessExited(supervise.Exit{Pid: 5401, Orphan: true, Status: syscall.WaitStatus(syscall.SIGTERM)})
	// The tracker still lists it until it is gone.
	delete(tr.members, 5401)
	h.e.ProcessExited(supervise.Exit{Pid: 5401, Orphan: true, Status: syscall.WaitStatus(syscall.SIGTERM)})
	h.wantStatus("k", "", "stop/waiting")
}

// expect daemon still counts the exits of the tree until it is ready
// (no following before readiness); once running, a re-fork is followed.
func TestFollowAfterExpect(t *testing.T) {
	h, tr := newTrackedHarness(t)
	d := h.job("x", "", "", "main")
	d.Expect, d.ExpectExits, d.ExpectTimeout = conf.ExpectDaemon, 2, 10*time.Second
	h.e.StartJob("x", nil, nil)
	tr.members[5501] = "main"
	h.exit(h.pid("x", "", conf.Main), 0)
	h.wantStatus("x", "", "start/spawned")
	tr.members[5502] = "main"
	h.orphanExit(5501, 0, tr)
	h.wantStatus("x", "", "start/running")
	if h.pid("x", "", conf.Main) != 5502 {
		t.Fatalf("main %d", h.pid("x", "", conf.Main))
	}
	tr.members[5503] = "main"
	h.orphanExit(5502, 0, tr)
	h.wantStatus("x", "", "start/running")
	if h.pid("x", "", conf.Main) != 5503 {
		t.Fatalf("main %d, want the re-forked 5503", h.pid("x", "", conf.Main))
	}
}

// A task ends with its main process: what it left is killed, not followed.
func TestFollowNotForTasks(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("t", "", "", "main task")
	h.e.StartJob("t", nil, nil)
	tr.members[5601] = "main"
	h.exit(h.pid("t", "", conf.Main), 0)
	h.wantStatus("t", "", "stop/killed")
	h.orphanExit(5601, 0, tr)
	h.wantStatus("t", "", "stop/waiting")
}

// The new leader is the tracked main process of the re-exec document: the
// next image knows it and follows on from it.
func TestFollowAcrossReexec(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("e", "", "", "main")
	h.e.StartJob("e", nil, nil)
	tr.members[5701] = "main"
	h.exit(h.pid("e", "", conf.Main), 0)
	h2 := reexec(t, h)
	h2.e.opt.Tracker = tr
	h2.wantStatus("e", "", "start/running")
	if h2.pid("e", "", conf.Main) != 5701 {
		t.Fatalf("main after re-exec %d", h2.pid("e", "", conf.Main))
	}
	tr.members[5702] = "main"
	h2.orphanExit(5701, 0, tr)
	if h2.pid("e", "", conf.Main) != 5702 {
		t.Fatalf("main %d, want 5702", h2.pid("e", "", conf.Main))
	}
	h2.orphanExit(5702, 0, tr)
	h2.wantStatus("e", "", "stop/waiting")
}

// BenchmarkFollow: one hand-over of a running daemon's main process to
// the process it forked, as the engine handles it (tracker and pid file
// faked: the cost of the engine's part, not of reading /proc).
func BenchmarkFollow(b *testing.B) {
	h, tr := newTrackedHarness(&testing.T{})
	h.e.opt.PidFiles = &fakePidFiles{pids: map[string]int{}}
	d := h.job("b", "", "", "main")
	d.PidFile = "/run/b.pid"
	h.e.StartJob("b", nil, nil)
	pf := h.e.opt.PidFiles.(*fakePidFiles)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		old := h.pid("b", "", conf.Main)
		next := 100000 + n
		tr.members[next] = "main"
		pf.pids["/run/b.pid"] = next
		pf.reads = pf.reads[:0]
		h.e.ProcessExited(supervise.Exit{Pid: old, Orphan: n > 0})
		delete(tr.members, old)
		if h.pid("b", "", conf.Main) != next {
			b.Fatalf("not followed at %d", n)
		}
	}
}

// A respawn whose main process left nothing looks at the instance's
// groups once (follow's look); entering killed in the same exit does not
// read them again. When killed comes in a later turn (a job hooked on
// stopping ran first), it looks again, and a process found then is killed
// and waited for.
func TestRespawnLooksOnce(t *testing.T) {
	h, tr := newTrackedHarness(t)
	tr.only = "r"
	h.job("r", "", "", "main respawn")
	h.e.StartJob("r", nil, nil)
	before := tr.looks
	h.kill(h.pid("r", "", conf.Main), syscall.SIGKILL)
	h.wantStatus("r", "", "start/running")
	if n := h.spawns("r", conf.Main); n != 2 {
		t.Fatalf("spawned %d times, want a respawn", n)
	}
	if n := tr.looks - before; n != 1 {
		t.Fatalf("%d looks at the groups for one respawn, want 1", n)
	}

	h.job("hook", "stopping r", "", "main task")
	before = tr.looks
	h.kill(h.pid("r", "", conf.Main), syscall.SIGKILL)
	h.wantStatus("r", "", "start/stopping")
	// A process appears in r's group while the hook runs.
	tr.members[5501] = "main"
	h.exit(h.pid("hook", "", conf.Main), 0)
	h.wantStatus("r", "", "start/killed")
	if tr.looks-before < 2 {
		t.Fatalf("%d looks, want killed to look again", tr.looks-before)
	}
	// Killed waits for the process it found (it is signalled as a member).
	if info, _ := h.e.InstanceInfo("r", ""); len(info.Members) != 1 || info.Members[0].Pid != 5501 {
		t.Fatalf("members %+v, want the process left", info.Members)
	}
	h.orphanExit(5501, 0, tr)
	h.wantStatus("r", "", "start/running")
	if n := h.spawns("r", conf.Main); n != 3 {
		t.Fatalf("spawned %d times, want a respawn", n)
	}
}

// spawnSpy calls onSpawn before each spawn of the fake spawner.
type spawnSpy struct {
	*fakeSpawner
	onSpawn func()
}

func (s *spawnSpy) Spawn(r supervise.Request) (int, error) {
	s.onSpawn()
	return s.fakeSpawner.Spawn(r)
}

// A respawn's log lines are written after the replacement is spawned, in
// the order they were logged, and none is lost.
func TestRespawnLogsAfterSpawn(t *testing.T) {
	h := newHarness(t)
	b := logTo(h)
	var atSpawn string
	h.e.opt.Spawner = &spawnSpy{fakeSpawner: h.sp, onSpawn: func() { atSpawn = b.String() }}
	h.job("r", "", "", "main respawn")
	h.e.StartJob("r", nil, nil)
	b.Reset()
	pid := h.pid("r", "", conf.Main)
	h.kill(pid, syscall.SIGKILL)
	h.wantStatus("r", "", "start/running")
	if atSpawn != "" {
		t.Fatalf("written before the spawn: %q", atSpawn)
	}
	out := b.String()
	killed := strings.Index(out, fmt.Sprintf("main process (%d) killed by KILL signal", pid))
	respawning := strings.Index(out, "main process ended, respawning")
	running := strings.LastIndex(out, "state changed from post-start to running")
	if killed < 0 || respawning < killed || running < respawning {
		t.Fatalf("log lines missing or out of order:\n%s", out)
	}
}

// A caller told that its job failed finds the reason in the log already:
// held lines are written before any reply.
func TestHeldLogsBeforeReply(t *testing.T) {
	h := newHarness(t)
	b := logTo(h)
	h.job("t", "", "", "main task")
	var atReply string
	var got error = errNotYet
	h.e.StartJob("t", nil, func(_ string, err error) { got, atReply = err, b.String() })
	pid := h.pid("t", "", conf.Main)
	h.kill(pid, syscall.SIGKILL)
	if got == nil || got == errNotYet {
		t.Fatalf("reply %v, want the job's failure", got)
	}
	if !strings.Contains(atReply, fmt.Sprintf("main process (%d) killed by KILL signal", pid)) {
		t.Fatalf("log at the reply:\n%s", atReply)
	}
}
