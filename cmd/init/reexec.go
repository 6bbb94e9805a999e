package main

// Stateful re-exec: SIGTERM to PID 1, or the D-Bus Restart method, makes
// the daemon exec its binary again (a new version after an upgrade)
// without losing a job, a process, a line of output or a blocked event.
//
// Everything happens on the loop, so that nothing changes between the
// snapshot and the exec: the supervisor stops reaping and the exits it
// had collected are handled; the engine is saved; the logger stops
// reading and hands over its ptys and unwritten output; the private
// control socket stays open (connections waiting in its backlog are
// accepted by the next image; open connections drop and clients
// reconnect). The document goes into a memfd named by --state-fd. If the
// exec fails, everything is resumed and the daemon goes on as it was.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/logger"
	"github.com/goupstart/upstart/internal/state"
	"github.com/goupstart/upstart/internal/supervise"
)

// sigReexec is put into the signal channel by the D-Bus Restart method, so
// that a re-exec is handled by the signal goroutine like SIGTERM. The
// kernel never delivers a signal above 64.
const sigReexec = syscall.Signal(100)

var _ interface {
	ReExec() error
	GetState() (string, error)
} = (*daemonBackend)(nil)

// ReExec serves D-Bus Restart: it returns at once, the re-exec follows.
func (b *daemonBackend) ReExec() error {
	signals <- sigReexec
	return nil
}

// GetState serves D-Bus GetState: the document a re-exec would pass, less
// the descriptors.
func (b *daemonBackend) GetState() (string, error) {
	doc := state.Document{Written: time.Now(), Daemon: b.d.daemonState(-1)}
	b.d.call(func() {
		doc.Engine = *b.d.e.Snapshot(nil)
		doc.Daemon.PidTracked = b.d.pidTracked()
	})
	out, err := state.EncodeJSON(&doc)
	return string(out), err
}

func (d *daemon) daemonState(listenerFD int) state.Daemon {
	s := state.Daemon{ListenerFD: listenerFD, LogPriority: priorityName(d.level.Level())}
	if d.bus != nil {
		s.BusAddress = d.bus.notifiedAddress()
	}
	return s
}

// reexec re-executes the daemon with its state. It returns only when the
// exec failed (the daemon then carries on).
func (d *daemon) reexec() {
	start := time.Now()
	var err error
	d.call(func() { err = d.reexecOnLoop(start) })
	d.log.Error(fmt.Sprintf("Failed to re-execute %s: %v", d.exe, err))
}

func (d *daemon) reexecOnLoop(start time.Time) (err error) {
	var undo []func()
	defer func() {
		if err != nil {
			for k := len(undo) - 1; k >= 0; k-- {
				undo[k]()
			}
		}
	}()
	// Exits collected after the reaper stopped: handled here if the exec
	// fails, after everything else is resumed (their next processes may
	// need the logger).
	var reaped []supervise.Exit
	undo = append(undo, func() {
		for _, x := range reaped {
			d.e.ProcessExited(x)
		}
	})
	var keep []*os.File // open across the exec
	keepFD := func(f *os.File) int {
		fd := int(f.Fd())
		keep = append(keep, f)
		return fd
	}

	// The logger first, while the reaper and the private socket still
	// work: a log writer stuck on a FIFO or a frozen file system delays
	// the exec by at most detachWait, and its output is handed over.
	deadline := time.Now().Add(detachWait)
	if logs.events != nil {
		if !logs.events.CloseBy(deadline) { // written out; reopened by the next image
			d.log.Warn("The event log's writer is blocked: its last lines are handed over unwritten")
		}
		undo = append(undo, d.openEventLog)
	}
	var handover []byte
	if logs.lg != nil {
		h, err := logs.lg.DetachBy(deadline)
		if err != nil {
			return fmt.Errorf("logger: %w", err)
		}
		undo = append(undo, logs.lg.Reattach)
		if h.Busy > 0 {
			d.log.Warn(fmt.Sprintf("%d log writers are blocked: their output is handed over unwritten", h.Busy))
		}
		if handover, err = json.Marshal(h); err != nil {
			return fmt.Errorf("logger: %w", err)
		}
	}

	// The private socket: a duplicate stays open (and bound) across the
	// exec; the serving listener is closed just before it.
	listenerFD := -1
	var lf *os.File
	if d.listener != nil {
		if lf, err = d.listener.File(); err != nil {
			return fmt.Errorf("private socket: %w", err)
		}
		listenerFD = keepFD(lf)
		undo = append(undo, func() {
			if d.listener == nil {
				d.serveListener(lf)
			} else {
				lf.Close()
			}
		})
	}

	// No exit may be reaped that the state would not hold: stop reaping
	// (and delivering: the channel is drained after). What was collected
	// is not handled here (a job's next process could not be spawned any
	// more) but passed on, and handled first by the next image.
	queued := d.sup.Detach()
	for drained := false; !drained; {
		select {
		case x := <-d.exits:
			reaped = append(reaped, x)
		default:
			drained = true
		}
	}
	reaped = append(reaped, queued...)
	undo = append(undo, d.sup.Reattach)
	// No collection while the state is taken and written: what they
	// allocate stays until the exec (the heap is bounded as on the way
	// in, stateHeapLimit).
	gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(stateHeapLimit)
	undo = append(undo, func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	doc := state.Document{Written: time.Now(), Daemon: d.daemonState(listenerFD), Logger: handover, Reaped: saveReaped(reaped)}
	if m := d.cgroups.Load(); m != nil {
		// Kept open: closing it would drop every group's watch during
		// the exec (a millisecond and a grace period with a thousand).
		if fd, undoIno, err := m.InotifyHandover(); err != nil {
			d.log.Warn(err.Error())
		} else {
			doc.Daemon.CgroupInotifyFD = fd
			undo = append(undo, undoIno)
		}
	}
	// The readiness watchers stop before the snapshot: a notify message
	// not read yet waits in its socket for the next image.
	if d.ready != nil {
		raw, err := d.ready.Detach(keepFD)
		undo = append(undo, d.ready.Reattach)
		if err != nil {
			return fmt.Errorf("readiness watchers: %w", err)
		}
		doc.Ready = raw
	}
	doc.Engine = *d.e.Snapshot(keepFD)
	doc.Daemon.PidTracked = d.pidTracked()

	b, err := state.Encode(&doc)
	if err != nil {
		return err
	}
	mfd, err := unix.MemfdCreate("upstart-state", 0)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	mf := os.NewFile(uintptr(mfd), "upstart-state")
	undo = append(undo, func() { mf.Close() })
	if _, err := mf.Write(b); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	for _, f := range keep {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("keeping descriptor %d open: %w", f.Fd(), err)
		}
	}
	argv := reexecArgs(os.Args, mfd, d.cgroupName)
	d.log.Log(context.Background(), priorities["message"], fmt.Sprintf("Re-executing %s with %d bytes of state (%d classes, %d events), prepared in %v",
		d.exe, len(b), len(doc.Engine.Classes), len(doc.Engine.Events), time.Since(start).Round(time.Microsecond)))
	if d.o.writeStateFile {
		// As JSON, for people (the binary document is for the next
		// image).
		if j, err := state.EncodeJSON(&doc); err == nil {
			d.writeStateFile(j)
		}
	}
	if d.listener != nil {
		// Connections from here on wait in the backlog for the next image.
		d.listener.Close()
		d.listener = nil
	}
	err = syscall.Exec(d.exe, argv, os.Environ())
	return fmt.Errorf("exec: %w", err)
}

// detachWait bounds how long a re-exec waits for log writers (a FIFO or a
// frozen file system can block a write for ever); see docs/decisions.md.
const detachWait = 2 * time.Second

func saveReaped(xs []supervise.Exit) []state.Reaped {
	var out []state.Reaped
	for _, x := range xs {
		r := state.Reaped{Pid: x.Pid, Status: uint32(x.Status), Orphan: x.Orphan, Cgroup: x.Cgroup, Stopped: x.Stopped}
		if x.SpawnErr != nil {
			r.SpawnErr = x.SpawnErr.Error()
		}
		out = append(out, r)
	}
	return out
}

func loadReaped(rs []state.Reaped) []supervise.Exit {
	var out []supervise.Exit
	for _, r := range rs {
		x := supervise.Exit{Pid: r.Pid, Status: syscall.WaitStatus(r.Status), Orphan: r.Orphan, Cgroup: r.Cgroup, Stopped: r.Stopped}
		if r.SpawnErr != "" {
			x.SpawnErr = errors.New(r.SpawnErr)
		}
		out = append(out, x)
	}
	return out
}

// reexecArgs is argv for the next image: the same options without an old
// --state-fd, --cgroup-name or --restart, then --restart --state-fd FD,
// and --cgroup-name NAME when the daemon's cgroup tree has a name of its
// own (PID 1 of a namespace sharing its cgroup: the next image must find
// the same tree). The name travels in argv rather than in the state, so
// that it holds also when the state cannot be read.
func reexecArgs(args []string, fd int, cgroupName string) []string {
	out := []string{args[0]}
	for k := 1; k < len(args); k++ {
		a := args[k]
		switch {
		case a == "--restart":
			continue
		case a == "--state-fd" || a == "--cgroup-name":
			k++
			continue
		case strings.HasPrefix(a, "--state-fd="), strings.HasPrefix(a, "--cgroup-name="):
			continue
		}
		out = append(out, a)
	}
	out = append(out, "--restart", "--state-fd", strconv.Itoa(fd))
	if cgroupName != "" {
		out = append(out, "--cgroup-name", cgroupName)
	}
	return out
}

// readState reads the document the previous image left at fd. A document
// that cannot be read is written to upstart.state in the log directory for
// post-mortem, and the daemon starts without state (its processes run on
// unsupervised), as Upstart does; the descriptors the document named are
// then closed, except the private socket, which is served again.
func (d *daemon) readState(fd int) *state.Document {
	f := os.NewFile(uintptr(fd), "upstart-state")
	b, err := io.ReadAll(f)
	f.Close()
	if err == nil {
		var doc *state.Document
		if doc, err = state.Decode(b); err == nil {
			return doc
		}
	}
	d.log.Error(fmt.Sprintf("Unable to read the state passed across the re-exec, carrying on without it: %v", err))
	if len(b) > 0 {
		d.writeStateFile(b)
	}
	d.reclaimInherited()
	return nil
}

// reclaimInherited closes what a refused document named: every descriptor
// above 2 that was left open across the exec (all our own are
// close-on-exec, so these came from the previous image: ptys, pipes,
// event files). A document that cannot be decoded cannot say which is
// which, so none is trusted, and a pty closed here hangs its job up as a
// stateless re-exec would. The listening socket bound to our private
// address is kept and served (its backlog waits); without it, the bind
// of a fresh one would fail with "address already in use" for as long as
// the old one stays open.
func (d *daemon) reclaimInherited() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		d.log.Error(fmt.Sprintf("Unable to list inherited descriptors: %v", err))
		return
	}
	want := abstractName(d.address)
	closed := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // ours, or the directory being listed
		}
		if d.inherited == nil && want != "" && isListener(fd, want) {
			unix.CloseOnExec(fd)
			d.inherited = os.NewFile(uintptr(fd), "private-socket")
			continue
		}
		unix.Close(fd)
		closed++
	}
	if closed > 0 {
		d.log.Warn(fmt.Sprintf("Closed %d descriptors left open by the previous image", closed))
	}
}

// abstractName is the socket name of a unix:abstract= address as
// Getsockname reports it ("" for another kind).
func abstractName(address string) string {
	if rest, ok := strings.CutPrefix(address, "unix:abstract="); ok {
		return "@" + rest
	}
	return ""
}

// isListener reports whether fd is a listening unix socket bound to name.
func isListener(fd int, name string) bool {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	u, ok := sa.(*unix.SockaddrUnix)
	return ok && u.Name == name
}

func (d *daemon) writeStateFile(b []byte) {
	p := filepath.Join(d.logDir(), "upstart.state")
	os.Remove(p)
	if err := os.WriteFile(p, b, 0o400); err != nil {
		d.log.Warn(fmt.Sprintf("Unable to write %s: %v", p, err))
	}
}

// restoreLogger takes over the ptys and unwritten output of the previous
// image (before any job can start). What cannot be restored is logged;
// the daemon goes on.
func (d *daemon) restoreLogger(doc *state.Document) {
	if doc == nil || logs.lg == nil || len(doc.Logger) == 0 {
		return
	}
	var h logger.Handover
	if err := json.Unmarshal(doc.Logger, &h); err != nil {
		d.log.Error(fmt.Sprintf("Unable to restore job output logging: %v", err))
		return
	}
	if err := logs.lg.Adopt(h); err != nil {
		d.log.Error(fmt.Sprintf("Job output logging restored in part: %v", err))
	}
}

// restoreEngine rebuilds the jobs, instances and events of the previous
// image, on the loop, before the configuration is read again.
func (d *daemon) restoreEngine(doc *state.Document) {
	if doc == nil {
		return
	}
	var err error
	d.call(func() {
		// A panic here must not leave d.call waiting for ever (the loop
		// itself recovers, but would not answer the call).
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v", r)
			}
		}()
		err = d.e.Restore(&doc.Engine, func(fd int) *os.File {
			unix.CloseOnExec(fd)
			return os.NewFile(uintptr(fd), "event-file")
		})
		if err == nil {
			d.restoredTracking(doc) // cgroups.go
			// Before anything the new reaper collects: these came first.
			if len(doc.Reaped) > 0 {
				d.log.Info(fmt.Sprintf("Handling %d exits reaped by the previous image", len(doc.Reaped)))
			}
			for _, x := range loadReaped(doc.Reaped) {
				d.e.ProcessExited(x)
			}
		}
	})
	if err != nil {
		d.log.Error(fmt.Sprintf("Unable to restore jobs after the re-exec, carrying on without them: %v", err))
		return
	}
	if l, ok := priorities[doc.Daemon.LogPriority]; ok {
		d.level.Set(l)
	}
}

// restoredListener returns the private socket passed across the re-exec
// (named by the document, or found by reclaimInherited).
func (d *daemon) restoredListener(doc *state.Document) (*net.UnixListener, error) {
	var f *os.File
	switch {
	case doc != nil && doc.Daemon.ListenerFD >= 0:
		f = os.NewFile(uintptr(doc.Daemon.ListenerFD), "private-socket")
	case d.inherited != nil:
		f, d.inherited = d.inherited, nil
	default:
		return nil, nil
	}
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("private socket passed across the re-exec: %w", err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("private socket passed across the re-exec is not a unix socket")
	}
	return ul, nil
}
