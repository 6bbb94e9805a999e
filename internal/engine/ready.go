package engine

import (
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/job"
	"github.com/goupstart/upstart/internal/supervise"
)

// Readiness as an event condition (architecture decision 5). An instance
// whose job says `expect event COND` (or the sugar, which is an event
// condition on the ready event of a watcher) stays in spawned until COND
// matches an event handled after the spawn, within the expect timeout.
// The watchers (notify socket, fd, file, socket, D-Bus name) live outside
// the engine (internal/ready) behind Readiness; they only send Notices.

// Readiness sets up and ends the watchers of instances.
type Readiness interface {
	// Prepare is called before a main process of w's instance is spawned:
	// it sets up what the process reports readiness through and adds it to
	// r (environment, descriptors). An error fails the spawn.
	Prepare(w Watch, r *supervise.Request) error
	// Spawned says the main process was spawned (pid > 0) or not (0):
	// descriptors the child got can be closed, watching starts.
	Spawned(id uint64, pid int)
	// Settled says the instance no longer waits for readiness: watchers
	// that only wait for it stop (the notify socket stays).
	Settled(id uint64)
	// Close releases everything of the watch (the instance is gone).
	Close(id uint64)
	// Resume restarts the watchers of an instance restored after a
	// re-exec (waiting: it still waits for readiness).
	Resume(w Watch, waiting bool)
}

// Watch is what a watcher needs to know of an instance.
type Watch struct {
	ID            uint64
	Job, Instance string
	// Kind is the job's ExpectWatch with $VARs expanded (nil: no sugar).
	Kind []string
	// Notify asks for a notify socket (expect notify, or a watchdog).
	Notify   bool
	Watchdog time.Duration
}

// Notice is one message from a watcher about an instance. Pid is the
// sending process for notify messages (0 for watchers that have none).
type Notice struct {
	ID  uint64
	Pid int
	// Ready: the instance is ready; Env is the detail of the ready event
	// (FILE=…, ADDR=…).
	Ready bool
	Env   []string
	// sd_notify fields; Has* say which numeric fields were sent.
	Status                 *string
	MainPID                int
	Reloading, Stopping    bool
	Errno                  int
	HasErrno               bool
	ExtendUsec             uint64
	Watchdog, WatchdogTrig bool
	WatchdogUsec           uint64
	// Bad is a message that was refused before it got here (too long,
	// malformed); it is logged once per instance.
	Bad string
}

// readiness is an instance's readiness state.
type readiness struct {
	id   uint64
	cond *cond.Condition // set while waiting in spawned
	// What the notify protocol told us last.
	status              string
	errno               int
	reloading, stopping bool
	watchdog            time.Duration // 0: off
	watchdogTimer       Timer
	watchdogDeadline    time.Time
	watchdogPid         int
	loggedForeign       bool
	loggedBad           bool
	// foreign remembers senders found outside the instance (at most
	// maxForeign), so that a flood from one costs no cgroup read each.
	foreign map[int]bool
}

const maxForeign = 64

// readyTable is the engine's index of watched instances.
type readyTable struct {
	byID    map[uint64]*instance
	waiting []*instance // instances waiting in spawned, in order of arrival
	nextID  uint64
}

// watched reports whether an instance's job needs a watcher.
func watched(d *conf.Job) bool { return len(d.ExpectWatch) > 0 || d.Watchdog > 0 }

func notifyKind(d *conf.Job) bool {
	return (len(d.ExpectWatch) > 0 && d.ExpectWatch[0] == "notify") || d.Watchdog > 0
}

// readyPrepare gives a main process about to be spawned what its watcher
// needs (loop only).
func (e *Engine) readyPrepare(i *instance, r *supervise.Request) error {
	if e.opt.Readiness == nil || !watched(i.def) {
		return nil
	}
	if i.rd == nil {
		i.rd = &readiness{}
	}
	rd := i.rd
	if rd.id == 0 {
		if e.ready.byID == nil {
			e.ready.byID = map[uint64]*instance{}
		}
		e.ready.nextID++
		rd.id = e.ready.nextID
		e.ready.byID[rd.id] = i
	}
	rd.stopping, rd.reloading = false, false
	rd.foreign = nil // pids are reused; a new main process starts afresh
	rd.watchdog = i.def.Watchdog
	w, err := e.watchOf(i, r.Env)
	if err != nil {
		return err
	}
	return e.opt.Readiness.Prepare(w, r)
}

// watchOf describes an instance to its watchers, with the sugar's
// arguments expanded in env (the main process's environment).
func (e *Engine) watchOf(i *instance, env []string) (Watch, error) {
	w := Watch{ID: i.rd.id, Job: i.class.name, Instance: i.name, Notify: notifyKind(i.def), Watchdog: i.def.Watchdog}
	for _, a := range i.def.ExpectWatch {
		v, err := environ.Expand(a, env)
		if err != nil {
			return w, fmt.Errorf("expect %s: %w", strings.Join(i.def.ExpectWatch, " "), err)
		}
		w.Kind = append(w.Kind, v)
	}
	return w, nil
}

// ResumeReadiness restarts the watchers of every watched instance after a
// Restore (loop only).
func (e *Engine) ResumeReadiness() {
	if e.opt.Readiness == nil {
		return
	}
	for _, c := range e.sortedClasses() {
		for _, i := range c.sortedInstances() {
			if i.rd == nil || i.rd.id == 0 {
				continue
			}
			w, err := e.watchOf(i, e.processEnv(i, conf.Main))
			if err != nil {
				e.logf(slog.LevelWarn, "%s: %v", i.label(), err)
				continue
			}
			e.opt.Readiness.Resume(w, i.rd.cond != nil)
		}
	}
}

func (e *Engine) readySpawned(i *instance, pid int) {
	if e.opt.Readiness != nil && i.rd != nil && i.rd.id != 0 {
		e.opt.Readiness.Spawned(i.rd.id, pid)
	}
}

// startReadyWait makes a spawned instance wait for its readiness
// condition. It is armed in the same step as the spawn, so every event
// handled after the spawn counts. It reports whether the condition is
// true already (job states it knows of): then the instance is ready.
func (e *Engine) startReadyWait(i *instance) (ready bool) {
	if i.rd == nil {
		i.rd = &readiness{}
	}
	i.rd.cond = cond.New(i.def.ExpectOn)
	if e.seedJobStates(i) && i.rd.cond.True() {
		i.rd.cond = nil
		e.logf(slog.LevelInfo, "%s main process (%d) is ready (expect %s)", i.label(), i.pids[conf.Main], expectName(i.def))
		return true
	}
	e.ready.waiting = append(e.ready.waiting, i)
	e.startExpect(i)
	return false
}

// seedJobStates gives a new readiness condition what a condition that
// had been there all along would know of job states (architecture
// decision 4): `expect event started db` is true at once while db runs.
// Only job-state operands are fed, with the events that are still true
// for each instance that exists now.
func (e *Engine) seedJobStates(i *instance) (seeded bool) {
	wanted := map[string]bool{}
	for _, n := range cond.EventNames(i.def.ExpectOn) {
		switch n {
		case "starting", "started", "stopping":
			wanted[n] = true
		}
	}
	if len(wanted) == 0 {
		return false
	}
	expand := e.processEnv(i, conf.Main)
	for _, c := range e.sortedClasses() {
		for _, o := range c.sortedInstances() {
			if o == i {
				continue
			}
			for _, name := range trueJobEvents(o.state) {
				if wanted[name] {
					// A finished event of our own, so that a snapshot
					// can name what the latch holds.
					ev := &event{Event: cond.Event{Name: name, Env: o.jobEnv(name == "stopping")}, progress: finished}
					ev.Ref = ev
					i.rd.cond.Handle(&ev.Event, expand)
				}
			}
		}
	}
	return true
}

// trueJobEvents lists the job-state events still true of an instance in
// state s: starting until stopped, started until stopping, stopping
// until started.
func trueJobEvents(s job.State) []string {
	switch s {
	case job.Waiting:
		return nil
	case job.Running:
		return []string{"starting", "started"}
	case job.Stopping, job.Killed, job.PostStopping, job.PostStop:
		return []string{"starting", "stopping"}
	}
	return []string{"starting"}
}

// endReadyWait forgets the wait of an instance that left spawned.
func (e *Engine) endReadyWait(i *instance) {
	if i.rd == nil || i.rd.cond == nil {
		return
	}
	i.rd.cond = nil
	out := e.ready.waiting[:0]
	for _, w := range e.ready.waiting {
		if w != i {
			out = append(out, w)
		}
	}
	e.ready.waiting = out
	if e.opt.Readiness != nil && i.rd.id != 0 {
		e.opt.Readiness.Settled(i.rd.id)
	}
}

// feedReady offers a handled event to every instance waiting for
// readiness. Readiness conditions hold no event.
func (e *Engine) feedReady(ev *event) {
	if len(e.ready.waiting) == 0 {
		return
	}
	for _, i := range append([]*instance(nil), e.ready.waiting...) {
		if i.rd == nil || i.rd.cond == nil || i.state != job.Spawned {
			continue
		}
		r := i.rd.cond.Handle(&ev.Event, e.processEnv(i, conf.Main))
		if !r.Fired {
			continue
		}
		e.stopExpect(i)
		e.logf(slog.LevelInfo, "%s main process (%d) is ready (expect %s)", i.label(), i.pids[conf.Main], expectName(i.def))
		e.advance(i)
	}
}

// readyClosed releases the watcher of an instance that is gone.
func (e *Engine) readyClosed(i *instance) {
	if i.rd == nil {
		return
	}
	e.endReadyWait(i)
	e.stopWatchdog(i)
	if i.rd.id != 0 {
		delete(e.ready.byID, i.rd.id)
		if e.opt.Readiness != nil {
			e.opt.Readiness.Close(i.rd.id)
		}
		i.rd.id = 0
	}
}

// leftState is called as an instance leaves a state.
func (e *Engine) leftState(i *instance, old, now job.State) {
	if old == job.Spawned && now != job.Spawned {
		e.endReadyWait(i)
	}
	if now == job.Running && i.rd != nil && i.rd.watchdog > 0 {
		e.armWatchdog(i)
	}
}

// HandleNotice acts on a watcher's message (loop only).
func (e *Engine) HandleNotice(n Notice) {
	i := e.ready.byID[n.ID]
	if i == nil {
		return // the instance is gone; its socket is being closed
	}
	rd := i.rd
	if n.Bad != "" {
		if !rd.loggedBad {
			rd.loggedBad = true
			e.logf(slog.LevelWarn, "%s: %s: ignored (further bad messages are not logged)", i.label(), n.Bad)
		}
		return
	}
	if n.Pid != 0 && (rd.foreign[n.Pid] || !e.ownsPid(i, n.Pid)) {
		if rd.foreign == nil {
			rd.foreign = map[int]bool{}
		}
		if len(rd.foreign) < maxForeign {
			rd.foreign[n.Pid] = true
		}
		if !rd.loggedForeign {
			rd.loggedForeign = true
			e.logf(slog.LevelWarn, "%s: notify message from process %d, which is not a process of the instance: ignored (further ones are not logged)", i.label(), n.Pid)
		}
		return
	}
	if n.Status != nil {
		rd.status = *n.Status
	}
	if n.HasErrno && n.Errno != rd.errno {
		// Logged when it changes: a process repeating it cannot flood
		// the log.
		rd.errno = n.Errno
		e.logf(slog.LevelWarn, "%s reports error %d (%s)", i.label(), n.Errno, syscall.Errno(n.Errno).Error())
	}
	if n.MainPID != 0 {
		e.moveMain(i, n.MainPID)
	}
	if n.ExtendUsec > 0 && i.state == job.Spawned && i.expectTimer != nil {
		want := e.opt.Clock.Now().Add(time.Duration(n.ExtendUsec) * time.Microsecond)
		if want.After(i.expectDeadline) {
			i.expectTimer.Stop()
			e.armExpectTimer(i, want.Sub(e.opt.Clock.Now()), expectTimeout(i.def))
		}
	}
	if n.WatchdogUsec > 0 {
		rd.watchdog = time.Duration(n.WatchdogUsec) * time.Microsecond
		if i.state == job.Running {
			e.armWatchdog(i)
		}
	}
	if n.Watchdog && rd.watchdog > 0 && i.state == job.Running {
		e.armWatchdog(i)
	}
	if n.WatchdogTrig && i.state == job.Running {
		e.watchdogExpired(i, "the process asked for it (WATCHDOG=trigger)")
	}
	if n.Stopping && !rd.stopping {
		rd.stopping = true
		e.logf(slog.LevelInfo, "%s main process says it is stopping", i.label())
	}
	if n.Reloading && !rd.reloading {
		rd.reloading = true
		e.logf(slog.LevelInfo, "%s main process is reloading", i.label())
	}
	if n.Ready {
		if rd.reloading {
			rd.reloading = false
			e.logf(slog.LevelInfo, "%s main process finished reloading", i.label())
		}
		if i.state == job.Spawned && rd.cond != nil {
			source := "notify"
			if n.Pid == 0 && len(i.def.ExpectWatch) > 0 {
				source = i.def.ExpectWatch[0]
			}
			env := append([]string{"JOB=" + i.class.name, "INSTANCE=" + i.name, "SOURCE=" + source}, n.Env...)
			e.emit(conf.ReadyEvent, env)
		}
	}
	e.Poll()
}

// ownsPid reports whether pid is a process of the instance: one it
// spawned, a tracked member, or one the tracker finds in it now.
func (e *Engine) ownsPid(i *instance, pid int) bool {
	if ref, ok := e.pids[pid]; ok {
		return ref.inst == i
	}
	if e.opt.Tracker == nil {
		return false
	}
	known := func(p int) bool { _, ok := e.pids[p]; return ok }
	_, ok := e.opt.Tracker.Members(i.class.name, i.name, i.sessionMap(), known)[pid]
	return ok
}

// moveMain makes pid the main process (MAINPID=), if it is a process of
// the instance; the old main process stays tracked as a member.
func (e *Engine) moveMain(i *instance, pid int) {
	old := i.pids[conf.Main]
	if pid == old {
		return
	}
	if old == 0 || pid <= 0 || !e.ownsPid(i, pid) {
		e.logf(slog.LevelWarn, "%s: MAINPID=%d is not a process of the instance: ignored", i.label(), pid)
		return
	}
	if ref, ok := e.pids[old]; ok && ref.inst == i {
		ref.member = true
		e.pids[old] = ref
		i.members = append(i.members, member{pid: old, name: "main"})
	}
	e.dropMemberKeepRef(i, pid)
	e.pids[pid] = procRef{inst: i, typ: conf.Main}
	i.pids[conf.Main] = pid
	if i.rd != nil {
		i.rd.watchdogPid = pid
	}
	e.logf(slog.LevelInfo, "%s main process is now %d (was %d)", i.label(), pid, old)
	e.notify(api.Signal{Kind: api.StateChanged, Job: i.class.name, Instance: i.name, Value: i.state.String()})
}

// armWatchdog (re)starts the watchdog deadline of a running instance.
func (e *Engine) armWatchdog(i *instance) {
	e.armWatchdogFor(i, i.rd.watchdog)
}

func (e *Engine) armWatchdogFor(i *instance, left time.Duration) {
	rd := i.rd
	if rd.watchdogTimer != nil {
		rd.watchdogTimer.Stop()
	}
	pid := i.pids[conf.Main]
	rd.watchdogPid = pid
	rd.watchdogDeadline = e.opt.Clock.Now().Add(left)
	var t Timer
	t = e.opt.Clock.AfterFunc(left, func() {
		if rd.watchdogTimer != t {
			return
		}
		rd.watchdogTimer = nil
		if i.state != job.Running || i.pids[conf.Main] != pid || pid == 0 {
			return
		}
		e.watchdogExpired(i, fmt.Sprintf("no WATCHDOG=1 within %s", rd.watchdog))
		e.Poll()
	})
	rd.watchdogTimer = t
}

func (e *Engine) stopWatchdog(i *instance) {
	if i.rd != nil && i.rd.watchdogTimer != nil {
		i.rd.watchdogTimer.Stop()
		i.rd.watchdogTimer = nil
	}
}

// watchdogExpired kills a main process that missed its watchdog deadline
// with SIGABRT (as systemd does); its end is then a failure like any
// other, so `respawn` applies. SIGKILL follows after the kill timeout.
func (e *Engine) watchdogExpired(i *instance, why string) {
	pid := i.pids[conf.Main]
	if pid == 0 {
		return
	}
	e.stopWatchdog(i)
	e.logf(slog.LevelWarn, "%s main process (%d) failed its watchdog: %s; sending ABRT", i.label(), pid, why)
	e.signal(pid, syscall.SIGABRT)
	kt := i.def.KillTimeout
	if kt <= 0 {
		kt = 5 * time.Second
	}
	e.opt.Clock.AfterFunc(kt, func() {
		if i.pids[conf.Main] == pid {
			e.logf(slog.LevelWarn, "%s main process (%d) still there after the watchdog's ABRT, sending KILL", i.label(), pid)
			e.signal(pid, syscall.SIGKILL)
		}
	})
}

func expectTimeout(d *conf.Job) time.Duration {
	if d.ExpectTimeout <= 0 {
		return conf.DefaultExpectTimeout
	}
	return d.ExpectTimeout
}

// readyName says what an `expect event` job waits for.
func readyName(d *conf.Job) string {
	if len(d.ExpectWatch) > 0 {
		return strings.Join(d.ExpectWatch, " ")
	}
	return "event " + d.ExpectOn.String()
}

// ReadyInfo is what `initctl -v status` shows of readiness: what the
// instance awaits ("" when it does not wait) and its last STATUS=.
func (e *Engine) ReadyInfo(jobName, iname string) (awaiting, status string, err error) {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return "", "", err
	}
	if i.rd == nil {
		return "", "", nil
	}
	switch {
	case i.rd.cond != nil && i.state == job.Spawned:
		awaiting = readyName(i.def)
		if len(i.def.ExpectWatch) > 0 {
			awaiting += " (" + i.def.ExpectOn.String() + ")"
		}
	case i.rd.reloading:
		awaiting = "READY=1 (reloading)"
	}
	return awaiting, i.rd.status, nil
}

// ReadyInfo serves control.ReadinessReporter.
func (b *Backend) ReadyInfo(jobName, iname string) (awaiting, status string, err error) {
	b.call(func() { awaiting, status, err = b.E.ReadyInfo(jobName, iname) })
	return
}
