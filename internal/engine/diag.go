package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/job"
)

// MaxStateRecords bounds the state changes kept for the boot chart: the
// first ones since the daemon started (the boot is what the chart is
// for); later ones are counted, not kept. 24 bytes each (stateRec), plus
// per instance its names (recName) and per start the text of what started
// it (recCause).
const MaxStateRecords = 10000

// recChunk is how many records one block of the history holds: blocks are
// never grown, so no record is copied and no capacity is left unused
// beyond the last block.
const recChunk = 512

// history is what the diagnostics remember beyond the live state.
type history struct {
	start   time.Time
	recs    [][]stateRec // blocks of recChunk
	n       int          // records kept
	causes  []recCause
	dropped int
	// lastStop is the stopped event of each job's last ended instance.
	lastStop map[string]*api.WhyEvent
}

func (e *Engine) now() time.Time {
	if e.opt.Clock == nil {
		return time.Now()
	}
	return e.opt.Clock.Now()
}

// stateRec is the compact form of api.StateRecord: the time as Unix
// nanoseconds, the names shared by all records of an instance, what
// started a run kept aside (only starting records have it).
type stateRec struct {
	at    int64
	who   *recName
	cause int32 // index+1 in history.causes; 0: none
	state uint8 // job.State
	task  bool
}

// recName names the instance of records.
type recName struct{ job, inst string }

// recCause is what started a run and when the first of its events was
// queued.
type recCause struct {
	at   int64
	text string
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// record notes the state i has just entered (loop only).
func (e *Engine) record(i *instance) {
	now := e.now()
	h := &e.hist
	if h.start.IsZero() {
		h.start = now
	}
	if i.state == job.Waiting {
		if h.lastStop == nil {
			h.lastStop = map[string]*api.WhyEvent{}
		}
		h.lastStop[i.class.name] = &api.WhyEvent{Name: "stopped", Env: i.jobEnv(true), At: now}
	}
	if h.n >= MaxStateRecords {
		h.dropped++
		return
	}
	if i.rec == nil || i.rec.job != i.class.name || i.rec.inst != i.name {
		i.rec = &recName{job: i.class.name, inst: i.name}
	}
	r := stateRec{at: now.UnixNano(), who: i.rec, state: uint8(i.state), task: i.def.Task}
	if i.state == job.Starting {
		// Started by its condition: UPSTART_EVENTS is set, and the
		// condition (not yet fired when the instance enters starting)
		// still has the events that made it true.
		env := i.startEnv
		if env == nil {
			env = i.env
		}
		if names, _ := environ.Lookup(env, "UPSTART_EVENTS"); names != "" {
			var causes []string
			var c recCause
			for _, m := range i.class.start.Matched() {
				causes = append(causes, describeEvent(m))
				if ev, ok := m.Ref.(*event); ok && !ev.at.IsZero() && (c.at == 0 || ev.at.UnixNano() < c.at) {
					c.at = ev.at.UnixNano()
				}
			}
			if len(causes) == 0 {
				causes = []string{names}
			}
			c.text = strings.Join(causes, ", ")
			h.causes = append(h.causes, c)
			r.cause = int32(len(h.causes))
		}
	}
	if h.n%recChunk == 0 {
		h.recs = append(h.recs, make([]stateRec, 0, recChunk))
	}
	last := &h.recs[len(h.recs)-1]
	*last = append(*last, r)
	h.n++
}

// Timeline returns the recorded state changes (loop only).
func (e *Engine) Timeline() api.Timeline {
	t := api.Timeline{Start: e.hist.start, Now: e.now(), Dropped: e.hist.dropped}
	t.Records = make([]api.StateRecord, 0, e.hist.n)
	for _, b := range e.hist.recs {
		for _, r := range b {
			s := api.StateRecord{At: unixTime(r.at), Job: r.who.job, Instance: r.who.inst, State: job.State(r.state).String(), Task: r.task}
			if r.cause > 0 {
				c := e.hist.causes[r.cause-1]
				s.Cause, s.CauseAt = c.text, unixTime(c.at)
			}
			t.Records = append(t.Records, s)
		}
	}
	if t.Start.IsZero() {
		t.Start = t.Now
	}
	return t
}

// describeEvent is an event in a few words: a job event as "started JOB
// (INSTANCE)", another as its name and first variables.
func describeEvent(c *cond.Event) string {
	if _, ok := jobEventNames[c.Name]; ok {
		if j, ok := environ.Lookup(c.Env, "JOB"); ok {
			s := c.Name + " " + j
			if in, _ := environ.Lookup(c.Env, "INSTANCE"); in != "" {
				s += " (" + in + ")"
			}
			return s
		}
	}
	parts := append([]string{c.Name}, c.Env[:min(len(c.Env), 3)]...)
	return strings.Join(parts, " ")
}

var jobEventNames = map[string]bool{"starting": true, "started": true, "stopping": true, "stopped": true}

func whyEvent(c *cond.Event, held bool) api.WhyEvent {
	w := api.WhyEvent{Name: c.Name, Env: append([]string(nil), c.Env...), Held: held}
	if ev, ok := c.Ref.(*event); ok {
		w.At = ev.at
		if ev.progress == finished {
			w.Held = false
		}
	}
	return w
}

func whyNode(x *cond.Explanation) *api.WhyNode {
	if x == nil {
		return nil
	}
	switch x.Op {
	case cond.And, cond.Or:
		op := "and"
		if x.Op == cond.Or {
			op = "or"
		}
		return &api.WhyNode{Op: op, True: x.True, Left: whyNode(x.Left), Right: whyNode(x.Right)}
	}
	n := &api.WhyNode{Op: "match", Match: x.Node.String(), True: x.True}
	for k, ev := range x.Events {
		n.By = append(n.By, whyEvent(ev, x.Held[k]))
	}
	return n
}

// Why explains why the instance of job named by env is, or is not,
// running (loop only). env may be empty for a job with instances: the
// report is then about the job's start condition.
func (e *Engine) Why(name string, env []string) (api.WhyReport, error) {
	c, err := e.class(name)
	if err != nil {
		return api.WhyReport{}, err
	}
	if err := checkEnv(env); err != nil {
		return api.WhyReport{}, err
	}
	iname, err := e.instanceName(c, env)
	if err != nil && len(env) > 0 {
		return api.WhyReport{}, err
	}
	r := api.WhyReport{Job: c.name, Instance: iname, Goal: job.GoalStop.String(), State: job.Waiting.String()}
	inst := c.get(iname)
	if err != nil {
		inst, r.Instance = nil, ""
	}
	for _, o := range c.sortedInstances() {
		if o != inst {
			r.Instances = append(r.Instances, o.name)
		}
	}
	seen := map[*cond.Event]bool{}
	block := func(evs ...*cond.Event) {
		for _, ev := range evs {
			if !seen[ev] {
				seen[ev] = true
				if w := whyEvent(ev, true); w.Held {
					r.Blocked = append(r.Blocked, w)
				}
			}
		}
	}
	if inst != nil {
		r.Goal, r.State = inst.goal.String(), inst.state.String()
		for _, ev := range inst.holding {
			block(&ev.Event)
		}
		if inst.hook != nil {
			w := whyEvent(&inst.hook.Event, true)
			r.Hook = &w
		}
		r.Waiting = e.waitingFor(inst)
	}
	if inst != nil && inst.goal == job.GoalStart {
		r.Kind = "stop on"
		if inst.stopCond != nil {
			r.Condition = whyNode(inst.stopCond.Explain())
			block(inst.stopCond.Held()...)
		}
	} else {
		r.Kind = "start on"
		r.Manual = c.def.StartOn == nil
		r.ManualBy = c.def.ManualBy
		if c.start != nil {
			r.Condition = whyNode(c.start.Explain())
			block(c.start.Held()...)
		}
	}
	if ls := e.hist.lastStop[c.name]; ls != nil {
		w := *ls
		r.LastStop = &w
		p, _ := environ.Lookup(ls.Env, "PROCESS")
		r.RespawnLimit = p == "respawn"
	}
	return r, nil
}

// waitingFor says what an instance that is not at rest waits for.
func (e *Engine) waitingFor(i *instance) string {
	pid := func(t conf.ProcessType) string {
		if i.pids[t] == 0 {
			return "its " + t.String() + " process"
		}
		return fmt.Sprintf("its %s process (pid %d) to end", t, i.pids[t])
	}
	switch i.state {
	case job.Starting:
		return "the starting event to be handled (jobs that start on it go first)"
	case job.Stopping:
		return "the stopping event to be handled (jobs that start on it go first)"
	case job.Tmpfiles:
		return fmt.Sprintf("systemd-tmpfiles (pid %d) to end", i.auxPid)
	case job.Security:
		return fmt.Sprintf("its security process, AppArmor's parser (pid %d), to end", i.auxPid)
	case job.PreStart:
		return pid(conf.PreStart)
	case job.PostStart:
		return pid(conf.PostStart)
	case job.PreStop:
		return pid(conf.PreStop)
	case job.PostStop:
		return pid(conf.PostStop)
	case job.Spawned:
		var how string
		switch i.def.Expect {
		case conf.ExpectStop:
			how = "expect stop: the main process to stop itself"
		case conf.ExpectFork, conf.ExpectDaemon, conf.ExpectExit:
			how = fmt.Sprintf("%d of %d exits of the main process tree", i.expectExits, i.def.ExpectExits)
		default:
			how = "the main process"
		}
		s := "readiness (" + how + ")"
		if !i.expectDeadline.IsZero() {
			s += fmt.Sprintf(", failing at %s", i.expectDeadline.Format(time.RFC3339))
		}
		return s
	case job.Killed:
		s := "its processes to end after the kill signal"
		if !i.killDeadline.IsZero() {
			s += fmt.Sprintf(" (SIGKILL at %s)", i.killDeadline.Format(time.RFC3339))
		}
		return s
	case job.Running:
		if i.def.Task && i.pids[conf.Main] != 0 {
			return fmt.Sprintf("the task's main process (pid %d) to end", i.pids[conf.Main])
		}
	}
	return ""
}

// Why and Timeline for the control server (org.goupstart.Diagnostics1).

func (b *Backend) Why(job string, env []string) (r api.WhyReport, err error) {
	b.call(func() { r, err = b.E.Why(job, env) })
	return
}

func (b *Backend) Timeline() (t api.Timeline) {
	b.call(func() { t = b.E.Timeline() })
	return
}
