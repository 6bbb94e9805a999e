package engine

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

// fakeSpawner records spawns and signals; tests end processes by hand.
type fakeSpawner struct {
	next    int
	procs   map[int]supervise.Request
	signals []string
	// single: signals to one process (SignalProcess), as "PID:SIG".
	single []string
	// order, when set, gets every signal as "group PID:SIG" or
	// "process PID:SIG", in order with what else a test logs there.
	order *[]string
	fail  map[string]error // "job/process" -> spawn error
}

func (f *fakeSpawner) Spawn(r supervise.Request) (int, error) {
	key := r.Job.Name + "/" + r.Type.String()
	if r.Security {
		key = r.Job.Name + "/security"
	}
	if err := f.fail[key]; err != nil {
		return 0, err
	}
	f.next++
	pid := 1000 + f.next
	f.procs[pid] = r
	return pid, nil
}

func (f *fakeSpawner) Signal(pid int, sig syscall.Signal) error {
	f.signals = append(f.signals, fmt.Sprintf("%d:%s", pid, signalName(sig)))
	if f.order != nil {
		*f.order = append(*f.order, fmt.Sprintf("group %d:%s", pid, signalName(sig)))
	}
	return nil
}

func (f *fakeSpawner) SignalProcess(pid int, sig syscall.Signal) error {
	f.single = append(f.single, fmt.Sprintf("%d:%s", pid, signalName(sig)))
	if f.order != nil {
		*f.order = append(*f.order, fmt.Sprintf("process %d:%s", pid, signalName(sig)))
	}
	return nil
}

// batchSpawner is the fake as a BatchSpawner: its batches spawn in order
// at Wait, and it records the size of each.
type batchSpawner struct {
	*fakeSpawner
	batches []int
}

type fakeBatch struct {
	b  *batchSpawner
	rs []supervise.Request
}

func (b *batchSpawner) Begin() supervise.Batch { return &fakeBatch{b: b} }

func (f *fakeBatch) Add(r supervise.Request) { f.rs = append(f.rs, r) }

func (f *fakeBatch) Wait() ([]int, []error) {
	f.b.batches = append(f.b.batches, len(f.rs))
	pids, errs := make([]int, len(f.rs)), make([]error, len(f.rs))
	for k, r := range f.rs {
		pids[k], errs[k] = f.b.Spawn(r)
	}
	return pids, errs
}

// batchAll makes every harness's spawner a batchSpawner: TestMain runs the
// package's tests a second time so, and they must hold the same with the
// main processes of a round forked together.
var batchAll bool

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		batchAll = true
		code = m.Run()
	}
	os.Exit(code)
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() { t.stopped = true }

type fakeClock struct {
	now    time.Time
	timers []*fakeTimer
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves time on and runs the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			t.f()
		}
	}
}

type harness struct {
	t      *testing.T
	e      *Engine
	sp     *fakeSpawner
	clock  *fakeClock
	events []string
	jobs   map[string]*conf.Job
}

func newHarness(t *testing.T) *harness {
	return newHarnessWith(t, &fakeSpawner{procs: map[int]supervise.Request{}, fail: map[string]error{}},
		&fakeClock{now: time.Unix(1000, 0)})
}

// newHarnessWith makes an engine on an existing spawner and clock (the
// next image of a re-exec, whose children and time go on).
func newHarnessWith(t *testing.T, sp *fakeSpawner, clock *fakeClock) *harness {
	h := &harness{t: t, sp: sp, clock: clock, jobs: map[string]*conf.Job{}}
	var spawner Spawner = h.sp
	if batchAll {
		spawner = &batchSpawner{fakeSpawner: sp}
	}
	h.e = New(Options{
		Spawner: spawner, Clock: h.clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env: []string{"PATH=/bin"},
		OnEvent: func(name string, env []string) {
			h.events = append(h.events, strings.TrimSpace(name+" "+strings.Join(env, " ")))
		},
	})
	return h
}

// condition parses a condition written with spaces around parentheses.
func condition(t *testing.T, s string) *cond.Node {
	if s == "" {
		return nil
	}
	var toks []cond.Token
	for _, w := range strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)) {
		toks = append(toks, cond.Token{Text: w, Line: 1})
	}
	n, err := cond.Parse(toks)
	if err != nil {
		t.Fatalf("condition %q: %v", s, err)
	}
	return n
}

// job defines a job. spec holds space-separated flags: task, respawn,
// main, pre-start, post-start, pre-stop, post-stop (processes defined).
func (h *harness) job(name, startOn, stopOn, spec string) *conf.Job {
	d := &conf.Job{Name: name, StartOn: condition(h.t, startOn), StopOn: condition(h.t, stopOn),
		RespawnLimit: 10, RespawnInterval: 5 * time.Second, KillTimeout: 5 * time.Second,
		KillSignal: int(syscall.SIGTERM), ReloadSignal: int(syscall.SIGHUP)}
	for _, f := range strings.Fields(spec) {
		switch f {
		case "task":
			d.Task = true
		case "respawn":
			d.Respawn = true
		default:
			found := false
			for t := conf.Main; t < conf.NumProcessTypes; t++ {
				if t.String() == f {
					d.Process[t] = &conf.Process{Command: "/bin/" + name + "-" + f}
					found = true
				}
			}
			if !found {
				h.t.Fatalf("bad spec %q", f)
			}
		}
	}
	h.jobs[name] = d
	h.e.SetJobs(h.jobs)
	return d
}

// pid returns the live pid of a job's process type (0 if none).
func (h *harness) pid(jobName, inst string, t conf.ProcessType) int {
	c := h.e.classes[jobName]
	if c == nil || c.get(inst) == nil {
		return 0
	}
	return c.get(inst).pids[t]
}

func (h *harness) exit(pid, code int) {
	h.t.Helper()
	if pid == 0 {
		h.t.Fatal("exit of pid 0")
	}
	h.e.ProcessExited(supervise.Exit{Pid: pid, Status: syscall.WaitStatus(code << 8)})
}

func (h *harness) kill(pid int, sig syscall.Signal) {
	h.e.ProcessExited(supervise.Exit{Pid: pid, Status: syscall.WaitStatus(sig)})
}

// status is "goal/state" of an instance, or "none".
func (h *harness) status(jobName, inst string) string {
	c := h.e.classes[jobName]
	if c == nil || c.get(inst) == nil {
		return "stop/waiting"
	}
	i := c.get(inst)
	return i.goal.String() + "/" + i.state.String()
}

func (h *harness) wantStatus(jobName, inst, want string) {
	h.t.Helper()
	if got := h.status(jobName, inst); got != want {
		h.t.Fatalf("%s (%s): status %s, want %s\nevents: %s", jobName, inst, got, want, strings.Join(h.events, "\n  "))
	}
}

// eventNames returns the names of the handled events, filtered to those
// for the given job (JOB=name) when job != "".
func (h *harness) eventsFor(jobName string) []string {
	var out []string
	for _, ev := range h.events {
		f := strings.Fields(ev)
		if jobName == "" || (len(f) > 1 && f[1] == "JOB="+jobName) {
			out = append(out, ev)
		}
	}
	return out
}

// spawns counts the spawns of a job's process type.
func (h *harness) spawns(jobName string, t conf.ProcessType) int {
	n := 0
	for _, r := range h.sp.procs {
		if r.Job.Name == jobName && r.Type == t && r.Argv == nil && !r.Security {
			n++
		}
	}
	return n
}

func (h *harness) emit(name string, env ...string) (done *bool, errp *error) {
	var d bool
	var err error
	if e := h.e.Emit(name, env, nil, func(e error) { d = true; err = e }); e != nil {
		h.t.Fatalf("emit %s: %v", name, e)
	}
	return &d, &err
}

func sorted(s []string) []string { s = append([]string(nil), s...); sort.Strings(s); return s }
