// Command upstart-file-bridge emits `file` events (upstart-events(7)) for
// the paths that jobs' `start on`/`stop on` conditions name: FILE as
// written, EVENT=create|modify|delete, MATCH for directories and globs.
// It is a D-Bus client of init like any other: it reads the jobs'
// conditions, watches again when jobs come and go, and reconnects when
// init re-executes.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/filebridge"
)

// reconnectFor is how long the bridge tries to reach init again after the
// connection dropped (a re-exec takes well under a second) before it exits
// and leaves the restart to its job's `respawn`.
const reconnectFor = 30 * time.Second

func main() {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	for _, a := range os.Args[1:] {
		switch a {
		case "--daemon":
			// Upstart's bridge forked; ours stays in the foreground
			// (its job needs no `expect`).
		case "--user":
			// Paths are absolute either way; the instance comes from
			// UPSTART_SESSION.
		case "--debug", "--verbose":
			level.Set(slog.LevelDebug)
		case "--help":
			fmt.Println("Usage: upstart-file-bridge [--user] [--debug]\nEmits file events for the paths that jobs' conditions name.")
			return
		default:
			fmt.Fprintf(os.Stderr, "upstart-file-bridge: unknown option %s\n", a)
			os.Exit(2)
		}
	}
	if err := run(log); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
}

// maxPending bounds the events kept while init is unreachable.
const maxPending = 1024

type bridge struct {
	log *slog.Logger
	// mu guards conn (replaced on reconnect, used by the watcher's
	// goroutine) and pending, events that could not be sent yet.
	mu      sync.Mutex
	conn    *dbus.Conn
	pending [][]string
	w       *filebridge.Watcher
	logged  map[string]bool
	signals chan *dbus.Signal
}

func address() string {
	if a := os.Getenv("UPSTART_SESSION"); a != "" {
		return a
	}
	return control.SystemAddress
}

func dial() (*dbus.Conn, error) {
	c, err := dbus.Dial(address())
	if err != nil {
		return nil, err
	}
	if err := c.Auth(nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func run(log *slog.Logger) error {
	b := &bridge{log: log, logged: map[string]bool{}, signals: make(chan *dbus.Signal, 256)}
	var err error
	if b.conn, err = dial(); err != nil {
		return fmt.Errorf("unable to connect to init at %s: %w", address(), err)
	}
	b.w, err = filebridge.NewWatcher(b.emit, func(m string) { log.Warn(m) })
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	go func() {
		if err := b.w.Run(); err != nil {
			log.Error("inotify: " + err.Error())
			os.Exit(1)
		}
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	for {
		b.conn.Signal(b.signals)
		if err := b.scan(); err != nil {
			log.Warn("reading the jobs: " + err.Error())
		}
		if done := b.serve(stop); done {
			return nil
		}
		// The connection dropped (init re-executes, or ended).
		if err := b.reconnect(stop); err != nil {
			return err
		}
	}
}

// serve rescans on JobAdded/JobRemoved until the connection drops (false)
// or the bridge is told to stop (true).
func (b *bridge) serve(stop chan os.Signal) bool {
	done := b.conn.Context().Done()
	var rescan <-chan time.Time
	for {
		select {
		case <-stop:
			return true
		case <-done:
			return false
		case s := <-b.signals:
			if s == nil {
				return false
			}
			switch s.Name {
			case control.ManagerIface + ".JobAdded", control.ManagerIface + ".JobRemoved":
				// A burst of changes (a reload) is read once.
				rescan = time.After(50 * time.Millisecond)
			}
		case <-rescan:
			rescan = nil
			if err := b.scan(); err != nil {
				b.log.Warn("reading the jobs: " + err.Error())
			}
		}
	}
}

func (b *bridge) reconnect(stop chan os.Signal) error {
	b.conn.Close()
	deadline := time.Now().Add(reconnectFor)
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			os.Exit(0)
		case <-time.After(100 * time.Millisecond):
		}
		c, err := dial()
		if err == nil {
			b.mu.Lock()
			b.conn = c
			pending := b.pending
			b.pending = nil
			b.mu.Unlock()
			b.log.Info("reconnected to init")
			for _, env := range pending {
				b.emit(env)
			}
			return nil
		}
	}
	return fmt.Errorf("init did not come back within %s", reconnectFor)
}

// scan reads every job's conditions and watches what they name.
func (b *bridge) scan() error {
	var jobs []dbus.ObjectPath
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	mgr := conn.Object("", control.ManagerPath)
	if err := mgr.Call(control.ManagerIface+".GetAllJobs", 0).Store(&jobs); err != nil {
		return err
	}
	var conds [][][]string
	for _, jp := range jobs {
		for _, prop := range []string{"start_on", "stop_on"} {
			v, err := conn.Object("", jp).GetProperty(control.JobIface + "." + prop)
			if err != nil {
				continue // the job went away meanwhile
			}
			if rpn, ok := v.Value().([][]string); ok {
				conds = append(conds, rpn)
			}
		}
	}
	specs, problems := filebridge.Specs(conds)
	for _, p := range problems {
		if !b.logged[p] {
			b.logged[p] = true
			b.log.Warn(p)
		}
	}
	b.w.SetSpecs(specs)
	return nil
}

// emit sends a file event without waiting for it to finish (as Upstart's
// bridge does).
// An event that cannot be sent because init is away (a re-exec) is sent
// once the bridge has reconnected.
func (b *bridge) emit(env []string) {
	b.log.Debug("file " + strings.Join(env, " "))
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	call := conn.Object("", control.ManagerPath).Call(control.ManagerIface+".EmitEvent", 0, "file", env, false)
	if call.Err == nil {
		return
	}
	if conn.Connected() {
		b.log.Warn(fmt.Sprintf("emitting file %s: %v", strings.Join(env, " "), call.Err))
		return
	}
	b.mu.Lock()
	if b.conn != conn {
		// Reconnected meanwhile: send it on the new connection.
		b.mu.Unlock()
		b.emit(env)
		return
	}
	if len(b.pending) < maxPending {
		b.pending = append(b.pending, env)
	} else {
		b.log.Warn("init unreachable: file " + strings.Join(env, " ") + " dropped")
	}
	b.mu.Unlock()
}
