package engine

import (
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/supervise"
)

func TestStartStopService(t *testing.T) {
	h := newHarness(t)
	h.job("svc", "", "", "main")
	var started, stopped error = errNotYet, errNotYet
	if err := h.e.StartJob("svc", nil, func(_ string, err error) { started = err }); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("svc", "", "start/running")
	if started != nil {
		t.Fatalf("start reply %v", started)
	}
	pid := h.pid("svc", "", conf.Main)
	if err := h.e.StopJob("svc", nil, func(err error) { stopped = err }); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("svc", "", "stop/killed")
	if want := []string{itoa(pid) + ":TERM"}; !reflect.DeepEqual(h.sp.signals, want) {
		t.Fatalf("signals %v want %v", h.sp.signals, want)
	}
	if stopped != errNotYet {
		t.Fatal("stop replied before the job stopped")
	}
	h.kill(pid, syscall.SIGTERM)
	h.wantStatus("svc", "", "stop/waiting")
	if stopped != nil {
		t.Fatalf("stop reply %v", stopped)
	}
	want := []string{
		"starting JOB=svc INSTANCE=",
		"started JOB=svc INSTANCE=",
		"stopping JOB=svc INSTANCE= RESULT=ok",
		"stopped JOB=svc INSTANCE= RESULT=ok PROCESS=main EXIT_SIGNAL=TERM",
	}
	if got := h.eventsFor("svc"); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var errNotYet = api.Errorf("not-yet", "no reply yet")

func itoa(i int) string { return strconv.Itoa(i) }

func TestErrors(t *testing.T) {
	h := newHarness(t)
	h.job("svc", "", "", "main")
	check := func(err error, name, msg string) {
		t.Helper()
		e, ok := err.(*api.Error)
		if !ok || e.Name != name || e.Msg != msg {
			t.Fatalf("error %#v, want %s %q", err, name, msg)
		}
	}
	check(h.e.StartJob("nope", nil, nil), api.ErrUnknownJob, "Unknown job: nope")
	check(h.e.StopJob("svc", nil, nil), api.ErrUnknownInstance, "Unknown instance: ")
	check(h.e.StartJob("svc", []string{"FOO"}, nil), api.ErrInvalidArgs, "Env must be KEY=VALUE pairs")
	if err := h.e.StartJob("svc", nil, nil); err != nil {
		t.Fatal(err)
	}
	check(h.e.StartJob("svc", nil, nil), api.ErrAlreadyStarted, "Job is already running: svc")
	check(h.e.Emit("", nil, nil, nil), api.ErrInvalidArgs, "Name may not be empty string")
	d := h.job("inst", "", "", "main")
	d.Instance = "$N"
	d.Usage = "inst N=x"
	check(h.e.StartJob("inst", nil, nil), api.ErrInvalidArgs, "Unknown parameter: N\nUsage: inst N=x")
	check(h.e.Reload("svc", "x"), api.ErrUnknownInstance, "Unknown instance: x")
}

// A task started by an event: the emitter waits until the task has run;
// stopping/stopped carry EXIT_STATUS and PROCESS for a clean run too.
func TestTaskAndExitStatus(t *testing.T) {
	h := newHarness(t)
	h.job("t", "go", "", "task main")
	done, err := h.emit("go")
	h.wantStatus("t", "", "start/running")
	if *done {
		t.Fatal("emit finished before the task ran")
	}
	h.exit(h.pid("t", "", conf.Main), 0)
	h.wantStatus("t", "", "stop/waiting")
	if !*done || *err != nil {
		t.Fatalf("emit: done=%v err=%v", *done, *err)
	}
	got := h.eventsFor("t")
	want := "stopped JOB=t INSTANCE= RESULT=ok PROCESS=main EXIT_STATUS=0"
	if got[len(got)-1] != want {
		t.Fatalf("last event %q want %q", got[len(got)-1], want)
	}
}

func TestFailedTaskFailsEvent(t *testing.T) {
	h := newHarness(t)
	h.job("t", "go", "", "task main")
	h.job("watch", "go/failed", "", "task main")
	done, err := h.emit("go", "A=1")
	h.exit(h.pid("t", "", conf.Main), 3)
	if !*done {
		t.Fatal("emit did not finish")
	}
	if e, ok := (*err).(*api.Error); !ok || e.Name != api.ErrEventFailed {
		t.Fatalf("emit error %v", *err)
	}
	if h.status("watch", "") != "start/running" {
		t.Fatalf("go/failed did not start watch; events %v", h.events)
	}
	evs := h.eventsFor("t")
	if want := "stopped JOB=t INSTANCE= RESULT=failed PROCESS=main EXIT_STATUS=3"; evs[len(evs)-1] != want {
		t.Fatalf("got %q", evs[len(evs)-1])
	}
}

// The `and` problem (LP #447654): with knowledge kept, the job starts again
// when b restarts while a runs on. Upstart would not start it.
func TestAndKeepsKnowledgeAcrossRestart(t *testing.T) {
	h := newHarness(t)
	h.job("a", "", "", "main")
	h.job("b", "", "", "main")
	h.job("x", "started a and started b", "", "task main")
	h.e.StartJob("a", nil, nil)
	if h.spawns("x", conf.Main) != 0 {
		t.Fatal("x started with only a")
	}
	h.e.StartJob("b", nil, nil)
	if h.spawns("x", conf.Main) != 1 {
		t.Fatal("x did not start with a and b")
	}
	h.exit(h.pid("x", "", conf.Main), 0)
	h.wantStatus("x", "", "stop/waiting")
	// b restarts (respawn-like: stopping, starting, started without stopped)
	h.e.RestartJob("b", nil, nil)
	h.kill(h.pid("b", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("b", "", "start/running")
	if n := h.spawns("x", conf.Main); n != 2 {
		t.Fatalf("x spawned %d times, want 2 (restart of b with a running)", n)
	}
	// While b is down, x must not start from a alone.
	h.exit(h.pid("x", "", conf.Main), 0)
	h.e.StopJob("b", nil, nil)
	h.kill(h.pid("b", "", conf.Main), syscall.SIGTERM)
	h.e.RestartJob("a", nil, nil)
	h.kill(h.pid("a", "", conf.Main), syscall.SIGTERM)
	if n := h.spawns("x", conf.Main); n != 2 {
		t.Fatalf("x spawned %d times with b stopped", n)
	}
}

// `start on A and (B or C)`, fired once and stopped: C then A starts it again.
func TestAndOrSequence(t *testing.T) {
	h := newHarness(t)
	h.job("x", "A and ( B or C )", "", "main")
	h.emit("A")
	h.emit("B")
	h.wantStatus("x", "", "start/running")
	i := h.e.classes["x"].get("")
	if v := lookup(i.env, "UPSTART_EVENTS"); v != "A B" {
		t.Fatalf("UPSTART_EVENTS=%q", v)
	}
	h.e.StopJob("x", nil, nil)
	h.kill(h.pid("x", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("x", "", "stop/waiting")
	h.emit("C")
	h.wantStatus("x", "", "stop/waiting")
	h.emit("A")
	h.wantStatus("x", "", "start/running")
	if n := h.spawns("x", conf.Main); n != 2 {
		t.Fatalf("spawned %d", n)
	}
}

func lookup(env []string, k string) string {
	for _, e := range env {
		if strings.HasPrefix(e, k+"=") {
			return e[len(k)+1:]
		}
	}
	return "<unset>"
}

// `start on stopped startup and stopped boot-splash`: nothing fires before
// both tasks have run.
func TestStoppedAndStopped(t *testing.T) {
	h := newHarness(t)
	h.job("startup", "startup", "", "task main")
	h.job("boot-splash", "startup", "", "task main")
	h.job("x", "stopped startup and stopped boot-splash", "", "main")
	h.emit("startup")
	h.exit(h.pid("startup", "", conf.Main), 0)
	if h.spawns("x", conf.Main) != 0 {
		t.Fatal("x started after only one task")
	}
	h.exit(h.pid("boot-splash", "", conf.Main), 0)
	h.wantStatus("x", "", "start/running")
}

// Hooks block: a task that starts on `starting y` runs to completion
// before y's main process is spawned.
func TestStartingHookBlocks(t *testing.T) {
	h := newHarness(t)
	h.job("y", "", "", "main")
	h.job("before", "starting y", "", "task main")
	h.e.StartJob("y", nil, nil)
	h.wantStatus("y", "", "start/starting")
	if h.spawns("y", conf.Main) != 0 {
		t.Fatal("y spawned while its starting hook ran")
	}
	h.exit(h.pid("before", "", conf.Main), 0)
	h.wantStatus("y", "", "start/running")
}

// `stop on stopping y`: the dependent service stops before y is killed.
func TestStoppingHookBlocks(t *testing.T) {
	h := newHarness(t)
	h.job("y", "", "", "main")
	h.job("dep", "started y", "stopping y", "main")
	h.e.StartJob("y", nil, nil)
	h.wantStatus("dep", "", "start/running")
	h.e.StopJob("y", nil, nil)
	h.wantStatus("y", "", "stop/stopping")
	h.wantStatus("dep", "", "stop/killed")
	h.kill(h.pid("dep", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("y", "", "stop/killed")
	if v := lookup(h.e.classes["y"].get("").env, "UPSTART_EVENTS"); v != "<unset>" {
		t.Fatalf("manual start has UPSTART_EVENTS=%s", v)
	}
}

func TestRespawnAndLimit(t *testing.T) {
	h := newHarness(t)
	d := h.job("r", "", "", "respawn main")
	d.RespawnLimit, d.RespawnInterval = 2, 10*time.Second
	h.e.StartJob("r", nil, nil)
	for n := 1; n <= 2; n++ {
		h.exit(h.pid("r", "", conf.Main), 1)
		h.wantStatus("r", "", "start/running")
	}
	evs := strings.Join(h.eventsFor("r"), "\n")
	if strings.Contains(evs, "stopped") {
		t.Fatalf("respawn emitted stopped:\n%s", evs)
	}
	h.exit(h.pid("r", "", conf.Main), 1)
	h.wantStatus("r", "", "stop/waiting")
	last := h.eventsFor("r")
	if want := "stopped JOB=r INSTANCE= RESULT=failed PROCESS=respawn EXIT_STATUS=1"; last[len(last)-1] != want {
		t.Fatalf("got %q", last[len(last)-1])
	}
}

func TestKillTimeoutEscalates(t *testing.T) {
	h := newHarness(t)
	h.job("s", "", "", "main")
	h.e.StartJob("s", nil, nil)
	pid := h.pid("s", "", conf.Main)
	h.e.StopJob("s", nil, nil)
	h.clock.Advance(4 * time.Second)
	if len(h.sp.signals) != 1 {
		t.Fatalf("signals before timeout: %v", h.sp.signals)
	}
	h.clock.Advance(time.Second)
	if want := []string{itoa(pid) + ":TERM", itoa(pid) + ":KILL"}; !reflect.DeepEqual(h.sp.signals, want) {
		t.Fatalf("signals %v", h.sp.signals)
	}
	h.kill(pid, syscall.SIGKILL)
	h.wantStatus("s", "", "stop/waiting")
}

func TestPreStartFailure(t *testing.T) {
	h := newHarness(t)
	h.job("p", "", "", "pre-start main post-stop")
	var got error = errNotYet
	h.e.StartJob("p", nil, func(_ string, err error) { got = err })
	h.wantStatus("p", "", "start/pre-start")
	h.exit(h.pid("p", "", conf.PreStart), 2)
	if e, ok := got.(*api.Error); !ok || e.Name != api.ErrJobFailed || e.Msg != "Job failed to start" {
		t.Fatalf("reply %v", got)
	}
	h.wantStatus("p", "", "stop/post-stop")
	h.exit(h.pid("p", "", conf.PostStop), 0)
	h.wantStatus("p", "", "stop/waiting")
	if h.spawns("p", conf.Main) != 0 {
		t.Fatal("main ran after pre-start failed")
	}
	evs := h.eventsFor("p")
	if want := "stopped JOB=p INSTANCE= RESULT=failed PROCESS=pre-start EXIT_STATUS=2"; evs[len(evs)-1] != want {
		t.Fatalf("got %q", evs[len(evs)-1])
	}
}

func TestSpawnFailure(t *testing.T) {
	h := newHarness(t)
	h.job("bad", "", "", "main")
	h.sp.fail["bad/main"] = syscall.ENOENT
	var got error = errNotYet
	h.e.StartJob("bad", nil, func(_ string, err error) { got = err })
	h.wantStatus("bad", "", "stop/waiting")
	if got == nil || got == errNotYet {
		t.Fatalf("reply %v", got)
	}
	evs := h.eventsFor("bad")
	if want := "stopped JOB=bad INSTANCE= RESULT=failed PROCESS=main"; evs[len(evs)-1] != want {
		t.Fatalf("got %q", evs[len(evs)-1])
	}
}

func TestInstancesAndStopOnVariable(t *testing.T) {
	h := newHarness(t)
	d := h.job("net", "up", "down IFACE=$IFACE", "main")
	d.Instance = "$IFACE"
	h.emit("up", "IFACE=eth0")
	h.emit("up", "IFACE=eth1")
	h.wantStatus("net", "eth0", "start/running")
	h.wantStatus("net", "eth1", "start/running")
	h.emit("down", "IFACE=eth1")
	h.wantStatus("net", "eth0", "start/running")
	h.wantStatus("net", "eth1", "stop/killed")
	i := h.e.classes["net"].get("eth1")
	if v := lookup(i.stopEnv, "UPSTART_STOP_EVENTS"); v != "down" {
		t.Fatalf("UPSTART_STOP_EVENTS=%q", v)
	}
	if want := "IFACE=eth1"; lookup(h.sp.procs[h.pid("net", "eth1", conf.Main)].Env, "IFACE") != "eth1" {
		t.Fatalf("main env lacks %s", want)
	}
}

func TestReloadKeepsRunningDefinition(t *testing.T) {
	h := newHarness(t)
	old := h.job("s", "", "", "main")
	h.e.StartJob("s", nil, nil)
	newer := &conf.Job{Name: "s", KillTimeout: time.Second, Process: old.Process}
	h.jobs["s"] = newer
	h.e.SetJobs(h.jobs)
	if h.e.classes["s"].def != old {
		t.Fatal("definition replaced under a running instance")
	}
	h.e.StopJob("s", nil, nil)
	h.kill(h.pid("s", "", conf.Main), syscall.SIGTERM)
	if h.e.classes["s"].def != newer {
		t.Fatal("new definition not installed once the instance ended")
	}
	delete(h.jobs, "s")
	h.e.SetJobs(h.jobs)
	if _, err := h.e.JobInfo("s"); err == nil {
		t.Fatal("deleted job still known")
	}
}

func TestRestartWithoutStopped(t *testing.T) {
	h := newHarness(t)
	h.job("s", "", "", "main")
	h.e.StartJob("s", []string{"A=1"}, nil)
	var got error = errNotYet
	h.e.RestartJob("s", nil, func(_ string, err error) { got = err })
	h.kill(h.pid("s", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("s", "", "start/running")
	if got != nil {
		t.Fatalf("restart reply %v", got)
	}
	for _, ev := range h.eventsFor("s") {
		if strings.HasPrefix(ev, "stopped") {
			t.Fatal("restart emitted stopped")
		}
	}
	if lookup(h.sp.procs[h.pid("s", "", conf.Main)].Env, "A") != "1" {
		t.Fatal("restart lost the start environment")
	}
}

// A start during pre-stop cancels the stop: back to running, same pid.
func TestStartCancelsStopInPreStop(t *testing.T) {
	h := newHarness(t)
	h.job("s", "", "", "main pre-stop")
	h.e.StartJob("s", nil, nil)
	pid := h.pid("s", "", conf.Main)
	h.e.StopJob("s", nil, nil)
	h.wantStatus("s", "", "stop/pre-stop")
	h.e.InstanceStart("s", "", nil)
	h.exit(h.pid("s", "", conf.PreStop), 0)
	h.wantStatus("s", "", "start/running")
	if h.pid("s", "", conf.Main) != pid {
		t.Fatal("main process changed")
	}
}

func TestEnvStanzaAndExport(t *testing.T) {
	h := newHarness(t)
	h.e.opt.InitEnv = []string{"HOME=/root"}
	d := h.job("e", "", "", "main")
	d.Env = []string{"A=1", "HOME", "GONE"}
	d.Export = []string{"A"}
	h.e.StartJob("e", nil, nil)
	env := h.sp.procs[h.pid("e", "", conf.Main)].Env
	for k, v := range map[string]string{"A": "1", "HOME": "/root", "GONE": "<unset>", "UPSTART_JOB": "e", "UPSTART_INSTANCE": "", "PATH": "/bin"} {
		if got := lookup(env, k); got != v {
			t.Errorf("%s=%q want %q", k, got, v)
		}
	}
	if evs := h.eventsFor("e"); evs[0] != "starting JOB=e INSTANCE= A=1" {
		t.Fatalf("starting event %q", evs[0])
	}
}

// Chromium OS `import`: only the listed keys of the starting event reach
// the job; job-event keys pass; UPSTART_* never comes from outside.
func TestImport(t *testing.T) {
	h := newHarness(t)
	d := h.job("imp", "go", "", "main")
	d.Import = []string{"WANTED"}
	h.emit("go", "WANTED=1", "UNWANTED=2", "UPSTART_JOB=evil")
	env := h.sp.procs[h.pid("imp", "", conf.Main)].Env
	if lookup(env, "WANTED") != "1" || lookup(env, "UNWANTED") != "<unset>" || lookup(env, "UPSTART_JOB") != "imp" {
		t.Fatalf("env %v", env)
	}
	if lookup(env, "UPSTART_EVENTS") != "go" {
		t.Fatalf("UPSTART_EVENTS %q", lookup(env, "UPSTART_EVENTS"))
	}
}

// After DisableRespawn a respawning job's end is an end: a clean exit
// stops it (RESULT=ok), a failure fails it; the flag survives a snapshot.
func TestDisableRespawn(t *testing.T) {
	h := newHarness(t)
	h.job("r", "", "", "respawn main")
	h.job("q", "", "", "respawn main")
	h.e.StartJob("r", nil, nil)
	h.e.StartJob("q", nil, nil)
	h.exit(h.pid("r", "", conf.Main), 1)
	h.wantStatus("r", "", "start/running") // respawned
	h.e.DisableRespawn()
	h.exit(h.pid("r", "", conf.Main), 0)
	h.wantStatus("r", "", "stop/waiting")
	ev := h.eventsFor("r")
	if want := "stopped JOB=r INSTANCE= RESULT=ok PROCESS=main EXIT_STATUS=0"; ev[len(ev)-1] != want {
		t.Fatalf("got %q", ev[len(ev)-1])
	}
	h.exit(h.pid("q", "", conf.Main), 3)
	h.wantStatus("q", "", "stop/waiting")
	ev = h.eventsFor("q")
	if want := "stopped JOB=q INSTANCE= RESULT=failed PROCESS=main EXIT_STATUS=3"; ev[len(ev)-1] != want {
		t.Fatalf("got %q", ev[len(ev)-1])
	}
	if !h.e.Snapshot(nil).RespawnDisabled {
		t.Fatal("the snapshot lost the flag")
	}
}

// reloadAll gives every job a new definition, as a reload that re-reads
// every job file does (new objects, the same text).
func (h *harness) reloadAll() {
	for n, d := range h.jobs {
		c := *d
		h.jobs[n] = &c
	}
	h.e.SetJobs(h.jobs)
}

// Issue 12 item 3: a reload keeps the kept knowledge of conditions whose
// text is unchanged, and of the operands a changed condition still has.
func TestReloadKeepsKnowledge(t *testing.T) {
	for _, tc := range []struct {
		name, after string // x's start on after the reload ("" = unchanged)
		restarts    bool
	}{
		{"unchanged", "", true},
		{"operand kept", "( started a or started c ) and started b", true},
		{"operand gone", "started c and started b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.job("a", "", "", "main")
			h.job("b", "", "", "main")
			h.job("c", "", "", "main")
			h.job("x", "started a and started b", "stopping b", "main")
			h.e.StartJob("a", nil, nil)
			h.e.StartJob("b", nil, nil)
			h.wantStatus("x", "", "start/running")
			h.reloadAll()
			if tc.after != "" {
				h.job("x", tc.after, "stopping b", "main")
			}
			h.e.StopJob("b", nil, nil)
			h.kill(h.pid("b", "", conf.Main), syscall.SIGTERM)
			h.kill(h.pid("x", "", conf.Main), syscall.SIGTERM)
			h.wantStatus("x", "", "stop/waiting")
			h.reloadAll() // x has no instance now: the new definition is installed
			h.e.StartJob("b", nil, nil)
			want := "stop/waiting"
			if tc.restarts {
				want = "start/running"
			}
			h.wantStatus("x", "", want)
		})
	}
}

// Environments from outside are bounded, and a start that merges the
// largest allowed event environment into the largest allowed job
// environment is linear (issue 15 item 9: 60 000 entries blocked the loop
// for 34 s).
func TestEnvEntriesCapped(t *testing.T) {
	h := newHarness(t)
	d := h.job("j", "big", "", "main")
	var evEnv []string
	for i := 0; i < environ.MaxEntries; i++ {
		d.Env = append(d.Env, "J"+itoa(i)+"=job")
		evEnv = append(evEnv, "E"+itoa(i)+"=event")
	}
	tooMany := append(evEnv, "ONE=more")
	if err := h.e.Emit("big", tooMany, nil, nil); err == nil || err.(*api.Error).Name != api.ErrInvalidArgs {
		t.Fatalf("emit of %d entries: %v", len(tooMany), err)
	}
	if err := h.e.StartJob("j", tooMany, nil); err == nil || err.(*api.Error).Name != api.ErrInvalidArgs {
		t.Fatalf("start with %d entries: %v", len(tooMany), err)
	}
	h.emit("big", evEnv...)
	h.wantStatus("j", "", "start/running")
	env := h.sp.procs[h.pid("j", "", conf.Main)].Env
	if lookup(env, "J4095") != "job" || lookup(env, "E4095") != "event" {
		t.Fatalf("environment of %d entries lacks the last job or event entry", len(env))
	}
}

// A spawn that fails for want of fds is tried again with a back-off, not
// abandoned (issue 15 item 2): a respawning job comes back once fds are
// free again; a stop meanwhile ends it as usual.
func TestSpawnRetriedOnEMFILE(t *testing.T) {
	h := newHarness(t)
	h.job("spin", "", "", "main respawn")
	h.e.StartJob("spin", nil, func(string, error) {})
	h.wantStatus("spin", "", "start/running")
	h.sp.fail["spin/main"] = &supervise.SpawnError{Op: "execute", Err: syscall.EMFILE}
	h.exit(h.pid("spin", "", conf.Main), 1) // respawns: the spawn fails
	h.wantStatus("spin", "", "start/spawning")
	for _, d := range []time.Duration{100, 200, 400} {
		h.clock.Advance(d * time.Millisecond)
		h.wantStatus("spin", "", "start/spawning")
	}
	delete(h.sp.fail, "spin/main")
	h.clock.Advance(800 * time.Millisecond)
	h.wantStatus("spin", "", "start/running")
	if h.pid("spin", "", conf.Main) == 0 {
		t.Fatal("no main process after the retry")
	}
	// Other failures still fail at once.
	h.job("gone", "", "", "main")
	h.sp.fail["gone/main"] = &supervise.SpawnError{Op: "execute", Err: syscall.ENOENT}
	h.e.StartJob("gone", nil, func(string, error) {})
	h.wantStatus("gone", "", "stop/waiting")
	// The back-off is bounded.
	if d := spawnRetryDelay(50); d != 5*time.Second {
		t.Errorf("back-off %v", d)
	}
}

// A spawn waiting for its retry is tried again by the next image after a
// re-exec.
func TestSpawnRetryAcrossReexec(t *testing.T) {
	h := newHarness(t)
	h.job("spin", "", "", "main")
	h.sp.fail["spin/main"] = &supervise.SpawnError{Op: "execute", Err: syscall.ENFILE}
	h.e.StartJob("spin", nil, func(string, error) {})
	h.wantStatus("spin", "", "start/spawning")
	h2 := reexec(t, h)
	delete(h2.sp.fail, "spin/main")
	h2.clock.Advance(0)
	h2.wantStatus("spin", "", "start/running")
}
