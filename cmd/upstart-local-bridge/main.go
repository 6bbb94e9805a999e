// Command upstart-local-bridge turns lines written to a local socket into
// events: it listens on the unix stream socket --path (a leading '@' makes
// it abstract) and, for each line `NAME=VALUE` a client writes, emits the
// event --event with
//
//	SOCKET_TYPE=unix SOCKET_VARIANT=named|abstract CLIENT_UID=… CLIENT_GID=…
//	CLIENT_PID=… SOCKET_PATH=<path> NAME=VALUE
//
// Only clients of the bridge's own uid are served unless --any-user. One
// client is served at a time. A line longer than MaxLine bytes, without
// '=', with an empty name, or that is not valid UTF-8 is refused with a log
// line; a client silent for IdleTimeout is disconnected.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/bridge"
)

// Bounds on what a client can send.
const (
	MaxLine     = 4096
	IdleTimeout = 10 * time.Second
)

func main() {
	fs := flag.NewFlagSet("upstart-local-bridge", flag.ContinueOnError)
	event := fs.String("event", "", "name of the event to emit (required)")
	path := fs.String("path", "", "path of the socket to listen on; a leading @ makes it abstract (required)")
	anyUser := fs.Bool("any-user", false, "serve clients of any uid, not only the bridge's own")
	f := bridge.ParseFlags(fs, "upstart-local-bridge", "Bridge between Upstart and a local socket: emits events for lines clients write.", os.Args[1:])
	if *event == "" || *path == "" {
		fmt.Fprintln(os.Stderr, "upstart-local-bridge: --event and --path are required")
		os.Exit(1)
	}
	if f.Daemon {
		bridge.Daemonize(os.Args[1:])
	}
	log := f.Logger("local")
	addr := *path
	variant := "named"
	if strings.HasPrefix(addr, "@") {
		variant = "abstract"
	} else {
		os.Remove(addr) // a socket left by an earlier run
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		log.Error("listen", "path", addr, "err", err)
		os.Exit(1)
	}
	em := bridge.NewEmitter(log)
	s := &server{event: *event, path: *path, variant: variant, anyUser: *anyUser, em: em, log: log}
	stop := bridge.StopOnSignal()
	go func() {
		<-stop
		l.Close()
	}()
	go bridge.Run(bridge.Options{User: f.User}, s, log, stop)
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("accept", "err", err)
			time.Sleep(100 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		s.serve(c) // one client at a time
	}
}

type server struct {
	event, path, variant string
	anyUser              bool
	em                   *bridge.Emitter
	log                  *slog.Logger
}

func (s *server) Jobs(c *bridge.Conn, _ []bridge.Job) { s.em.SetConn(c) }

func (s *server) serve(c *net.UnixConn) {
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err != nil {
		s.log.Warn("no peer credentials", "err", err)
		return
	}
	if !s.anyUser && int(cred.Uid) != os.Geteuid() {
		s.log.Warn("refusing a client of another user", "uid", cred.Uid)
		return
	}
	base := []string{"SOCKET_TYPE=unix", "SOCKET_VARIANT=" + s.variant,
		"CLIENT_UID=" + strconv.Itoa(int(cred.Uid)), "CLIENT_GID=" + strconv.Itoa(int(cred.Gid)),
		"CLIENT_PID=" + strconv.Itoa(int(cred.Pid)), "SOCKET_PATH=" + s.path}
	r := bufio.NewReaderSize(c, MaxLine+1)
	for {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.log.Warn("refusing a line longer than the limit; disconnecting the client", "max", MaxLine)
			return
		}
		if len(line) > 0 {
			if kv, ok := valid(strings.TrimRight(string(line), "\r\n")); ok {
				s.em.Emit(s.event, append(append([]string(nil), base...), kv))
			} else if kv != "" {
				s.log.Warn("refusing a line that is not NAME=VALUE in UTF-8", "line", strconv.Quote(kv))
			}
		}
		if err != nil {
			return
		}
	}
}

// valid checks a line: NAME=VALUE with a non-empty name, valid UTF-8, no
// NUL.
func valid(line string) (string, bool) {
	name, _, ok := strings.Cut(line, "=")
	if !ok || name == "" || !utf8.ValidString(line) || strings.ContainsRune(line, 0) {
		return line, false
	}
	return line, true
}
