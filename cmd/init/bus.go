package main

// The daemon's side of the D-Bus API beyond the private socket: the
// connection to a message bus (system bus for the system instance, session
// bus with --session, the address given by notify-dbus-address for a
// session instance), and the capabilities of the control server that need
// the daemon rather than the engine (NotifyDBusAddress, EndSession).

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/engine"
)

// sigEndSession is put into the signal channel by the D-Bus EndSession
// method, so that a logout is handled by the same goroutine, one at a time
// with SIGTERM. The kernel never delivers signal 0.
const sigEndSession = syscall.Signal(0)

// applyBusEnv applies the environment variables that choose the bus:
// UPSTART_USE_SESSION_BUS means --session (for a system-mode daemon; a
// session instance learns its bus from notify-dbus-address).
func applyBusEnv(o *options) {
	if !o.user && os.Getenv("UPSTART_USE_SESSION_BUS") != "" {
		o.session = true
	}
}

// controlServer creates the control server on the engine's backend plus
// the daemon's own capabilities, and the (not yet connected) bus link.
func (d *daemon) controlServer(b *engine.Backend, opts control.Options) *control.Server {
	db := &daemonBackend{Backend: b, d: d}
	srv := control.NewServer(db, opts)
	d.bus = &busLink{d: d, srv: srv}
	return srv
}

// daemonBackend is engine.Backend with the methods only the daemon can
// serve.
type daemonBackend struct {
	*engine.Backend
	d *daemon
}

var (
	_ control.DBusAddressNotifier = (*daemonBackend)(nil)
	_ control.SessionEnder        = (*daemonBackend)(nil)
)

// NotifyDBusAddress connects a session instance to the bus at address (the
// user's session bus). A daemon already on a bus ignores it, as Upstart
// does with a second notification.
func (b *daemonBackend) NotifyDBusAddress(address string) error {
	if b.d.pid1 {
		return api.Errorf(api.ErrPermissionDenied, "Not permissible to notify D-Bus address for PID 1")
	}
	if b.d.o.noDBus {
		return nil
	}
	return b.d.bus.notify(address)
}

// EndSession logs a session out: session-end TYPE=logout, then every job is
// stopped and the daemon exits. PID 1 ignores it.
func (b *daemonBackend) EndSession() error {
	if b.d.pid1 {
		return nil
	}
	signals <- sigEndSession
	return nil
}

// SetEnv also pushes global changes of a session instance into its bus's
// activation environment, so that bus-activated services see them (as the
// Ubuntu packaging of Upstart 1.13.2 does).
func (b *daemonBackend) SetEnv(jobDetails []string, vars []string, replace bool) error {
	if err := b.Backend.SetEnv(jobDetails, vars, replace); err != nil {
		return err
	}
	if len(jobDetails) == 0 && b.d.o.user {
		b.d.bus.updateActivationEnvironment(vars)
	}
	return nil
}

// busLink is the daemon's connection to a message bus, if any.
type busLink struct {
	d   *daemon
	srv *control.Server

	mu         sync.Mutex
	conn       *control.BusConn
	kind       string // "system" or "session", for messages
	connecting bool
	notified   string // the address notify-dbus-address gave, kept across a re-exec
}

// notifiedAddress is the bus address a session instance was given.
func (l *busLink) notifiedAddress() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notified
}

// start makes the first connection attempt: the system instance joins the
// system bus (the session bus with --session) if it is there already; a
// session instance waits for notify-dbus-address.
func (l *busLink) start() {
	o := l.d.o
	if o.noDBus || o.user {
		return
	}
	go l.connectDefault(false)
}

// reconnect is SIGUSR1: join the bus if not connected (the dbus job sends
// it once the bus is up).
func (l *busLink) reconnect() {
	if l == nil || l.d.o.noDBus || l.d.o.user {
		return
	}
	go l.connectDefault(true)
}

// connectDefault connects to the bus this mode uses by default.
func (l *busLink) connectDefault(again bool) {
	kind, address := "system", os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	if address == "" {
		address = "unix:path=/var/run/dbus/system_bus_socket"
	}
	if l.d.o.session {
		kind, address = "session", os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	}
	l.mu.Lock()
	if l.conn != nil || l.connecting {
		l.mu.Unlock()
		return
	}
	l.connecting = true
	l.mu.Unlock()
	if again {
		l.d.log.Info(fmt.Sprintf("Reconnecting to %s bus", kind))
	}
	err := l.connect(kind, address)
	if err != nil {
		msg := fmt.Sprintf("Unable to connect to the %s bus: %v", kind, err)
		if again {
			l.d.log.Warn(msg)
		} else {
			// Normal early in boot: SIGUSR1 says when to try again.
			l.d.log.Info(msg)
		}
	}
}

// notify connects to address unless a bus connection exists.
func (l *busLink) notify(address string) error {
	l.mu.Lock()
	if l.conn != nil || l.connecting {
		l.mu.Unlock()
		l.d.log.Debug("Ignoring D-Bus address: already connected to a bus")
		return nil
	}
	l.connecting = true
	l.notified = address
	l.mu.Unlock()
	return l.connect("session", address)
}

// connect dials address, takes com.ubuntu.Upstart and serves the API
// there; l.connecting must be set by the caller and is cleared here.
func (l *busLink) connect(kind, address string) error {
	var conn *control.BusConn
	var err error
	if address == "" {
		err = errors.New("no bus address")
	} else {
		conn, err = l.srv.ConnectBus(address)
	}
	l.mu.Lock()
	l.connecting = false
	if err != nil {
		l.mu.Unlock()
		return err
	}
	l.conn, l.kind = conn, kind
	l.mu.Unlock()
	l.d.log.Info(fmt.Sprintf("Connected to D-Bus %s bus", kind))
	go func() {
		<-conn.Done()
		l.mu.Lock()
		if l.conn == conn {
			l.conn = nil
		}
		l.mu.Unlock()
		l.d.log.Warn(fmt.Sprintf("Disconnected from %s bus", kind))
	}()
	return nil
}

// updateActivationEnvironment passes KEY=VALUE entries (KEY alone means
// empty) to the bus daemon; failures are only logged.
func (l *busLink) updateActivationEnvironment(vars []string) {
	l.mu.Lock()
	conn := l.conn
	l.mu.Unlock()
	if conn == nil || len(vars) == 0 {
		return
	}
	m := make(map[string]string, len(vars))
	for _, v := range vars {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	_, err := conn.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "UpdateActivationEnvironment", m)
	if err != nil {
		l.d.log.Warn(fmt.Sprintf("Unable to update the bus activation environment: %v", err))
	}
}

// emitSessionEnd emits session-end TYPE=reason (on the loop); false if it
// could not.
func (d *daemon) emitSessionEnd(reason string, reply func(error)) bool {
	if err := d.e.Emit("session-end", []string{"TYPE=" + reason}, nil, reply); err != nil {
		d.log.Error(err.Error())
		return false
	}
	return true
}

// sessionEnd emits session-end TYPE=reason. On logout the jobs it starts
// get up to 5 s to run before everything is stopped (Upstart's
// QUIESCE_DEFAULT_JOB_RUNTIME); on shutdown nothing waits (and quiesce
// emits it in the same step as the stop).
func (d *daemon) sessionEnd(reason string) {
	finished := make(chan struct{})
	var once sync.Once
	var reply func(error)
	if reason == "logout" {
		reply = func(error) { once.Do(func() { close(finished) }) }
	}
	d.call(func() {
		if !d.emitSessionEnd(reason, reply) {
			reply = nil
		}
	})
	if reply != nil {
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
		}
	}
}
