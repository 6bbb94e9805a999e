package engine

import (
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/job"
)

// The commands below run on the loop. Those that can wait take a reply
// function, called (on the loop) once the answer is known; a nil reply
// means the caller does not wait. They return an error at once for a
// request that is refused.

func (e *Engine) class(name string) (*class, error) {
	if name == "" {
		return nil, api.Errorf(api.ErrInvalidArgs, "Name may not be empty string")
	}
	c, ok := e.classes[name]
	if !ok || c.deleted && len(c.ilist) == 0 {
		return nil, api.Errorf(api.ErrUnknownJob, "Unknown job: "+name)
	}
	return c, nil
}

func checkEnv(env []string) error {
	if len(env) > environ.MaxEntries {
		return api.Errorf(api.ErrInvalidArgs, fmt.Sprintf("Env may hold at most %d entries", environ.MaxEntries))
	}
	for _, kv := range env {
		if !environ.Valid(kv) {
			return api.Errorf(api.ErrInvalidArgs, "Env must be KEY=VALUE pairs")
		}
	}
	return nil
}

// instanceName expands the class's instance template for a command.
func (e *Engine) instanceName(c *class, env []string) (string, error) {
	full := environ.Merge(e.classEnv(c.def), e.importFilter(c.def, env, false)...)
	name, err := expandInstance(c.def, full)
	if err != nil {
		msg := err.Error()
		if c.def.Usage != "" {
			msg += "\nUsage: " + c.def.Usage
		}
		return "", api.Errorf(api.ErrInvalidArgs, msg)
	}
	return name, nil
}

// StartJob starts (creating if needed) the instance named by env.
func (e *Engine) StartJob(name string, env []string, reply func(inst string, err error)) error {
	c, err := e.class(name)
	if err != nil {
		return err
	}
	if err := checkEnv(env); err != nil {
		return err
	}
	iname, err := e.instanceName(c, env)
	if err != nil {
		return err
	}
	if i, ok := c.lookup(iname); ok && i.goal == job.GoalStart {
		return api.Errorf(api.ErrAlreadyStarted, "Job is already running: "+i.label())
	}
	if c.deleted {
		return api.Errorf(api.ErrUnknownJob, "Unknown job: "+name)
	}
	i := e.instanceFor(c, iname)
	i.startEnv = fit(environ.Merge(e.classEnv(c.def), e.importFilter(c.def, env, false)...))
	e.answerWaiters(i)
	if reply != nil {
		i.waiters = append(i.waiters, waiter{waitStart, func(err error) { reply(iname, err) }})
	}
	e.changeGoal(i, job.GoalStart)
	e.Poll()
	return nil
}

func (e *Engine) findInstance(name string, env []string) (*instance, error) {
	c, err := e.class(name)
	if err != nil {
		return nil, err
	}
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	iname, err := e.instanceName(c, env)
	if err != nil {
		return nil, err
	}
	i, ok := c.lookup(iname)
	if !ok {
		return nil, api.Errorf(api.ErrUnknownInstance, "Unknown instance: "+iname)
	}
	return i, nil
}

// StopJob stops the instance named by env; env becomes the environment of
// its pre-stop and post-stop processes.
func (e *Engine) StopJob(name string, env []string, reply func(error)) error {
	i, err := e.findInstance(name, env)
	if err != nil {
		return err
	}
	return e.stopInstance(i, env, reply)
}

func (e *Engine) stopInstance(i *instance, env []string, reply func(error)) error {
	if i.goal == job.GoalStop {
		return api.Errorf(api.ErrAlreadyStopped, "Job has already been stopped: "+i.label())
	}
	i.stopEnv = e.importFilter(i.def, append([]string(nil), env...), false)
	e.answerWaiters(i)
	if reply != nil {
		i.waiters = append(i.waiters, waiter{waitStop, reply})
	}
	e.changeGoal(i, job.GoalStop)
	e.Poll()
	return nil
}

// RestartJob stops and starts again a started instance; a non-empty env
// replaces its start environment.
func (e *Engine) RestartJob(name string, env []string, reply func(inst string, err error)) error {
	i, err := e.findInstance(name, env)
	if err != nil {
		return err
	}
	var r func(error)
	if reply != nil {
		r = func(err error) { reply(i.name, err) }
	}
	if len(env) > 0 {
		i.startEnv = fit(environ.Merge(e.classEnv(i.def), e.importFilter(i.def, env, false)...))
	}
	return e.restartInstance(i, r)
}

func (e *Engine) restartInstance(i *instance, reply func(error)) error {
	if i.goal != job.GoalStart {
		return api.Errorf(api.ErrAlreadyStopped, "Job has already been stopped: "+i.label())
	}
	e.answerWaiters(i)
	if reply != nil {
		i.waiters = append(i.waiters, waiter{waitRestart, reply})
	}
	e.changeGoal(i, job.GoalStop)
	e.changeGoal(i, job.GoalStart)
	e.Poll()
	return nil
}

func (e *Engine) instanceByName(jobName, iname string) (*instance, error) {
	c, err := e.class(jobName)
	if err != nil {
		return nil, err
	}
	i, ok := c.lookup(iname)
	if !ok {
		return nil, api.Errorf(api.ErrUnknownInstance, "Unknown instance: "+iname)
	}
	return i, nil
}

// InstanceStart starts an existing instance again with its previous
// environment (Instance.Start on D-Bus; `start` run inside a job).
func (e *Engine) InstanceStart(jobName, iname string, reply func(error)) error {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return err
	}
	if i.goal == job.GoalStart {
		return api.Errorf(api.ErrAlreadyStarted, "Job is already running: "+i.label())
	}
	e.answerWaiters(i)
	if reply != nil {
		i.waiters = append(i.waiters, waiter{waitStart, reply})
	}
	e.changeGoal(i, job.GoalStart)
	e.Poll()
	return nil
}

// InstanceStop stops an existing instance.
func (e *Engine) InstanceStop(jobName, iname string, reply func(error)) error {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return err
	}
	return e.stopInstance(i, nil, reply)
}

// InstanceRestart restarts an existing instance.
func (e *Engine) InstanceRestart(jobName, iname string, reply func(error)) error {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return err
	}
	return e.restartInstance(i, reply)
}

// Reload sends the reload signal to the instance's main process.
func (e *Engine) Reload(jobName, iname string) error {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return err
	}
	pid := i.pids[conf.Main]
	if pid == 0 {
		return api.Errorf(api.ErrNotRunning, "Job is not running: "+i.label())
	}
	sig := syscall.Signal(i.def.ReloadSignal)
	if sig == 0 {
		sig = syscall.SIGHUP
	}
	return e.opt.Spawner.SignalProcess(pid, sig)
}

// JobInfo describes a class.
func (e *Engine) JobInfo(name string) (api.JobInfo, error) {
	c, err := e.class(name)
	if err != nil {
		return api.JobInfo{}, err
	}
	return jobInfo(c), nil
}

func jobInfo(c *class) api.JobInfo {
	d := c.def
	info := api.JobInfo{Name: c.name, Description: d.Description, Author: d.Author,
		Version: d.Version, Usage: d.Usage, Emits: append([]string{}, d.Emits...)}
	info.StartOn = rpn(d.StartOn)
	info.StopOn = rpn(d.StopOn)
	return info
}

func rpn(n *cond.Node) [][]string {
	if n == nil {
		return [][]string{}
	}
	return n.RPN()
}

// Jobs describes every visible class, by name.
func (e *Engine) Jobs() []api.JobInfo {
	var out []api.JobInfo
	for _, c := range e.sortedClasses() {
		if c.deleted && len(c.ilist) == 0 {
			continue
		}
		out = append(out, jobInfo(c))
	}
	return out
}

// Instances describes the instances of a class.
func (e *Engine) Instances(name string) ([]api.InstanceInfo, error) {
	c, err := e.class(name)
	if err != nil {
		return nil, err
	}
	var out []api.InstanceInfo
	for _, i := range c.sortedInstances() {
		out = append(out, i.info())
	}
	return out, nil
}

// InstanceInfo describes one instance.
func (e *Engine) InstanceInfo(jobName, iname string) (api.InstanceInfo, error) {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return api.InstanceInfo{}, err
	}
	return i.info(), nil
}

// InstanceNameFor expands a class's instance template with env.
func (e *Engine) InstanceNameFor(jobName string, env []string) (string, error) {
	c, err := e.class(jobName)
	if err != nil {
		return "", err
	}
	return e.instanceName(c, env)
}

// InstanceMembers describes one instance after a fresh look for the
// processes it started in the background (the cgroup's content, or the
// children of its processes without cgroups), so that the members
// property lists every one. It costs a read of the instance's cgroup.
func (e *Engine) InstanceMembers(jobName, iname string) (api.InstanceInfo, error) {
	i, err := e.instanceByName(jobName, iname)
	if err != nil {
		return api.InstanceInfo{}, err
	}
	e.refreshMembers(i)
	return i.info(), nil
}

// refreshMembers looks for members the records do not have yet, and
// forgets those that ended without our seeing it.
func (e *Engine) refreshMembers(i *instance) {
	if i.alive() {
		e.adopt(i)
		e.prune(i)
	}
}

// AllStatus describes every visible class and its instances, in the order
// of Jobs and Instances: what `initctl list` prints, in one call instead
// of two per job and one per instance. With members, each instance's
// members are looked for afresh (InstanceMembers); without, nothing is
// read but the records.
func (e *Engine) AllStatus(members bool) []api.JobStatus {
	var out []api.JobStatus
	for _, c := range e.sortedClasses() {
		if c.deleted && len(c.ilist) == 0 {
			continue
		}
		js := api.JobStatus{Name: c.name}
		for _, i := range c.sortedInstances() {
			if members {
				e.refreshMembers(i)
			}
			js.Instances = append(js.Instances, i.info())
		}
		out = append(out, js)
	}
	return out
}

// info answers from the engine's own records: the tracked process of each
// type (Upstart's processes property) and the members known so far. It
// reads no file, so `initctl status` and `list` cost no cgroup or /proc
// read per instance; InstanceMembers looks afresh for the members property.
func (i *instance) info() api.InstanceInfo {
	info := api.InstanceInfo{Job: i.class.name, Name: i.name, Goal: i.goal.String(), State: i.state.String()}
	// Processes is Upstart's list: the process we track for each type
	// (the one state changes follow). Members adds every other process
	// found in the instance (background children, a daemon's helpers).
	add := func(name string, leader int) {
		if leader != 0 {
			info.Processes = append(info.Processes, api.Process{Name: name, Pid: leader})
			info.Members = append(info.Members, api.Process{Name: name, Pid: leader})
		}
		for _, m := range i.members {
			if m.name == name && m.pid != leader {
				info.Members = append(info.Members, api.Process{Name: name, Pid: m.pid})
			}
		}
	}
	for t := conf.Main; t < conf.NumProcessTypes; t++ {
		add(t.String(), i.pids[t])
	}
	for _, a := range i.def.Actions {
		add(a.Name, i.actionPids[a.Name])
	}
	add(i.auxName(), i.auxPid)
	return info
}

// SetJobs replaces the set of job definitions (after a load or reload). A
// changed definition replaces a class only when it has no instances;
// otherwise the running instances keep the old one until the last ends.
func (e *Engine) SetJobs(defs map[string]*conf.Job) {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e.setJob(n, defs[n])
	}
	for _, c := range e.sortedClasses() {
		if _, ok := defs[c.name]; ok {
			continue
		}
		e.dropJob(c)
	}
	e.Poll()
}

// UpdateJobs applies the definitions of some jobs only (the files that
// changed): a nil definition removes the job, the jobs not named keep
// theirs. The rules are SetJobs's; the cost is that of the jobs named, not
// of all (the class index is updated for them only).
func (e *Engine) UpdateJobs(changed map[string]*conf.Job) {
	names := make([]string, 0, len(changed))
	for n := range changed {
		names = append(names, n)
	}
	sort.Strings(names)
	e.incremental = true
	for _, n := range names {
		if d := changed[n]; d != nil {
			e.setJob(n, d)
		} else if c := e.classes[n]; c != nil {
			e.dropJob(c)
		}
	}
	e.incremental = false
	e.Poll()
}

// setJob gives job n the definition d (SetJobs, UpdateJobs).
func (e *Engine) setJob(n string, d *conf.Job) {
	c, ok := e.classes[n]
	if !ok {
		c = &class{name: n}
		e.classes[n] = c
		e.indexAdd(c)
		e.install(c, d)
		e.notify(api.Signal{Kind: api.JobAdded, Job: n})
		return
	}
	wasDeleted := c.deleted
	c.deleted = false
	if c.def == d {
		return
	}
	if len(c.ilist) > 0 && reflect.DeepEqual(c.def, d) {
		// The same file read again (a reload, the one after a re-exec):
		// nothing to wait for, and no second copy of the definition for
		// the state document to carry.
		c.next = nil
		if wasDeleted {
			e.notify(api.Signal{Kind: api.JobAdded, Job: n})
		}
		return
	}
	if len(c.ilist) == 0 {
		changed := !reflect.DeepEqual(c.def, d)
		e.install(c, d)
		if changed {
			e.replaced(n)
		}
		return
	}
	c.next = d
	if wasDeleted {
		e.notify(api.Signal{Kind: api.JobAdded, Job: n})
	}
}

// replaced tells clients that job n's definition was replaced, as Upstart
// does when it swaps a job class: JobRemoved then JobAdded of the same
// path. Clients that cache a job's definition (the file bridge reads the
// conditions on JobAdded) would otherwise keep the old one: a job file
// read while its writer had only begun it is replaced by the whole file.
func (e *Engine) replaced(n string) {
	e.notify(api.Signal{Kind: api.JobRemoved, Job: n})
	e.notify(api.Signal{Kind: api.JobAdded, Job: n})
}

// dropJob removes a job whose file went: at once without instances, else
// when the last one ends.
func (e *Engine) dropJob(c *class) {
	c.deleted = true
	c.next = nil
	if len(c.ilist) == 0 {
		e.classIdle(c)
	}
}

// install makes d the class's definition, carrying over the events its old
// start condition had latched (a reload mid-boot must not lose them) and
// its kept knowledge, operand by operand (cond.Condition.Inherit).
func (e *Engine) install(c *class, d *conf.Job) {
	var held []*cond.Event
	old := c.start
	if old != nil {
		held = old.Held()
		defer e.release(held)
	}
	oldDef := c.def
	c.def = d
	c.start = nil
	e.indexChange(c, oldDef)
	if d.StartOn != nil {
		c.start = cond.New(d.StartOn)
		c.start.Inherit(old)
		for _, ev := range held {
			r := c.start.Handle(ev, nil)
			evOf(ev).blockers += r.Held
			e.release(r.Released)
		}
	}
}

// classIdle is called when a class has no instances left: a pending
// definition is installed, a deleted class goes.
func (e *Engine) classIdle(c *class) {
	if c.deleted {
		if c.start != nil {
			e.release(c.start.Reset())
		}
		delete(e.classes, c.name)
		e.indexRemove(c)
		e.notify(api.Signal{Kind: api.JobRemoved, Job: c.name})
		return
	}
	if c.next != nil {
		d := c.next
		c.next = nil
		e.install(c, d)
		e.replaced(c.name)
	}
}

// Env returns the global job environment.
func (e *Engine) Env() []string { return append([]string(nil), e.env...) }

// StopAll sets every instance's goal to stop (a session's shutdown) and
// returns the longest kill timeout among them.
func (e *Engine) StopAll() time.Duration {
	var longest time.Duration
	for _, c := range e.sortedClasses() {
		for _, i := range c.sortedInstances() {
			if i.def.KillTimeout > longest {
				longest = i.def.KillTimeout
			}
			e.answerWaiters(i)
			e.changeGoal(i, job.GoalStop)
		}
	}
	e.Poll()
	return longest
}

// KillEverything sends SIGKILL to every process of every instance: the
// end of a session's shutdown, for what did not stop in time (a pre-start
// still running, a process that ignores its kill signal). It returns the
// number of instances it hit.
func (e *Engine) KillEverything() int {
	n := 0
	for _, c := range e.sortedClasses() {
		for _, i := range c.sortedInstances() {
			n++
			e.killAll(i, syscall.SIGKILL)
			if e.opt.Placer != nil {
				e.opt.Placer.KillInstance(c.name, i.name)
			}
		}
	}
	return n
}

// InstanceCount is the number of instances that exist.
func (e *Engine) InstanceCount() int {
	n := 0
	for _, c := range e.classes {
		n += len(c.ilist)
	}
	return n
}

// Running names the instances that exist, for messages.
func (e *Engine) Running() []string {
	var out []string
	for _, c := range e.sortedClasses() {
		for _, i := range c.sortedInstances() {
			out = append(out, i.label())
		}
	}
	return out
}

// DisableRespawn stops every job from respawning from now on: a main
// process that ends is handled as in a job without `respawn` (Chromium
// OS's initctl disable-respawn, used as the shutdown begins). Loop only.
func (e *Engine) DisableRespawn() {
	if !e.respawnDisabled {
		e.logf(slog.LevelInfo, "Respawning disabled")
	}
	e.respawnDisabled = true
}

// RespawnDisabled tells whether DisableRespawn was called.
func (e *Engine) RespawnDisabled() bool { return e.respawnDisabled }

// Restarted tells subscribers that the daemon re-executed itself (the
// D-Bus Restarted signal). Loop only.
func (e *Engine) Restarted() { e.notify(api.Signal{Kind: api.Restarted}) }

// SetClock sets the engine's clock (the real one needs the engine).
func (e *Engine) SetClock(c Clock) { e.opt.Clock = c }
