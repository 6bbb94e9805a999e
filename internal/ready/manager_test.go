package ready

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/supervise"
)

func newManager(t *testing.T) (*Manager, chan engine.Notice) {
	ch := make(chan engine.Notice, 16)
	m := &Manager{Deliver: func(n engine.Notice) { ch <- n }}
	return m, ch
}

func next(t *testing.T, ch chan engine.Notice) engine.Notice {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notice")
	}
	return engine.Notice{}
}

func sendTo(t *testing.T, env []string, msg []byte) {
	t.Helper()
	addr, ok := environ.Lookup(env, "NOTIFY_SOCKET")
	if !ok || !strings.HasPrefix(addr, "@") {
		t.Fatalf("NOTIFY_SOCKET %q", addr)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrUnix{Name: addr}); err != nil {
		t.Fatal(err)
	}
}

// The notify socket is bound before the spawn, names itself in
// NOTIFY_SOCKET (with WATCHDOG_USEC and the pid variable for a watchdog),
// and turns datagrams into notices with the sender's pid from its
// credentials; an oversized datagram is refused whole.
func TestNotifySocket(t *testing.T) {
	m, ch := newManager(t)
	r := &supervise.Request{Env: []string{"PATH=/bin"}}
	w := engine.Watch{ID: 7, Job: "j", Kind: []string{"notify"}, Notify: true, Watchdog: 3 * time.Second}
	if err := m.Prepare(w, r); err != nil {
		t.Fatal(err)
	}
	defer m.Close(7)
	if v, _ := environ.Lookup(r.Env, "WATCHDOG_USEC"); v != "3000000" || len(r.PidEnv) != 1 || r.PidEnv[0] != "WATCHDOG_PID" {
		t.Errorf("watchdog env %v pid env %q", r.Env, r.PidEnv)
	}
	m.Spawned(7, os.Getpid())
	sendTo(t, r.Env, []byte("READY=1\nSTATUS=up"))
	n := next(t, ch)
	if n.ID != 7 || n.Pid != os.Getpid() || !n.Ready || *n.Status != "up" || n.Bad != "" {
		t.Errorf("%+v", n)
	}
	sendTo(t, r.Env, make([]byte, 64<<10))
	n = next(t, ch)
	if n.Bad == "" || !strings.Contains(n.Bad, "longer than 4096 bytes") || n.Ready {
		t.Errorf("64 KiB: %+v", n)
	}
	sendTo(t, r.Env, []byte("garbage without an equals sign"))
	if n = next(t, ch); n.Bad == "" {
		t.Errorf("garbage: %+v", n)
	}
	// Nothing for init (systemd-notify's BARRIER=1): not passed on.
	sendTo(t, r.Env, []byte("BARRIER=1"))
	sendTo(t, r.Env, []byte("STATUS=after"))
	if n = next(t, ch); n.Status == nil || *n.Status != "after" {
		t.Errorf("after an idle message: %+v", n)
	}
	// A second spawn (a respawn) gets the same socket.
	r2 := &supervise.Request{}
	m.Prepare(w, r2)
	a1, _ := environ.Lookup(r.Env, "NOTIFY_SOCKET")
	a2, _ := environ.Lookup(r2.Env, "NOTIFY_SOCKET")
	if a1 != a2 {
		t.Errorf("respawn socket %q, was %q", a2, a1)
	}
}

// expect fd N: the write end of a pipe goes to the child at N; a newline
// is readiness; an end without one is reported as bad.
func TestNotificationFD(t *testing.T) {
	m, ch := newManager(t)
	for _, tc := range []struct {
		write string
		ready bool
	}{{"ok\n", true}, {"no newline", false}} {
		r := &supervise.Request{}
		w := engine.Watch{ID: 3, Kind: []string{"fd", "4"}}
		if err := m.Prepare(w, r); err != nil {
			t.Fatal(err)
		}
		if len(r.Files) != 1 || r.Files[0].Num != 4 {
			t.Fatalf("files %+v", r.Files)
		}
		child, err := os.OpenFile("/proc/self/fd/"+itoa(int(r.Files[0].File.Fd())), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		m.Spawned(3, os.Getpid()) // closes our copy of the write end
		child.WriteString(tc.write)
		child.Close()
		n := next(t, ch)
		if n.Ready != tc.ready || (tc.ready && n.Env[0] != "FD=4") || (!tc.ready && n.Bad == "") {
			t.Errorf("%q: %+v", tc.write, n)
		}
		m.Settled(3)
	}
	m.Close(3)
}

// expect file and expect socket: polled until there.
func TestPollFileAndSocket(t *testing.T) {
	m, ch := newManager(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "pid")
	m.Prepare(engine.Watch{ID: 1, Kind: []string{"file", path}}, &supervise.Request{})
	m.Spawned(1, 1)
	time.Sleep(3 * PollInterval)
	select {
	case n := <-ch:
		t.Fatalf("ready before the file exists: %+v", n)
	default:
	}
	os.WriteFile(path, nil, 0o644)
	if n := next(t, ch); !n.Ready || n.ID != 1 || n.Env[0] != "FILE="+path {
		t.Errorf("%+v", n)
	}
	m.Close(1)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if !Listening("tcp", addr) || !Listening("tcp", "*:"+strings.Split(addr, ":")[1]) {
		t.Errorf("%s not seen listening", addr)
	}
	l.Close()
	if Listening("tcp", addr) {
		t.Errorf("%s seen listening after close", addr)
	}
	l6, err := net.Listen("tcp", "[::]:0")
	if err == nil {
		_, port, _ := net.SplitHostPort(l6.Addr().String())
		if !Listening("tcp", "127.0.0.1:"+port) {
			t.Errorf("a listener on [::]:%s is not seen for 127.0.0.1", port)
		}
		l6.Close()
	}
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !Listening("udp", u.LocalAddr().String()) {
		t.Errorf("udp %s not seen", u.LocalAddr())
	}
	u.Close()
	sock := filepath.Join(dir, "s.sock")
	m.Prepare(engine.Watch{ID: 2, Kind: []string{"socket", "unix", sock}}, &supervise.Request{})
	m.Spawned(2, 1)
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	if n := next(t, ch); !n.Ready || n.ID != 2 || strings.Join(n.Env, " ") != "PROTO=unix ADDR="+sock {
		t.Errorf("%+v", n)
	}
	m.Close(2)
}

func itoa(n int) string { return strconv.Itoa(n) }

// Across a re-exec: Detach stops reading and names the descriptors; a
// message sent meanwhile waits in the socket; the next image's Adopt reads
// it from the same socket, and its notification pipe goes on.
func TestHandover(t *testing.T) {
	m, _ := newManager(t)
	r := &supervise.Request{}
	if err := m.Prepare(engine.Watch{ID: 9, Kind: []string{"notify"}, Notify: true}, r); err != nil {
		t.Fatal(err)
	}
	r2 := &supervise.Request{}
	if err := m.Prepare(engine.Watch{ID: 10, Kind: []string{"fd", "3"}}, r2); err != nil {
		t.Fatal(err)
	}
	child := r2.Files[0].File
	cw, _ := os.OpenFile("/proc/self/fd/"+itoa(int(child.Fd())), os.O_WRONLY, 0)
	defer cw.Close()
	m.Spawned(9, os.Getpid())
	m.Spawned(10, os.Getpid())
	var kept []int
	raw, err := m.Detach(func(f *os.File) int { kept = append(kept, int(f.Fd())); return int(f.Fd()) })
	if err != nil || len(kept) != 2 {
		t.Fatalf("detach: %v, kept %v", err, kept)
	}
	sendTo(t, r.Env, []byte("READY=1\nSTATUS=while away"))
	cw.WriteString("\n")

	m2, ch2 := newManager(t)
	if err := m2.Adopt(raw); err != nil {
		t.Fatal(err)
	}
	m2.Resume(engine.Watch{ID: 10, Kind: []string{"fd", "3"}}, true)
	got := map[uint64]engine.Notice{}
	for len(got) < 2 {
		n := next(t, ch2)
		got[n.ID] = n
	}
	if n := got[9]; !n.Ready || *n.Status != "while away" || n.Pid != os.Getpid() {
		t.Errorf("notify after adopt: %+v", n)
	}
	if n := got[10]; !n.Ready || n.Env[0] != "FD=3" {
		t.Errorf("pipe after adopt: %+v", n)
	}
	m2.Close(9)
	m2.Close(10)
}
