// Command upstart-event-bridge brings the system instance's events into a
// session instance: every event PID 1 finishes is emitted in the session
// as `:sys:NAME` with the same environment, and `:sys:restarted` when PID 1
// has re-executed. The copies do not block: the session's jobs cannot hold
// up the system's events.
//
// The session is the one UPSTART_SESSION names; the system instance is
// reached as initctl reaches it (the private socket as root, the system
// bus otherwise), or at --system-address.
package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/goupstart/upstart/internal/bridge"
	"github.com/goupstart/upstart/internal/control"
)

func main() {
	fs := flag.NewFlagSet("upstart-event-bridge", flag.ContinueOnError)
	sysAddr := fs.String("system-address", "", "D-Bus address of the system instance (default: its private socket as root, else the system bus)")
	f := bridge.ParseFlags(fs, "upstart-event-bridge", "Bridge between the system instance and a session instance: emits :sys:* events.", os.Args[1:])
	if f.Daemon {
		bridge.Daemonize(os.Args[1:])
	}
	log := f.Logger("event")
	em := bridge.NewEmitter(log)
	stop := bridge.StopOnSignal()
	go follow(bridge.Options{Address: *sysAddr}, em, log, stop)
	// The session side: only the connection to emit through.
	bridge.Run(bridge.Options{User: true}, session{em}, log, stop)
}

type session struct{ em *bridge.Emitter }

func (s session) Jobs(c *bridge.Conn, _ []bridge.Job) { s.em.SetConn(c) }

// follow stays connected to the system instance and forwards its events.
// A connection that ends and comes back means init re-executed (PID 1
// does not exit): that is a `:sys:restarted`, as is a Restarted signal
// seen on a bus.
func follow(o bridge.Options, em *bridge.Emitter, log *slog.Logger, stop <-chan struct{}) {
	lost := false
	bridge.Reconnect(stop, log, "system instance", func() (bool, error) {
		c, err := bridge.Dial(o)
		if err != nil {
			return false, err
		}
		defer c.Close()
		if err := c.Subscribe("EventEmitted", "Restarted"); err != nil {
			return false, err
		}
		if lost {
			em.Emit(":sys:restarted", nil)
		}
		lost = true
		return !forward(c, em, stop), nil
	})
}

// forward copies events until the connection ends (true) or stop (false).
func forward(c *bridge.Conn, em *bridge.Emitter, stop <-chan struct{}) bool {
	for {
		select {
		case <-stop:
			return false
		case <-c.Done():
			return true
		case s, ok := <-c.Signals():
			if !ok {
				return true
			}
			switch s.Name {
			case control.ManagerIface + ".EventEmitted":
				if len(s.Body) != 2 {
					continue
				}
				name, _ := s.Body[0].(string)
				env, _ := s.Body[1].([]string)
				if name != "" {
					em.Emit(":sys:"+name, env)
				}
			case control.ManagerIface + ".Restarted":
				// On the private socket the reconnection says it (the new
				// image may also greet a client that was quick).
				if c.OnBus() {
					em.Emit(":sys:restarted", nil)
				}
			}
		}
	}
}
