package logger

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goupstart/upstart/internal/api"
)

// EventLogName is the event log's file name in the log directory.
const EventLogName = "events.log"

// eventQueueLimit bounds the lines waiting for the event log's writer.
const eventQueueLimit = 1 << 20

// EventLog appends lines about events to events.log in the log directory.
// Its methods are meant for the daemon's loop: they format a line into
// memory and return; a goroutine of its own writes them out. Lines that
// would take the queue past its bound are dropped and counted (the file
// then gets a line with the count), and while the directory is not
// writable the lines wait like job output does.
type EventLog struct {
	lf *logFile

	mu      sync.Mutex
	buf     []byte // lines waiting for the writer
	spare   []byte
	lost    int
	closed  bool
	writing []byte // the batch being written (mu)
	wake    chan struct{}
	stopped chan struct{}
}

// EventLog starts the event log. Close it when done.
func (l *Logger) EventLog() *EventLog {
	lf := l.acquire(EventLogName)
	lf.plainEOL.Store(true)
	ev := &EventLog{lf: lf, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go ev.writer()
	return ev
}

// Event logs that an event is being handled, with its environment.
func (ev *EventLog) Event(name string, env []string) {
	ev.add(func(b []byte) []byte {
		b = append(b, "event "...)
		b = appendWord(b, name)
		for _, kv := range env {
			b = append(b, ' ')
			b = appendWord(b, kv)
		}
		return b
	})
}

// Goal logs that handling event changed the goal of a job instance
// ("start" or "stop").
func (ev *EventLog) Goal(event, job, instance, goal string) {
	ev.add(func(b []byte) []byte {
		b = append(b, "  "...)
		b = appendWord(b, event)
		b = append(b, ": "...)
		b = append(b, goal...)
		b = append(b, ' ')
		b = appendWord(b, job)
		if instance != "" {
			b = append(b, " ("...)
			b = appendWord(b, instance)
			b = append(b, ')')
		}
		return b
	})
}

// appendWord appends s, quoted if it would not read back as one word.
func appendWord(b []byte, s string) []byte {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '\\' || r == 0x7f || r >= 0x80
	}) {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, s)
}

// add appends one timestamped line built by f, unless the queue is full.
func (ev *EventLog) add(f func([]byte) []byte) {
	now := time.Now()
	ev.mu.Lock()
	if ev.closed {
		ev.mu.Unlock()
		return
	}
	n := len(ev.buf)
	ev.buf = now.AppendFormat(ev.buf, "2006-01-02T15:04:05.000000Z07:00 ")
	ev.buf = f(ev.buf)
	ev.buf = append(ev.buf, '\n')
	if len(ev.buf) > eventQueueLimit {
		ev.lost += len(ev.buf) - n
		ev.buf = ev.buf[:n]
	}
	ev.mu.Unlock()
	select {
	case ev.wake <- struct{}{}:
	default:
	}
}

func (ev *EventLog) writer() {
	defer close(ev.stopped)
	for range ev.wake {
		ev.mu.Lock()
		batch, lost, closed := ev.buf, ev.lost, ev.closed
		ev.buf, ev.spare, ev.lost = ev.spare[:0], nil, 0
		ev.writing = batch
		ev.mu.Unlock()
		if lost > 0 {
			ev.lf.drop(lost)
		}
		if len(batch) > 0 {
			ev.lf.write(batch)
		}
		ev.mu.Lock()
		ev.writing = nil
		if cap(batch) <= eventQueueLimit*2 {
			ev.spare = batch[:0]
		}
		ev.mu.Unlock()
		if closed {
			return
		}
	}
}

// Close writes (or buffers) the lines still queued and stops the writer.
func (ev *EventLog) Close() {
	ev.CloseBy(time.Time{})
}

// CloseBy is Close that waits for the writer until deadline at most (zero:
// for ever). A writer still blocked then (a frozen file system) is left
// to its write; that batch and the lines queued after it are kept as the
// file's pending output, to be handed over. It reports whether the writer
// stopped in time.
func (ev *EventLog) CloseBy(deadline time.Time) bool {
	ev.mu.Lock()
	if ev.closed {
		ev.mu.Unlock()
		return true
	}
	ev.closed = true
	ev.mu.Unlock()
	select {
	case ev.wake <- struct{}{}:
	default:
	}
	var late <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		late = t.C
	}
	select {
	case <-ev.stopped:
		ev.lf.l.release(ev.lf)
		return true
	case <-late:
	}
	ev.mu.Lock()
	rest := append(append([]byte(nil), ev.writing...), ev.buf...)
	ev.buf = nil
	ev.mu.Unlock()
	if len(rest) > 0 {
		ev.lf.keep(rest)
	}
	return false
}

// OnEvent returns a function for engine.Options.OnEvent that logs every
// event handled and, through the engine's signals, the goal changes that
// handling it caused ("what it started or stopped"). subscribe must
// register fn for the engine's signals; it is called on the loop, when
// the first event is handled. Everything done on the loop is formatting
// into memory.
func (ev *EventLog) OnEvent(subscribe func(fn func(api.Signal))) func(name string, env []string) {
	var current string // the event being handled (loop only)
	subscribed := false
	return func(name string, env []string) {
		if !subscribed {
			subscribed = true
			subscribe(func(s api.Signal) {
				if s.Kind == api.GoalChanged && current != "" && handlingEvent() {
					ev.Goal(current, s.Job, s.Instance, s.Value)
				}
			})
		}
		current = name
		ev.Event(name, env)
	}
}

// engineHandle is the engine's function that handles one event; OnEvent
// is called at its start and the goal changes it causes happen inside it.
const engineHandle = "/internal/engine.(*Engine).handle"

// handlingEvent reports whether the caller runs inside the engine's
// handling of an event (rather than a control command or a process exit),
// so that a goal change can be put down to the event OnEvent announced
// last. The engine has no hook for the end of an event's handling; the
// call stack says it exactly. Only the event log pays for this.
func handlingEvent() bool {
	var pcs [64]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, engineHandle) {
			return true
		}
		if !more {
			return false
		}
	}
}
