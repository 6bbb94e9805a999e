package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// handleSignals runs until the daemon ends (a session instance's SIGTERM).
func (d *daemon) handleSignals() {
	for s := range signals {
		sig := s.(syscall.Signal)
		switch {
		case sig == syscall.SIGHUP:
			d.log.Info("Reloading configuration")
			d.e.Post(d.reload)
		case sig == syscall.SIGTERM && !d.pid1:
			d.shutdown()
			return
		case sig == syscall.SIGTERM:
			// Upstart re-executes itself here; stateful re-exec is its own
			// piece of work and not done yet, so PID 1 carries on.
			d.log.Warn("Ignoring SIGTERM: re-exec is not supported by this version")
		case sig == syscall.SIGINT && d.pid1:
			d.emit("control-alt-delete")
		case sig == syscall.SIGWINCH && d.pid1:
			d.emit("keyboard-request")
		case sig == syscall.SIGPWR && d.pid1:
			d.emit("power-status-changed")
		}
	}
}

func (d *daemon) emit(name string, env ...string) {
	d.e.Post(func() {
		if err := d.e.Emit(name, env, nil, nil); err != nil {
			d.log.Error(err.Error())
		}
	})
}

// shutdown ends a session instance: session-end, then every job is
// stopped; it waits for the jobs up to the longest kill timeout (at least
// 5 s) and returns.
func (d *daemon) shutdown() {
	start := time.Now()
	var wait time.Duration
	d.call(func() {
		if err := d.e.Emit("session-end", []string{"TYPE=shutdown"}, nil, nil); err != nil {
			d.log.Error(err.Error())
		}
		wait = d.e.StopAll()
	})
	if wait < 5*time.Second {
		wait = 5 * time.Second
	}
	deadline := time.Now().Add(wait + time.Second)
	for time.Now().Before(deadline) {
		var n int
		d.call(func() { n = d.e.InstanceCount() })
		if n == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.call(func() {
		for _, name := range d.e.Running() {
			d.log.Warn(fmt.Sprintf("job %s failed to stop", name))
		}
	})
	d.log.Info(fmt.Sprintf("Quiesce shutdown sequence took %d seconds", int(time.Since(start).Seconds())))
	close(d.done)
	d.sup.Close()
	d.removeSessionFile()
	os.Exit(0)
}
