package engine

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
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

// class is a registered job definition with its instances.
type class struct {
	name  string
	def   *conf.Job
	start *cond.Condition
	// ilist holds the instances in name order, and is what finds them by
	// name (binary search): a map per class cost 200 bytes per job for
	// the one instance most jobs have.
	ilist []*instance
	// next is a newer definition waiting for the last instance to end;
	// deleted means the file is gone and the class goes with its last
	// instance.
	next    *conf.Job
	deleted bool
}

// sortedInstances returns the instances in name order. Callers may act on
// instances while they iterate: the slice is replaced, never changed.
func (c *class) sortedInstances() []*instance { return c.ilist }

// lookup finds the instance called name.
func (c *class) lookup(name string) (*instance, bool) {
	n := sort.Search(len(c.ilist), func(k int) bool { return c.ilist[k].name >= name })
	if n < len(c.ilist) && c.ilist[n].name == name {
		return c.ilist[n], true
	}
	return nil, false
}

// get is lookup without the flag.
func (c *class) get(name string) *instance {
	i, _ := c.lookup(name)
	return i
}

func (c *class) addInstance(i *instance) {
	n := sort.Search(len(c.ilist), func(k int) bool { return c.ilist[k].name >= i.name })
	l := make([]*instance, 0, len(c.ilist)+1)
	l = append(append(append(l, c.ilist[:n]...), i), c.ilist[n:]...)
	c.ilist = l
}

func (c *class) removeInstance(i *instance) {
	l := make([]*instance, 0, len(c.ilist))
	for _, o := range c.ilist {
		if o != i {
			l = append(l, o)
		}
	}
	c.ilist = l
}

// waiter is a control request waiting for an instance to come to rest.
type waiter struct {
	kind  waitKind
	reply func(error)
}

type waitKind int

const (
	waitStart waitKind = iota
	waitStop
	waitRestart
)

var failMsg = map[waitKind]string{
	waitStart:   "Job failed to start",
	waitStop:    "Job failed while stopping",
	waitRestart: "Job failed to restart",
}

// exitInfo is how a process ended.
type exitInfo struct {
	typ      conf.ProcessType
	name     string // process name for PROCESS=
	status   syscall.WaitStatus
	spawnErr bool // never ran: no EXIT_STATUS/EXIT_SIGNAL
	set      bool
}

// instance is one running (or transitioning) copy of a class.
type instance struct {
	class *class
	def   *conf.Job // the definition it was started with
	name  string
	goal  job.Goal
	state job.State

	env      []string // the instance environment
	startEnv []string // a pending start environment, applied at starting
	stopEnv  []string // environment overlaid on pre-stop and post-stop
	stopCond *cond.Condition
	fds      []*os.File // sockets of the events that started it (fds.go)

	pids     [conf.NumProcessTypes]int
	auxPid   int      // the helper step running (auxName)
	hook     *event   // the starting/stopping event it waits on
	holding  []*event // events it started or stopped, released at rest
	waiters  []waiter // control requests waiting for rest
	failed   bool
	failure  exitInfo // the first failure since starting
	lastMain exitInfo // how the main process last ended
	// deferredMain is a main-process end seen while a post-start or
	// pre-stop process ran; it is acted on when that process ends.
	deferredMain *exitInfo

	respawnCount int
	respawnTime  time.Time
	// A spawn waiting to be tried again (see spawnStep).
	spawnRetries int
	retryTimer   Timer
	killTimer    Timer
	// killDeadline and expectDeadline are when the timers fire (saved
	// across a re-exec; meaningful only while the timer is set).
	killDeadline, expectDeadline time.Time

	// members are processes of the instance we did not spawn: children
	// that outlived their parent, double-forked daemons.
	members []member
	// sessions holds every spawned pid (a session leader) with its
	// process name: a list, as most instances have one or two (a map
	// cost 250 bytes per job).
	sessions   []session
	actionPids map[string]int // running custom actions
	// expectExits counts exits of the main process tree while waiting
	// for `expect` readiness.
	expectExits int
	expectTimer Timer
	// rd is the readiness state of `expect event` and its sugar (nil
	// for jobs that use none of it).
	rd *readiness

	// The log of a respawning main process is rate-limited (respawnQuiet):
	// the window's start, the exits logged in it, and those not logged.
	logWindow     time.Time
	logged        int
	logSuppressed int
	quiet         bool // this end of main and the respawn after it are not logged
	// pidFileWarned: a refused pid file was logged (once per instance).
	pidFileWarned bool

	rec *recName // its names in the boot chart's record (diag.go)
}

// auxName names the helper step running as auxPid: the tmpfiles step
// waits in its state, the security process in security.
func (i *instance) auxName() string {
	if i.state == job.Tmpfiles {
		return auxTmpfiles
	}
	return auxSecurity
}

func (i *instance) label() string {
	if i.name == "" {
		return i.class.name
	}
	return i.class.name + " (" + i.name + ")"
}

func (e *Engine) setGoal(i *instance, g job.Goal) {
	if i.goal == g {
		return
	}
	old := i.goal
	i.goal = g
	e.logf(slog.LevelInfo, "%s goal changed from %s to %s", i.label(), old, g)
	e.notify(api.Signal{Kind: api.GoalChanged, Job: i.class.name, Instance: i.name, Value: g.String()})
}

// changeGoal sets the goal and starts moving an instance that rests.
func (e *Engine) changeGoal(i *instance, g job.Goal) {
	if i.goal == g {
		return
	}
	e.setGoal(i, g)
	if (i.state == job.Waiting && g == job.GoalStart) || (i.state == job.Running && g == job.GoalStop) {
		e.advance(i)
	}
}

// next is job.Next for i; a job without tmpfiles skips that state.
func (e *Engine) next(i *instance) (job.State, job.Goal, bool) {
	next, goal, ok := job.Next(i.state, i.goal, i.pids[conf.Main] != 0)
	if ok && next == job.Tmpfiles && len(i.def.Tmpfiles) == 0 {
		next, goal, ok = job.Next(job.Tmpfiles, goal, i.pids[conf.Main] != 0)
	}
	return next, goal, ok
}

// advance moves an instance to its next state.
func (e *Engine) advance(i *instance) {
	next, goal, ok := e.next(i)
	if !ok {
		return
	}
	if goal != i.goal {
		e.setGoal(i, goal)
	}
	e.enter(i, next)
}

// enter performs the entry actions of states until one has to wait.
func (e *Engine) enter(i *instance, s job.State) {
	for {
		old := i.state
		i.state = s
		e.leftState(i, old, s)
		if !i.quiet {
			e.logf(slog.LevelInfo, "%s state changed from %s to %s", i.label(), old, s)
		}
		if s == job.Running || s == job.Waiting {
			i.quiet = false // the unlogged respawn is over
		}
		e.notify(api.Signal{Kind: api.StateChanged, Job: i.class.name, Instance: i.name, Value: s.String()})
		e.record(i)
		if !e.entryAction(i, old) {
			return
		}
		next, goal, ok := e.next(i)
		if !ok {
			return
		}
		if goal != i.goal {
			e.setGoal(i, goal)
		}
		s = next
	}
}

// entryAction does what entering i.state requires and reports whether the
// instance may move on at once.
func (e *Engine) entryAction(i *instance, old job.State) bool {
	d := i.def
	switch i.state {
	case job.Starting:
		if i.startEnv != nil {
			i.env = i.startEnv
			i.startEnv = nil
		}
		i.stopEnv = nil
		i.failed = false
		i.failure = exitInfo{}
		i.lastMain = exitInfo{}
		e.hookEvent(i, "starting", i.jobEnv(false))
		return false
	case job.Tmpfiles:
		// The Chromium OS fork's step: the job's tmpfiles.d configs,
		// applied with --remove too so that r, R and D lines act.
		argv := append([]string{"systemd-tmpfiles", "--create", "--remove"}, d.Tmpfiles...)
		pid, err := e.spawn(i, conf.PreStart, auxTmpfiles, argv)
		if err != nil {
			e.failed(i, exitInfo{name: "tmpfiles", spawnErr: true, set: true})
			e.setGoal(i, job.GoalStop)
			return true
		}
		i.auxPid = pid
		return false
	case job.SecuritySpawning:
		// `apparmor load`: the security process (AppArmor's parser)
		// runs before pre-start; the supervisor refuses it, and so the
		// start, where AppArmor is not available.
		if d.ApparmorLoad == "" {
			return true
		}
		pid, err := e.spawn(i, conf.PreStart, auxSecurity, nil)
		if err != nil {
			e.logf(slog.LevelWarn, "Failed to spawn %s security process: %v", i.label(), err)
			e.failed(i, exitInfo{name: auxSecurity, spawnErr: true, set: true})
			e.setGoal(i, job.GoalStop)
			return true
		}
		i.auxPid = pid
		return true
	case job.Security:
		return i.auxPid == 0
	case job.PreStarting, job.Spawning, job.PostStarting, job.PreStopping, job.PostStopping:
		return e.spawnStep(i)
	case job.PreStart, job.PostStart, job.PreStop, job.PostStop:
		return i.pids[waitType[i.state]] == 0
	case job.Spawned:
		// Readiness: at once for `expect none`; on the self-stop for
		// `expect stop`; after N exits of the main process tree for
		// fork, daemon and `expect exit N` (no ptrace: exits are counted
		// as the reaper sees them).
		if i.pids[conf.Main] != 0 && d.Expect == conf.ExpectEvent {
			return e.startReadyWait(i)
		}
		if i.pids[conf.Main] == 0 || (d.Expect != conf.ExpectStop && !i.expectCounting()) {
			return true
		}
		e.startExpect(i)
		return false
	case job.Running:
		if old == job.PreStop {
			// A stop cancelled by a start: the stop's callers succeed.
			i.stopEnv = nil
			e.releaseAll(i, false)
			return false
		}
		e.emit("started", i.jobEnv(false))
		if !i.def.Task {
			e.releaseAll(i, false)
		}
		return false
	case job.Stopping:
		e.hookEvent(i, "stopping", i.jobEnv(true))
		return false
	case job.Killed:
		return e.enterKilled(i)
	case job.Waiting:
		e.emit("stopped", i.jobEnv(true))
		e.releaseAll(i, false)
		e.removeInstance(i)
		return false
	}
	return true
}

var spawnType = map[job.State]conf.ProcessType{
	job.PreStarting:  conf.PreStart,
	job.Spawning:     conf.Main,
	job.PostStarting: conf.PostStart,
	job.PreStopping:  conf.PreStop,
	job.PostStopping: conf.PostStop,
}

var waitType = map[job.State]conf.ProcessType{
	job.PreStart:  conf.PreStart,
	job.PostStart: conf.PostStart,
	job.PreStop:   conf.PreStop,
	job.PostStop:  conf.PostStop,
}

// hookEvent emits a starting/stopping event that the instance waits for.
func (e *Engine) hookEvent(i *instance, name string, env []string) {
	ev := e.newEvent(name, env)
	ev.hooked = append(ev.hooked, i)
	i.hook = ev
}

// emit queues an event. Like every action taken inside a state change it
// only queues: the caller at the top (a command, an exit, Poll itself)
// handles the queue once the change is complete.
func (e *Engine) emit(name string, env []string) {
	e.newEvent(name, env)
}

// jobEnv is the environment of the instance's job events. Stopping and
// stopped carry RESULT and, for every job (not only failed ones), PROCESS
// and EXIT_STATUS or EXIT_SIGNAL of the process that decided the outcome.
func (i *instance) jobEnv(stopping bool) []string {
	env := []string{"JOB=" + i.class.name, "INSTANCE=" + i.name}
	if stopping {
		x := i.lastMain
		if i.failed {
			env = append(env, "RESULT=failed")
			x = i.failure
		} else {
			env = append(env, "RESULT=ok")
		}
		if x.set {
			env = append(env, "PROCESS="+x.name)
			if !x.spawnErr {
				env = append(env, exitVar(x.status))
			}
		}
	}
	for _, k := range i.def.Export {
		if k == "JOB" || k == "INSTANCE" || k == "RESULT" || k == "PROCESS" || k == "EXIT_STATUS" || k == "EXIT_SIGNAL" {
			continue
		}
		if v, ok := environ.Lookup(i.env, k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func exitVar(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "EXIT_SIGNAL=" + signalName(ws.Signal())
	}
	return "EXIT_STATUS=" + strconv.Itoa(ws.ExitStatus())
}

// processEnv is the environment a process of the instance runs with.
func (e *Engine) processEnv(i *instance, t conf.ProcessType) []string {
	env := append([]string(nil), i.env...)
	if t == conf.PreStop || t == conf.PostStop {
		env = environ.Merge(env, i.stopEnv...)
	}
	env = environ.Set(env, "UPSTART_JOB="+i.class.name)
	env = environ.Set(env, "UPSTART_INSTANCE="+i.name)
	return env
}

// The helper steps of a start (aux processes), by the name status and
// the stopped event's PROCESS give them.
const (
	auxTmpfiles = "tmpfiles"
	auxSecurity = "security"
)

// spawn starts process t of the instance, or with aux set the helper step
// of that name (argv for tmpfiles; the supervisor knows the security
// process's command).
func (e *Engine) spawn(i *instance, t conf.ProcessType, aux string, argv []string) (int, error) {
	p := e.prepareSpawn(i, t, aux, argv)
	if p.err != nil {
		return e.spawned(p, 0, p.err)
	}
	pid, err := e.opt.Spawner.Spawn(p.req)
	return e.spawned(p, pid, err)
}

// pendingSpawn is a spawn prepared on the loop (request, readiness,
// cgroup) whose fork may happen with others at once (spawnBatch).
type pendingSpawn struct {
	i       *instance
	t       conf.ProcessType
	aux     string
	name    string
	req     supervise.Request
	readied bool
	done    func(int) // the Placer's, after the fork
	err     error     // the preparation failed: no fork
}

// prepareSpawn is everything before the fork of spawn, on the loop.
func (e *Engine) prepareSpawn(i *instance, t conf.ProcessType, aux string, argv []string) *pendingSpawn {
	c := i.def.Console
	if c == conf.ConsoleDefault {
		c = e.opt.DefaultConsole
	}
	p := &pendingSpawn{i: i, t: t, aux: aux, name: t.String()}
	if aux != "" {
		p.name = aux
	}
	p.req = supervise.Request{
		Job: i.def, Instance: i.name, Type: t, Argv: argv,
		Security: aux == auxSecurity,
		Env:      e.processEnv(i, t), Console: c,
	}
	passFiles(i, &p.req)
	if t == conf.Main && aux == "" {
		if err := e.readyPrepare(i, &p.req); err != nil {
			p.err = err
			return p
		}
		p.readied = true
	}
	if e.opt.Placer != nil {
		p.done, p.err = e.opt.Placer.Place(&p.req, p.name)
	}
	return p
}

// spawned is everything after the fork of spawn, on the loop: pid and err
// are the fork's.
func (e *Engine) spawned(p *pendingSpawn, pid int, err error) (int, error) {
	if p.done != nil {
		p.done(pid)
	}
	if p.readied {
		e.readySpawned(p.i, pid)
	}
	if err != nil {
		return 0, err
	}
	e.pids[pid] = procRef{inst: p.i, typ: p.t, aux: p.aux != "", leader: true}
	if p.aux == "" {
		p.i.noteSession(pid, p.t.String())
	}
	return pid, nil
}

// spawnStep spawns the process of a spawning state (if the job has one).
// A spawn that failed for want of file descriptors or processes
// (supervise.Transient) is tried again after a back-off, the instance
// staying in its state meanwhile (false); any other failure fails the
// process as Upstart does.
func (e *Engine) spawnStep(i *instance) bool {
	t := spawnType[i.state]
	if i.def.Process[t] == nil {
		i.spawnRetries = 0
		return true
	}
	if t == conf.Main && e.polling && e.batch != nil {
		// Spawned with the other main processes that become due in
		// this round of Poll, on other threads while the round goes on;
		// the round ends by waiting for them (spawnBatch).
		e.queueSpawn(e.prepareSpawn(i, t, "", nil))
		return false
	}
	pid, err := e.spawn(i, t, "", nil)
	return e.spawnResult(i, t, pid, err)
}

// spawnResult acts on the outcome of the spawn of i's state and reports
// whether the instance may move on (see spawnStep).
func (e *Engine) spawnResult(i *instance, t conf.ProcessType, pid int, err error) bool {
	switch {
	case err != nil && supervise.Transient(err):
		d := spawnRetryDelay(i.spawnRetries)
		i.spawnRetries++
		e.logf(slog.LevelWarn, "Failed to spawn %s %s process: %v (trying again in %v)", i.label(), t, err, d)
		e.armSpawnRetry(i, d)
		return false
	case err != nil:
		e.logf(slog.LevelWarn, "Failed to spawn %s %s process: %v", i.label(), t, err)
		e.processFailed(i, t, exitInfo{typ: t, name: t.String(), spawnErr: true, set: true})
	default:
		i.pids[t] = pid
	}
	i.spawnRetries = 0
	return true
}

// spawnRetryDelay is the back-off before the n+1th retry of a spawn:
// 100 ms, doubling, at most 5 s.
func spawnRetryDelay(n int) time.Duration {
	return min(100*time.Millisecond<<min(n, 6), 5*time.Second)
}

// armSpawnRetry tries the spawn of i's state again after d, and moves on
// as entering the state would have.
func (e *Engine) armSpawnRetry(i *instance, d time.Duration) {
	state := i.state
	var tm Timer
	tm = e.opt.Clock.AfterFunc(d, func() {
		if i.retryTimer != tm || i.state != state {
			return
		}
		i.retryTimer = nil
		if !e.spawnStep(i) {
			return
		}
		next, goal, ok := job.Next(i.state, i.goal, i.pids[conf.Main] != 0)
		if ok {
			if goal != i.goal {
				e.setGoal(i, goal)
			}
			e.enter(i, next)
		}
		e.Poll()
	})
	i.retryTimer = tm
}

// failed records the first failure of an instance since it last started,
// fails everything waiting on it, and tells clients.
func (e *Engine) failed(i *instance, x exitInfo) {
	if i.failed {
		return
	}
	i.failed = true
	i.failure = x
	status := -1
	if !x.spawnErr {
		if x.status.Signaled() {
			status = int(x.status.Signal()) << 8
		} else {
			status = x.status.ExitStatus()
		}
	}
	if x.name == "respawn" {
		status = 0
	}
	e.notify(api.Signal{Kind: api.Failed, Job: i.class.name, Instance: i.name, Status: status})
	e.releaseAll(i, true)
}

// releaseAll lets go of every event the instance holds and answers its
// waiters, as failed or not.
func (e *Engine) releaseAll(i *instance, failed bool) {
	holding := i.holding
	i.holding = nil
	for _, ev := range holding {
		if failed {
			ev.failed = true
		}
		ev.blockers--
	}
	ws := i.waiters
	i.waiters = nil
	if len(ws) > 0 {
		e.writeHeldLogs()
	}
	for _, w := range ws {
		if failed {
			w.reply(api.Errorf(api.ErrJobFailed, failMsg[w.kind]))
		} else {
			w.reply(nil)
		}
	}
}

// processFailed handles a failed pre-start, post-stop or tmpfiles step, or a
// main process that could not be spawned.
func (e *Engine) processFailed(i *instance, t conf.ProcessType, x exitInfo) {
	switch t {
	case conf.PostStart, conf.PreStop:
		return // failures of these are ignored
	case conf.Main:
		i.lastMain = x
	}
	e.failed(i, x)
	e.setGoal(i, job.GoalStop)
}

func (e *Engine) removeInstance(i *instance) {
	c := i.class
	if i.stopCond != nil {
		e.release(i.stopCond.Reset())
	}
	e.readyClosed(i)
	e.closeFiles(i)
	if c.get(i.name) != i {
		return
	}
	c.removeInstance(i)
	e.flushSuppressed(i)
	if e.opt.Placer != nil {
		e.opt.Placer.InstanceGone(c.name, i.name)
	}
	e.notify(api.Signal{Kind: api.InstanceRemoved, Job: c.name, Instance: i.name})
	if len(c.ilist) == 0 {
		e.classIdle(c)
	}
}

// ProcessExited is called with every exit the supervisor reports.
func (e *Engine) ProcessExited(x supervise.Exit) {
	e.emptied = nil
	e.holdLogs()
	defer func() {
		e.emptied = nil
		e.releaseLogs()
	}()
	ref, ok := e.pids[x.Pid]
	if !ok {
		if x.Orphan {
			e.orphanExited(x)
		}
		return
	}
	i := ref.inst
	if x.Stopped {
		if i.pids[conf.Main] == x.Pid && i.state == job.Spawned && i.def.Expect == conf.ExpectStop {
			e.stopExpect(i)
			e.opt.Spawner.SignalProcess(x.Pid, syscall.SIGCONT)
			e.advance(i)
			e.Poll()
		}
		return
	}
	if ref.member {
		e.memberExited(i, x.Pid)
		e.Poll()
		return
	}
	delete(e.pids, x.Pid)
	if ref.action != "" {
		e.actionExited(i, ref.action, x)
		e.Poll()
		return
	}
	if ref.aux {
		i.auxPid = 0
		name := i.auxName()
		bad := x.SpawnErr != nil || x.Status.ExitStatus() != 0 || x.Status.Signaled()
		switch {
		case name == auxSecurity:
			// Upstart ignores the parser's status; a profile that did
			// not load fails the start here instead (docs/decisions.md).
			e.logExit(i, actionLabel(name), x)
		case bad:
			e.logf(slog.LevelWarn, "%s tmpfiles step failed", i.label())
		}
		if bad {
			e.failed(i, exitInfo{name: name, status: x.Status, spawnErr: x.SpawnErr != nil, set: true})
			e.setGoal(i, job.GoalStop)
		}
		if i.state == job.Tmpfiles || i.state == job.Security {
			e.advance(i)
		}
		e.Poll()
		return
	}
	t := ref.typ
	if i.pids[t] != x.Pid {
		return
	}
	info := exitInfo{typ: t, name: t.String(), status: x.Status, spawnErr: x.SpawnErr != nil, set: true}
	i.quiet = t == conf.Main && i.def.Respawn && i.goal == job.GoalStart && x.SpawnErr == nil && e.respawnQuiet(i)
	if !i.quiet {
		e.logExit(i, t, x)
	}
	i.pids[t] = 0
	if t == conf.Main {
		e.mainExited(i, x.Pid, info)
	} else {
		// What the process left running (a helper started in the
		// background) stays tracked under its process name.
		e.adopt(i)
		bad := info.spawnErr || x.Status.Signaled() || x.Status.ExitStatus() != 0
		if bad && (t == conf.PreStart || t == conf.PostStop) {
			e.processFailed(i, t, info)
		}
		if i.state == waitStateOf[t] {
			if d := i.deferredMain; d != nil && (t == conf.PostStart || t == conf.PreStop) {
				i.deferredMain = nil
				e.mainEnded(i, *d)
			} else {
				e.advance(i)
			}
		}
	}
	e.Poll()
}

var waitStateOf = map[conf.ProcessType]job.State{
	conf.PreStart:  job.PreStart,
	conf.PostStart: job.PostStart,
	conf.PreStop:   job.PreStop,
	conf.PostStop:  job.PostStop,
}

func (e *Engine) logExit(i *instance, t fmt.Stringer, x supervise.Exit) {
	switch {
	case x.SpawnErr != nil:
		e.logf(slog.LevelWarn, "Failed to spawn %s %s process: %v", i.label(), t, x.SpawnErr)
	case x.Status.Signaled():
		e.logf(slog.LevelWarn, "%s %s process (%d) killed by %s signal", i.label(), t, x.Pid, signalName(x.Status.Signal()))
	case x.Status.ExitStatus() != 0:
		e.logf(slog.LevelWarn, "%s %s process (%d) terminated with status %d", i.label(), t, x.Pid, x.Status.ExitStatus())
	default:
		e.logf(slog.LevelInfo, "%s %s process (%d) exited normally", i.label(), t, x.Pid)
	}
}

func (e *Engine) mainExited(i *instance, old int, x exitInfo) {
	if i.state != job.Killed && !(i.state == job.Spawned && i.expectCounting()) {
		e.stopExpect(i)
	}
	switch {
	case i.state == job.Killed:
		i.lastMain = x
		e.killedProgress(i)
		return
	case i.state == job.Spawned && i.expectCounting():
		i.lastMain = x
		e.expectExit(i)
		return
	case i.state == job.Stopping:
		i.lastMain = x
		return
	case e.follow(i, old, x):
		return
	case (i.state == job.PostStart && i.pids[conf.PostStart] != 0) || (i.state == job.PreStop && i.pids[conf.PreStop] != 0):
		i.deferredMain = &x
		return
	}
	e.mainEnded(i, x)
}

// mainEnded decides what the end of the main process means: a clean end, a
// failure, or a respawn.
func (e *Engine) mainEnded(i *instance, x exitInfo) {
	i.lastMain = x
	d := i.def
	status := x.status
	abnormal := x.spawnErr || status.Signaled() || status.ExitStatus() != 0 || (d.Respawn && !d.Task)
	if abnormal && !x.spawnErr && normalExit(d, status) {
		abnormal = false
	}
	respawn := d.Respawn && !e.respawnDisabled
	if d.Respawn && e.respawnDisabled && !d.Task && !x.spawnErr && !status.Signaled() && status.ExitStatus() == 0 {
		// Respawn is off (a shutdown): a clean end is just an end.
		abnormal = false
	}
	if i.rd != nil && i.rd.stopping && !x.spawnErr {
		// It said STOPPING=1 first: an end it announced is no crash.
		abnormal = false
	}
	if i.goal == job.GoalStart && abnormal {
		if respawn && !x.spawnErr {
			if e.respawnTooFast(i) {
				e.flushSuppressed(i)
				e.logf(slog.LevelWarn, "%s respawning too fast, stopped", i.label())
				// PROCESS=respawn, with the status of the last end.
				e.failed(i, exitInfo{typ: conf.Main, name: "respawn", status: status, set: true})
				e.setGoal(i, job.GoalStop)
			} else {
				if !i.quiet {
					e.logf(slog.LevelWarn, "%s main process ended, respawning", i.label())
				}
				if i.state == job.PostStart || i.state == job.PreStop {
					// Ended while post-start or pre-stop ran: respawn
					// once that is over.
					e.setGoal(i, job.GoalRespawn)
				}
			}
		} else {
			e.failed(i, x)
			e.setGoal(i, job.GoalStop)
		}
	} else {
		e.setGoal(i, job.GoalStop)
	}
	switch i.state {
	case job.Running, job.Spawned, job.PostStart, job.PreStop:
		e.advance(i)
	}
}

func normalExit(d *conf.Job, ws syscall.WaitStatus) bool {
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = int(ws.Signal()) << 8
	}
	for _, n := range d.NormalExit {
		if n == code {
			return true
		}
	}
	return false
}

// Bounds of the log of a respawning main process: at most
// respawnLogBurst of its ends (each an exit line and a "respawning" line)
// are logged per respawnLogWindow; the others are counted, and the count
// is logged when the next window opens, or when the respawning stops.
// Respawning itself is not slowed (as in Upstart): `respawn limit` stops
// it, `respawn limit unlimited` never does.
const (
	respawnLogBurst  = 10
	respawnLogWindow = 10 * time.Second
)

// respawnQuiet says whether this end of a respawning main process goes
// unlogged.
func (e *Engine) respawnQuiet(i *instance) bool {
	now := e.opt.Clock.Now()
	if i.logWindow.IsZero() || now.Sub(i.logWindow) >= respawnLogWindow || now.Before(i.logWindow) {
		e.flushSuppressed(i)
		i.logWindow, i.logged = now, 0
	}
	if i.logged >= respawnLogBurst {
		i.logSuppressed++
		return true
	}
	i.logged++
	return false
}

// flushSuppressed logs how many ends of the main process went unlogged.
func (e *Engine) flushSuppressed(i *instance) {
	if i.logSuppressed > 0 {
		e.logf(slog.LevelWarn, "%s main process ended and respawned %d more times (not logged: more than %d in %v)",
			i.label(), i.logSuppressed, respawnLogBurst, respawnLogWindow)
		i.logSuppressed = 0
	}
}

func (e *Engine) respawnTooFast(i *instance) bool {
	d := i.def
	if d.RespawnLimit == 0 || d.RespawnInterval == 0 {
		return false
	}
	now := e.opt.Clock.Now()
	if !i.respawnTime.IsZero() && now.Sub(i.respawnTime) < d.RespawnInterval {
		i.respawnCount++
		return i.respawnCount > d.RespawnLimit
	}
	i.respawnTime = now
	i.respawnCount = 1
	return false
}

// stopByCondition acts on a fired stop condition.
func (e *Engine) stopByCondition(i *instance) {
	matched := i.stopCond.Matched()
	if i.goal != job.GoalStop {
		env, names := matchedEnv(matched)
		i.stopEnv = append(e.importFilter(i.def, env, true), "UPSTART_STOP_EVENTS="+strings.Join(names, " "))
		e.answerWaiters(i)
		e.hold(i, matched)
		e.changeGoal(i, job.GoalStop)
	}
	e.release(i.stopCond.Fire())
}

// startByCondition acts on a fired start condition of a class.
func (e *Engine) startByCondition(c *class) {
	matched := c.start.Matched()
	evEnv, names := matchedEnv(matched)
	env := e.classEnv(c.def)
	env = environ.Merge(env, e.importFilter(c.def, evEnv, true)...)
	env = fit(environ.Set(env, "UPSTART_EVENTS="+strings.Join(names, " ")))
	name, err := expandInstance(c.def, env)
	if err != nil {
		e.logf(slog.LevelWarn, "Failed to obtain %s instance: %v", c.name, err)
		e.release(c.start.Fire())
		return
	}
	i := e.instanceFor(c, name)
	if i.goal != job.GoalStart {
		i.startEnv = env
		e.takeFiles(i, matched)
		e.answerWaiters(i)
		e.hold(i, matched)
		e.changeGoal(i, job.GoalStart)
	}
	e.release(c.start.Fire())
}

// hold makes the instance hold the given events until it comes to rest.
func (e *Engine) hold(i *instance, evs []*cond.Event) {
	for _, c := range evs {
		ev := evOf(c)
		if ev.progress == finished {
			continue // kept knowledge of a long-finished event
		}
		ev.blockers++
		i.holding = append(i.holding, ev)
	}
}

// answerWaiters tells every control request waiting on the instance that
// it succeeded (a new command overrides it, as in Upstart), and releases
// the events it holds.
func (e *Engine) answerWaiters(i *instance) {
	e.releaseAll(i, false)
}

// importFilter is the Chromium OS fork's import rule (crbug 818032): for
// a job with import stanzas, or for every job under ImportDefaultDeny, the
// environment of the event (fromEvent) or request that starts or stops it
// passes only the keys import names; the keys init owns pass from events
// and never from requests. Other jobs take everything, as in Upstart 1.13.
func (e *Engine) importFilter(d *conf.Job, env []string, fromEvent bool) []string {
	if len(d.Import) == 0 && !e.opt.ImportDefaultDeny {
		return env
	}
	var out []string
	for _, kv := range env {
		k := environ.Key(kv)
		if initOwned(k) {
			if fromEvent {
				out = append(out, kv)
			}
			continue
		}
		for _, allowed := range d.Import {
			if k == allowed {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

// initOwned reports whether key is one init sets in job events and job
// environments.
func initOwned(key string) bool {
	return jobEventKeys[key] || strings.HasPrefix(key, "UPSTART_")
}

var jobEventKeys = map[string]bool{"JOB": true, "INSTANCE": true, "RESULT": true,
	"PROCESS": true, "EXIT_STATUS": true, "EXIT_SIGNAL": true}

// stripInitKeys drops the keys init owns from an emitted event's env.
func stripInitKeys(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !initOwned(environ.Key(kv)) {
			out = append(out, kv)
		}
	}
	return out
}

func expandInstance(d *conf.Job, env []string) (string, error) {
	if d.Instance == "" {
		return "", nil
	}
	return environ.Expand(d.Instance, env)
}

// classEnv is the global environment plus the class's env stanzas. Each
// instance keeps its own copy (environ.Set changes lists in place), sized
// to what it holds: a Builder's list has room for 8 more.
func (e *Engine) classEnv(d *conf.Job) []string {
	if len(d.Env) == 0 {
		return append(make([]string, 0, len(e.env)), e.env...)
	}
	b := environ.NewBuilder(e.env)
	for _, kv := range d.Env {
		if strings.IndexByte(kv, '=') >= 0 {
			b.Set(kv)
			continue
		}
		if v, ok := environ.Lookup(e.opt.InitEnv, kv); ok {
			b.Set(kv + "=" + v)
		} else {
			b.Unset(kv)
		}
	}
	l := b.List()
	return append(make([]string, 0, len(l)), l...)
}

// fit returns env in an array of its own length when growing it left
// room: an instance keeps its environment for its whole life.
func fit(env []string) []string {
	if cap(env)-len(env) <= 1 {
		return env
	}
	return append(make([]string, 0, len(env)), env...)
}

func (e *Engine) instanceFor(c *class, name string) *instance {
	if i, ok := c.lookup(name); ok {
		return i
	}
	i := &instance{class: c, def: c.def, name: name, env: e.classEnv(c.def)}
	if c.def.StopOn != nil {
		i.stopCond = cond.New(c.def.StopOn)
	}
	c.addInstance(i)
	e.notify(api.Signal{Kind: api.InstanceAdded, Job: c.name, Instance: name})
	return i
}

func signalName(s syscall.Signal) string {
	if n, ok := sigNames[s]; ok {
		return n
	}
	return fmt.Sprint(int(s))
}

var sigNames = map[syscall.Signal]string{
	syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGQUIT: "QUIT", syscall.SIGILL: "ILL",
	syscall.SIGTRAP: "TRAP", syscall.SIGABRT: "ABRT", syscall.SIGBUS: "BUS", syscall.SIGFPE: "FPE",
	syscall.SIGKILL: "KILL", syscall.SIGUSR1: "USR1", syscall.SIGSEGV: "SEGV", syscall.SIGUSR2: "USR2",
	syscall.SIGPIPE: "PIPE", syscall.SIGALRM: "ALRM", syscall.SIGTERM: "TERM", syscall.SIGSTKFLT: "STKFLT",
	syscall.SIGCHLD: "CHLD", syscall.SIGCONT: "CONT", syscall.SIGSTOP: "STOP", syscall.SIGTSTP: "TSTP",
	syscall.SIGTTIN: "TTIN", syscall.SIGTTOU: "TTOU", syscall.SIGURG: "URG", syscall.SIGXCPU: "XCPU",
	syscall.SIGXFSZ: "XFSZ", syscall.SIGVTALRM: "VTALRM", syscall.SIGPROF: "PROF", syscall.SIGWINCH: "WINCH",
	syscall.SIGIO: "IO", syscall.SIGPWR: "PWR", syscall.SIGSYS: "SYS",
}
