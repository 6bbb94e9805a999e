package conf

import (
	"fmt"
	"slices"
	"syscall"
	"time"
)

// Error is a problem in a job file, reported as PATH:LINE: MSG.
type Error struct {
	Path string
	Line int // 0: the file as a whole
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Defaults of a job without the corresponding stanzas.
const (
	DefaultRespawnLimit    = 10
	DefaultRespawnInterval = 5 * time.Second
	DefaultKillTimeout     = 5 * time.Second
	DefaultExpectTimeout   = 30 * time.Second
	DefaultKillSignal      = int(syscall.SIGTERM)
	DefaultReloadSignal    = int(syscall.SIGHUP)
)

// NewJob returns a job with Upstart's defaults and no stanzas applied.
func NewJob(name, path string) *Job {
	return &Job{
		Name:            name,
		Path:            path,
		RespawnLimit:    DefaultRespawnLimit,
		RespawnInterval: DefaultRespawnInterval,
		KillTimeout:     DefaultKillTimeout,
		ExpectTimeout:   DefaultExpectTimeout,
		KillSignal:      DefaultKillSignal,
		ReloadSignal:    DefaultReloadSignal,
		Console:         ConsoleDefault,
	}
}

// Clone returns a deep copy of j: nothing in the copy shares memory with j.
func (j *Job) Clone() *Job {
	c := *j
	c.StartOn = cloneNode(j.StartOn)
	c.StopOn = cloneNode(j.StopOn)
	c.ExpectOn = cloneNode(j.ExpectOn)
	c.ExpectWatch = slices.Clone(j.ExpectWatch)
	c.Emits = slices.Clone(j.Emits)
	for i, p := range j.Process {
		if p != nil {
			q := *p
			c.Process[i] = &q
		}
	}
	c.NormalExit = slices.Clone(j.NormalExit)
	c.Env = slices.Clone(j.Env)
	c.Export = slices.Clone(j.Export)
	if j.Umask != nil {
		v := *j.Umask
		c.Umask = &v
	}
	if j.Nice != nil {
		v := *j.Nice
		c.Nice = &v
	}
	if j.OOMScore != nil {
		v := *j.OOMScore
		c.OOMScore = &v
	}
	c.Limits = slices.Clone(j.Limits)
	c.Cgroups = slices.Clone(j.Cgroups)
	c.Import = slices.Clone(j.Import)
	c.Tmpfiles = slices.Clone(j.Tmpfiles)
	c.Actions = nil
	for _, a := range j.Actions {
		q := *a.Process
		c.Actions = append(c.Actions, Action{Name: a.Name, Process: &q})
	}
	return &c
}
