package bridge

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// Flags are the options every bridge takes, as Upstart's bridges do.
type Flags struct {
	Daemon, Debug, Verbose, User bool
}

// ParseFlags parses the common options plus any the bridge adds to fs;
// --help prints usage and exits 0, a bad option exits 1.
func ParseFlags(fs *flag.FlagSet, name, about string, args []string) Flags {
	var f Flags
	fs.BoolVar(&f.Daemon, "daemon", false, "Detach and run in the background")
	fs.BoolVar(&f.Debug, "debug", false, "Enable debugging output")
	fs.BoolVar(&f.Verbose, "verbose", false, "Enable verbose output")
	fs.BoolVar(&f.User, "user", false, "User-session mode: connect to the session instance named by UPSTART_SESSION")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [OPTION]...\n%s\n\nOptions:\n", name, about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(1)
	}
	return f
}

// Logger is the bridge's log on stderr, at the level the flags ask for.
func (f Flags) Logger(name string) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case f.Debug:
		level = slog.LevelDebug
	case f.Verbose:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("bridge", name)
}

// Daemonize runs the bridge again without --daemon in a session of its
// own, detached from the terminal, and exits.
func Daemonize(args []string) {
	var rest []string
	for _, a := range args {
		if a != "--daemon" && a != "-daemon" {
			rest = append(rest, a)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command(self, rest...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StopOnSignal returns a channel closed on SIGTERM or SIGINT.
func StopOnSignal() <-chan struct{} {
	stop := make(chan struct{})
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGPIPE)
	go func() { <-ch; close(stop) }()
	return stop
}

// An Emitter sends events from any goroutine through whichever
// connection is current, holding them (at most QueueLen) while init is
// away, e.g. during its re-exec.
type Emitter struct {
	conn  atomic.Pointer[Conn]
	queue chan emission
	log   *slog.Logger
}

// QueueLen bounds the events an Emitter holds while init is away; more
// are dropped with a log line.
const QueueLen = 1024

type emission struct {
	name string
	env  []string
}

// NewEmitter starts the sender.
func NewEmitter(log *slog.Logger) *Emitter {
	e := &Emitter{queue: make(chan emission, QueueLen), log: log}
	go e.send()
	return e
}

// SetConn makes c the connection events go through.
func (e *Emitter) SetConn(c *Conn) { e.conn.Store(c) }

// Emit queues an event (init does not wait for jobs: no-wait, as
// Upstart's bridges emit).
func (e *Emitter) Emit(name string, env []string) {
	select {
	case e.queue <- emission{name, env}:
	default:
		e.log.Warn("event queue full, event dropped", "event", name, "env", env)
	}
}

// send emits the queued events in order. An event init refuses is
// dropped with a log line; one that cannot be sent (no connection yet, or
// init re-executing) is tried again every 100 ms until it goes through,
// while the queue holds what comes meanwhile.
func (e *Emitter) send() {
	for m := range e.queue {
		for {
			c := e.conn.Load()
			if c != nil {
				err := c.Emit(m.name, m.env, false)
				if err == nil {
					e.log.Info("emitted", "event", m.name, "env", m.env)
					break
				}
				var refused dbus.Error
				if errors.As(err, &refused) {
					e.log.Warn("init refused the event", "event", m.name, "err", err)
					break
				}
				e.log.Debug("emit failed", "event", m.name, "err", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
