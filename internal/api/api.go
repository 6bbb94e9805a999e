// Package api is the vocabulary shared by the engine and the control server:
// what a client may ask of the daemon, what it gets back, and Upstart's
// error names. It holds no behaviour.
package api

import "os"

// Upstart's D-Bus error names.
const (
	ErrPermissionDenied   = "com.ubuntu.Upstart0_6.Error.PermissionDenied"
	ErrUnknownJob         = "com.ubuntu.Upstart0_6.Error.UnknownJob"
	ErrUnknownInstance    = "com.ubuntu.Upstart0_6.Error.UnknownInstance"
	ErrUnknownJobInstance = "com.ubuntu.Upstart0_6.Error.UnknownJobInstance"
	ErrAlreadyStarted     = "com.ubuntu.Upstart0_6.Error.AlreadyStarted"
	ErrAlreadyStopped     = "com.ubuntu.Upstart0_6.Error.AlreadyStopped"
	ErrJobFailed          = "com.ubuntu.Upstart0_6.Error.JobFailed"
	ErrEventFailed        = "com.ubuntu.Upstart0_6.Error.EventFailed"
	ErrNotRunning         = "com.ubuntu.Upstart0_6.Error.NotRunning"
	ErrInvalidArgs        = "org.freedesktop.DBus.Error.InvalidArgs"
)

// Error is an error with an Upstart D-Bus error name and its message.
type Error struct {
	Name string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds an *Error.
func Errorf(name, msg string) *Error { return &Error{Name: name, Msg: msg} }

// Version is what `initctl version` and the version property report.
const Version = "init (upstart 1.13.2)"

// JobInfo describes a job class.
type JobInfo struct {
	Name, Description, Author, Version, Usage string
	StartOn, StopOn                           [][]string // RPN: ["/AND"], ["/OR"] or [event, args...]
	Emits                                     []string
}

// Process is one live process of an instance.
type Process struct {
	Name string // main, pre-start, post-start, pre-stop, post-stop
	Pid  int
}

// InstanceInfo describes a job instance.
type InstanceInfo struct {
	Job, Name   string // Name is "" for a singleton
	Goal, State string
	Processes   []Process // the tracked process of each type, in Upstart's order
	Members     []Process // every live process of the instance, by type (ours)
}

// JobStatus is a job class with its instances (all of `initctl list` in
// one answer).
type JobStatus struct {
	Name      string
	Instances []InstanceInfo
}

// Signal is a change the control server broadcasts to its clients.
type Signal struct {
	Kind     SignalKind
	Job      string
	Instance string
	Value    string   // goal or state for GoalChanged/StateChanged; event name for EventEmitted
	Env      []string // EventEmitted
	Status   int      // Failed
}

type SignalKind int

const (
	JobAdded SignalKind = iota
	JobRemoved
	InstanceAdded
	InstanceRemoved
	GoalChanged
	StateChanged
	Failed
	EventEmitted
	Restarted
)

// Backend is what the control server needs from the daemon. Every method is
// safe to call from any goroutine (the engine marshals it into its loop) and
// may block until its answer is known (e.g. Start with wait). Errors are
// *Error where Upstart has a D-Bus error name for them.
type Backend interface {
	Jobs() []JobInfo
	Job(name string) (JobInfo, error)
	Instances(job string) ([]InstanceInfo, error)
	// InstanceName expands the job's instance template with env (for GetInstance).
	InstanceName(job string, env []string) (string, error)
	Instance(job, instance string) (InstanceInfo, error)

	Start(job string, env []string, wait bool) (instance string, err error)
	Stop(job string, env []string, wait bool) error
	Restart(job string, env []string, wait bool) (instance string, err error)
	StartInstance(job, instance string, wait bool) error
	StopInstance(job, instance string, wait bool) error
	RestartInstance(job, instance string, wait bool) error
	Reload(job, instance string) error

	// Emit queues an event. file (may be nil) is owned by the backend from
	// the call on: it goes to the jobs the event starts and is closed when
	// the event finishes (or at once if the call fails).
	Emit(name string, env []string, wait bool, file *os.File) error
	ReloadConfiguration() error

	// Environment tables: jobDetails is [] for the global table or
	// [job, instance] for an instance's own table.
	GetEnv(jobDetails []string, name string) (string, error)
	SetEnv(jobDetails []string, vars []string, replace bool) error
	UnsetEnv(jobDetails []string, names []string) error
	ListEnv(jobDetails []string) ([]string, error)
	ResetEnv(jobDetails []string) error

	LogPriority() string
	SetLogPriority(p string) error

	// Subscribe delivers every Signal to fn, in order, from one goroutine,
	// until cancel is called. fn must not block for long.
	Subscribe(fn func(Signal)) (cancel func())
}
