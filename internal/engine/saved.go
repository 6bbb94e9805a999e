package engine

import (
	"fmt"
	"os"
	"syscall"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/job"
	"github.com/goupstart/upstart/internal/state"
)

// Snapshot returns the engine's state for a stateful re-exec (loop only).
// What does not survive: control requests waiting for an answer (their
// connections end with the exec, as in Upstart) and subscriptions.
// keepFD is called with the file of every event that has one; it returns
// the descriptor number that will be open in the next image.
func (e *Engine) Snapshot(keepFD func(*os.File) int) *state.Engine {
	s := &state.Engine{Env: append([]string(nil), e.env...), RespawnDisabled: e.respawnDisabled, ReadyNextID: e.ready.nextID}
	defIdx := map[*conf.Job]int{}
	def := func(d *conf.Job) int {
		if d == nil {
			return -1
		}
		if k, ok := defIdx[d]; ok {
			return k
		}
		defIdx[d] = len(s.Defs)
		s.Defs = append(s.Defs, d)
		return defIdx[d]
	}
	evIdx := map[*event]int{}
	addEvent := func(ev *event, queued bool) int {
		if k, ok := evIdx[ev]; ok {
			return k
		}
		se := state.Event{Name: ev.Name, Env: ev.Env, Queued: queued, Progress: progressName[ev.progress],
			Failed: ev.failed, Blockers: ev.blockers, FD: -1}
		if ev.file != nil && keepFD != nil {
			se.FD = keepFD(ev.file)
		}
		evIdx[ev] = len(s.Events)
		s.Events = append(s.Events, se)
		return evIdx[ev]
	}
	for _, ev := range e.queue {
		addEvent(ev, true)
	}
	latches := func(c *cond.Condition) []state.Latch {
		if c == nil {
			return nil
		}
		var out []state.Latch
		for _, l := range c.Latches() {
			out = append(out, state.Latch{Operand: l.Operand, Event: addEvent(evOf(l.Event), false), Held: l.Held})
		}
		return out
	}
	for _, c := range e.sortedClasses() {
		sc := state.Class{Name: c.name, Def: def(c.def), Next: def(c.next), Deleted: c.deleted, Start: latches(c.start)}
		for _, i := range c.sortedInstances() {
			si := e.snapshotInstance(i, def, addEvent, latches)
			for _, f := range i.fds {
				if keepFD != nil {
					si.FDs = append(si.FDs, keepFD(f))
				}
			}
			sc.Instances = append(sc.Instances, si)
		}
		s.Classes = append(s.Classes, sc)
	}
	return s
}

var progressName = map[progress]string{pending: "pending", handling: "handling", finished: "finished"}

func (e *Engine) snapshotInstance(i *instance, def func(*conf.Job) int, addEvent func(*event, bool) int,
	latches func(*cond.Condition) []state.Latch) state.Instance {
	si := state.Instance{
		Name: i.name, Def: def(i.def), Goal: i.goal.String(), State: i.state.String(),
		Env: i.env, StartEnv: i.startEnv, StopEnv: i.stopEnv, Stop: latches(i.stopCond),
		AuxPid: i.auxPid, Hook: -1,
		Failed: i.failed, Failure: saveExit(i.failure), LastMain: saveExit(i.lastMain),
		RespawnCount: i.respawnCount, RespawnTime: i.respawnTime, ExpectExits: i.expectExits,
		Sessions: i.sessionMap(), ActionPids: i.actionPids,
	}
	for t, pid := range i.pids {
		if pid != 0 {
			if si.Pids == nil {
				si.Pids = map[string]int{}
			}
			si.Pids[conf.ProcessType(t).String()] = pid
		}
	}
	if i.hook != nil {
		si.Hook = addEvent(i.hook, i.hook.progress != finished)
	}
	for _, ev := range i.holding {
		si.Holding = append(si.Holding, addEvent(ev, ev.progress != finished))
	}
	if i.deferredMain != nil {
		x := saveExit(*i.deferredMain)
		si.DeferredMain = &x
	}
	if i.killTimer != nil {
		si.KillDeadline = i.killDeadline
	}
	if i.expectTimer != nil {
		si.ExpectDeadline = i.expectDeadline
	}
	for _, m := range i.members {
		si.Members = append(si.Members, state.Member{Pid: m.pid, Name: m.name})
	}
	si.Ready = e.snapshotReady(i, latches)
	return si
}

func saveExit(x exitInfo) state.Exit {
	return state.Exit{Type: x.typ.String(), Name: x.name, Status: uint32(x.status), SpawnErr: x.spawnErr, Set: x.set}
}

func loadExit(x state.Exit) exitInfo {
	return exitInfo{typ: typeNamed(x.Type), name: x.Name, status: syscall.WaitStatus(x.Status), spawnErr: x.SpawnErr, set: x.Set}
}

// Restore rebuilds the engine from a snapshot, in a new engine that has no
// jobs yet (loop only). Timers are armed again for what is left of them;
// events are handled on from where they were. A document that does not
// hold together (an index out of range, an unknown goal or state) is an
// error and the engine is left empty. file turns a saved descriptor back
// into a file (nil: events lose their files).
func (e *Engine) Restore(s *state.Engine, file func(fd int) *os.File) error {
	if len(e.classes) != 0 || len(e.queue) != 0 {
		return fmt.Errorf("restore: the engine is not empty")
	}
	r := restorer{e: e, s: s}
	if err := r.run(file); err != nil {
		e.classes = map[string]*class{}
		e.queue = nil
		e.pids = map[int]procRef{}
		e.stale = true
		return fmt.Errorf("restore: %w", err)
	}
	e.respawnDisabled = s.RespawnDisabled
	e.stale = true
	e.Poll()
	return nil
}

type restorer struct {
	file   func(fd int) *os.File
	e      *Engine
	s      *state.Engine
	events []*event
}

func (r *restorer) def(k int) (*conf.Job, error) {
	if k < 0 || k >= len(r.s.Defs) || r.s.Defs[k] == nil {
		return nil, fmt.Errorf("definition %d of %d", k, len(r.s.Defs))
	}
	return r.s.Defs[k], nil
}

func (r *restorer) event(k int) (*event, error) {
	if k < 0 || k >= len(r.events) {
		return nil, fmt.Errorf("event %d of %d", k, len(r.events))
	}
	return r.events[k], nil
}

func (r *restorer) latches(c *cond.Condition, ls []state.Latch) error {
	if len(ls) == 0 {
		return nil
	}
	if c == nil {
		return fmt.Errorf("latches for a condition that does not exist")
	}
	out := make([]cond.Latch, len(ls))
	for k, l := range ls {
		ev, err := r.event(l.Event)
		if err != nil {
			return err
		}
		out[k] = cond.Latch{Operand: l.Operand, Event: &ev.Event, Held: l.Held}
	}
	return c.RestoreLatches(out)
}

func (r *restorer) run(file func(fd int) *os.File) error {
	e := r.e
	r.file = file
	e.env = append([]string(nil), r.s.Env...)
	e.ready.nextID = r.s.ReadyNextID
	progressOf := map[string]progress{"pending": pending, "handling": handling, "finished": finished}
	for _, se := range r.s.Events {
		p, ok := progressOf[se.Progress]
		if !ok {
			return fmt.Errorf("event %s: unknown progress %q", se.Name, se.Progress)
		}
		ev := &event{Event: cond.Event{Name: se.Name, Env: se.Env}, progress: p, failed: se.Failed, blockers: se.Blockers}
		ev.Ref = ev
		if se.FD >= 0 && file != nil {
			ev.file = file(se.FD)
		}
		r.events = append(r.events, ev)
		if se.Queued {
			e.queue = append(e.queue, ev)
		}
	}
	for _, sc := range r.s.Classes {
		d, err := r.def(sc.Def)
		if err != nil {
			return fmt.Errorf("class %s: %w", sc.Name, err)
		}
		c := &class{name: sc.Name, def: d, deleted: sc.Deleted}
		if sc.Next >= 0 {
			if c.next, err = r.def(sc.Next); err != nil {
				return fmt.Errorf("class %s: %w", sc.Name, err)
			}
		}
		if d.StartOn != nil {
			c.start = cond.New(d.StartOn)
		}
		if err := r.latches(c.start, sc.Start); err != nil {
			return fmt.Errorf("class %s: start on: %w", sc.Name, err)
		}
		if _, dup := e.classes[sc.Name]; dup {
			return fmt.Errorf("class %s twice", sc.Name)
		}
		e.classes[sc.Name] = c
		for _, si := range sc.Instances {
			if err := r.instance(c, si); err != nil {
				return fmt.Errorf("%s (%s): %w", sc.Name, si.Name, err)
			}
		}
	}
	return nil
}

func (r *restorer) instance(c *class, si state.Instance) error {
	e := r.e
	d, err := r.def(si.Def)
	if err != nil {
		return err
	}
	goal, ok := job.ParseGoal(si.Goal)
	if !ok {
		return fmt.Errorf("unknown goal %q", si.Goal)
	}
	st, ok := job.ParseState(si.State)
	if !ok {
		return fmt.Errorf("unknown state %q", si.State)
	}
	if _, dup := c.lookup(si.Name); dup {
		return fmt.Errorf("instance twice")
	}
	i := &instance{class: c, def: d, name: si.Name, goal: goal, state: st,
		env: si.Env, startEnv: si.StartEnv, stopEnv: si.StopEnv,
		auxPid: si.AuxPid, failed: si.Failed, failure: loadExit(si.Failure), lastMain: loadExit(si.LastMain),
		respawnCount: si.RespawnCount, respawnTime: si.RespawnTime, expectExits: si.ExpectExits,
		actionPids: si.ActionPids}
	for pid, name := range si.Sessions {
		i.sessions = append(i.sessions, session{pid, name})
	}
	if d.StopOn != nil {
		i.stopCond = cond.New(d.StopOn)
	}
	if err := r.latches(i.stopCond, si.Stop); err != nil {
		return fmt.Errorf("stop on: %w", err)
	}
	if si.DeferredMain != nil {
		x := loadExit(*si.DeferredMain)
		i.deferredMain = &x
	}
	for _, fd := range si.FDs {
		if fd >= 0 && r.file != nil {
			i.fds = append(i.fds, r.file(fd))
		}
	}
	// The pid table is derived from the instance: every process it runs.
	claim := func(pid int, ref procRef) error {
		if pid <= 0 {
			return fmt.Errorf("pid %d", pid)
		}
		if _, dup := e.pids[pid]; dup {
			return fmt.Errorf("pid %d belongs to two processes", pid)
		}
		e.pids[pid] = ref
		return nil
	}
	for name, pid := range si.Pids {
		t := typeNamed(name)
		if t.String() != name {
			return fmt.Errorf("unknown process type %q", name)
		}
		i.pids[t] = pid
		if err := claim(pid, procRef{inst: i, typ: t}); err != nil {
			return err
		}
	}
	if i.auxPid != 0 {
		if err := claim(i.auxPid, procRef{inst: i, typ: conf.PreStart, aux: true}); err != nil {
			return err
		}
	}
	for name, pid := range i.actionPids {
		if err := claim(pid, procRef{inst: i, typ: conf.Main, action: name}); err != nil {
			return err
		}
	}
	for _, m := range si.Members {
		i.members = append(i.members, member{pid: m.Pid, name: m.Name})
		if err := claim(m.Pid, procRef{inst: i, typ: typeNamed(m.Name), action: actionName(m.Name), member: true}); err != nil {
			return err
		}
	}
	if si.Hook >= 0 {
		ev, err := r.event(si.Hook)
		if err != nil {
			return fmt.Errorf("hook: %w", err)
		}
		i.hook = ev
		ev.hooked = append(ev.hooked, i)
	}
	for _, k := range si.Holding {
		ev, err := r.event(k)
		if err != nil {
			return fmt.Errorf("holding: %w", err)
		}
		i.holding = append(i.holding, ev)
	}
	now := e.opt.Clock.Now()
	if !si.KillDeadline.IsZero() {
		e.armKillTimer(i, max(si.KillDeadline.Sub(now), 0))
	}
	if !si.ExpectDeadline.IsZero() {
		t := d.ExpectTimeout
		if t <= 0 {
			t = conf.DefaultExpectTimeout
		}
		e.armExpectTimer(i, max(si.ExpectDeadline.Sub(now), 0), t)
	}
	if err := r.readyInstance(i, si.Ready); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	if _, spawning := spawnType[i.state]; spawning {
		// Only a spawn waiting for a retry rests in a spawning state.
		e.armSpawnRetry(i, 0)
	}
	c.addInstance(i)
	return nil
}
