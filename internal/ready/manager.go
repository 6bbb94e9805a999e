package ready

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/supervise"
)

// PollInterval is how often files, listening sockets and bus names are
// looked at while an instance waits for them.
const PollInterval = 20 * time.Millisecond

// Manager implements engine.Readiness. Its methods are called on the
// engine's loop; its goroutines only call Deliver.
type Manager struct {
	// Deliver hands a notice to the engine's loop (from any goroutine).
	Deliver func(engine.Notice)
	Log     *slog.Logger
	// BusAddress returns the address of the bus `expect dbus` looks at
	// ("" : the system bus).
	BusAddress func() string

	mu      sync.Mutex
	watches map[uint64]*watch
}

// watch is the watchers of one instance.
type watch struct {
	w engine.Watch
	// The notify socket: bound before the first spawn, kept until the
	// instance is gone.
	sock     *os.File
	conn     *net.UnixConn
	name     string // abstract name, without the leading NUL
	sockDone chan struct{}
	// The s6 notification pipe of the current spawn.
	pipeR, pipeW *os.File
	pipeDone     chan struct{}
	// A poller (file, socket, dbus) of the current wait.
	stop chan struct{}
	// waiting: between Spawned and Settled.
	waiting bool
}

func (m *Manager) get(id uint64) *watch {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watches == nil {
		m.watches = map[uint64]*watch{}
	}
	x := m.watches[id]
	if x == nil {
		x = &watch{}
		m.watches[id] = x
	}
	return x
}

func (m *Manager) logf(format string, args ...any) {
	if m.Log != nil {
		m.Log.Warn(fmt.Sprintf(format, args...))
	}
}

// Prepare sets up a main process's way of reporting readiness.
func (m *Manager) Prepare(w engine.Watch, r *supervise.Request) error {
	x := m.get(w.ID)
	x.w = w
	if w.Notify {
		if x.sock == nil {
			if err := x.bind(); err != nil {
				return fmt.Errorf("notify socket: %w", err)
			}
			m.startReader(x)
		}
		r.Env = environ.Set(r.Env, "NOTIFY_SOCKET=@"+x.name)
		if w.Watchdog > 0 {
			r.Env = environ.Set(r.Env, "WATCHDOG_USEC="+strconv.FormatInt(w.Watchdog.Microseconds(), 10))
			r.PidEnv = append(r.PidEnv, "WATCHDOG_PID")
		}
	}
	if len(w.Kind) == 2 && w.Kind[0] == "fd" {
		n, _ := strconv.Atoi(w.Kind[1])
		m.closePipe(x)
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("notification pipe: %w", err)
		}
		x.pipeR, x.pipeW = pr, pw
		r.Files = append(r.Files, supervise.ChildFile{Num: n, File: pw})
	}
	return nil
}

// Spawned closes what the child took and starts the watchers.
func (m *Manager) Spawned(id uint64, pid int) {
	x := m.get(id)
	if x.pipeW != nil {
		x.pipeW.Close()
		x.pipeW = nil
	}
	if pid <= 0 {
		m.closePipe(x)
		return
	}
	m.startWaiting(x)
}

// startWaiting starts what watches for readiness (not the notify socket,
// which reads all the time).
func (m *Manager) startWaiting(x *watch) {
	x.waiting = true
	w := x.w
	if len(w.Kind) == 0 {
		return
	}
	switch w.Kind[0] {
	case "fd":
		if x.pipeR != nil {
			m.startPipe(x)
		}
	case "file", "socket", "dbus":
		m.stopPoller(x)
		x.stop = make(chan struct{})
		go m.poll(w, x.stop)
	}
}

// Settled stops the watchers that only wait for readiness.
func (m *Manager) Settled(id uint64) {
	x := m.get(id)
	x.waiting = false
	m.stopPoller(x)
	m.closePipe(x)
}

// Close releases everything of an instance.
func (m *Manager) Close(id uint64) {
	x := m.get(id)
	m.stopPoller(x)
	m.closePipe(x)
	if x.conn != nil {
		// Not waiting for the reader: it may be handing a notice to the
		// loop, which is us.
		x.conn.Close()
	}
	if x.sock != nil {
		x.sock.Close()
	}
	m.mu.Lock()
	delete(m.watches, id)
	m.mu.Unlock()
}

// Resume restarts the watchers of an instance after a re-exec (its
// notify socket and pipe were adopted).
func (m *Manager) Resume(w engine.Watch, waiting bool) {
	x := m.get(w.ID)
	x.w = w
	if waiting {
		m.startWaiting(x)
	} else {
		m.closePipe(x)
	}
}

func (m *Manager) stopPoller(x *watch) {
	if x.stop != nil {
		close(x.stop)
		x.stop = nil
	}
}

func (m *Manager) closePipe(x *watch) {
	if x.pipeW != nil {
		x.pipeW.Close()
		x.pipeW = nil
	}
	if x.pipeR != nil {
		x.pipeR.Close() // its reader ends with ErrClosed
		x.pipeR, x.pipeDone = nil, nil
	}
}

// bind makes the notify socket: a datagram socket with an abstract name
// (nothing on disk to clean up, reachable from any mount namespace of
// the network namespace), credentials passed with every message.
func (x *watch) bind() error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fd)
		return err
	}
	var rnd [6]byte
	unix.Getrandom(rnd[:], 0) // as crypto/rand does, without linking its 150 KiB
	x.name = "goupstart/notify/" + strconv.Itoa(os.Getpid()) + "/" + strconv.FormatUint(x.w.ID, 10) + "/" + hex.EncodeToString(rnd[:])
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + x.name}); err != nil {
		unix.Close(fd)
		return err
	}
	return x.open(fd)
}

// open wraps a bound notify socket for reading.
func (x *watch) open(fd int) error {
	x.sock = os.NewFile(uintptr(fd), "notify-socket")
	c, err := net.FilePacketConn(x.sock)
	if err != nil {
		x.sock.Close()
		x.sock = nil
		return err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return errors.New("not a unix socket")
	}
	x.conn = uc
	return nil
}

// startReader reads the notify socket until it is closed or detached.
func (m *Manager) startReader(x *watch) {
	x.sockDone = make(chan struct{})
	id := x.w.ID
	conn := x.conn
	done := x.sockDone
	go func() {
		defer close(done)
		buf := make([]byte, MaxNotify+1)
		oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*16))
		for {
			n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if n := Message(id, buf[:n], oob[:oobn], flags); !idle(n) {
				m.Deliver(n)
			}
		}
	}()
}

// Message turns one datagram and its ancillary data into a notice.
// Descriptors passed with it (FDSTORE) are closed: we keep none.
func Message(id uint64, b, oob []byte, flags int) engine.Notice {
	pid := -1 // unknown sender: never a process of the instance
	if msgs, err := unix.ParseSocketControlMessage(oob); err == nil {
		for _, cm := range msgs {
			if cred, err := unix.ParseUnixCredentials(&cm); err == nil {
				pid = int(cred.Pid)
			}
			if fds, err := unix.ParseUnixRights(&cm); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(b) > MaxNotify {
		return engine.Notice{ID: id, Pid: pid, Bad: fmt.Sprintf("notify message from process %d longer than %d bytes", pid, MaxNotify)}
	}
	n, err := ParseNotify(b)
	n.ID, n.Pid = id, pid
	if err != nil {
		n.Bad = fmt.Sprintf("%v from process %d", err, pid)
	}
	return n
}

// idle reports a message that asks nothing of init (only keys we do not
// act on, such as the BARRIER=1 that systemd-notify sends from its own
// pid just before it exits): it is not passed on, so it is neither
// checked against the instance nor logged.
func idle(n engine.Notice) bool {
	return n.Bad == "" && !n.Ready && n.Status == nil && n.MainPID == 0 && !n.Reloading && !n.Stopping &&
		!n.HasErrno && n.ExtendUsec == 0 && !n.Watchdog && !n.WatchdogTrig && n.WatchdogUsec == 0
}

// startPipe reads an s6 notification pipe: a newline means ready; the
// end of the pipe without one means the process gave up telling.
func (m *Manager) startPipe(x *watch) {
	id, pr, fd := x.w.ID, x.pipeR, x.w.Kind[1]
	done := make(chan struct{})
	x.pipeDone = done
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, err := pr.Read(buf)
			for _, c := range buf[:n] {
				if c == '\n' {
					m.Deliver(engine.Notice{ID: id, Ready: true, Env: []string{"FD=" + fd}})
					return
				}
			}
			if err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) && errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
					return
				}
				m.Deliver(engine.Notice{ID: id, Bad: "notification descriptor " + fd + " closed without a newline"})
				return
			}
		}
	}()
}

// Handover is what passes to the next image across a re-exec.
type Handover struct {
	Watches []HandoverWatch `json:"watches"`
}

// HandoverWatch is one instance's open descriptors (-1: none).
type HandoverWatch struct {
	ID     uint64 `json:"id"`
	Socket int    `json:"socket"`
	Name   string `json:"name,omitempty"`
	Pipe   int    `json:"pipe"`
}

// Detach stops every goroutine and returns the descriptors to keep open
// (keep is told each file and returns its number). Datagrams not read yet
// wait in the socket for the next image. Reattach undoes it.
func (m *Manager) Detach(keep func(*os.File) int) (json.RawMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var h Handover
	for id, x := range m.watches {
		hw := HandoverWatch{ID: id, Socket: -1, Pipe: -1}
		if x.stop != nil {
			close(x.stop)
			x.stop = nil
		}
		// The readers stop at their deadline; a reader that is
		// handing a notice to the loop (us) is not waited for long.
		if x.conn != nil {
			x.conn.SetReadDeadline(time.Unix(1, 0))
			waitDone(x.sockDone)
			hw.Socket, hw.Name = keep(x.sock), x.name
		}
		if x.pipeR != nil {
			x.pipeR.SetReadDeadline(time.Unix(1, 0))
			waitDone(x.pipeDone)
			x.pipeDone = nil
			hw.Pipe = keep(x.pipeR)
		}
		h.Watches = append(h.Watches, hw)
	}
	b, err := json.Marshal(h)
	return b, err
}

func waitDone(done chan struct{}) {
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(50 * time.Millisecond):
	}
}

// Reattach resumes reading after a re-exec that failed.
func (m *Manager) Reattach() {
	m.mu.Lock()
	ws := make([]*watch, 0, len(m.watches))
	for _, x := range m.watches {
		ws = append(ws, x)
	}
	m.mu.Unlock()
	for _, x := range ws {
		if x.conn != nil {
			x.conn.SetReadDeadline(time.Time{})
			m.startReader(x)
		}
		if x.pipeR != nil {
			x.pipeR.SetReadDeadline(time.Time{})
		}
		if x.waiting {
			m.startWaiting(x)
		}
	}
}

// Adopt takes over the descriptors of the previous image. The engine's
// Resume of each watched instance then restarts its waiting watchers.
func (m *Manager) Adopt(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var h Handover
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("readiness handover: %w", err)
	}
	var errs []error
	for _, hw := range h.Watches {
		x := m.get(hw.ID)
		x.w.ID = hw.ID
		if hw.Socket >= 0 {
			unix.CloseOnExec(hw.Socket)
			unix.SetNonblock(hw.Socket, true)
			x.name = hw.Name
			if err := x.open(hw.Socket); err != nil {
				errs = append(errs, fmt.Errorf("notify socket of watch %d: %w", hw.ID, err))
			} else {
				m.startReader(x)
			}
		}
		if hw.Pipe >= 0 {
			unix.CloseOnExec(hw.Pipe)
			unix.SetNonblock(hw.Pipe, true)
			x.pipeR = os.NewFile(uintptr(hw.Pipe), "notification-pipe")
		}
	}
	return errors.Join(errs...)
}

var _ engine.Readiness = (*Manager)(nil)
