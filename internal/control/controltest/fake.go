// Package controltest provides an in-memory api.Backend for tests of the
// control server and of its clients.
package controltest

import (
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/goupstart/upstart/internal/api"
)

// Fake is a programmable api.Backend. Jobs and instances live in memory;
// Start creates an instance in start/running, Stop removes it. The hooks,
// when set, replace the default behaviour.
type Fake struct {
	mu        sync.Mutex
	jobs      []api.JobInfo
	instances map[string][]api.InstanceInfo
	// InstanceVar names, per job, the variable whose value is the instance
	// name (a job without an entry is a singleton).
	InstanceVar map[string]string
	nextPid     int
	globalEnv   []string
	instEnv     map[string][]string
	logPriority string
	subs        map[int]func(api.Signal)
	nsub        int

	// Calls records every mutating call as "Method arg…".
	Calls       []string
	emittedFile string
	gate        chan struct{}
	startHook   func(job string, env []string, wait bool) (string, error)
	emitHook    func(name string, env []string, wait bool) error
}

// EmittedFile is the content of the file of the last EmitEventWithFile.
func (f *Fake) EmittedFile() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.emittedFile
}

// SetGate makes every waiting Start block until gate is closed (nil: don't).
func (f *Fake) SetGate(gate chan struct{}) {
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
}

// SetStartHook replaces Start's behaviour (nil: default).
func (f *Fake) SetStartHook(h func(job string, env []string, wait bool) (string, error)) {
	f.mu.Lock()
	f.startHook = h
	f.mu.Unlock()
}

// SetEmitHook replaces Emit's result (nil: success and EventEmitted).
func (f *Fake) SetEmitHook(h func(name string, env []string, wait bool) error) {
	f.mu.Lock()
	f.emitHook = h
	f.mu.Unlock()
}

// New returns an empty Fake.
func New() *Fake {
	return &Fake{
		instances:   map[string][]api.InstanceInfo{},
		InstanceVar: map[string]string{},
		instEnv:     map[string][]string{},
		nextPid:     1000,
		logPriority: "message",
		globalEnv:   []string{"PATH=/usr/bin:/bin", "TERM=linux"},
		subs:        map[int]func(api.Signal){},
	}
}

// AddJob registers a job class.
func (f *Fake) AddJob(j api.JobInfo) {
	f.mu.Lock()
	f.jobs = append(f.jobs, j)
	f.mu.Unlock()
	f.Send(api.Signal{Kind: api.JobAdded, Job: j.Name})
}

// SetInstance adds or replaces an instance.
func (f *Fake) SetInstance(in api.InstanceInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.instances[in.Job]
	for i := range list {
		if list[i].Name == in.Name {
			list[i] = in
			return
		}
	}
	f.instances[in.Job] = append(list, in)
}

// Send delivers a signal to the subscribers.
func (f *Fake) Send(s api.Signal) {
	f.mu.Lock()
	subs := make([]func(api.Signal), 0, len(f.subs))
	keys := make([]int, 0, len(f.subs))
	for k := range f.subs {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		subs = append(subs, f.subs[k])
	}
	f.mu.Unlock()
	for _, fn := range subs {
		fn(s)
	}
}

func (f *Fake) record(s string) {
	f.mu.Lock()
	f.Calls = append(f.Calls, s)
	f.mu.Unlock()
}

// CallLog returns a copy of Calls.
func (f *Fake) CallLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

func (f *Fake) Jobs() []api.JobInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.JobInfo(nil), f.jobs...)
}

func (f *Fake) job(name string) (api.JobInfo, error) {
	for _, j := range f.jobs {
		if j.Name == name {
			return j, nil
		}
	}
	return api.JobInfo{}, api.Errorf(api.ErrUnknownJob, "Unknown job: "+name)
}

func (f *Fake) Job(name string) (api.JobInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.job(name)
}

func (f *Fake) Instances(job string) ([]api.InstanceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.job(job); err != nil {
		return nil, err
	}
	return append([]api.InstanceInfo(nil), f.instances[job]...), nil
}

func lookup(env []string, name string) (string, bool) {
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); k == name {
			return v, true
		}
	}
	return "", false
}

func (f *Fake) instanceName(job string, env []string) (string, error) {
	j, err := f.job(job)
	if err != nil {
		return "", err
	}
	v := f.InstanceVar[job]
	if v == "" {
		return "", nil
	}
	val, ok := lookup(env, v)
	if !ok {
		msg := "Unknown parameter: " + v
		if j.Usage != "" {
			msg += "\nUsage: " + j.Usage
		}
		return "", api.Errorf(api.ErrInvalidArgs, msg)
	}
	return val, nil
}

func (f *Fake) InstanceName(job string, env []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.instanceName(job, env)
}

func (f *Fake) instance(job, name string) (*api.InstanceInfo, error) {
	if _, err := f.job(job); err != nil {
		return nil, err
	}
	for i := range f.instances[job] {
		if f.instances[job][i].Name == name {
			return &f.instances[job][i], nil
		}
	}
	return nil, api.Errorf(api.ErrUnknownInstance, "Unknown instance: "+name)
}

func (f *Fake) Instance(job, name string) (api.InstanceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.instance(job, name)
	if err != nil {
		return api.InstanceInfo{}, err
	}
	return *in, nil
}

func (f *Fake) Start(job string, env []string, wait bool) (string, error) {
	f.record("Start " + job + " " + strings.Join(env, " ") + boolStr(wait))
	f.mu.Lock()
	hook, gate := f.startHook, f.gate
	f.mu.Unlock()
	if hook != nil {
		return hook(job, env, wait)
	}
	if wait && gate != nil {
		<-gate
	}
	f.mu.Lock()
	name, err := f.instanceName(job, env)
	if err != nil {
		f.mu.Unlock()
		return "", err
	}
	if in, err := f.instance(job, name); err == nil && in.Goal == "start" {
		f.mu.Unlock()
		return "", api.Errorf(api.ErrAlreadyStarted, "Job is already running: "+job)
	}
	f.nextPid++
	in := api.InstanceInfo{Job: job, Name: name, Goal: "start", State: "running",
		Processes: []api.Process{{Name: "main", Pid: f.nextPid}}}
	f.mu.Unlock()
	f.SetInstance(in)
	f.Send(api.Signal{Kind: api.InstanceAdded, Job: job, Instance: name})
	f.Send(api.Signal{Kind: api.GoalChanged, Job: job, Instance: name, Value: "start"})
	f.Send(api.Signal{Kind: api.StateChanged, Job: job, Instance: name, Value: "running"})
	return name, nil
}

func boolStr(wait bool) string {
	if wait {
		return " wait"
	}
	return " nowait"
}

func (f *Fake) removeInstance(job, name string) {
	list := f.instances[job]
	for i := range list {
		if list[i].Name == name {
			f.instances[job] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

func (f *Fake) Stop(job string, env []string, wait bool) error {
	f.record("Stop " + job + " " + strings.Join(env, " ") + boolStr(wait))
	f.mu.Lock()
	name, err := f.instanceName(job, env)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	in, err := f.instance(job, name)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if in.Goal == "stop" {
		f.mu.Unlock()
		return api.Errorf(api.ErrAlreadyStopped, "Job has already been stopped: "+job)
	}
	f.removeInstance(job, name)
	f.mu.Unlock()
	f.Send(api.Signal{Kind: api.InstanceRemoved, Job: job, Instance: name})
	return nil
}

func (f *Fake) Restart(job string, env []string, wait bool) (string, error) {
	f.record("Restart " + job + " " + strings.Join(env, " ") + boolStr(wait))
	f.mu.Lock()
	defer f.mu.Unlock()
	name, err := f.instanceName(job, env)
	if err != nil {
		return "", err
	}
	in, err := f.instance(job, name)
	if err != nil {
		return "", err
	}
	f.nextPid++
	in.Goal, in.State = "start", "running"
	in.Processes = []api.Process{{Name: "main", Pid: f.nextPid}}
	return name, nil
}

func (f *Fake) StartInstance(job, instance string, wait bool) error {
	f.record("StartInstance " + job + " " + instance + boolStr(wait))
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.instance(job, instance)
	if err != nil {
		return err
	}
	if in.Goal == "start" {
		return api.Errorf(api.ErrAlreadyStarted, "Job is already running: "+job)
	}
	in.Goal = "start"
	return nil
}

func (f *Fake) StopInstance(job, instance string, wait bool) error {
	f.record("StopInstance " + job + " " + instance + boolStr(wait))
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.instance(job, instance)
	if err != nil {
		return err
	}
	if in.Goal == "stop" {
		return api.Errorf(api.ErrAlreadyStopped, "Job has already been stopped: "+job)
	}
	in.Goal = "stop"
	return nil
}

func (f *Fake) RestartInstance(job, instance string, wait bool) error {
	f.record("RestartInstance " + job + " " + instance + boolStr(wait))
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.instance(job, instance)
	return err
}

func (f *Fake) Reload(job, instance string) error {
	f.record("Reload " + job + " " + instance)
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.instance(job, instance)
	if err != nil {
		return err
	}
	for _, p := range in.Processes {
		if p.Name == "main" {
			return nil
		}
	}
	return api.Errorf(api.ErrNotRunning, "Job is not running: "+job)
}

func (f *Fake) Emit(name string, env []string, wait bool, file *os.File) error {
	f.record("Emit " + name + " " + strings.Join(env, " ") + boolStr(wait))
	if file != nil {
		b, _ := io.ReadAll(file)
		file.Close()
		f.mu.Lock()
		f.emittedFile = string(b)
		f.mu.Unlock()
	}
	f.mu.Lock()
	hook := f.emitHook
	f.mu.Unlock()
	if hook != nil {
		return hook(name, env, wait)
	}
	f.Send(api.Signal{Kind: api.EventEmitted, Value: name, Env: env})
	return nil
}

func (f *Fake) ReloadConfiguration() error {
	f.record("ReloadConfiguration")
	return nil
}

func (f *Fake) table(d []string) (*[]string, error) {
	if len(d) == 0 {
		return &f.globalEnv, nil
	}
	inst := ""
	if len(d) > 1 {
		inst = d[1]
	}
	if _, err := f.instance(d[0], inst); err != nil {
		if ae, ok := err.(*api.Error); ok && ae.Name == api.ErrUnknownInstance {
			return nil, api.Errorf(api.ErrUnknownJobInstance, "Unknown instance: "+inst+" of job "+d[0])
		}
		return nil, err
	}
	t := f.instEnv[d[0]+"\x00"+inst]
	return &t, nil
}

func (f *Fake) GetEnv(d []string, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(d)
	if err != nil {
		return "", err
	}
	if v, ok := lookup(*t, name); ok {
		return v, nil
	}
	return "", api.Errorf("com.ubuntu.Upstart0_6.Error.UnknownEnvironmentVariable", "No such variable: "+name)
}

func (f *Fake) SetEnv(d []string, vars []string, replace bool) error {
	f.record("SetEnv " + strings.Join(d, ",") + " " + strings.Join(vars, " ") + " " + map[bool]string{true: "replace", false: "retain"}[replace])
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(d) != 0 {
		_, err := f.table(d)
		return err
	}
	for _, v := range vars {
		if !strings.Contains(v, "=") {
			v += "="
		}
		k, _, _ := strings.Cut(v, "=")
		found := false
		for i, e := range f.globalEnv {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				found = true
				if replace {
					f.globalEnv[i] = v
				}
			}
		}
		if !found {
			f.globalEnv = append(f.globalEnv, v)
		}
	}
	return nil
}

func (f *Fake) UnsetEnv(d []string, names []string) error {
	f.record("UnsetEnv " + strings.Join(d, ",") + " " + strings.Join(names, " "))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(d) != 0 {
		_, err := f.table(d)
		return err
	}
	for _, n := range names {
		out := f.globalEnv[:0]
		for _, e := range f.globalEnv {
			if k, _, _ := strings.Cut(e, "="); k != n {
				out = append(out, e)
			}
		}
		f.globalEnv = out
	}
	return nil
}

func (f *Fake) ListEnv(d []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(d)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), *t...), nil
}

func (f *Fake) ResetEnv(d []string) error {
	f.record("ResetEnv " + strings.Join(d, ","))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(d) == 0 {
		f.globalEnv = []string{"PATH=/usr/bin:/bin", "TERM=linux"}
	}
	return nil
}

func (f *Fake) LogPriority() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logPriority
}

func (f *Fake) SetLogPriority(p string) error {
	f.record("SetLogPriority " + p)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logPriority = p
	return nil
}

func (f *Fake) Subscribe(fn func(api.Signal)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nsub++
	id := f.nsub
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
}
