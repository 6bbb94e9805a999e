// Package control serves Upstart's D-Bus API (com.ubuntu.Upstart0_6) on the
// daemon's private socket (peer-to-peer connections, no bus daemon) and on
// a message bus, on top of an api.Backend.
package control

import (
	"bufio"

	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"golang.org/x/sys/unix"
)

// Options configure a Server.
type Options struct {
	// AllowUID decides who may use the private socket. nil allows only
	// the daemon's own effective uid (root for the system instance, the
	// user for a session instance), as libdbus does for Upstart. Others
	// complete the authentication (so that their client can show why),
	// may send a few KiB, get com.ubuntu.Upstart0_6.Error.PermissionDenied
	// for their first call and are disconnected (see serveRefused).
	AllowUID func(uid uint32) bool

	// Privileged decides whether a caller may use the permission-checked
	// methods (ReloadConfiguration, EmitEvent*, setting log_priority, the
	// Notify* methods, GetState, Restart, the environment methods,
	// EndSession). nil means Upstart's rule: the caller's uid is the
	// daemon's effective uid, or Session is set, or the daemon is neither
	// root nor PID 1 (test mode).
	Privileged func(uid uint32) bool

	// Session marks a Session Init (`init --user`).
	Session bool

	// Logf receives diagnostics (refused clients, dropped connections). nil: log.Printf.
	Logf func(format string, args ...any)
}

// Optional capabilities. The Backend passed to NewServer may implement any
// of these; methods whose capability is missing answer with the D-Bus error
// org.freedesktop.DBus.Error.NotSupported (never a fake success), except
// NotifyDiskWriteable, which succeeds as a no-op without one.
type (
	// StateGetter serves GetState: the serialised state (JSON).
	StateGetter interface{ GetState() (string, error) }
	// ReExecer serves Restart: a stateful re-exec. It should return once
	// the re-exec is under way; the caller's connection will drop.
	ReExecer interface{ ReExec() error }
	// ActionRunner serves our extension interface: custom actions, and
	// which process tracking the daemon uses ("cgroups" or "pids").
	ActionRunner interface {
		RunAction(job, instance, name string) (pid int, err error)
		Tracking() string
	}
	// ReadinessReporter serves the awaiting and status properties of our
	// extension interface: what an instance waits for to be ready (""
	// when it does not wait) and the last STATUS= it sent.
	ReadinessReporter interface {
		ReadyInfo(job, instance string) (awaiting, status string, err error)
	}
	// SessionEnder serves EndSession (Session Init logout). It is called
	// after the caller has had its reply (the session may end the process
	// before it returns); an error it returns is only logged.
	SessionEnder interface{ EndSession() error }
	// DBusAddressNotifier serves NotifyDBusAddress (Session Init).
	DBusAddressNotifier interface{ NotifyDBusAddress(address string) error }
	// DiskWriteableNotifier serves NotifyDiskWriteable (flush early job logs).
	DiskWriteableNotifier interface{ NotifyDiskWriteable() error }
	// RespawnDisabler serves org.goupstart.Manager1.DisableRespawn: no
	// job respawns from then on.
	RespawnDisabler interface{ DisableRespawn() error }
	// SystemShutdowner serves org.goupstart.Manager1.Shutdown: PID 1
	// stops every job, kills what is left, syncs and halts ("halt"),
	// powers off ("poweroff") or reboots ("reboot"). It returns once the
	// shutdown is under way.
	SystemShutdowner interface{ SystemShutdown(how string) error }
	// StatusLister serves org.goupstart.Manager1.GetAllStatus: every job
	// with its instances' status, in one answer (initctl list).
	StatusLister interface {
		AllStatus(members bool) []api.JobStatus
	}
	// MembersReporter serves the members property of our extension
	// interface: the instance after a fresh look for its background
	// processes (the other properties answer from the daemon's records).
	MembersReporter interface {
		InstanceMembers(job, instance string) (api.InstanceInfo, error)
	}
	// CGroupManagerNotifier serves NotifyCGroupManagerAddress.
	CGroupManagerNotifier interface{ NotifyCGroupManagerAddress(address string) error }
)

// Error names used besides api's.
const (
	ErrNotSupported  = "org.freedesktop.DBus.Error.NotSupported"
	ErrFailed        = "org.freedesktop.DBus.Error.Failed"
	ErrUnknownMethod = "org.freedesktop.DBus.Error.UnknownMethod"
)

// Server serves the API to any number of connections.
type Server struct {
	b    api.Backend
	opts Options
	guid string
	pid1 bool // refuse environment changes as Upstart's PID 1 does

	helloSerial atomic.Uint64

	machineOnce sync.Once
	machineID   string

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	pending   map[*net.UnixConn]struct{} // still authenticating
	clients   map[*client]struct{}
	cancel    func()
	wg        sync.WaitGroup

	// Admission (conns.go): connections open, of uids that may not use
	// the daemon (in all and per uid), and input buffered per uid.
	conns, unauth, refusedConns int
	refusedByUID                map[uint32]int
	bufferedByUID               map[uint32]int
	refusals                    rateLog
}

// NewServer creates a server and subscribes to the Backend's signals.
func NewServer(b api.Backend, opts Options) *Server {
	s := &Server{
		b:         b,
		opts:      opts,
		guid:      newGUID(),
		pid1:      os.Getpid() == 1,
		listeners: map[net.Listener]struct{}{},
		pending:   map[*net.UnixConn]struct{}{},
		clients:   map[*client]struct{}{},

		refusedByUID:  map[uint32]int{},
		bufferedByUID: map[uint32]int{},
	}
	if s.opts.AllowUID == nil {
		euid := uint32(os.Geteuid())
		s.opts.AllowUID = func(uid uint32) bool { return uid == euid }
	}
	if s.opts.Privileged == nil {
		euid := uint32(os.Geteuid())
		lax := opts.Session || (euid != 0 && os.Getpid() != 1)
		s.opts.Privileged = func(uid uint32) bool { return lax || uid == euid }
	}
	if s.opts.Logf == nil {
		s.opts.Logf = log.Printf
	}
	s.cancel = b.Subscribe(s.broadcast)
	return s
}

// Serve is NewServer followed by Server.Serve, for a single listener.
func Serve(l net.Listener, b api.Backend, opts Options) error {
	return NewServer(b, opts).Serve(l)
}

// Listen opens a listening socket for a D-Bus server address of the form
// unix:abstract=NAME or unix:path=PATH (other keys such as guid= are
// ignored). A stale socket file at PATH (nobody listening) is replaced.
func Listen(address string) (net.Listener, error) {
	kind, value, err := parseUnixAddress(address)
	if err != nil {
		return nil, err
	}
	name := value
	if kind == "abstract" {
		name = "@" + value
	} else if fi, err := os.Lstat(value); err == nil && fi.Mode()&os.ModeSocket != 0 {
		// DialUnix, not Dial: Dial links the resolver (60 KiB of code).
		if c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: value, Net: "unix"}); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: address already in use", address)
		}
		os.Remove(value)
	}
	return net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
}

// parseUnixAddress extracts the abstract name or path of the first unix
// entry of a D-Bus address.
func parseUnixAddress(address string) (kind, value string, err error) {
	for _, entry := range strings.Split(address, ";") {
		rest, ok := strings.CutPrefix(entry, "unix:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if k != "abstract" && k != "path" {
				continue
			}
			v, err := url.PathUnescape(v)
			if err != nil || v == "" {
				return "", "", fmt.Errorf("invalid D-Bus address %q", address)
			}
			return k, v, nil
		}
	}
	return "", "", fmt.Errorf("unsupported D-Bus address %q (want unix:abstract=NAME or unix:path=PATH)", address)
}

// Serve accepts connections on l until l fails or the server is closed.
// It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of fds: back off rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		adm, ok := s.admit(uc)
		if !ok {
			uc.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(uc, adm)
		}()
	}
}

// Close stops all listeners, drops every connection and unsubscribes.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for uc := range s.pending {
		uc.Close()
	}
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range clients {
		c.t.close()
	}
	return nil
}

func (s *Server) serveConn(uc *net.UnixConn, adm admission) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		uc.Close()
		s.authenticated(adm)
		s.release(adm)
		return
	}
	s.pending[uc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, uc)
		s.mu.Unlock()
	}()
	// Only a peer that may use the daemon gets its unix fds received, and
	// those sent before it authenticated are closed.
	fs := newFDStream(uc, adm.allowed)
	br := bufio.NewReader(fs)
	uc.SetDeadline(time.Now().Add(handshakeTimeout))
	uid, _, err := handshake(uc, br, s.guid, nil, nil, fs.closeFDs)
	s.authenticated(adm)
	if err != nil || !adm.allowed {
		if err == nil {
			// The deadline stays: a refused client may not hold a connection.
			s.serveRefused(uc, br, uid)
		}
		uc.Close()
		fs.closeFDs()
		s.release(adm)
		return
	}
	uc.SetDeadline(time.Time{})
	c := &client{srv: s, uid: uid}
	c.release = func() { s.release(adm) }
	buffered, _ := br.Peek(br.Buffered())
	s.machineOnce.Do(func() { s.machineID = machineID(s.guid) })
	p := newPconn(c, uc, fs, buffered, s.machineID)
	c.t = p
	if !s.addClient(c) {
		p.close()
		return
	}
	p.serve()
}

// ConnectBus connects to the message bus at address (e.g. the system bus),
// requests com.ubuntu.Upstart and serves the API there until the connection
// closes (which the returned connection's Done tells). Callers' uids are
// asked of the bus for the permission-checked methods.
func (s *Server) ConnectBus(address string) (*BusConn, error) {
	c := &client{srv: s, bus: true}
	conn, err := dialBusConn(address, c)
	if err != nil {
		return nil, err
	}
	out, err := conn.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", BusName, uint32(nameFlagDoNotQueue))
	if err != nil {
		conn.Close()
		return nil, err
	}
	if len(out) != 1 || out[0] != any(uint32(requestNameReplyPrimaryOwner)) {
		conn.Close()
		return nil, errors.New("Name already taken")
	}
	if !s.addClient(c) {
		conn.Close()
		return nil, errors.New("server closed")
	}
	return conn, nil
}

// RequestName's flag and answer (D-Bus specification).
const (
	nameFlagDoNotQueue           = 4
	requestNameReplyPrimaryOwner = 1
)

func (s *Server) addClient(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.clients[c] = struct{}{}
	return true
}

func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

type outSignal struct {
	path ObjectPath
	name string // interface.member
	body []any
}

// client is one connection: a private peer or a bus connection.
type client struct {
	srv   *Server
	t     transport
	bconn *BusConn // bus connections only
	uid   uint32   // private connections: authenticated uid
	// refused: a connection whose every call is answered with
	// PermissionDenied (private connections of uids that may not use the
	// daemon never become clients: see serveRefused).
	refused bool
	bus     bool   // bus connection: ask the bus for each caller's uid
	release func() // private connections: frees the admission
	// Match rules (private connections, match.go): once the client adds
	// one, it gets only the signals a rule matches.
	matchMu  sync.Mutex
	filtered bool
	rules    []matchRule
}

// transport is how a client's signals leave: a private connection or a
// bus connection (both pconn).
type transport interface {
	emitSignal(m outSignal) error
	close()
	done() <-chan struct{}
}

func (c *client) queue(m outSignal) {
	if p, ok := c.t.(*pconn); ok && !p.queueSignal(m) {
		c.srv.opts.Logf("control: client too slow to take signals, disconnecting it")
		go p.close()
	}
}

// broadcast turns a Backend signal into D-Bus signals for every client.
func (s *Server) broadcast(sig api.Signal) {
	// Every state change comes here: with nobody connected, building the
	// message is all it would cost.
	s.mu.Lock()
	none := len(s.clients) == 0
	s.mu.Unlock()
	if none {
		return
	}
	m, ok := toDBusSignal(sig)
	if !ok {
		return
	}
	for c := range s.clients {
		if !c.refused && c.wants(m) {
			c.queue(m)
		}
	}
}

func toDBusSignal(sig api.Signal) (outSignal, bool) {
	m, ok := dbusSignal(sig)
	m.body = cleanValues(m.body)
	return m, ok
}

func dbusSignal(sig api.Signal) (outSignal, bool) {
	switch sig.Kind {
	case api.JobAdded:
		return outSignal{ManagerPath, ManagerIface + ".JobAdded", []any{JobPath(sig.Job)}}, true
	case api.JobRemoved:
		return outSignal{ManagerPath, ManagerIface + ".JobRemoved", []any{JobPath(sig.Job)}}, true
	case api.InstanceAdded:
		return outSignal{JobPath(sig.Job), JobIface + ".InstanceAdded", []any{InstancePath(sig.Job, sig.Instance)}}, true
	case api.InstanceRemoved:
		return outSignal{JobPath(sig.Job), JobIface + ".InstanceRemoved", []any{InstancePath(sig.Job, sig.Instance)}}, true
	case api.GoalChanged:
		return outSignal{InstancePath(sig.Job, sig.Instance), InstanceIface + ".GoalChanged", []any{sig.Value}}, true
	case api.StateChanged:
		return outSignal{InstancePath(sig.Job, sig.Instance), InstanceIface + ".StateChanged", []any{sig.Value}}, true
	case api.Failed:
		return outSignal{InstancePath(sig.Job, sig.Instance), InstanceIface + ".Failed", []any{int32(sig.Status)}}, true
	case api.EventEmitted:
		env := sig.Env
		if env == nil {
			env = []string{}
		}
		return outSignal{ManagerPath, ManagerIface + ".EventEmitted", []any{sig.Value, env}}, true
	case api.Restarted:
		return outSignal{ManagerPath, ManagerIface + ".Restarted", nil}, true
	}
	return outSignal{}, false
}

// machineID is what Peer.GetMachineId answers on private connections (the
// server's guid when the machine has no id).
func machineID(fallback string) string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); len(id) == 32 {
				return id
			}
		}
	}
	return fallback
}

func newGUID() string {
	b := make([]byte, 16)
	unix.Getrandom(b, 0) // as crypto/rand does, without linking its 150 KiB
	return hex.EncodeToString(b)
}
