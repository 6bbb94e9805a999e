package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

// fakeReadiness records what the engine asks of the watchers.
type fakeReadiness struct {
	calls   []string
	watches map[uint64]Watch
}

func (f *fakeReadiness) Prepare(w Watch, r *supervise.Request) error {
	if f.watches == nil {
		f.watches = map[uint64]Watch{}
	}
	f.watches[w.ID] = w
	f.calls = append(f.calls, "prepare "+strings.Join(w.Kind, " "))
	r.Env = append(r.Env, "NOTIFY_SOCKET=@fake")
	return nil
}
func (f *fakeReadiness) Spawned(id uint64, pid int) { f.calls = append(f.calls, "spawned") }
func (f *fakeReadiness) Settled(id uint64)          { f.calls = append(f.calls, "settled") }
func (f *fakeReadiness) Close(id uint64)            { f.calls = append(f.calls, "close") }
func (f *fakeReadiness) Resume(w Watch, waiting bool) {
	f.calls = append(f.calls, "resume "+strings.Join(w.Kind, " ")+" "+map[bool]string{true: "waiting", false: "settled"}[waiting])
}

func newReadyHarness(t *testing.T) (*harness, *fakeReadiness, *fakeTracker, *bytes.Buffer) {
	h, tr := newTrackedHarness(t)
	fr := &fakeReadiness{}
	h.e.opt.Readiness = fr
	var log bytes.Buffer
	h.e.log = slog.New(slog.NewTextHandler(&log, nil))
	return h, fr, tr, &log
}

func readyJob(h *harness, name, expect string, timeout time.Duration) *conf.Job {
	d := h.job(name, "", "", "main")
	j, err := conf.Parse(name, name+".conf", []byte(expect+"\n"))
	if err != nil {
		h.t.Fatal(err)
	}
	d.Expect, d.ExpectOn, d.ExpectWatch, d.Watchdog = j.Expect, j.ExpectOn, j.ExpectWatch, j.Watchdog
	d.ExpectTimeout = timeout
	return d
}

var errNotYetReady = api.Errorf("not yet", "not yet")

// expect event: the instance waits in spawned for the condition, with
// $VAR expanded from its environment; the start's reply and the started
// event wait for it; earlier events do not count.
func TestExpectEvent(t *testing.T) {
	h, _, _, _ := newReadyHarness(t)
	d := readyJob(h, "db", "expect event listening PORT=$PORT", 10*time.Second)
	d.Env = []string{"PORT=5432"}
	h.emit("listening", "PORT=5432") // before the spawn: does not count
	h.e.Poll()
	got := error(errNotYetReady)
	if err := h.e.StartJob("db", nil, func(_ string, err error) { got = err }); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("db", "", "start/spawned")
	h.emit("listening", "PORT=80")
	h.e.Poll()
	h.wantStatus("db", "", "start/spawned")
	if got != errNotYetReady || len(h.eventsFor("db")) != 1 {
		t.Fatalf("before readiness: reply %v, events %v", got, h.eventsFor("db"))
	}
	awaiting, _, _ := h.e.ReadyInfo("db", "")
	if awaiting != "event listening PORT=$PORT" {
		t.Errorf("awaiting %q", awaiting)
	}
	h.emit("listening", "PORT=5432")
	h.e.Poll()
	h.wantStatus("db", "", "start/running")
	if got != nil {
		t.Fatalf("reply %v", got)
	}
	if ev := h.eventsFor("db"); len(ev) != 2 || ev[1] != "started JOB=db INSTANCE=" {
		t.Fatalf("events %v", ev)
	}
	if a, _, _ := h.e.ReadyInfo("db", ""); a != "" {
		t.Errorf("still awaiting %q", a)
	}
	if len(h.e.ready.waiting) != 0 {
		t.Errorf("waiting list %d", len(h.e.ready.waiting))
	}
}

// The expect timeout fails the start with a line naming what was awaited;
// a ready event after it changes nothing.
func TestExpectEventTimeout(t *testing.T) {
	h, _, _, log := newReadyHarness(t)
	readyJob(h, "slow", "expect event up", 3*time.Second)
	got := error(errNotYetReady)
	h.e.StartJob("slow", nil, func(_ string, err error) { got = err })
	h.clock.Advance(2 * time.Second)
	h.wantStatus("slow", "", "start/spawned")
	h.clock.Advance(time.Second)
	if e, ok := got.(*api.Error); !ok || e.Name != api.ErrJobFailed {
		t.Fatalf("reply %v", got)
	}
	if !strings.Contains(log.String(), "slow main process not ready after 3s (expect event up): start failed") {
		t.Errorf("log: %s", log.String())
	}
	h.wantStatus("slow", "", "stop/killed")
	h.kill(h.pid("slow", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("slow", "", "stop/waiting")
	h.emit("up")
	h.e.Poll()
	h.wantStatus("slow", "", "stop/waiting")
	if ev := h.eventsFor("slow"); ev[len(ev)-1] != "stopped JOB=slow INSTANCE= RESULT=failed PROCESS=main" {
		t.Errorf("events %v", ev)
	}
}

// The main process ending before it is ready fails the start (and ends
// the wait).
func TestExpectEventMainEnds(t *testing.T) {
	h, fr, _, _ := newReadyHarness(t)
	readyJob(h, "x", "expect notify", 10*time.Second)
	got := error(errNotYetReady)
	h.e.StartJob("x", nil, func(_ string, err error) { got = err })
	h.exit(h.pid("x", "", conf.Main), 1)
	h.wantStatus("x", "", "stop/waiting")
	if got == nil || got == errNotYetReady || len(h.e.ready.waiting) != 0 || len(h.e.ready.byID) != 0 {
		t.Fatalf("reply %v, waiting %d, watched %d", got, len(h.e.ready.waiting), len(h.e.ready.byID))
	}
	if c := strings.Join(fr.calls, ","); c != "prepare notify,spawned,settled,close" {
		t.Errorf("calls %s", c)
	}
}

// expect notify: READY=1 from the main process makes it ready; from a
// process outside the instance it is ignored and logged once; STATUS is
// kept.
func TestExpectNotify(t *testing.T) {
	h, fr, tr, log := newReadyHarness(t)
	readyJob(h, "n", "expect notify", 10*time.Second)
	h.e.StartJob("n", nil, nil)
	h.wantStatus("n", "", "start/spawned")
	main := h.pid("n", "", conf.Main)
	if env := h.sp.procs[main].Env; env[len(env)-1] != "NOTIFY_SOCKET=@fake" {
		t.Fatalf("env %v", env)
	}
	var id uint64
	for k := range fr.watches {
		id = k
	}
	if w := fr.watches[id]; !w.Notify || w.Job != "n" || strings.Join(w.Kind, " ") != "notify" {
		t.Fatalf("watch %+v", w)
	}
	status := "starting up"
	for k := 0; k < 3; k++ {
		h.e.HandleNotice(Notice{ID: id, Pid: 4242, Ready: true})
	}
	h.wantStatus("n", "", "start/spawned")
	if c := strings.Count(log.String(), "notify message from process 4242"); c != 1 {
		t.Errorf("foreign message logged %d times: %s", c, log.String())
	}
	h.e.HandleNotice(Notice{ID: id, Pid: main, Status: &status})
	h.wantStatus("n", "", "start/spawned")
	a, st, _ := h.e.ReadyInfo("n", "")
	if a != "notify (ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=notify)" || st != "starting up" {
		t.Errorf("ready info %q %q", a, st)
	}
	// A child of the main process found by the tracker may speak for it.
	tr.members[7001] = "main"
	h.e.HandleNotice(Notice{ID: id, Pid: 7001, Ready: true})
	h.wantStatus("n", "", "start/running")
	if ev := h.eventsFor("n"); strings.Join(ev, "|") != "starting JOB=n INSTANCE=|ready JOB=n INSTANCE= SOURCE=notify|started JOB=n INSTANCE=" {
		t.Errorf("events %v", ev)
	}
	// A late message of an instance that is gone is dropped.
	h.e.StopJob("n", nil, nil)
	h.kill(main, syscall.SIGTERM)
	delete(tr.members, 7001)
	h.e.ProcessExited(supervise.Exit{Pid: 7001, Orphan: true})
	h.wantStatus("n", "", "stop/waiting")
	h.e.HandleNotice(Notice{ID: id, Pid: main, Ready: true})
	if fr.calls[len(fr.calls)-1] != "close" {
		t.Errorf("calls %v", fr.calls)
	}
}

// MAINPID moves the main process only to a process of the instance.
func TestNotifyMainPID(t *testing.T) {
	h, fr, tr, log := newReadyHarness(t)
	d := readyJob(h, "m", "expect notify", 10*time.Second)
	d.Respawn = true
	h.e.StartJob("m", nil, nil)
	main := h.pid("m", "", conf.Main)
	var id uint64
	for k := range fr.watches {
		id = k
	}
	h.e.HandleNotice(Notice{ID: id, Pid: main, MainPID: 1})
	if h.pid("m", "", conf.Main) != main || !strings.Contains(log.String(), "MAINPID=1 is not a process of the instance") {
		t.Fatalf("foreign MAINPID moved it: main %d; log %s", h.pid("m", "", conf.Main), log.String())
	}
	tr.members[8001] = "main"
	h.e.HandleNotice(Notice{ID: id, Pid: main, MainPID: 8001, Ready: true})
	h.wantStatus("m", "", "start/running")
	if h.pid("m", "", conf.Main) != 8001 {
		t.Fatalf("main %d", h.pid("m", "", conf.Main))
	}
	// The old main process ending is no end of the job.
	h.exit(main, 0)
	h.wantStatus("m", "", "start/running")
	// The new one ending is: respawn.
	delete(tr.members, 8001)
	h.e.ProcessExited(supervise.Exit{Pid: 8001, Orphan: true, Status: syscall.WaitStatus(1 << 8)})
	h.wantStatus("m", "", "start/spawned")
	if n := h.spawns("m", conf.Main); n != 2 {
		t.Errorf("spawns %d", n)
	}
}

// EXTEND_TIMEOUT_USEC moves the expect deadline on.
func TestNotifyExtendTimeout(t *testing.T) {
	h, fr, _, _ := newReadyHarness(t)
	readyJob(h, "e", "expect notify", 3*time.Second)
	h.e.StartJob("e", nil, nil)
	main := h.pid("e", "", conf.Main)
	var id uint64
	for k := range fr.watches {
		id = k
	}
	h.clock.Advance(2 * time.Second)
	h.e.HandleNotice(Notice{ID: id, Pid: main, ExtendUsec: 5e6})
	h.clock.Advance(4 * time.Second) // past the first deadline
	h.wantStatus("e", "", "start/spawned")
	h.clock.Advance(time.Second + time.Millisecond)
	h.wantStatus("e", "", "stop/killed")
}

// watchdog: once running, WATCHDOG=1 must come within the interval; a
// missed deadline sends ABRT and respawn applies. STOPPING=1 makes the
// next end a clean stop.
func TestWatchdog(t *testing.T) {
	h, fr, _, log := newReadyHarness(t)
	d := readyJob(h, "w", "expect notify\nwatchdog 2", 10*time.Second)
	d.Respawn = true
	h.e.StartJob("w", nil, nil)
	main := h.pid("w", "", conf.Main)
	var id uint64
	for k := range fr.watches {
		id = k
	}
	if fr.watches[id].Watchdog != 2*time.Second {
		t.Fatalf("watch %+v", fr.watches[id])
	}
	h.clock.Advance(5 * time.Second) // no watchdog before running
	h.e.HandleNotice(Notice{ID: id, Pid: main, Ready: true})
	h.wantStatus("w", "", "start/running")
	for k := 0; k < 3; k++ {
		h.clock.Advance(1500 * time.Millisecond)
		h.e.HandleNotice(Notice{ID: id, Pid: main, Watchdog: true})
	}
	if len(h.sp.signals) != 0 {
		t.Fatalf("signals %v", h.sp.signals)
	}
	h.clock.Advance(2 * time.Second)
	if want := []string{itoa(main) + ":ABRT"}; strings.Join(h.sp.signals, ",") != want[0] {
		t.Fatalf("signals %v", h.sp.signals)
	}
	if !strings.Contains(log.String(), "failed its watchdog: no WATCHDOG=1 within 2s; sending ABRT") {
		t.Errorf("log %s", log.String())
	}
	h.kill(main, syscall.SIGABRT)
	h.wantStatus("w", "", "start/spawned") // respawned
	main2 := h.pid("w", "", conf.Main)
	h.e.HandleNotice(Notice{ID: id, Pid: main2, Ready: true})
	h.wantStatus("w", "", "start/running")
	h.e.HandleNotice(Notice{ID: id, Pid: main2, Reloading: true, Errno: 5, HasErrno: true})
	h.e.HandleNotice(Notice{ID: id, Pid: main2, Errno: 5, HasErrno: true})
	if a, _, _ := h.e.ReadyInfo("w", ""); a != "READY=1 (reloading)" {
		t.Errorf("reloading: awaiting %q", a)
	}
	if n := strings.Count(log.String(), "reports error 5"); n != 1 {
		t.Errorf("ERRNO logged %d times", n)
	}
	h.e.HandleNotice(Notice{ID: id, Pid: main2, Ready: true})
	if a, _, _ := h.e.ReadyInfo("w", ""); a != "" || !strings.Contains(log.String(), "w main process finished reloading") {
		t.Errorf("after reload: awaiting %q", a)
	}
	h.e.HandleNotice(Notice{ID: id, Pid: main2, Stopping: true})
	h.exit(main2, 0)
	h.wantStatus("w", "", "stop/waiting")
	if ev := h.eventsFor("w"); ev[len(ev)-1] != "stopped JOB=w INSTANCE= RESULT=ok PROCESS=main EXIT_STATUS=0" {
		t.Errorf("events %v", ev)
	}
}

// Across a re-exec an instance waiting for readiness waits on, with the
// same deadline, the same watch id and its STATUS; a running watchdog
// keeps its deadline.
func TestReadyAcrossReexec(t *testing.T) {
	h, fr, _, _ := newReadyHarness(t)
	readyJob(h, "r", "expect notify\nwatchdog 4", 10*time.Second)
	readyJob(h, "ev", "expect event (a and b)", 10*time.Second)
	h.e.StartJob("r", nil, nil)
	h.e.StartJob("ev", nil, nil)
	h.emit("a")
	h.e.Poll()
	main := h.pid("r", "", conf.Main)
	var id uint64
	for k, w := range fr.watches {
		if w.Job == "r" {
			id = k
		}
	}
	st := "warming"
	h.e.HandleNotice(Notice{ID: id, Pid: main, Status: &st})
	h.clock.Advance(6 * time.Second)

	h2 := reexec(t, h)
	h2.e.opt.Readiness = fr
	h2.e.opt.Tracker = h.e.opt.Tracker
	fr.calls = nil
	h2.e.ResumeReadiness()
	if c := strings.Join(fr.calls, ","); c != "resume notify waiting" {
		t.Errorf("resume calls %q", c)
	}
	h2.wantStatus("r", "", "start/spawned")
	if a, s, _ := h2.e.ReadyInfo("r", ""); a == "" || s != "warming" {
		t.Fatalf("after re-exec: awaiting %q status %q", a, s)
	}
	// The a of (a and b) is remembered.
	h2.emit("b")
	h2.e.Poll()
	h2.wantStatus("ev", "", "start/running")
	// The same deadline: 4 s left.
	h2.clock.Advance(3 * time.Second)
	h2.wantStatus("r", "", "start/spawned")
	h2.e.HandleNotice(Notice{ID: id, Pid: main, Ready: true})
	h2.wantStatus("r", "", "start/running")
	h2.clock.Advance(3 * time.Second)
	h3 := reexec(t, h2)
	h3.e.opt.Readiness = fr
	h3.clock.Advance(999 * time.Millisecond)
	if len(h3.sp.signals) != 0 {
		t.Fatalf("watchdog fired early: %v", h3.sp.signals)
	}
	h3.clock.Advance(2 * time.Millisecond)
	if strings.Join(h3.sp.signals, ",") != itoa(main)+":ABRT" {
		t.Fatalf("watchdog after re-exec: %v", h3.sp.signals)
	}
}

// expect event on a job state knows the states of jobs that already run.
func TestExpectEventKnowsJobStates(t *testing.T) {
	h, _, _, _ := newReadyHarness(t)
	h.job("db", "", "", "main")
	readyJob(h, "app", "expect event started db", 10*time.Second)
	h.e.StartJob("db", nil, nil)
	h.e.Poll()
	h.wantStatus("db", "", "start/running")
	h.e.StartJob("app", nil, nil)
	h.wantStatus("app", "", "start/running")

	readyJob(h, "app2", "expect event started db and go", 10*time.Second)
	h.e.StartJob("app2", nil, nil)
	h.wantStatus("app2", "", "start/spawned")
	// What the seeded condition knows passes a re-exec.
	h = reexec(t, h)
	h.emit("go")
	h.e.Poll()
	h.wantStatus("app2", "", "start/running")

	readyJob(h, "app3", "expect event stopping db", 10*time.Second)
	h.e.StartJob("app3", nil, nil)
	h.wantStatus("app3", "", "start/spawned")
	h.e.StopJob("db", nil, nil)
	h.wantStatus("app3", "", "start/running")
}
