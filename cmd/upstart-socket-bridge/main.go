// Command upstart-socket-bridge starts jobs on the first connection to a
// socket they name (socket activation):
//
//	start on socket PROTO=inet PORT=8080 ADDR=127.0.0.1
//	start on socket PROTO=inet6 PORT=8080 ADDR=::1
//	start on socket PROTO=unix SOCKET_PATH=/run/app.sock   (@name: abstract)
//
// The bridge listens on every such socket. When a connection is waiting
// it emits `socket` with the job's variables and the listening socket
// attached (EmitEventWithFile, waiting for the event to finish): init
// gives the socket to the jobs the event starts (UPSTART_FDS, and
// LISTEN_FDS/LISTEN_PID for programs written for systemd's activation),
// and they accept the connection.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/bridge"
)

func main() {
	fs := flag.NewFlagSet("upstart-socket-bridge", flag.ContinueOnError)
	f := bridge.ParseFlags(fs, "upstart-socket-bridge", "Bridge between sockets and Upstart: emits socket events on the first connection.", os.Args[1:])
	if f.Daemon {
		bridge.Daemonize(os.Args[1:])
	}
	log := f.Logger("socket")
	b := &sockets{log: log, open: map[string]*listener{}}
	bridge.Run(bridge.Options{User: f.User}, b, log, bridge.StopOnSignal())
}

// A spec is one socket some job names.
type spec struct {
	env  []string // PROTO=… then PORT= ADDR= or SOCKET_PATH=
	kind string   // "tcp", "tcp6" or "unix"
	addr string   // for net.Listen
}

// key identifies a spec (the same socket named by several jobs is one).
func (s spec) key() string { return s.kind + " " + s.addr }

// socketVars are the socket event's variables in order (positional
// arguments).
var socketVars = []string{"PROTO", "PORT", "ADDR"}

// parseSpec reads a `socket` operand's arguments.
func parseSpec(args []string) (spec, error) {
	get := func(k string) string {
		v, _ := bridge.Env(args, socketVars, k)
		return v
	}
	proto := get("PROTO")
	switch proto {
	case "inet", "inet6":
		port, addr := get("PORT"), get("ADDR")
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return spec{}, fmt.Errorf("PORT=%q is not a port", port)
		}
		ip := net.ParseIP(addr)
		if ip == nil || (proto == "inet") != (ip.To4() != nil) {
			return spec{}, fmt.Errorf("ADDR=%q is not an %s address", addr, proto)
		}
		kind := "tcp4"
		if proto == "inet6" {
			kind = "tcp6"
		}
		return spec{env: []string{"PROTO=" + proto, "PORT=" + port, "ADDR=" + addr}, kind: kind,
			addr: net.JoinHostPort(addr, port)}, nil
	case "unix":
		v, _ := bridge.Env(args, nil, "SOCKET_PATH")
		if v == "" || (!strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "@")) {
			return spec{}, fmt.Errorf("SOCKET_PATH=%q is neither absolute nor abstract (@)", v)
		}
		return spec{env: []string{"PROTO=unix", "SOCKET_PATH=" + v}, kind: "unix", addr: v}, nil
	}
	return spec{}, fmt.Errorf("PROTO=%q is not inet, inet6 or unix", proto)
}

type sockets struct {
	log  *slog.Logger
	mu   sync.Mutex
	conn *bridge.Conn
	open map[string]*listener
}

type listener struct {
	spec spec
	file *os.File // the listening socket
	stop chan struct{}
}

// Jobs opens a listener for every socket jobs name and closes those no
// job names any more.
func (b *sockets) Jobs(c *bridge.Conn, jobs []bridge.Job) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conn = c
	want := map[string]spec{}
	for _, j := range jobs {
		for _, args := range j.Operands("socket") {
			s, err := parseSpec(args)
			if err != nil {
				b.log.Warn("ignoring a socket condition", "job", j.Name, "err", err)
				continue
			}
			want[s.key()] = s
		}
	}
	for k, l := range b.open {
		if _, ok := want[k]; !ok {
			close(l.stop)
			delete(b.open, k)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := b.open[k]; ok {
			continue
		}
		l, err := listen(want[k])
		if err != nil {
			b.log.Warn("cannot listen", "socket", k, "err", err)
			continue
		}
		b.open[k] = l
		go b.watch(l)
	}
}

// listen opens the socket. A unix socket file left by an earlier bridge
// is replaced.
func listen(s spec) (*listener, error) {
	if s.kind == "unix" && !strings.HasPrefix(s.addr, "@") {
		if fi, err := os.Lstat(s.addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(s.addr)
		}
	}
	nl, err := net.Listen(s.kind, s.addr)
	if err != nil {
		return nil, err
	}
	var f *os.File
	switch l := nl.(type) {
	case *net.TCPListener:
		f, err = l.File()
	case *net.UnixListener:
		l.SetUnlinkOnClose(false)
		f, err = l.File()
	}
	nl.Close() // f is a dup: the socket stays open
	if err != nil {
		return nil, err
	}
	return &listener{spec: s, file: f, stop: make(chan struct{})}, nil
}

// watch emits the socket event whenever a connection is waiting, and
// waits for the event to finish before looking again: the job the event
// started accepts the connection meanwhile.
func (b *sockets) watch(l *listener) {
	defer l.file.Close()
	fd := int(l.file.Fd())
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 250)
		if err != nil && !errors.Is(err, unix.EINTR) {
			b.log.Warn("poll", "socket", l.spec.key(), "err", err)
			time.Sleep(250 * time.Millisecond)
			continue
		}
		if n <= 0 || pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		b.mu.Lock()
		c := b.conn
		b.mu.Unlock()
		if err := c.EmitWithFile("socket", l.spec.env, true, fd); err != nil {
			b.log.Warn("socket event", "socket", l.spec.key(), "err", err)
		} else {
			b.log.Info("emitted", "event", "socket", "env", l.spec.env)
		}
		// The connection is still waiting when no job took it (or it is
		// slow): look again a little later rather than at once.
		select {
		case <-l.stop:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}
