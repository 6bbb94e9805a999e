// Package bridge is what the bridges (upstart-file-bridge,
// upstart-socket-bridge, ...) share: a D-Bus connection to init like any
// other client's, the job conditions they learn from it, and a loop that
// keeps them connected across a re-exec of init. A bridge knows nothing of
// the engine; it only reads job properties and emits events.
package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
)

// Options choose the instance of init to talk to.
type Options struct {
	// User: the session instance named by UPSTART_SESSION.
	User bool
	// Address overrides the address (tests); empty: by User and euid.
	Address string
}

// Conn is a bridge's connection to init.
type Conn struct {
	conn *dbus.Conn
	dest string // "" on a private peer connection
	sigs chan *dbus.Signal
}

// Dial connects as initctl does: the session's private socket with User,
// else the system instance's private socket as root, else the system bus.
func Dial(o Options) (*Conn, error) {
	addr := o.Address
	if addr == "" && o.User {
		if addr = os.Getenv("UPSTART_SESSION"); addr == "" {
			return nil, errors.New("UPSTART_SESSION isn't set in the environment")
		}
	}
	if addr == "" && os.Geteuid() == 0 {
		addr = control.SystemAddress
	}
	c := &Conn{sigs: make(chan *dbus.Signal, 256)}
	var err error
	if addr != "" {
		c.conn, err = dbus.Dial(addr)
		if err == nil {
			err = c.conn.Auth(nil)
		}
	} else {
		c.conn, err = dbus.SystemBusPrivate()
		if err == nil {
			if err = c.conn.Auth(nil); err == nil {
				err = c.conn.Hello()
			}
		}
		c.dest = control.BusName
	}
	if err != nil {
		if c.conn != nil {
			c.conn.Close()
		}
		return nil, fmt.Errorf("unable to connect to Upstart: %w", err)
	}
	c.conn.Signal(c.sigs)
	if err := c.Subscribe("JobAdded", "JobRemoved"); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// Subscribe asks for init's manager signals of these names. On a bus they
// come only to those who ask; on a private connection init sends every
// signal until the client adds a match rule, and then only what the rules
// match (decoding every signal of a boot cost a bridge more than a second
// of CPU under emulation).
func (c *Conn) Subscribe(members ...string) error {
	for _, m := range members {
		if err := c.conn.AddMatchSignal(dbus.WithMatchInterface(control.ManagerIface), dbus.WithMatchMember(m)); err != nil {
			return err
		}
	}
	return nil
}

// Signals delivers the signals the connection receives; it is closed
// when the connection ends. Run reads it itself: use it only on a
// connection that is not given to Run.
func (c *Conn) Signals() <-chan *dbus.Signal { return c.sigs }

// OnBus reports whether the connection goes through a bus (rather than to
// init's private socket, which a re-exec of init closes).
func (c *Conn) OnBus() bool { return c.dest != "" }

// Close ends the connection.
func (c *Conn) Close() { c.conn.Close() }

// Done is closed when the connection ends (init exited or re-executed).
func (c *Conn) Done() <-chan struct{} { return c.conn.Context().Done() }

func (c *Conn) call(path dbus.ObjectPath, iface, method string, args ...any) *dbus.Call {
	msg := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath: dbus.MakeVariant(path), dbus.FieldInterface: dbus.MakeVariant(iface),
		dbus.FieldMember: dbus.MakeVariant(method)}}
	if c.dest != "" {
		msg.Headers[dbus.FieldDestination] = dbus.MakeVariant(c.dest)
	}
	if len(args) > 0 {
		msg.Body = args
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	return <-c.conn.Send(msg, make(chan *dbus.Call, 1)).Done
}

// Job is what a bridge learns of a job: its name and its conditions, in
// the reverse Polish form of the start_on/stop_on properties (operands as
// [event, arg...], operators as ["/AND"] and ["/OR"]).
type Job struct {
	Path    dbus.ObjectPath
	Name    string
	StartOn [][]string
	StopOn  [][]string
}

// Operands returns every operand of the job's conditions that waits for
// the event named event, each as its arguments (without the name).
func (j Job) Operands(event string) [][]string {
	var out [][]string
	for _, rpn := range [][][]string{j.StartOn, j.StopOn} {
		for _, op := range rpn {
			if len(op) > 0 && op[0] == event {
				out = append(out, op[1:])
			}
		}
	}
	return out
}

// Jobs returns every job init knows.
func (c *Conn) Jobs() ([]Job, error) {
	call := c.call(control.ManagerPath, control.ManagerIface, "GetAllJobs")
	if call.Err != nil {
		return nil, call.Err
	}
	var paths []dbus.ObjectPath
	if err := call.Store(&paths); err != nil {
		return nil, err
	}
	jobs := make([]Job, 0, len(paths))
	for _, p := range paths {
		j, err := c.Job(p)
		if err != nil {
			continue // removed meanwhile
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// Job reads one job's name and conditions.
func (c *Conn) Job(p dbus.ObjectPath) (Job, error) {
	call := c.call(p, "org.freedesktop.DBus.Properties", "GetAll", control.JobIface)
	if call.Err != nil {
		return Job{}, call.Err
	}
	var props map[string]dbus.Variant
	if err := call.Store(&props); err != nil {
		return Job{}, err
	}
	j := Job{Path: p}
	props["name"].Store(&j.Name)
	props["start_on"].Store(&j.StartOn)
	props["stop_on"].Store(&j.StopOn)
	return j, nil
}

// Emit emits an event; wait as initctl emit's (without --no-wait).
func (c *Conn) Emit(name string, env []string, wait bool) error {
	if env == nil {
		env = []string{}
	}
	return c.call(control.ManagerPath, control.ManagerIface, "EmitEvent", name, env, wait).Err
}

// EmitWithFile emits an event that carries fd (the socket bridge's
// listening socket): the jobs it starts get it as UPSTART_FDS.
func (c *Conn) EmitWithFile(name string, env []string, wait bool, fd int) error {
	if env == nil {
		env = []string{}
	}
	return c.call(control.ManagerPath, control.ManagerIface, "EmitEventWithFile", name, env, wait, dbus.UnixFD(fd)).Err
}

// A Watcher is a bridge's logic: it is told the whole set of jobs on every
// (re)connection and on every change, and emits through the connection.
type Watcher interface {
	Jobs(c *Conn, jobs []Job)
}

// Run keeps w connected to init until stop is closed: it connects, hands w
// the jobs, and hands them again after each JobAdded or JobRemoved. When
// init goes away (a re-exec closes every connection) it connects again.
func Run(o Options, w Watcher, log *slog.Logger, stop <-chan struct{}) {
	Reconnect(stop, log, "init", func() (bool, error) {
		c, err := Dial(o)
		if err != nil {
			return false, err
		}
		defer c.Close()
		log.Debug("connected to init")
		return serve(c, w, log, stop), nil
	})
}

// Reconnect runs session until stop is closed. session connects and
// serves: it returns an error when it could not connect (tried again after
// a back-off of 50 ms, doubling to 2 s), and done when stop was closed
// while it served. A session that ended because its peer went away is
// started again at once.
func Reconnect(stop <-chan struct{}, log *slog.Logger, what string, session func() (done bool, err error)) {
	backoff := 50 * time.Millisecond
	for {
		done, err := session()
		if done {
			return
		}
		if err == nil {
			backoff = 50 * time.Millisecond
			log.Debug(what + ": disconnected; reconnecting")
			continue
		}
		log.Debug(what, "err", err)
		select {
		case <-stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// serve runs one connection; it reports whether stop was closed.
func serve(c *Conn, w Watcher, log *slog.Logger, stop <-chan struct{}) bool {
	refresh := func() bool {
		jobs, err := c.Jobs()
		if err != nil {
			log.Debug("reading jobs", "err", err)
			return false
		}
		w.Jobs(c, jobs)
		return true
	}
	if !refresh() {
		return false
	}
	for {
		select {
		case <-stop:
			return true
		case <-c.Done():
			return false
		case s, ok := <-c.sigs:
			if !ok {
				return false
			}
			if s.Name == control.ManagerIface+".JobAdded" || s.Name == control.ManagerIface+".JobRemoved" {
				// Coalesce a burst (a reload) into one refresh.
				drain(c.sigs)
				if !refresh() {
					return false
				}
			}
		}
	}
}

func drain(ch chan *dbus.Signal) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// Env returns the value of key among an operand's arguments, also when it
// is given by position (the n-th argument without '=' stands for the n-th
// of names, as init matches positional arguments against an event's
// environment in order).
func Env(args []string, names []string, key string) (string, bool) {
	pos := 0
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if k == key {
				return v, true
			}
			continue
		}
		if pos < len(names) && names[pos] == key {
			return a, true
		}
		pos++
	}
	return "", false
}
