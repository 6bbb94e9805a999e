// Package logger owns the output of `console log` processes: one pty per
// process (or one pipe, for `console log pipe`), the per-job log files, the in-memory buffer for output that
// arrives while the log directory cannot be written yet, and the event log.
//
// Nothing here runs on the daemon's loop. Each pty has a goroutine that
// reads its master and writes what it read to the job's log file; while it
// writes, it does not read, so a slow disk slows the job (its writes to
// the pty block once the pty's buffer is full) and never the daemon. The
// reader stops only when the master reports end of file (EIO): that is
// when the last descriptor of the slave has been closed, by the job
// process and by every child that inherited its output. The daemon does
// not keep the slave open after the fork, so nothing is left unread.
// (Or Detach stops it, to hand the master over across a re-exec: see
// handover.go.)
//
// Log files are opened lazily, on the first output, with O_APPEND (so a
// log truncated by logrotate's copytruncate is written from its new end)
// and mode 0640. Before each write the path is checked against the open
// file's device and inode, and a renamed or deleted log is replaced by a
// fresh file at the original path: logrotate needs no signal.
//
// When the log cannot be opened (directory missing, read-only, not
// permitted) the output is kept in memory, bounded per log and overall;
// past a bound the oldest bytes are dropped and counted. Buffered output
// is written, in order and preceded by one line with the count of dropped
// bytes, at the first later write that can open the file, at
// NotifyDiskWriteable, or by a background retry every Options.Retry; also
// for processes that have ended by then. Output that cannot be written
// because the disk is full (ENOSPC) is dropped and counted, never
// buffered, so a full disk costs no memory.
package logger

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults for Options.
const (
	DefaultJobLimit   = 1 << 20  // bytes buffered per log file while the directory is not writable
	DefaultTotalLimit = 16 << 20 // bytes buffered over all log files
	DefaultRetry      = time.Second
	readSize          = 64 << 10
)

// Options configure a Logger.
type Options struct {
	// Dir is the log directory. It is not created here: for the system
	// instance it may be on a file system that is not mounted yet.
	Dir string
	// JobLimit and TotalLimit bound the output kept in memory while logs
	// cannot be written; 0 means the default.
	JobLimit, TotalLimit int
	// Retry is how often buffered output is retried on its own; 0 means
	// the default.
	Retry time.Duration
	// Logf receives diagnostics (pty allocation failures, write errors).
	Logf func(format string, args ...any)
	// Warnf receives what an administrator must hear of (a log path
	// refused); nil: Logf.
	Warnf func(format string, args ...any)
}

// Logger hands out ptys for job processes and writes what comes out of
// them to log files. Its methods may be called from any goroutine.
type Logger struct {
	opts Options

	mu       sync.Mutex
	files    map[string]*logFile // by file name
	buffered int                 // bytes in all pending buffers
	seq      uint64              // orders chunks across logs, for dropping the oldest
	dropped  uint64              // total bytes dropped, ever (Stats)
	closed   bool

	// The re-exec handover (handover.go). hmu serialises Detach, Reattach
	// and Adopt; the rest is guarded by mu.
	hmu      sync.Mutex
	detached bool      // between Detach and Reattach: no new readers, no flushes
	held     []*reader // stopped by Detach; holding their files keeps the finalizer off the fds
	busy     []*reader // still writing at Detach's deadline
	dups     []int     // duplicates of the busy readers' fds, handed over

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	io   chan struct{} // a slot per goroutine in file I/O (IOThreads)

	readers sync.WaitGroup
}

// Stats are counters for tests and benchmarks.
type Stats struct {
	Buffered int    // bytes waiting in memory for their log to be writable
	Dropped  uint64 // bytes dropped since the Logger started
	Open     int    // log files with a live pty or pending output
}

// New returns a Logger writing into opts.Dir.
func New(opts Options) *Logger {
	if opts.JobLimit <= 0 {
		opts.JobLimit = DefaultJobLimit
	}
	if opts.TotalLimit <= 0 {
		opts.TotalLimit = DefaultTotalLimit
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	l := &Logger{
		opts:  opts,
		files: map[string]*logFile{},
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		io:    make(chan struct{}, IOThreads),
	}
	l.wg.Add(1)
	go l.retrier()
	return l
}

// Dir returns the log directory.
func (l *Logger) Dir() string { return l.opts.Dir }

func (l *Logger) warnf(format string, args ...any) {
	if l.opts.Warnf != nil {
		l.opts.Warnf(format, args...)
		return
	}
	l.logf(format, args...)
}

func (l *Logger) logf(format string, args ...any) {
	if l.opts.Logf != nil {
		l.opts.Logf(format, args...)
	}
}

// FileName is the log file name of a job instance: JOB.log, or
// JOB-INSTANCE.log for a named instance, with every "/" in either name
// replaced by "_".
func FileName(job, instance string) string {
	job = strings.ReplaceAll(job, "/", "_")
	if instance == "" {
		return job + ".log"
	}
	return job + "-" + strings.ReplaceAll(instance, "/", "_") + ".log"
}

// Open allocates a pty for one process of a job instance and starts
// copying its output to the instance's log. It returns the slave side,
// to become the process's standard output and error; the caller must
// close it once the process has its copy.
func (l *Logger) Open(job, instance string) (*os.File, error) {
	master, slave, err := openPTY()
	if err != nil {
		return nil, err
	}
	if err := l.start(FileName(job, instance), master, false); err != nil {
		master.Close()
		slave.Close()
		return nil, err
	}
	return slave, nil
}

// OpenPipe is Open with a pipe instead of a pty (`console log pipe`): the
// process's output is not a terminal, so its stdio buffers in blocks
// rather than lines, and the log gets its bytes unchanged (no "\r"
// before each "\n"). A pty's line discipline hands over 4 KiB per wake-up
// and caps a writer at about 60–90 MB/s here; a pipe does not.
func (l *Logger) OpenPipe(job, instance string) (*os.File, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	// The read end is non-blocking so that the runtime's poller serves it.
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("pipe: %w", err)
	}
	r, w := os.NewFile(uintptr(p[0]), "log-pipe"), os.NewFile(uintptr(p[1]), "log-pipe-w")
	if err := l.start(FileName(job, instance), r, true); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	return w, nil
}

// errDetached is returned for what a detached Logger refuses.
var errDetached = errors.New("logger detached for re-exec")

// reader is one pty master or pipe read end and the log it goes to.
type reader struct {
	lf   *logFile
	f    *os.File
	pipe bool

	mu       sync.Mutex    // held from a read to the write of what it got
	stop     atomic.Bool   // set by Detach before it sets the read deadline
	detached bool          // copy returned for Detach: f and the ref on lf live on (l.mu)
	done     chan struct{} // closed when copy returns (l.mu)

	imu      sync.Mutex
	inflight []byte // what it is writing (imu)
	// busy: Detach handed it over while it was still writing; exited:
	// and it has stopped since (both l.mu).
	busy, exited bool
}

// start registers a reader of f for the log name and starts copying.
// Registration and the detached check are one step under l.mu, so that
// Detach sees every reader started before it.
func (l *Logger) start(name string, f *os.File, pipe bool) error {
	l.mu.Lock()
	if l.detached {
		l.mu.Unlock()
		return fmt.Errorf("%s: %w", name, errDetached)
	}
	lf := l.acquireLocked(name)
	same := make([]*reader, 0, len(lf.readers))
	for o := range lf.readers {
		same = append(same, o)
	}
	r := &reader{lf: lf, f: f, pipe: pipe, done: make(chan struct{})}
	lf.addReader(r)
	l.readers.Add(1)
	l.mu.Unlock()
	if pipe {
		lf.plainEOL.Store(true)
	}
	// What earlier processes of the instance wrote goes in first: a
	// process that exited (the main process, before post-stop is
	// spawned) may have output its reader has not taken yet. Not here
	// (the daemon's loop calls start), where a blocked log file would
	// stop the loop.
	go func() {
		for _, o := range same {
			o.catchUp()
		}
		l.copy(r)
	}()
	return nil
}

// copy reads a pty master (or a pipe) until every writer has closed the
// slave (the write end), or until Detach stops it, and writes what it
// read to the log. It holds no buffer while the job is quiet: a
// buffer comes from bufs once output is ready, and goes back after it is
// written, so a thousand quiet jobs cost their goroutines' stacks, not a
// thousand buffers.
func (l *Logger) copy(r *reader) {
	defer l.readers.Done()
	lf := r.lf
	for {
		err := l.copyUntil(r)
		l.mu.Lock()
		delete(lf.readers, r)
		// Detach's deadline interrupts only a wait, never a drain or a
		// write: everything read has been written (or kept) by now.
		if r.stop.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			if r.busy && !l.detached {
				// Handed over busy, and the exec failed (Reattach
				// came while it wrote): carry on.
				r.busy = false
				r.stop.Store(false)
				lf.addReader(r)
				l.mu.Unlock()
				if err := r.f.SetReadDeadline(time.Time{}); err != nil {
					l.logf("resuming the reader of %s: %v", lf.name, err)
				}
				continue
			}
			r.exited = r.busy
			r.detached = true
			close(r.done)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		// EIO: the slave has no writer left (EOF: the pipe has none).
		// Anything else is as final.
		if !errors.Is(err, unix.EIO) && err != io.EOF {
			l.logf("reading output for %s: %v", lf.name, err)
		}
		r.f.Close()
		l.release(lf)
		close(r.done)
		return
	}
}

// copyUntil is copy's read loop: it returns the error that ended it.
func (l *Logger) copyUntil(r *reader) error {
	lf := r.lf
	rc, err := r.f.SyscallConn()
	pool := &bufs
	for err == nil {
		if err = waitReadable(rc); err != nil {
			break
		}
		buf := pool.Get().(*[]byte)
		var n int
		r.mu.Lock()
		n, err = drain(rc, *buf)
		if n > 0 {
			// Published for a Detach that cannot wait for the write.
			r.imu.Lock()
			r.inflight = (*buf)[:n]
			r.imu.Unlock()
			lf.write((*buf)[:n])
			r.imu.Lock()
			r.inflight = nil
			r.imu.Unlock()
		}
		r.mu.Unlock()
		pool.Put(buf)
		if n == len(*buf) && r.pipe && pool == &bufs && growPipe(rc) {
			pool = &bigBufs
		}
	}
	if pool == &bigBufs {
		grownPipes.Add(-1)
	}
	return err
}

// catchUp writes what the reader's pty or pipe holds right now, without
// waiting. r.mu keeps it from interleaving with the reader's own drain
// and write; the fd is read through Control, which unlike Read does not
// queue behind the reader's wait for more output.
func (r *reader) catchUp() {
	rc, err := r.f.SyscallConn()
	if err != nil {
		return
	}
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	// EIO or EOF: the reader sees those itself.
	rc.Control(func(fd uintptr) { n, _ = readAvailable(fd, *buf) })
	if n > 0 {
		r.lf.write((*buf)[:n])
	}
}

// bufs holds the read buffers of the copies that have output to write.
var bufs = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

// A pipe that a drain found full (64 KiB: the writer is faster than us) is
// grown to bigPipe and read with buffers as large: with the default size
// the writer and the logger take turns, with a large one the writer goes
// on while the logger writes the file. BenchmarkLogThroughput/pipe (in
// test/integration) went from 0.76–0.88 of `cat > file` to 0.88–0.99 with
// it. At most maxGrownPipes
// at a time: an unprivileged user's pipes share a soft limit
// (/proc/sys/fs/pipe-user-pages-soft, 64 MiB by default) past which every
// new pipe of theirs gets a single page.
const (
	bigPipe       = 1 << 20
	maxGrownPipes = 16
)

var (
	bigBufs    = sync.Pool{New: func() any { b := make([]byte, bigPipe); return &b }}
	grownPipes atomic.Int32
)

func growPipe(rc syscall.RawConn) bool {
	if grownPipes.Add(1) > maxGrownPipes {
		grownPipes.Add(-1)
		return false
	}
	var err error
	// Not File.Fd, which would take the pipe out of the poller.
	if cerr := rc.Control(func(fd uintptr) { _, err = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, bigPipe) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		grownPipes.Add(-1)
		return false
	}
	return true
}

// waitReadable waits until the master has output, or has hung up once
// every writer has gone. Each wait starts by clearing the poller's
// readiness, so the master is first asked (poll with no timeout) whether
// something is already there: a report that came in since the last drain
// must not be lost.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(p, 0)
			if err != unix.EINTR {
				return n > 0 || err != nil // an error: drain reports it
			}
		}
	})
}

// drain reads until the master has no more for now (EAGAIN) or buf is
// full. A pty hands over at most its line discipline's 4 KiB per read;
// taking every read that is ready before writing costs a chatty job one
// log write (and one rotation check) per burst rather than per 4 KiB. The
// bytes are those of consecutive reads, in order: the log is the same. It
// may return nothing (a readiness report whose output an earlier drain
// took).
func drain(rc syscall.RawConn, buf []byte) (n int, err error) {
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = readAvailable(fd, buf)
		return true
	})
	if rerr != nil {
		err = rerr
	}
	return n, err
}

// readAvailable reads fd (non-blocking) into buf until it has nothing more
// for now (EAGAIN, not an error) or buf is full. EOF is io.EOF.
func readAvailable(fd uintptr, buf []byte) (n int, err error) {
	for n < len(buf) {
		m, e := unix.Read(int(fd), buf[n:])
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return n, nil
		case e != nil:
			return n, e
		case m == 0:
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// acquire returns the log file named name with one more user.
func (l *Logger) acquire(name string) *logFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acquireLocked(name)
}

func (l *Logger) acquireLocked(name string) *logFile {
	lf := l.files[name]
	if lf == nil {
		lf = &logFile{l: l, name: name, path: filepath.Join(l.opts.Dir, name)}
		l.files[name] = lf
	}
	lf.refs++
	return lf
}

// addReader registers a running reader (l.mu held).
func (lf *logFile) addReader(r *reader) {
	if lf.readers == nil {
		lf.readers = map[*reader]struct{}{}
	}
	lf.readers[r] = struct{}{}
}

// release drops one user of lf. The last one closes the file, unless
// output is still waiting to be written: the retries take care of that.
func (l *Logger) release(lf *logFile) {
	lf.wmu.Lock()
	defer lf.wmu.Unlock()
	l.mu.Lock()
	lf.refs--
	f := l.forgetLocked(lf)
	l.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// forgetLocked removes lf from the table when nothing uses it and nothing
// waits in it, and returns its open file for the caller to close once
// l.mu is released (l.mu is never held over I/O: the daemon's loop takes
// it to hand out ptys). Both lf.wmu and l.mu are held.
func (l *Logger) forgetLocked(lf *logFile) *os.File {
	if lf.refs > 0 || len(lf.pending) > 0 || lf.dropped > 0 {
		return nil
	}
	f := lf.f
	lf.f = nil
	if l.files[lf.name] == lf {
		delete(l.files, lf.name)
	}
	return f
}

// NotifyDiskWriteable writes all buffered output whose log can now be
// opened. It reports the first failure, if some output is still waiting.
func (l *Logger) NotifyDiskWriteable() error {
	return l.flushPending()
}

func (l *Logger) flushPending() error {
	l.mu.Lock()
	var waiting []*logFile
	for _, lf := range l.files {
		if len(lf.pending) > 0 || lf.dropped > 0 {
			waiting = append(waiting, lf)
		}
	}
	l.mu.Unlock()
	var first error
	for _, lf := range waiting {
		if err := lf.flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// retrier writes buffered output on its own once its log can be opened.
// It sleeps while nothing is buffered.
func (l *Logger) retrier() {
	defer l.wg.Done()
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		t := time.NewTicker(l.opts.Retry)
		for l.flushPending() != nil || l.hasPending() {
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
		}
		t.Stop()
	}
}

func (l *Logger) hasPending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buffered > 0
}

// Stats returns the current counters.
func (l *Logger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Buffered: l.buffered, Dropped: l.dropped, Open: len(l.files)}
}

// Close stops the background retries. Ptys still open go on being copied
// until their processes close them; output still buffered stays in memory.
func (l *Logger) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.done)
	l.wg.Wait()
}

// Wait waits until every pty handed out has been closed by all its
// writers and copied, or detached (tests).
func (l *Logger) Wait() { l.readers.Wait() }

// chunk is output kept in memory, with its place in the overall order.
type chunk struct {
	seq  uint64
	data []byte
}

// logFile is one log file, shared by every process of a job instance.
type logFile struct {
	l    *Logger
	name string
	path string
	// readers are the running readers of ptys and pipes into this log
	// (guarded by Logger.mu).
	readers map[*reader]struct{}

	// wmu serialises everything done with the open file.
	wmu      sync.Mutex
	f        *os.File
	dev, ino uint64
	last     byte        // last byte written, to start the dropped note on a line of its own
	plainEOL atomic.Bool // lines end in "\n" (event log), not "\r\n" (pty output); no lock: the loop sets it
	lastTry  time.Time   // last failed open, while output is pending
	lastErr  error

	// Guarded by l.mu.
	refs         int
	pending      []chunk
	pendingBytes int
	dropped      int // bytes lost since the last note in the file
}

// IOThreads bounds the goroutines in file system calls on log files at
// once (open, stat, write, chmod). A write to a regular file cannot be
// made non-blocking, and each one that blocks (a frozen file system, a
// hung NFS server) holds an OS thread: without a bound, forty blocked logs
// took forty threads, and where the daemon may not create one (a pids
// limit) the Go runtime aborts the process. The others wait for a slot
// parked, which holds no thread. See docs/decisions.md.
const IOThreads = 4

func (l *Logger) ioEnter() { l.io <- struct{}{} }
func (l *Logger) ioLeave() { <-l.io }

// write writes p to the log, or keeps it in memory if the log cannot be
// opened. p is not retained.
func (lf *logFile) write(p []byte) {
	lf.wmu.Lock()
	defer lf.wmu.Unlock()
	lf.l.ioEnter()
	defer lf.l.ioLeave()
	lf.checkRotated()
	if lf.f == nil {
		l := lf.l
		l.mu.Lock()
		waiting := len(lf.pending) > 0
		l.mu.Unlock()
		// While output waits, retry the open at most every Retry: a
		// chatty job in early boot should not cost an open per read.
		if !waiting || time.Since(lf.lastTry) >= l.opts.Retry {
			lf.openLocked()
		}
		if lf.f == nil {
			lf.keep(p)
			// The failed open woke the retrier before p was kept: wake
			// it again, or p waits for the next write.
			select {
			case l.wake <- struct{}{}:
			default:
			}
			return
		}
	}
	if !lf.writePendingLocked() {
		lf.keep(p)
		return
	}
	lf.writeLocked(p)
}

// flush writes what is pending, if the file can be opened.
func (lf *logFile) flush() error {
	lf.wmu.Lock()
	defer lf.wmu.Unlock()
	// Detach has handed the pending output over: writing it here too
	// would write it twice.
	lf.l.mu.Lock()
	detached := lf.l.detached
	lf.l.mu.Unlock()
	if detached {
		return fmt.Errorf("%s: %w", lf.path, errDetached)
	}
	lf.l.ioEnter()
	defer lf.l.ioLeave()
	lf.checkRotated()
	if lf.f == nil {
		lf.openLocked()
	}
	if lf.f == nil {
		return fmt.Errorf("%s: %w", lf.path, lf.lastErr)
	}
	lf.writePendingLocked()
	l := lf.l
	l.mu.Lock()
	f := l.forgetLocked(lf)
	l.mu.Unlock()
	if f != nil {
		f.Close()
	}
	return nil
}

// errNotRegular refuses a log path that is not a regular file: a FIFO
// would block every write (and a re-exec) until someone reads it.
var errNotRegular = errors.New("not a regular file")

// openLocked opens (creating if needed) the log file. wmu is held.
// O_NONBLOCK: opening a FIFO (or a device) must not wait for its other
// end; what is opened must then be a regular file.
func (lf *logFile) openLocked() {
	flags := unix.O_WRONLY | unix.O_APPEND | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	fd, err := unix.Open(lf.path, flags|unix.O_CREAT|unix.O_EXCL, 0o640)
	created := err == nil
	if errors.Is(err, unix.EEXIST) {
		fd, err = unix.Open(lf.path, flags, 0)
		if errors.Is(err, unix.ENXIO) { // a FIFO nobody reads
			err = errNotRegular
		}
	}
	var st unix.Stat_t
	if err == nil {
		if err = unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			err = errNotRegular
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if errors.Is(err, errNotRegular) && !errors.Is(lf.lastErr, errNotRegular) {
		lf.l.warnf("refusing log %s: %v; its output is kept in memory", lf.path, err)
	}
	if err != nil {
		lf.lastTry, lf.lastErr = time.Now(), err
		select {
		case lf.l.wake <- struct{}{}:
		default:
		}
		return
	}
	// A regular file: blocking mode again, so that os.NewFile does not
	// try the poller, which refuses regular files.
	unix.SetNonblock(fd, false)
	if created {
		// The daemon's umask must not narrow (or widen) the mode; it
		// cannot be changed for one open without racing spawns.
		unix.Fchmod(fd, 0o640)
	}
	lf.f = os.NewFile(uintptr(fd), lf.path)
	lf.dev, lf.ino = st.Dev, st.Ino
	lf.lastErr = nil
	if st.Size == 0 {
		lf.last = 0
	} else {
		lf.last = '\n' // an existing file: assume it ends a line
	}
}

// checkRotated closes the file when its path now names another file or
// none (logrotate renamed or deleted it), so that the next write opens a
// fresh file at the path. wmu is held.
func (lf *logFile) checkRotated() {
	if lf.f == nil {
		return
	}
	var st unix.Stat_t
	err := unix.Stat(lf.path, &st)
	if err == nil && st.Dev == lf.dev && st.Ino == lf.ino {
		return
	}
	lf.f.Close()
	lf.f = nil
}

// writePendingLocked writes the dropped note and the buffered output, in
// order. It reports false when the file had to be given up on the way
// (the rest stays pending). wmu is held and lf.f is open.
func (lf *logFile) writePendingLocked() bool {
	l := lf.l
	for {
		l.mu.Lock()
		dropped := lf.dropped
		var c chunk
		if dropped == 0 && len(lf.pending) > 0 {
			c = lf.pending[0]
		}
		l.mu.Unlock()
		if dropped > 0 {
			note := fmt.Sprintf("[init: %d bytes of output were lost]%s", dropped, lf.eol())
			if lf.last != 0 && lf.last != '\n' {
				note = lf.eol() + note
			}
			if err := lf.rawWrite([]byte(note)); err != nil {
				return !lf.failed(err)
			}
			l.mu.Lock()
			lf.dropped -= dropped
			l.mu.Unlock()
			continue
		}
		if c.data == nil {
			return true
		}
		err := lf.rawWrite(c.data)
		l.mu.Lock()
		// While it was written, the overall bound may have trimmed the
		// chunk or dropped it (the bytes then count as both written and
		// dropped: rare, and never a loss).
		if len(lf.pending) > 0 && lf.pending[0].seq == c.seq {
			n := len(lf.pending[0].data)
			if err == nil {
				lf.pending[0] = chunk{}
				lf.pending = lf.pending[1:]
				lf.pendingBytes -= n
				l.buffered -= n
			}
		}
		if len(lf.pending) == 0 {
			lf.pending = nil
		}
		l.mu.Unlock()
		if err != nil {
			return !lf.failed(err)
		}
	}
}

// writeLocked writes p to the open file; on failure p is buffered or
// counted as dropped.
func (lf *logFile) writeLocked(p []byte) {
	if err := lf.rawWrite(p); err != nil {
		if lf.failed(err) {
			lf.keep(p)
		} else {
			lf.drop(len(p))
		}
	}
}

func (lf *logFile) rawWrite(p []byte) error {
	for len(p) > 0 {
		n, err := lf.f.Write(p)
		if n > 0 {
			lf.last = p[n-1]
		}
		p = p[n:]
		if err != nil {
			return err
		}
	}
	return nil
}

// failed handles a write error and reports whether the data should be
// kept for later (the file was given up) rather than dropped (disk full).
func (lf *logFile) failed(err error) bool {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return false
	}
	lf.l.logf("writing %s: %v", lf.path, err)
	lf.f.Close()
	lf.f = nil
	lf.lastTry, lf.lastErr = time.Now(), err
	select {
	case lf.l.wake <- struct{}{}:
	default:
	}
	return true
}

func (lf *logFile) eol() string {
	if lf.plainEOL.Load() {
		return "\n"
	}
	return "\r\n"
}

func (lf *logFile) drop(n int) {
	l := lf.l
	l.mu.Lock()
	lf.dropped += n
	l.dropped += uint64(n)
	l.mu.Unlock()
}

// keep buffers a copy of p, dropping the oldest output past the bounds.
func (lf *logFile) keep(p []byte) {
	l := lf.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.opts.JobLimit {
		cut := len(p) - l.opts.JobLimit
		lf.dropped += cut
		l.dropped += uint64(cut)
		p = p[cut:]
	}
	l.seq++
	lf.pending = append(lf.pending, chunk{seq: l.seq, data: append([]byte(nil), p...)})
	lf.pendingBytes += len(p)
	l.buffered += len(p)
	if over := lf.pendingBytes - l.opts.JobLimit; over > 0 {
		l.trimLocked(lf, over)
	}
	for l.buffered > l.opts.TotalLimit {
		// The oldest chunk over all logs goes first.
		var oldest *logFile
		for _, o := range l.files {
			if len(o.pending) > 0 && (oldest == nil || o.pending[0].seq < oldest.pending[0].seq) {
				oldest = o
			}
		}
		if oldest == nil {
			break
		}
		l.trimLocked(oldest, l.buffered-l.opts.TotalLimit)
	}
}

// trimLocked drops up to n of the oldest pending bytes of lf. l.mu is held.
func (l *Logger) trimLocked(lf *logFile, n int) {
	for n > 0 && len(lf.pending) > 0 {
		c := &lf.pending[0]
		k := min(n, len(c.data))
		c.data = c.data[k:]
		n -= k
		lf.pendingBytes -= k
		l.buffered -= k
		lf.dropped += k
		l.dropped += uint64(k)
		if len(c.data) == 0 {
			lf.pending[0] = chunk{}
			lf.pending = lf.pending[1:]
		}
	}
	if len(lf.pending) == 0 {
		lf.pending = nil
	}
}
