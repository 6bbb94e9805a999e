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
		case sig == syscall.SIGTERM, sig == sigReexec:
			d.reexec() // returns only when the exec failed
		case sig == syscall.SIGINT && d.pid1:
			d.emit("control-alt-delete")
		case sig == syscall.SIGWINCH && d.pid1:
			d.emit("keyboard-request")
		case sig == syscall.SIGPWR && d.pid1:
			d.emit("power-status-changed")
		case shutdownSignals[sig] != "" && d.pid1:
			d.endSystem(shutdownSignals[sig]) // returns only if reboot(2) failed
		case sig == syscall.SIGUSR1:
			d.bus.reconnect()
		case sig == sigEndSession && !d.pid1:
			d.quiesce("logout")
			return
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

func (d *daemon) shutdown() { d.quiesce("shutdown") }

// quiesce ends a session instance (reason shutdown or logout):
// session-end, then every job is stopped; it waits for the jobs up to the
// longest kill timeout (at least 5 s) and exits.
func (d *daemon) quiesce(reason string) {
	start := time.Now()
	var wait time.Duration
	if reason == "logout" {
		d.sessionEnd(reason) // waits for the event to be handled
		d.call(func() { wait = d.e.StopAll() })
	} else {
		// Nobody waits for session-end here: it is handled (Emit
		// polls) and every job stopped in one step of the loop, one
		// hand-over less before the first kill signal.
		d.call(func() {
			d.emitSessionEnd(reason, nil)
			release := d.sup.HoldReaping()
			defer release()
			wait = d.e.StopAll()
		})
	}
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
		// Nothing of the session may outlive it.
		d.e.KillEverything()
	})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		var n int
		d.call(func() { n = d.e.InstanceCount() })
		if n == 0 {
			break
		}
	}
	d.log.Info(fmt.Sprintf("Quiesce %s sequence took %d seconds", reason, int(time.Since(start).Seconds())))
	close(d.done)
	d.sup.Close()
	d.removeSessionFile()
	d.removeCgroups()
	os.Exit(0)
}
