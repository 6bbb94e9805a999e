package engine

import (
	"os"
	"sort"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/environ"
)

// RealClock is the wall clock; its timers run their function on the loop.
type RealClock struct{ Engine *Engine }

func (c RealClock) Now() time.Time { return time.Now() }

func (c RealClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &realTimer{}
	t.t = time.AfterFunc(d, func() {
		c.Engine.Post(func() {
			if !t.stopped {
				f()
			}
		})
	})
	return t
}

// realTimer is stopped on the loop; the flag covers a timer that fired and
// posted f just before Stop.
type realTimer struct {
	t       *time.Timer
	stopped bool
}

func (t *realTimer) Stop() { t.stopped = true; t.t.Stop() }

// Backend adapts the engine to api.Backend: every call is posted to the
// loop, and blocking calls wait for their reply off the loop.
type Backend struct {
	E *Engine
	// ReloadConfig re-reads every job file and calls SetJobs (on the loop).
	ReloadConfig func()
	// Hooks the daemon provides; nil means not supported here.
	LogPriorityFn    func() string
	SetLogPriorityFn func(string) error
}

var _ api.Backend = (*Backend)(nil)

// call runs f on the loop and waits for it.
func (b *Backend) call(f func()) {
	done := make(chan struct{})
	b.E.Post(func() { f(); close(done) })
	<-done
}

// DisableRespawn serves org.goupstart.Manager1.DisableRespawn.
func (b *Backend) DisableRespawn() error {
	b.call(b.E.DisableRespawn)
	return nil
}

func (b *Backend) Jobs() (out []api.JobInfo) {
	b.call(func() { out = b.E.Jobs() })
	return
}

func (b *Backend) Job(name string) (info api.JobInfo, err error) {
	b.call(func() { info, err = b.E.JobInfo(name) })
	return
}

func (b *Backend) Instances(job string) (out []api.InstanceInfo, err error) {
	b.call(func() { out, err = b.E.Instances(job) })
	return
}

func (b *Backend) InstanceName(job string, env []string) (name string, err error) {
	b.call(func() { name, err = b.E.InstanceNameFor(job, env) })
	return
}

func (b *Backend) Instance(job, inst string) (info api.InstanceInfo, err error) {
	b.call(func() { info, err = b.E.InstanceInfo(job, inst) })
	return
}

type result struct {
	inst string
	err  error
}

// await posts a command that may answer later. The command returns an
// immediate error, or registers reply; without wait it is answered at once.
func (b *Backend) await(wait bool, cmd func(reply func(string, error)) (string, error)) (string, error) {
	ch := make(chan result, 1)
	b.E.Post(func() {
		var reply func(string, error)
		if wait {
			reply = func(inst string, err error) { ch <- result{inst, err} }
		}
		inst, err := cmd(reply)
		if err != nil || !wait {
			ch <- result{inst, err}
		}
	})
	r := <-ch
	return r.inst, r.err
}

func adapt(reply func(string, error), inst string) func(error) {
	if reply == nil {
		return nil
	}
	return func(err error) { reply(inst, err) }
}

func (b *Backend) Start(job string, env []string, wait bool) (string, error) {
	return b.await(wait, func(reply func(string, error)) (string, error) {
		err := b.E.StartJob(job, env, reply)
		if err != nil {
			return "", err
		}
		name, _ := b.E.InstanceNameFor(job, env)
		return name, nil
	})
}

func (b *Backend) Stop(job string, env []string, wait bool) error {
	_, err := b.await(wait, func(reply func(string, error)) (string, error) {
		return "", b.E.StopJob(job, env, adapt(reply, ""))
	})
	return err
}

func (b *Backend) Restart(job string, env []string, wait bool) (string, error) {
	return b.await(wait, func(reply func(string, error)) (string, error) {
		name, _ := b.E.InstanceNameFor(job, env)
		return name, b.E.RestartJob(job, env, reply)
	})
}

func (b *Backend) StartInstance(job, inst string, wait bool) error {
	_, err := b.await(wait, func(reply func(string, error)) (string, error) {
		return inst, b.E.InstanceStart(job, inst, adapt(reply, inst))
	})
	return err
}

func (b *Backend) StopInstance(job, inst string, wait bool) error {
	_, err := b.await(wait, func(reply func(string, error)) (string, error) {
		return inst, b.E.InstanceStop(job, inst, adapt(reply, inst))
	})
	return err
}

func (b *Backend) RestartInstance(job, inst string, wait bool) error {
	_, err := b.await(wait, func(reply func(string, error)) (string, error) {
		return inst, b.E.InstanceRestart(job, inst, adapt(reply, inst))
	})
	return err
}

func (b *Backend) Reload(job, inst string) (err error) {
	b.call(func() { err = b.E.Reload(job, inst) })
	return
}

func (b *Backend) Emit(name string, env []string, wait bool, file *os.File) error {
	if b.E.opt.StripInitKeys {
		env = stripInitKeys(env)
	}
	_, err := b.await(wait, func(reply func(string, error)) (string, error) {
		var r func(error)
		if reply != nil {
			r = func(err error) { reply("", err) }
		}
		return "", b.E.Emit(name, env, file, r)
	})
	return err
}

func (b *Backend) ReloadConfiguration() error {
	if b.ReloadConfig == nil {
		return api.Errorf(api.ErrInvalidArgs, "configuration reload is not available")
	}
	b.call(b.ReloadConfig)
	return nil
}

// envTable returns a pointer to the environment table jobDetails names.
func (e *Engine) envTable(jobDetails []string) (*[]string, error) {
	switch len(jobDetails) {
	case 0:
		return &e.env, nil
	case 2:
		if jobDetails[0] == "" {
			return nil, api.Errorf(api.ErrInvalidArgs, "Job may not be empty string")
		}
		c, err := e.class(jobDetails[0])
		if err != nil {
			return nil, err
		}
		i, ok := c.lookup(jobDetails[1])
		if !ok {
			return nil, api.Errorf(api.ErrUnknownJobInstance, "Unknown instance: "+jobDetails[1]+" of job "+jobDetails[0])
		}
		return &i.env, nil
	}
	return nil, api.Errorf(api.ErrInvalidArgs, "Invalid job details")
}

// checkEnvChange refuses a change of the global table outside a session
// instance (Upstart refuses it on PID 1; a job's own table may change).
func (e *Engine) checkEnvChange(jobDetails []string) error {
	if len(jobDetails) == 0 && !e.opt.Session {
		return api.Errorf(api.ErrPermissionDenied, "Not permissible to modify PID 1 job environment")
	}
	return nil
}

func (b *Backend) GetEnv(jobDetails []string, name string) (val string, err error) {
	b.call(func() {
		if name == "" {
			err = api.Errorf(api.ErrInvalidArgs, "Variable may not be empty string")
			return
		}
		var t *[]string
		if t, err = b.E.envTable(jobDetails); err != nil {
			return
		}
		v, ok := environ.Lookup(*t, name)
		if !ok {
			err = api.Errorf(api.ErrInvalidArgs, "No such variable: "+name)
		}
		val = v
	})
	return
}

// changeEnv runs change on the environment table jobDetails names, where
// changing it is allowed (a session instance).
func (b *Backend) changeEnv(jobDetails []string, change func(t *[]string)) (err error) {
	b.call(func() {
		if err = b.E.checkEnvChange(jobDetails); err != nil {
			return
		}
		var t *[]string
		if t, err = b.E.envTable(jobDetails); err == nil {
			change(t)
		}
	})
	return
}

func (b *Backend) SetEnv(jobDetails []string, vars []string, replace bool) error {
	return b.changeEnv(jobDetails, func(t *[]string) {
		b := environ.NewBuilder(*t)
		for _, v := range vars {
			if !environ.Valid(v) {
				v += "="
			}
			if _, exists := b.Lookup(environ.Key(v)); exists && !replace {
				continue
			}
			b.Set(v)
		}
		*t = b.List()
	})
}

func (b *Backend) UnsetEnv(jobDetails []string, names []string) error {
	return b.changeEnv(jobDetails, func(t *[]string) {
		b := environ.NewBuilder(*t)
		for _, n := range names {
			b.Unset(n)
		}
		*t = b.List()
	})
}

func (b *Backend) ListEnv(jobDetails []string) (out []string, err error) {
	b.call(func() {
		var t *[]string
		if t, err = b.E.envTable(jobDetails); err != nil {
			return
		}
		out = append([]string{}, *t...)
		sort.Strings(out)
	})
	return
}

func (b *Backend) ResetEnv(jobDetails []string) error {
	return b.changeEnv(jobDetails, func(t *[]string) {
		if len(jobDetails) == 0 {
			*t = append([]string(nil), b.E.opt.Env...)
			return
		}
		i := b.E.classes[jobDetails[0]].get(jobDetails[1])
		*t = b.E.classEnv(i.def)
	})
}

func (b *Backend) LogPriority() string {
	if b.LogPriorityFn == nil {
		return "message"
	}
	return b.LogPriorityFn()
}

func (b *Backend) SetLogPriority(p string) error {
	if b.SetLogPriorityFn == nil {
		return api.Errorf(api.ErrInvalidArgs, "The log priority given was not recognised")
	}
	return b.SetLogPriorityFn(p)
}

// Subscribe registers fn on the loop; fn is called on the loop and must
// not block.
func (b *Backend) Subscribe(fn func(api.Signal)) (cancel func()) {
	var c func()
	b.call(func() { c = b.E.Subscribe(fn) })
	return func() { b.call(c) }
}

// RunAction runs a custom action of an instance (control.ActionRunner).
func (b *Backend) RunAction(job, instance, name string) (pid int, err error) {
	b.call(func() { pid, err = b.E.RunAction(job, instance, name) })
	return
}

// TrackingReporter is a Placer whose instances are not all tracked the
// same way (a daemon that started without cgroups and found a hierarchy
// later): it says how one instance is. It is called on the loop.
type TrackingReporter interface {
	TrackingOf(job, instance string) string
}

// TrackingOf says how an instance's processes are tracked: "cgroups" or
// "pids".
func (b *Backend) TrackingOf(job, instance string) (t string) {
	if r, ok := b.E.opt.Placer.(TrackingReporter); ok {
		b.call(func() { t = r.TrackingOf(job, instance) })
		return t
	}
	return b.Tracking()
}

// Tracking says how processes are tracked: "cgroups" or "pids".
func (b *Backend) Tracking() string {
	if b.E.opt.Placer != nil {
		return "cgroups"
	}
	return "pids"
}
