// Package engine owns the daemon's state: job classes, their instances and
// the event queue. Exactly one goroutine (the loop) touches that state;
// everything else sends it messages. Processes and time come in through
// interfaces so that tests drive the engine deterministically.
package engine

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

// Spawner starts job processes and signals them. Exits come back through
// Engine.ProcessExited.
type Spawner interface {
	Spawn(r supervise.Request) (pid int, err error)
	Signal(pid int, sig syscall.Signal) error
	// SignalProcess signals the one process (ESRCH is no error).
	SignalProcess(pid int, sig syscall.Signal) error
}

// BatchSpawner is a Spawner that can spawn several processes at once, on
// other threads: Begin starts a batch, its Add spawns a request soon and
// its Wait returns, per request added, what Spawn would have. When the
// Spawner is one, the main processes that become due in one round of Poll
// (a cold start: every job on the same event) are spawned while the round
// goes on, and the round ends by waiting for them, instead of each spawn
// holding up the loop in turn.
type BatchSpawner interface {
	Begin() supervise.Batch
}

// Clock gives the engine time. AfterFunc's f must run on the loop
// goroutine (the real clock posts it there; a fake clock calls it from the
// test).
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface{ Stop() }

// Options configure an Engine.
type Options struct {
	Spawner Spawner
	Clock   Clock
	Log     *slog.Logger
	// Env is the global job environment (PATH, TERM, and for a session
	// instance everything it inherited).
	Env []string
	// InitEnv is init's own environment, for `env KEY` stanzas.
	InitEnv []string
	// DefaultConsole replaces conf.ConsoleDefault.
	DefaultConsole conf.Console
	// Session is true for a session (--user) instance: the environment
	// commands are allowed.
	Session bool
	// OnEvent, if set, is called as each event is handled (event log,
	// tests).
	OnEvent func(name string, env []string)
	// Placer, when set, puts every process in a cgroup of its own
	// (job/instance/process) and kills whole instances.
	Placer Placer
	// Tracker finds processes of an instance the engine did not spawn
	// (nil: only spawned processes are tracked).
	Tracker Tracker
	// ImportDefaultDeny is the Chromium OS fork's rule for every job: a
	// job receives from the event or request that starts or stops it only
	// the variables its import stanzas name (plus, from events, the keys
	// init owns). Without it only jobs with import stanzas filter.
	ImportDefaultDeny bool
	// StripInitKeys drops the keys init owns (JOB, INSTANCE, RESULT,
	// PROCESS, EXIT_STATUS, EXIT_SIGNAL, UPSTART_*) from the environment
	// of events emitted over D-Bus, so that no client can forge them.
	StripInitKeys bool
	// Recover makes the loop survive a panic in one message (PID 1 may
	// not die): it is logged with its stack and the loop goes on.
	Recover bool
	// PidFiles reads the pid files of `pid file PATH` when a main
	// process hands over to another (nil: the oldest process left).
	PidFiles PidFiles
	// Readiness sets up the watchers of `expect notify|fd|file|socket|
	// dbus` and `watchdog` (nil: those jobs wait until the timeout).
	Readiness Readiness
}

// Engine is the daemon's state. Its methods must be called on the loop
// goroutine only; Backend and Post are the ways in from elsewhere.
type Engine struct {
	opt     Options
	log     *slog.Logger
	classes map[string]*class
	// sorted and byEvent are derived from classes and rebuilt after a
	// change: the classes in name order, and for each event name the
	// classes (in name order) whose conditions mention it.
	sorted  []*class
	byEvent map[string][]*class
	stale   bool
	queue   []*event
	pids    map[int]procRef
	env     []string // global job environment (set-env changes it)
	subs    map[int]func(api.Signal)
	subIDs  []int // the keys of subs in order (the order of Subscribe)
	nextSub int
	polling bool
	// killedLater holds instances that entered killed in this step:
	// their processes that the engine did not spawn are looked for
	// (a read of the instance's cgroup) and signalled once every kill
	// signal of the step is out, so that a stop of many jobs sends all
	// its signals first (see flushKilled).
	killedLater []*instance
	// batch is the Spawner as a BatchSpawner (nil if it is not one);
	// spawnQueue the main processes of this round of Poll prepared by
	// spawnStep, whose instances wait in spawning for the end of the
	// round (spawnBatch); spawnRun the batch running those of them that
	// were prepared without error, once there are two (one alone is
	// spawned on the loop, as without a batch).
	batch      BatchSpawner
	spawnQueue []*pendingSpawn
	spawnRun   supervise.Batch
	// emptied: the instance whose groups ProcessExited found holding no
	// process at all (follow's look, just after its main process ended);
	// until that call returns nothing can enter them but our own spawn,
	// so entering killed need not read them again (enterKilled).
	emptied *instance
	// Log lines held while an exit is handled (holdLogs).
	holdLog int
	heldLog []heldLine
	// respawnDisabled: no job respawns any more (initctl
	// disable-respawn, a shutdown).
	respawnDisabled bool

	// incremental: changes of a few classes (UpdateJobs) update sorted
	// and byEvent in place of marking them stale.
	incremental bool

	msgs chan func()
	hist history // for the diagnostics (diag.go)

	ready readyTable // readiness waits and watches (ready.go)

	// startTime orders processes by start (tests use a fake).
	startTime func(pid int) (uint64, bool)

	// Stats for benchmarks and tests.
	EventsHandled uint64
}

type procRef struct {
	inst   *instance
	typ    conf.ProcessType
	aux    bool // a helper step (tmpfiles), not one of the five processes
	member bool // tracked, not spawned by us
	// leader: spawned by us, so a session leader (setsid) for as long
	// as the entry exists (it goes when the process is reaped).
	leader bool
	action string // the process of a custom action
}

// New returns an engine with no jobs.
func New(opt Options) *Engine {
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opt.DefaultConsole == conf.ConsoleDefault {
		opt.DefaultConsole = conf.ConsoleLog
	}
	e := &Engine{
		opt:     opt,
		log:     opt.Log,
		classes: map[string]*class{},
		pids:    map[int]procRef{},
		env:     append([]string(nil), opt.Env...),
		subs:    map[int]func(api.Signal){},
		msgs:    make(chan func(), 256),
	}
	e.hist.start = e.now() // the boot chart's origin
	e.batch, _ = opt.Spawner.(BatchSpawner)
	e.startTime = supervise.StartTime
	return e
}

// Post queues f to run on the loop. It may be called from any goroutine.
func (e *Engine) Post(f func()) { e.msgs <- f }

// Messages is the loop's inbox; Run drains it.
func (e *Engine) Messages() <-chan func() { return e.msgs }

// Run is the loop: it runs posted functions and process exits until done
// is closed.
func (e *Engine) Run(exits <-chan supervise.Exit, done <-chan struct{}) {
	for {
		select {
		case f := <-e.msgs:
			e.safely(f)
			e.safely(e.flushKilled)
		case x := <-exits:
			e.safely(func() { e.ProcessExited(x) })
			e.safely(e.flushKilled)
		case <-done:
			return
		}
	}
}

func (e *Engine) safely(f func()) {
	if e.opt.Recover {
		defer func() {
			if r := recover(); r != nil {
				e.polling = false
				e.logf(slog.LevelError, "internal error, carrying on: %v\n%s", r, debug.Stack())
			}
		}()
	}
	f()
}

func (e *Engine) notify(s api.Signal) {
	// subIDs is replaced, never changed in place, by Subscribe and
	// cancel: this loop keeps the subscribers of when it began.
	for _, id := range e.subIDs {
		if f := e.subs[id]; f != nil {
			f(s)
		}
	}
}

// Subscribe registers fn for every signal; call the returned func to stop.
// Loop only.
func (e *Engine) Subscribe(fn func(api.Signal)) (cancel func()) {
	id := e.nextSub
	e.nextSub++
	e.subs[id] = fn
	e.subIDs = append(e.subIDs[:len(e.subIDs):len(e.subIDs)], id)
	return func() {
		if _, ok := e.subs[id]; !ok {
			return
		}
		delete(e.subs, id)
		ids := make([]int, 0, len(e.subIDs))
		for _, x := range e.subIDs {
			if x != id {
				ids = append(ids, x)
			}
		}
		e.subIDs = ids
	}
}

func (e *Engine) logf(level slog.Level, format string, args ...any) {
	// Asked first: a respawn formatted eight "state changed" lines that
	// the default priority then dropped.
	if !e.log.Enabled(nil, level) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if e.holdLog > 0 {
		e.heldLog = append(e.heldLog, heldLine{level, msg})
		return
	}
	e.log.Log(nil, level, msg)
}

// heldLine is a log line kept until the handling of an exit is over.
type heldLine struct {
	level slog.Level
	msg   string
}

// holdLogs keeps the loop's log lines until the matching releaseLogs, or
// until writeHeldLogs. The handling of an exit holds them, so that a
// respawn's lines ("killed by", "respawning") are written after the new
// process is spawned rather than before; they are written at the latest
// when something answers a caller (writeHeldLogs), so that a client told
// its job failed finds the reason in the log.
func (e *Engine) holdLogs() { e.holdLog++ }

func (e *Engine) releaseLogs() {
	if e.holdLog--; e.holdLog == 0 {
		e.writeHeldLogs()
	}
}

// writeHeldLogs writes the held lines now, in order.
func (e *Engine) writeHeldLogs() {
	for len(e.heldLog) > 0 {
		held := e.heldLog
		e.heldLog = nil
		for _, l := range held {
			e.log.Log(nil, l.level, l.msg)
		}
	}
}

// sortedClasses returns the registered classes by name (Upstart's order is
// hash order; ours is stable).
func (e *Engine) sortedClasses() []*class {
	e.reindex()
	return e.sorted
}

// classesFor returns the classes whose conditions an event named name can
// change: those with an operand of that name, and for a job-state event
// those with an operand it retracts.
func (e *Engine) classesFor(name string) []*class {
	e.reindex()
	return e.byEvent[name]
}

func (e *Engine) reindex() {
	if !e.stale && e.sorted != nil {
		return
	}
	e.stale = false
	e.sorted = make([]*class, 0, len(e.classes))
	for _, c := range e.classes {
		e.sorted = append(e.sorted, c)
	}
	sort.Slice(e.sorted, func(i, j int) bool { return e.sorted[i].name < e.sorted[j].name })
	e.byEvent = map[string][]*class{}
	for _, c := range e.sorted {
		for _, n := range indexNames(c.def) {
			e.byEvent[n] = append(e.byEvent[n], c)
		}
	}
}

// indexNames are the event names under which byEvent lists a class.
func indexNames(d *conf.Job) []string {
	if d == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range cond.EventNames(d.StartOn, d.StopOn) {
		add(n)
		if r := cond.Retracting(n); r != "" {
			add(r)
		}
	}
	return out
}

// indexed says whether sorted and byEvent can be updated class by class.
// The lists are copied on write: a loop over one of them goes on over
// what it had.
func (e *Engine) indexed() bool { return e.incremental && !e.stale && e.sorted != nil }

// indexAdd lists a new class (before install gives it a definition).
func (e *Engine) indexAdd(c *class) {
	if !e.indexed() {
		e.stale = true
		return
	}
	e.sorted = insertSorted(e.sorted, c)
}

// indexChange moves a class from the event names of its old definition
// to those of its new one.
func (e *Engine) indexChange(c *class, old *conf.Job) {
	if !e.indexed() {
		e.stale = true
		return
	}
	for _, n := range indexNames(old) {
		if l := removeClass(e.byEvent[n], c); len(l) > 0 {
			e.byEvent[n] = l
		} else {
			delete(e.byEvent, n)
		}
	}
	for _, n := range indexNames(c.def) {
		e.byEvent[n] = insertSorted(e.byEvent[n], c)
	}
}

// indexRemove forgets a class that has gone.
func (e *Engine) indexRemove(c *class) {
	if !e.indexed() {
		e.stale = true
		return
	}
	e.sorted = removeClass(e.sorted, c)
	for _, n := range indexNames(c.def) {
		if l := removeClass(e.byEvent[n], c); len(l) > 0 {
			e.byEvent[n] = l
		} else {
			delete(e.byEvent, n)
		}
	}
}

// insertSorted returns a copy of l (in name order) with c in its place.
func insertSorted(l []*class, c *class) []*class {
	k := sort.Search(len(l), func(i int) bool { return l[i].name >= c.name })
	if k < len(l) && l[k] == c {
		return l
	}
	out := make([]*class, 0, len(l)+1)
	out = append(append(append(out, l[:k]...), c), l[k:]...)
	return out
}

// removeClass returns a copy of l without c.
func removeClass(l []*class, c *class) []*class {
	k := sort.Search(len(l), func(i int) bool { return l[i].name >= c.name })
	if k >= len(l) || l[k] != c {
		return l
	}
	out := make([]*class, 0, len(l)-1)
	return append(append(out, l[:k]...), l[k+1:]...)
}
