package logger

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Handover is what a Logger passes to its successor across a re-exec.
type Handover struct {
	Readers []HandoverReader `json:"readers,omitempty"`
	Files   []HandoverFile   `json:"files,omitempty"`
	// Busy counts the readers that were still writing at the deadline
	// (for the daemon's log line; not passed on).
	Busy int `json:"-"`
}

// DefaultDetachWait is how long Detach waits for readers busy writing.
const DefaultDetachWait = 2 * time.Second

// HandoverReader is one pty master or pipe being read.
type HandoverReader struct {
	File string `json:"file"` // log file name as FileName returns it, e.g. "foo.log"
	FD   int    `json:"fd"`   // open without close-on-exec after Detach
	Pipe bool   `json:"pipe,omitempty"`
}

// HandoverFile is a log file's unwritten state.
type HandoverFile struct {
	File     string `json:"file"`
	Pending  []byte `json:"pending,omitempty"` // output kept in memory, oldest first, not yet written
	Dropped  int    `json:"dropped,omitempty"` // bytes dropped while buffering, not yet reported in the file
	PlainEOL bool   `json:"plain_eol,omitempty"`
}

// Detach is DetachBy with a deadline DefaultDetachWait from now.
func (l *Logger) Detach() (Handover, error) {
	return l.DetachBy(time.Now().Add(DefaultDetachWait))
}

// DetachBy stops every reader at a point where everything it has read has
// been written to its log (or kept in memory), without closing the fds;
// clears close-on-exec on those fds; closes the open log files; and
// returns the readers and the unwritten state of every log file that has
// some (the event log's too: the daemon closes it first, which queues its
// last lines, and the next image reopens it).
// Output the jobs write meanwhile stays in the pty or pipe for whoever
// reads next. Until Reattach, Open and OpenPipe fail and buffered output
// is not written (it has been handed over).
//
// A reader still writing at the deadline (a frozen file system, a slow
// disk: a write to a file cannot be interrupted) is handed over busy: a
// duplicate of its fd, and what it is writing as pending output of its
// file. Should that write complete before the exec, those bytes appear
// twice in the log; none is lost.
//
// On error the Logger is as before (Reattach is then a no-op).
func (l *Logger) DetachBy(deadline time.Time) (Handover, error) {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	l.mu.Lock()
	if l.detached {
		l.mu.Unlock()
		return Handover{}, fmt.Errorf("detaching logger: %w", errDetached)
	}
	l.detached = true
	var rs []*reader
	for _, lf := range l.files {
		for r := range lf.readers {
			rs = append(rs, r)
		}
	}
	l.mu.Unlock()

	// Stop them all before waiting for any: a reader busy writing to a
	// slow disk delays Detach by that write only, not by the others'.
	var errs []error
	var stopping []*reader
	for _, r := range rs {
		r.stop.Store(true)
		// A deadline in the past wakes a read waiting for output at once.
		err := r.f.SetReadDeadline(time.Unix(1, 0))
		if err != nil && !errors.Is(err, os.ErrClosed) { // closed: it has just ended
			r.stop.Store(false)
			errs = append(errs, fmt.Errorf("stopping the reader of %s: %w", r.lf.name, err))
			continue
		}
		stopping = append(stopping, r)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	late := false
	var held, busy []*reader
	for _, r := range stopping {
		if !late {
			select {
			case <-r.done:
			case <-timer.C:
				late = true
			}
		}
		if late {
			select {
			case <-r.done:
			default:
				busy = append(busy, r)
				continue
			}
		}
		if r.detached { // otherwise it met the end of its output first
			held = append(held, r)
		}
	}

	var h Handover
	var dups []int
	inflight := map[string][]byte{}
	for _, r := range busy {
		fd, err := dupNoCloexec(r.f)
		if errors.Is(err, os.ErrClosed) {
			continue // it met the end of its output just now: all written
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("handing over the busy reader of %s: %w", r.lf.name, err))
			continue
		}
		dups = append(dups, fd)
		r.imu.Lock()
		inflight[r.lf.name] = append(inflight[r.lf.name], r.inflight...)
		r.imu.Unlock()
		h.Readers = append(h.Readers, HandoverReader{File: r.lf.name, FD: fd, Pipe: r.pipe})
	}
	l.mu.Lock()
	l.held = held
	l.dups = dups
	for _, r := range busy {
		r.busy = true
	}
	l.busy = busy
	l.mu.Unlock()

	for _, r := range held {
		fd, err := setCloexec(r.f, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("keeping the reader of %s open: %w", r.lf.name, err))
			continue
		}
		h.Readers = append(h.Readers, HandoverReader{File: r.lf.name, FD: fd, Pipe: r.pipe})
	}
	if len(errs) > 0 {
		l.reattach()
		return Handover{}, fmt.Errorf("detaching logger: %w", errors.Join(errs...))
	}
	h.Files = l.detachFiles(inflight)
	h.Busy = len(busy)
	// sort.Slice, not slices.SortFunc: a generic sort of a struct type is
	// a copy of the whole sort (about 20 KiB of code and tables each).
	sort.Slice(h.Readers, func(i, j int) bool {
		a, b := h.Readers[i], h.Readers[j]
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.FD, b.FD)) < 0
	})
	return h, nil
}

// dupNoCloexec returns a duplicate of f's fd that stays open across exec.
func dupNoCloexec(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(u uintptr) {
		fd, derr = unix.FcntlInt(u, unix.F_DUPFD, 3)
	}); err != nil {
		return -1, err
	}
	return fd, derr
}

// detachFiles closes the open log files and returns what is unwritten,
// followed by what busy readers were writing (inflight, by file name).
// The Logger keeps its copy, for Reattach. A file whose writer is blocked
// stays open (it is close-on-exec); its pending output, which a write
// drops only once written, is handed over all the same.
func (l *Logger) detachFiles(inflight map[string][]byte) []HandoverFile {
	l.mu.Lock()
	lfs := make([]*logFile, 0, len(l.files))
	for _, lf := range l.files {
		lfs = append(lfs, lf)
	}
	l.mu.Unlock()
	var out []HandoverFile
	for _, lf := range lfs {
		locked := lf.wmu.TryLock()
		if locked && lf.f != nil {
			lf.f.Close()
			lf.f = nil
		}
		l.mu.Lock()
		more := inflight[lf.name]
		if len(lf.pending) > 0 || lf.dropped > 0 || len(more) > 0 {
			hf := HandoverFile{File: lf.name, Dropped: lf.dropped, PlainEOL: lf.plainEOL.Load()}
			for _, c := range lf.pending {
				hf.Pending = append(hf.Pending, c.data...)
			}
			hf.Pending = append(hf.Pending, more...)
			out = append(out, hf)
		}
		l.mu.Unlock()
		if locked {
			lf.wmu.Unlock()
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Reattach undoes Detach in the same process (the exec failed):
// close-on-exec is set again on the fds and the readers resume on them;
// pending output stays where it was. It does nothing unless detached.
func (l *Logger) Reattach() {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	l.reattach()
}

// reattach is Reattach with l.hmu held.
func (l *Logger) reattach() {
	l.mu.Lock()
	if !l.detached {
		l.mu.Unlock()
		return
	}
	l.detached = false
	held := l.held
	l.held = nil
	for _, fd := range l.dups {
		unix.Close(fd)
	}
	l.dups = nil
	// A busy reader still writing resumes itself when its write ends (it
	// sees the Logger attached); one that has stopped since resumes here.
	for _, r := range l.busy {
		if r.exited {
			r.busy, r.exited = false, false
			held = append(held, r)
		}
	}
	l.busy = nil
	for _, r := range held {
		r.stop.Store(false)
		r.detached = false
		r.done = make(chan struct{})
		r.lf.addReader(r)
		l.readers.Add(1)
	}
	l.mu.Unlock()
	for _, r := range held {
		if _, err := setCloexec(r.f, true); err != nil {
			l.logf("reattaching the reader of %s: %v", r.lf.name, err)
		}
		if err := r.f.SetReadDeadline(time.Time{}); err != nil {
			l.logf("reattaching the reader of %s: %v", r.lf.name, err)
		}
		go l.copy(r)
	}
	l.wakeRetrier() // flushes were refused while detached
}

// Adopt makes a new Logger (before any Open) take over a predecessor's
// Handover: it resumes a reader on each inherited fd (close-on-exec set
// again, non-blocking) and restores each file's pending output, dropped
// count and line ends, to be written at the next write, flush or retry.
// What cannot be adopted (an fd that is not open, say) is reported in the
// error; the rest is adopted. An fd that is open but cannot be read here
// is closed.
func (l *Logger) Adopt(h Handover) error {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	l.mu.Lock()
	detached := l.detached
	l.mu.Unlock()
	if detached {
		return fmt.Errorf("adopting logger handover: %w", errDetached)
	}
	var errs []error
	// Files first: a resumed reader's output must follow what is pending.
	waiting := false
	for _, hf := range h.Files {
		if err := checkName(hf.File); err != nil {
			errs = append(errs, err)
			continue
		}
		lf := l.acquire(hf.File)
		lf.wmu.Lock()
		if hf.PlainEOL {
			lf.plainEOL.Store(true)
		}
		if len(hf.Pending) > 0 {
			lf.keep(hf.Pending)
			waiting = true
		}
		if hf.Dropped > 0 {
			l.mu.Lock()
			lf.dropped += hf.Dropped
			l.mu.Unlock()
			waiting = true
		}
		lf.wmu.Unlock()
		l.release(lf)
	}
	seen := map[int]bool{}
	for _, hr := range h.Readers {
		err := checkName(hr.File)
		if err == nil && seen[hr.FD] {
			err = fmt.Errorf("adopting the reader of %s: fd %d given twice", hr.File, hr.FD)
		}
		if err == nil {
			seen[hr.FD] = true
			err = l.adoptReader(hr)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if waiting {
		// As the predecessor would have: retry without waiting for output.
		l.wakeRetrier()
	}
	if len(errs) > 0 {
		return fmt.Errorf("adopting logger handover: %w", errors.Join(errs...))
	}
	return nil
}

func (l *Logger) adoptReader(hr HandoverReader) error {
	if hr.FD < 0 {
		return fmt.Errorf("adopting the reader of %s: bad fd %d", hr.File, hr.FD)
	}
	// Fails with EBADF if the fd did not survive.
	if _, err := unix.FcntlInt(uintptr(hr.FD), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("adopting the reader of %s (fd %d): %w", hr.File, hr.FD, err)
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller.
	if err := unix.SetNonblock(hr.FD, true); err != nil {
		return fmt.Errorf("adopting the reader of %s (fd %d): %w", hr.File, hr.FD, err)
	}
	name := "/dev/ptmx"
	if hr.Pipe {
		name = "log-pipe"
	}
	f := os.NewFile(uintptr(hr.FD), name)
	// Outside the poller (not a pty or pipe, or already there through
	// another *os.File) a reader could not be stopped by Detach.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return fmt.Errorf("adopting the reader of %s (fd %d): %w", hr.File, hr.FD, err)
	}
	if err := l.start(hr.File, f, hr.Pipe); err != nil {
		f.Close()
		return fmt.Errorf("adopting the reader of %s (fd %d): %w", hr.File, hr.FD, err)
	}
	return nil
}

// checkName refuses a log name that would reach outside the directory.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("adopting log %q: not a file name", name)
	}
	return nil
}

// setCloexec sets or clears close-on-exec on f's fd and returns the fd.
// Through Control rather than Fd, which may make the fd blocking.
func setCloexec(f *os.File, on bool) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	flag := 0
	if on {
		flag = unix.FD_CLOEXEC
	}
	fd := -1
	var ferr error
	if err := rc.Control(func(u uintptr) {
		fd = int(u)
		_, ferr = unix.FcntlInt(u, unix.F_SETFD, flag)
	}); err != nil {
		return -1, err
	}
	return fd, ferr
}

func (l *Logger) wakeRetrier() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}
