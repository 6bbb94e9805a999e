package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/logger"
	"github.com/goupstart/upstart/internal/supervise"
)

// logs is the daemon's job-output logger and event log (one daemon per
// process).
var logs struct {
	lg     *logger.Logger
	events *logger.EventLog
	// onEvent logs one event (loop only); replaced when the event log is
	// reopened after a failed re-exec.
	onEvent func(name string, env []string)
}

// logDir is where job logs go: --logdir; else UPSTART_LOGDIR or
// /var/log/upstart for the system instance; $XDG_CACHE_HOME/upstart
// (default ~/.cache/upstart) for a session instance, created if missing.
// The system directory is never created: it may be on a file system that
// is not mounted yet, and output waits in memory until it can be written.
func (d *daemon) logDir() string {
	if d.o.logdir != "" {
		return d.o.logdir
	}
	if d.o.user || d.o.session {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		dir := filepath.Join(cache, "upstart")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			d.log.Warn(fmt.Sprintf("unable to create log directory %s: %v", dir, err))
		}
		return dir
	}
	if v := os.Getenv("UPSTART_LOGDIR"); v != "" {
		return v
	}
	return "/var/log/upstart"
}

// setupLogging starts the logger and makes it the supervisor's `console
// log` (unless --no-log, which makes `console log` mean `console none`).
// The returned func stops it.
func (d *daemon) setupLogging(sopts *supervise.Options) (cleanup func()) {
	lg := logger.New(logger.Options{
		Dir:   d.logDir(),
		Logf:  func(f string, a ...any) { d.log.Debug(fmt.Sprintf(f, a...)) },
		Warnf: func(f string, a ...any) { d.log.Warn(fmt.Sprintf(f, a...)) },
	})
	logs.lg = lg
	if !d.o.noLog {
		sopts.LogOutput = func(r supervise.Request) (*os.File, error) {
			name := ""
			if r.Job != nil {
				name = r.Job.Name
			}
			open, what := lg.Open, "pty"
			if r.Job != nil && r.Job.LogPipe {
				open, what = lg.OpenPipe, "pipe"
			}
			f, err := open(name, r.Instance)
			if err != nil {
				// As Upstart: the process runs, without a log.
				d.log.Warn(fmt.Sprintf("Failed to create %s - disabling logging for job %s: %v", what, name, err))
				return nil, nil
			}
			return f, nil
		}
	}
	return func() {
		if logs.events != nil {
			logs.events.Close()
		}
		lg.Close()
	}
}

// setupEventLog makes --log-events append every event handled, its
// environment, and what handling it started or stopped, to events.log in
// the log directory.
func (d *daemon) setupEventLog(eopts *engine.Options) {
	if !d.o.logEvents || logs.lg == nil {
		return
	}
	d.openEventLog()
	prev := eopts.OnEvent
	eopts.OnEvent = func(name string, env []string) {
		if prev != nil {
			prev(name, env)
		}
		logs.onEvent(name, env)
	}
}

// openEventLog (re)opens the event log.
func (d *daemon) openEventLog() {
	logs.events = logs.lg.EventLog()
	logs.onEvent = logs.events.OnEvent(func(fn func(api.Signal)) { d.e.Subscribe(fn) })
}

var _ control.DiskWriteableNotifier = (*daemonBackend)(nil)

// NotifyDiskWriteable writes the job output buffered while the log
// directory was not writable. Output whose log still cannot be written
// stays buffered and is retried on its own; that is not the caller's error.
func (b *daemonBackend) NotifyDiskWriteable() error {
	if logs.lg == nil {
		return nil
	}
	if err := logs.lg.NotifyDiskWriteable(); err != nil {
		b.d.log.Info(fmt.Sprintf("job output still waiting: %v", err))
	}
	return nil
}
