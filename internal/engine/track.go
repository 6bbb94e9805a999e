package engine

import (
	"fmt"
	"log/slog"
	"sort"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/job"
	"github.com/goupstart/upstart/internal/supervise"
)

// Tracker finds the processes of an instance that the engine did not
// spawn itself: children that outlived the process that made them, and
// double-forked daemons. leaders maps the pids the engine spawned for the
// instance to their process names; the result maps every other live pid
// of the instance to the process name it belongs to.
// known reports whether the engine already tracks a pid (for any job).
type Tracker interface {
	Members(job, instance string, leaders map[int]string, known func(pid int) bool) map[int]string
	// Alive reports whether a member still exists.
	Alive(pid int) bool
}

// Placer puts processes in cgroups: Place prepares a request so that the
// process starts in the group of its process type (done gets the pid, or
// 0 when the spawn failed); KillInstance kills every process of an
// instance at once.
// Owner says which process type a cgroup path belongs to.
// InstanceGone is told when an instance has gone (reached waiting and was
// removed): its groups can go too, whichever came first, the groups'
// "empty" notifications or the handling of its processes' exits.
type Placer interface {
	Place(r *supervise.Request, process string) (done func(pid int), err error)
	KillInstance(job, instance string)
	Owner(cgroup string) (job, instance, process string, ok bool)
	InstanceGone(job, instance string)
}

// orphanExited looks at the end of a process we never knew: with cgroups
// it may be part of an instance's main process tree whose exits count
// for `expect` (an intermediate daemon process that came and went between
// two looks).
func (e *Engine) orphanExited(x supervise.Exit) {
	if e.opt.Placer == nil || x.Cgroup == "" {
		return
	}
	jobName, iname, process, ok := e.opt.Placer.Owner(x.Cgroup)
	if !ok {
		return
	}
	c := e.classes[jobName]
	if c == nil || c.get(iname) == nil {
		return
	}
	i := c.get(iname)
	switch {
	case process == "main" && i.state == job.Spawned && i.expectCounting():
		e.expectExit(i)
	case i.state == job.Killed:
		e.killedProgress(i)
	}
	e.Poll()
}

// GroupEmpty is told that the cgroup of a process type has no process
// left. It reports whether no process of that type is running any more
// (the group may then be removed).
func (e *Engine) GroupEmpty(jobName, iname, process string) (idle bool) {
	c := e.classes[jobName]
	if c == nil {
		return true
	}
	i := c.get(iname)
	if i == nil {
		return true
	}
	e.prune(i)
	if i.state == job.Killed {
		e.killedProgress(i)
		e.Poll()
	}
	if i.sessions == nil {
		return true
	}
	for pid, name := range i.leaders() {
		if name == process && pid != 0 {
			return false
		}
	}
	return true
}

// leaders returns the spawned processes of an instance by pid.
func (i *instance) leaders() map[int]string {
	m := map[int]string{}
	for t := conf.Main; t < conf.NumProcessTypes; t++ {
		if p := i.pids[t]; p != 0 {
			m[p] = t.String()
		}
	}
	for name, p := range i.actionPids {
		m[p] = name
	}
	return m
}

// noteSession remembers a spawned process: every one is a session leader,
// so what it leaves behind is told apart by its session id.
func (i *instance) noteSession(pid int, name string) {
	for k := range i.sessions {
		if i.sessions[k].pid == pid {
			i.sessions[k].name = name
			return
		}
	}
	i.sessions = append(i.sessions, session{pid, name})
}

// session is a spawned process of an instance: pid and process name.
type session struct {
	pid  int
	name string
}

// sessionMap is the sessions as the tracker and the state document take
// them (nil for none).
func (i *instance) sessionMap() map[int]string {
	if len(i.sessions) == 0 {
		return nil
	}
	m := make(map[int]string, len(i.sessions))
	for _, s := range i.sessions {
		m[s.pid] = s.name
	}
	return m
}

// adopt asks the tracker for the instance's other processes and tracks
// them (their exits reach us as orphans once their parents are gone).
func (e *Engine) adopt(i *instance) {
	if e.opt.Tracker == nil {
		return
	}
	known := func(pid int) bool { _, ok := e.pids[pid]; return ok }
	for pid, name := range e.opt.Tracker.Members(i.class.name, i.name, i.sessionMap(), known) {
		if _, known := e.pids[pid]; known {
			continue
		}
		e.pids[pid] = procRef{inst: i, typ: typeNamed(name), action: actionName(name), member: true}
		i.members = append(i.members, member{pid: pid, name: name})
	}
}

func typeNamed(name string) conf.ProcessType {
	for t := conf.Main; t < conf.NumProcessTypes; t++ {
		if t.String() == name {
			return t
		}
	}
	return conf.Main
}

func actionName(name string) string {
	if typeNamed(name).String() == name {
		return ""
	}
	return name
}

// member is a tracked process the engine did not spawn.
type member struct {
	pid  int
	name string
}

// dropMember forgets a member that ended.
func (e *Engine) dropMember(i *instance, pid int) {
	delete(e.pids, pid)
	out := i.members[:0]
	for _, m := range i.members {
		if m.pid != pid {
			out = append(out, m)
		}
	}
	i.members = out
}

// prune forgets members that no longer exist (a member whose parent was
// another member is reaped by that parent, not by us).
func (e *Engine) prune(i *instance) {
	for _, m := range append([]member(nil), i.members...) {
		if !e.opt.Tracker.Alive(m.pid) {
			e.dropMember(i, m.pid)
		}
	}
}

// alive reports whether any process of the instance is still running.
func (i *instance) alive() bool {
	return len(i.leaders()) > 0 || len(i.members) > 0
}

// memberExited handles the end of a tracked member.
func (e *Engine) memberExited(i *instance, pid int) {
	e.dropMember(i, pid)
	switch {
	case i.state == job.Spawned && i.expectCounting():
		e.expectExit(i)
	case i.state == job.Killed:
		e.killedProgress(i)
	}
}

// expectCounting reports whether readiness is counted in exits.
func (i *instance) expectCounting() bool {
	switch i.def.Expect {
	case conf.ExpectFork, conf.ExpectDaemon, conf.ExpectExit:
		return i.def.ExpectExits > 0
	}
	return false
}

// startExpect arms the readiness wait of a spawned main process.
func (e *Engine) startExpect(i *instance) {
	i.expectExits = 0
	d := i.def.ExpectTimeout
	if d <= 0 {
		d = conf.DefaultExpectTimeout
	}
	e.armExpectTimer(i, d, d)
}

// armExpectTimer fails the start after left (d is the whole timeout, for
// the message; they differ for a timer restored after a re-exec).
func (e *Engine) armExpectTimer(i *instance, left, d time.Duration) {
	i.expectDeadline = e.opt.Clock.Now().Add(left)
	i.expectTimer = e.opt.Clock.AfterFunc(left, func() {
		i.expectTimer = nil
		if i.state != job.Spawned {
			return
		}
		e.logf(slog.LevelWarn, "%s main process not ready after %s (expect %s): start failed",
			i.label(), d, expectName(i.def))
		e.failed(i, exitInfo{typ: conf.Main, name: "main", spawnErr: true, set: true})
		i.lastMain = i.failure
		e.setGoal(i, job.GoalStop)
		e.advance(i)
		e.Poll()
	})
}

func (e *Engine) stopExpect(i *instance) {
	if i.expectTimer != nil {
		i.expectTimer.Stop()
		i.expectTimer = nil
	}
}

func expectName(d *conf.Job) string {
	switch d.Expect {
	case conf.ExpectStop:
		return "stop"
	case conf.ExpectFork:
		return "fork"
	case conf.ExpectDaemon:
		return "daemon"
	case conf.ExpectExit:
		return fmt.Sprintf("exit %d", d.ExpectExits)
	case conf.ExpectEvent:
		return readyName(d)
	}
	return "none"
}

// expectExit counts one exit of the main process tree while the instance
// waits for readiness. Once enough have exited, the process that remains
// is the main process.
func (e *Engine) expectExit(i *instance) {
	i.expectExits++
	e.adopt(i)
	e.prune(i)
	if i.expectExits < i.def.ExpectExits {
		return
	}
	var cands []int
	for _, m := range i.members {
		if m.name == "main" {
			cands = append(cands, m.pid)
		}
	}
	if len(cands) == 0 {
		// The tree ended before it was ready.
		e.stopExpect(i)
		e.logf(slog.LevelWarn, "%s main process tree ended before it was ready (expect %s)", i.label(), expectName(i.def))
		x := i.lastMain
		if !x.set {
			x = exitInfo{typ: conf.Main, name: "main", spawnErr: true, set: true}
		}
		e.failed(i, x)
		e.setGoal(i, job.GoalStop)
		e.advance(i)
		return
	}
	// Several left: the oldest is the daemon (later ones are its own
	// children).
	sort.Ints(cands)
	main := cands[0]
	if len(cands) > 1 {
		main = e.oldest(cands)
	}
	e.stopExpect(i)
	ref := e.pids[main]
	ref.member = false
	e.pids[main] = ref
	e.dropMemberKeepRef(i, main)
	i.pids[conf.Main] = main
	e.logf(slog.LevelInfo, "%s main process (%d) is ready (expect %s)", i.label(), main, expectName(i.def))
	e.advance(i)
}

func (e *Engine) dropMemberKeepRef(i *instance, pid int) {
	out := i.members[:0]
	for _, m := range i.members {
		if m.pid != pid {
			out = append(out, m)
		}
	}
	i.members = out
}

// oldest returns the pid that started first (by /proc start time), the
// lowest pid if that cannot be read.
func (e *Engine) oldest(pids []int) int {
	best, bestStart := pids[0], ^uint64(0)
	for _, p := range pids {
		if st, ok := e.startTime(p); ok && st < bestStart {
			best, bestStart = p, st
		}
	}
	return best
}

// killAll sends sig to every process of the instance: the process group
// of each spawned process and each tracked member.
func (e *Engine) killAll(i *instance, sig syscall.Signal) {
	e.adopt(i)
	for pid := range i.leaders() {
		e.signalOf(i, pid, sig)
	}
	for _, m := range i.members {
		e.opt.Spawner.SignalProcess(m.pid, sig)
	}
}

// killedProgress moves an instance on from killed once nothing of it is
// left.
func (e *Engine) killedProgress(i *instance) {
	// Descendants of a process that just died are re-parented to us now:
	// track them and give them the kill signal too.
	before := len(i.members)
	e.adopt(i)
	if len(i.members) > before {
		sig := i.killSignal()
		for _, m := range i.members[before:] {
			e.opt.Spawner.SignalProcess(m.pid, sig)
		}
		if i.killTimer == nil {
			e.armKillTimer(i, i.def.KillTimeout)
		}
	}
	e.prune(i)
	if i.pids[conf.Main] != 0 || len(i.members) > 0 || len(i.actionPids) > 0 {
		return
	}
	if i.killTimer != nil {
		i.killTimer.Stop()
		i.killTimer = nil
	}
	e.advance(i)
}

// enterKilled stops every process of the instance: the kill signal now,
// SIGKILL after the kill timeout. It reports whether nothing was left to
// kill. While a spawned process of the instance runs, the look for its
// other processes (and their signal) waits for the end of the engine's
// step (flushKilled): a stop of 1000 jobs then sends its 1000 signals
// before any of the 1000 cgroup reads.
func (e *Engine) enterKilled(i *instance) bool {
	emptied := e.emptied == i
	if emptied {
		e.emptied = nil // once: the next look may follow a spawn
	}
	e.prune(i)
	spawned := i.pids[conf.Main] != 0 || len(i.actionPids) > 0
	if !spawned {
		if !emptied {
			e.adopt(i)
			e.prune(i)
		}
		if len(i.members) == 0 {
			return true
		}
	}
	sig := i.killSignal()
	if pid := i.pids[conf.Main]; pid != 0 {
		if err := e.signalOf(i, pid, sig); err != nil {
			e.logf(slog.LevelWarn, "Failed to send %s signal to %s main process (%d): %v", signalName(sig), i.label(), pid, err)
		}
	}
	for _, m := range i.members {
		e.opt.Spawner.SignalProcess(m.pid, sig)
	}
	for _, pid := range i.actionPids {
		e.signalOf(i, pid, sig)
	}
	if spawned && e.opt.Tracker != nil {
		e.killedLater = append(e.killedLater, i)
	}
	e.armKillTimer(i, i.def.KillTimeout)
	return false
}

// flushKilled finishes what enterKilled left for the end of the step:
// the processes of each instance killed in it that the engine did not
// spawn (children that left the process group, double-forked daemons)
// are looked for and given the kill signal too.
func (e *Engine) flushKilled() {
	if e.polling {
		return // the outer Poll flushes
	}
	for len(e.killedLater) > 0 {
		l := e.killedLater
		e.killedLater = nil
		for _, i := range l {
			if i.state != job.Killed || i.class.get(i.name) != i {
				continue // moved on or gone in the same step
			}
			before := len(i.members)
			e.adopt(i)
			sig := i.killSignal()
			for _, m := range i.members[before:] {
				e.opt.Spawner.SignalProcess(m.pid, sig)
			}
		}
	}
}

func (e *Engine) armKillTimer(i *instance, d time.Duration) {
	i.killDeadline = e.opt.Clock.Now().Add(d)
	i.killTimer = e.opt.Clock.AfterFunc(d, func() {
		i.killTimer = nil
		if i.state != job.Killed {
			return
		}
		if pid := i.pids[conf.Main]; pid != 0 {
			e.logf(slog.LevelWarn, "%s main process (%d) killed by timeout, sending KILL", i.label(), pid)
		}
		e.killAll(i, syscall.SIGKILL)
		if e.opt.Placer != nil {
			e.opt.Placer.KillInstance(i.class.name, i.name)
		}
		e.prune(i)
		// A member that is not our child reports no exit: look again.
		if i.pids[conf.Main] != 0 || len(i.members) > 0 || len(i.actionPids) > 0 {
			e.armKillTimer(i, 100*time.Millisecond)
			return
		}
		e.advance(i)
		e.Poll()
	})
}

// RunAction runs a custom action of a running instance (`initctl action
// JOB NAME`). Its environment is the instance's with PROCESS=NAME; it is
// tracked like any process of the instance and killed when it stops.
func (e *Engine) RunAction(jobName, iname, name string) (int, error) {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return 0, err
	}
	var proc *conf.Process
	for _, a := range i.def.Actions {
		if a.Name == name {
			proc = a.Process
		}
	}
	if proc == nil {
		return 0, api.Errorf(api.ErrInvalidArgs, "Unknown action: "+name)
	}
	if i.goal != job.GoalStart || i.state != job.Running {
		return 0, api.Errorf(api.ErrNotRunning, "Job is not running: "+i.label())
	}
	if pid, busy := i.actionPids[name]; busy {
		return 0, api.Errorf(api.ErrInvalidArgs, fmt.Sprintf("Action %s is already running: process %d", name, pid))
	}
	c := i.def.Console
	if c == conf.ConsoleDefault {
		c = e.opt.DefaultConsole
	}
	env := environ.Set(e.processEnv(i, conf.Main), "PROCESS="+name)
	pid, err := e.spawnRequest(supervise.Request{
		Job: i.def, Instance: i.name, Type: conf.Main, Process: proc, Env: env, Console: c,
	}, name)
	if err != nil {
		e.logf(slog.LevelWarn, "Failed to spawn %s %s process: %v", i.label(), name, err)
		return 0, api.Errorf(api.ErrJobFailed, fmt.Sprintf("Failed to spawn %s process: %v", name, err))
	}
	if i.actionPids == nil {
		i.actionPids = map[string]int{}
	}
	i.actionPids[name] = pid
	i.noteSession(pid, name)
	e.pids[pid] = procRef{inst: i, typ: conf.Main, action: name, leader: true}
	return pid, nil
}

func (e *Engine) actionExited(i *instance, name string, x supervise.Exit) {
	delete(i.actionPids, name)
	e.logExit(i, actionLabel(name), x)
	e.adopt(i)
	if i.state == job.Killed {
		e.killedProgress(i)
	}
}

// signal sends sig to a process and its process group. A main process
// found by `expect` is not a group leader (its group is that of the parent
// that exited), so the group alone would miss it.
func (e *Engine) signal(pid int, sig syscall.Signal) error {
	err := e.opt.Spawner.Signal(pid, sig)
	if kerr := e.opt.Spawner.SignalProcess(pid, sig); kerr != nil && err == nil {
		err = kerr
	}
	return err
}

// signalOf is signal for a process of i: a process the engine spawned is
// a session leader (setsid), which can never leave its process group, so
// the group's signal reaches it and the second kill is left out.
func (e *Engine) signalOf(i *instance, pid int, sig syscall.Signal) error {
	if ref, ok := e.pids[pid]; ok && ref.leader && ref.inst == i {
		return e.opt.Spawner.Signal(pid, sig)
	}
	return e.signal(pid, sig)
}

// spawnRequest spawns through the Placer, when there is one.
func (e *Engine) spawnRequest(r supervise.Request, process string) (int, error) {
	var done func(int)
	if e.opt.Placer != nil {
		d, err := e.opt.Placer.Place(&r, process)
		if err != nil {
			return 0, err
		}
		done = d
	}
	pid, err := e.opt.Spawner.Spawn(r)
	if done != nil {
		done(pid)
	}
	e.writeHeldLogs() // held for this spawn (holdLogs)
	return pid, err
}

// actionLabel names a custom action in log lines.
type actionLabel string

func (a actionLabel) String() string { return string(a) }

// killSignal is the job's `kill signal` (SIGTERM by default).
func (i *instance) killSignal() syscall.Signal {
	if i.def.KillSignal == 0 {
		return syscall.SIGTERM
	}
	return syscall.Signal(i.def.KillSignal)
}
