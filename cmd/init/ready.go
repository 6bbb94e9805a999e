package main

import (
	"fmt"
	"os"

	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/ready"
	"github.com/goupstart/upstart/internal/state"
)

// setupReadiness gives the engine the readiness watchers (notify sockets,
// notification pipes, pollers; internal/ready). Deliver is set once the
// engine exists.
func (d *daemon) setupReadiness(eopts *engine.Options) {
	d.ready = &ready.Manager{Log: d.log, BusAddress: d.readyBus}
	eopts.Readiness = d.ready
}

// readyBus is the bus `expect dbus` looks at: the system bus for the
// system instance, the session's bus for a session instance.
func (d *daemon) readyBus() string {
	if !d.o.user && !d.o.session {
		return ""
	}
	if d.bus != nil {
		if a := d.bus.notifiedAddress(); a != "" {
			return a
		}
	}
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a
	}
	return ""
}

// restoreReadiness takes over the notify sockets and notification pipes of
// the previous image and restarts the watchers of the restored instances.
func (d *daemon) restoreReadiness(doc *state.Document) {
	if doc == nil {
		return
	}
	if err := d.ready.Adopt(doc.Ready); err != nil {
		d.log.Error(fmt.Sprintf("Readiness watchers restored in part: %v", err))
	}
	d.call(d.e.ResumeReadiness)
}
