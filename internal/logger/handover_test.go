package logger

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	v, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("fd %d: %v", fd, err)
	}
	return v&unix.FD_CLOEXEC != 0
}

func readMaybe(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitReaders waits for every reader of l to end (output closed, copied).
func waitReaders(t *testing.T, l *Logger) {
	t.Helper()
	done := make(chan struct{})
	go func() { l.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("readers did not end")
	}
}

// simulateExec stands for the exec between Detach and Adopt, in one
// process: the old image's *os.File objects (and its poller's entries)
// go, the kernel's open files stay. The fds are duplicated (without
// close-on-exec, as an exec leaves them) because a second *os.File for a
// number this process's poller already has could not be polled.
func simulateExec(t *testing.T, old *Logger, h Handover) Handover {
	t.Helper()
	var out Handover
	for _, r := range h.Readers {
		fd, err := unix.Dup(r.FD)
		if err != nil {
			t.Fatal(err)
		}
		r.FD = fd
		out.Readers = append(out.Readers, r)
	}
	old.mu.Lock()
	held := old.held
	old.held = nil
	old.mu.Unlock()
	for _, r := range held {
		r.f.Close()
	}
	// Through JSON, as the daemon passes it.
	out.Files = h.Files
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back Handover
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

// Output written before, during (in flight) and after Detach, and after
// Adopt, all reaches the logs once and in order: a pty's with "\r\n", a
// pipe's unchanged. Detach clears close-on-exec, Adopt sets it again.
func TestHandoverAdopt(t *testing.T) {
	dir := t.TempDir()
	l1 := New(Options{Dir: dir})
	defer l1.Close()
	slave, w := openTTYAndPipe(t, l1)
	ttyLog, pipeLog := filepath.Join(dir, "tty.log"), filepath.Join(dir, "pipe.log")

	slave.WriteString("before\n")
	w.WriteString("before\n")
	waitFor(t, "output before Detach", func() bool {
		return readMaybe(ttyLog) == "before\r\n" && readMaybe(pipeLog) == "before\n"
	})
	// In flight: read by the one Logger or the other, once.
	slave.WriteString("racing\n")
	w.WriteString("racing\n")
	h, err := l1.Detach()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Readers) != 2 || len(h.Files) != 0 ||
		h.Readers[0].File != "pipe.log" || !h.Readers[0].Pipe ||
		h.Readers[1].File != "tty.log" || h.Readers[1].Pipe {
		t.Fatalf("handover %+v", h)
	}
	// The Logger holds the files: the finalizer must not close the fds.
	runtime.GC()
	runtime.GC()
	for _, r := range h.Readers {
		if cloexec(t, r.FD) {
			t.Errorf("%s: fd %d still close-on-exec after Detach", r.File, r.FD)
		}
	}
	if _, err := l1.Open("other", ""); !errors.Is(err, errDetached) {
		t.Errorf("Open while detached: %v", err)
	}
	if _, err := l1.OpenPipe("other", ""); !errors.Is(err, errDetached) {
		t.Errorf("OpenPipe while detached: %v", err)
	}
	if s := l1.Stats(); s.Open != 2 {
		t.Errorf("stats while detached: %+v", s)
	}
	slave.WriteString("after\n")
	w.WriteString("after\n")

	h = simulateExec(t, l1, h)
	l2 := New(Options{Dir: dir})
	defer l2.Close()
	if err := l2.Adopt(h); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.Readers {
		if !cloexec(t, r.FD) {
			t.Errorf("%s: fd %d not close-on-exec after Adopt", r.File, r.FD)
		}
	}
	slave.WriteString("end\n")
	w.WriteString("end\n")
	slave.Close()
	w.Close()
	waitReaders(t, l2)
	if got := read(t, ttyLog); got != "before\r\nracing\r\nafter\r\nend\r\n" {
		t.Errorf("tty.log = %q", got)
	}
	if got := read(t, pipeLog); got != "before\nracing\nafter\nend\n" {
		t.Errorf("pipe.log = %q", got)
	}
	if s := l2.Stats(); s.Open != 0 || s.Buffered != 0 {
		t.Errorf("stats at the end: %+v", s)
	}
}

// Output buffered because the directory cannot be written is handed
// over with its dropped count; the successor writes it, note first, once
// the directory exists; the predecessor does not write it too.
func TestHandoverPending(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	opts := Options{Dir: dir, JobLimit: 16, Retry: time.Hour}
	l1 := New(opts)
	defer l1.Close()
	slave, err := l1.Open("tty", "")
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	w, err := l1.OpenPipe("pipe", "")
	if err != nil {
		t.Fatal(err)
	}
	slave.WriteString("first line\nsecond line\n")
	w.WriteString("pipe out\n")
	w.Close() // this job is over; its output waits
	crlf := "first line\r\nsecond line\r\n"
	kept, lost := crlf[len(crlf)-16:], len(crlf)-16
	waitFor(t, "buffered output, the pipe's reader ended", func() bool {
		running := runningReaders(l1)
		s := l1.Stats()
		return running == 1 && s.Buffered == 16+9 && s.Dropped == uint64(lost)
	})
	h, err := l1.Detach()
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []HandoverFile{
		{File: "pipe.log", Pending: []byte("pipe out\n"), PlainEOL: true},
		{File: "tty.log", Pending: []byte(kept), Dropped: lost},
	}
	if !reflect.DeepEqual(h.Files, wantFiles) {
		t.Errorf("files %+v\nwant %+v", h.Files, wantFiles)
	}
	if len(h.Readers) != 1 || h.Readers[0].File != "tty.log" {
		t.Fatalf("readers %+v", h.Readers)
	}

	h = simulateExec(t, l1, h)
	l2 := New(opts)
	defer l2.Close()
	if err := l2.Adopt(h); err != nil {
		t.Fatal(err)
	}
	if s := l2.Stats(); s.Buffered != 16+9 || s.Open != 2 {
		t.Errorf("stats after Adopt: %+v", s)
	}
	if err := l2.NotifyDiskWriteable(); err == nil {
		t.Fatal("flush into a missing directory succeeded")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l1.NotifyDiskWriteable(); !errors.Is(err, errDetached) {
		t.Errorf("the detached Logger flushed: %v", err)
	}
	if err := l2.NotifyDiskWriteable(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[init: %d bytes of output were lost]\r\n", lost) + kept
	if got := read(t, filepath.Join(dir, "tty.log")); got != want {
		t.Errorf("tty.log = %q, want %q", got, want)
	}
	if got := read(t, filepath.Join(dir, "pipe.log")); got != "pipe out\n" {
		t.Errorf("pipe.log = %q", got)
	}
	// The adopted reader goes on after the pending output.
	slave.WriteString("third\n")
	slave.Close()
	waitReaders(t, l2)
	if got := read(t, filepath.Join(dir, "tty.log")); got != want+"third\r\n" {
		t.Errorf("tty.log = %q", got)
	}
	if s := l2.Stats(); s.Open != 0 || s.Buffered != 0 {
		t.Errorf("stats at the end: %+v", s)
	}
}

// A failed exec: Reattach resumes the readers on the same fds with
// close-on-exec set again, output written meanwhile follows in order,
// and Open works again. Twice, to reuse a reader that was detached.
func TestHandoverReattach(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	slave, w := openTTYAndPipe(t, l)
	var want strings.Builder
	for round := range 2 {
		for _, s := range []string{"before", "during"} {
			fmt.Fprintf(&want, "%s %d\n", s, round)
		}
		fmt.Fprintf(slave, "before %d\n", round)
		fmt.Fprintf(w, "before %d\n", round)
		h, err := l.Detach()
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Readers) != 2 {
			t.Fatalf("handover %+v", h)
		}
		if _, err := l.Detach(); !errors.Is(err, errDetached) {
			t.Errorf("second Detach: %v", err)
		}
		if _, err := l.Open("other", ""); !errors.Is(err, errDetached) {
			t.Errorf("Open while detached: %v", err)
		}
		fmt.Fprintf(slave, "during %d\n", round)
		fmt.Fprintf(w, "during %d\n", round)
		l.Reattach()
		for _, r := range h.Readers {
			if !cloexec(t, r.FD) {
				t.Errorf("%s: fd %d not close-on-exec after Reattach", r.File, r.FD)
			}
		}
	}
	l.Reattach() // not detached: nothing to do
	want.WriteString("after\n")
	slave.WriteString("after\n")
	w.WriteString("after\n")
	other, err := l.Open("other", "")
	if err != nil {
		t.Fatalf("Open after Reattach: %v", err)
	}
	other.WriteString("x\n")
	other.Close()
	slave.Close()
	w.Close()
	waitReaders(t, l)
	if got := read(t, filepath.Join(dir, "tty.log")); got != strings.ReplaceAll(want.String(), "\n", "\r\n") {
		t.Errorf("tty.log = %q", got)
	}
	if got := read(t, filepath.Join(dir, "pipe.log")); got != want.String() {
		t.Errorf("pipe.log = %q", got)
	}
	if got := read(t, filepath.Join(dir, "other.log")); got != "x\r\n" {
		t.Errorf("other.log = %q", got)
	}
	if s := l.Stats(); s.Open != 0 || s.Buffered != 0 {
		t.Errorf("stats at the end: %+v", s)
	}
}

// Readers waiting for output (some have had none at all) do not hold
// Detach up.
func TestHandoverDetachIdle(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	var outs []*os.File
	for i := range 4 {
		open := l.Open
		if i%2 == 1 {
			open = l.OpenPipe
		}
		f, err := open("idle", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		outs = append(outs, f)
	}
	outs[0].WriteString("x\n")
	outs[1].WriteString("x\n")
	waitFor(t, "the first output", func() bool {
		return readMaybe(filepath.Join(dir, "idle-0.log")) != "" && readMaybe(filepath.Join(dir, "idle-1.log")) != ""
	})
	type result struct {
		h   Handover
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		h, err := l.Detach()
		done <- result{h, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Detach hangs on idle readers")
	}
	t.Logf("Detach took %v", time.Since(start))
	if res.err != nil || len(res.h.Readers) != 4 {
		t.Fatalf("Detach: %+v, %v", res.h, res.err)
	}
	l.Reattach()
	for _, f := range outs {
		f.Close()
	}
	waitReaders(t, l)
}

// An fd that did not survive (or a bad name) is reported; the rest is
// adopted.
func TestAdoptBadFD(t *testing.T) {
	dir := t.TempDir()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	w := os.NewFile(uintptr(p[1]), "w")
	defer w.Close()
	l := New(Options{Dir: dir})
	defer l.Close()
	err := l.Adopt(Handover{Readers: []HandoverReader{
		{File: "gone.log", FD: 1 << 30},
		{File: "../out.log", FD: p[0], Pipe: true},
		{File: "p.log", FD: p[0], Pipe: true},
	}})
	if !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "gone.log") || !strings.Contains(err.Error(), "../out.log") {
		t.Errorf("Adopt: %v", err)
	}
	w.WriteString("ok\n")
	w.Close()
	waitReaders(t, l)
	if got := read(t, filepath.Join(dir, "p.log")); got != "ok\n" {
		t.Errorf("p.log = %q", got)
	}
}

// openTTYAndPipe opens job "tty" on a pty and job "pipe" on a pipe; the
// writing ends are closed with the test.
func openTTYAndPipe(t *testing.T, l *Logger) (slave, w *os.File) {
	t.Helper()
	slave, err := l.Open("tty", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	w, err = l.OpenPipe("pipe", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return slave, w
}

// Event-log lines waiting for the log directory are handed over too.
func TestHandoverEventLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	l1 := New(Options{Dir: dir})
	ev := l1.EventLog()
	ev.Event("before-reexec", []string{"A=1"})
	ev.Close()
	h, err := l1.Detach()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Files) != 1 || h.Files[0].File != EventLogName || !strings.Contains(string(h.Files[0].Pending), "event before-reexec A=1\n") || !h.Files[0].PlainEOL {
		t.Fatalf("handover %+v", h.Files)
	}
	l2 := New(Options{Dir: dir})
	defer l2.Close()
	if err := l2.Adopt(h); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ev2 := l2.EventLog()
	ev2.Event("after-reexec", nil)
	ev2.Close()
	l2.NotifyDiskWriteable()
	waitFor(t, "both lines", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, EventLogName))
		i, j := strings.Index(string(b), "event before-reexec"), strings.Index(string(b), "event after-reexec")
		return i >= 0 && j > i
	})
}

// runningReaders counts the readers still copying into l's logs.
func runningReaders(l *Logger) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, lf := range l.files {
		n += len(lf.readers)
	}
	return n
}

// blockIO takes every file-I/O slot of l, so that its writers block as on
// a frozen file system; the returned func gives them back.
func blockIO(l *Logger) (release func()) {
	for k := 0; k < IOThreads; k++ {
		l.io <- struct{}{}
	}
	return func() {
		for k := 0; k < IOThreads; k++ {
			<-l.io
		}
	}
}

// inFlight reports whether a reader of the log name holds output it could
// not write yet.
func inFlight(l *Logger, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lf := l.files[name]
	if lf == nil {
		return false
	}
	for r := range lf.readers {
		r.imu.Lock()
		n := len(r.inflight)
		r.imu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// A reader whose write cannot complete (here: no I/O slot; on a machine,
// a frozen file system) does not hold Detach past its deadline: its fd
// goes over as a duplicate and what it was writing as pending output, and
// the next image writes everything once, in order.
func TestHandoverBusyReader(t *testing.T) {
	dir := t.TempDir()
	l1 := New(Options{Dir: dir})
	defer l1.Close()
	w, err := l1.OpenPipe("busy", "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	logPath := filepath.Join(dir, "busy.log")
	w.WriteString("one\n")
	waitFor(t, "the first line", func() bool { return readMaybe(logPath) == "one\n" })
	release := blockIO(l1)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	w.WriteString("two\n")
	waitFor(t, "the reader to be stuck writing", func() bool { return inFlight(l1, "busy.log") })

	start := time.Now()
	h, err := l1.DetachBy(time.Now().Add(100 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Detach took %v with a stuck writer", took)
	}
	if h.Busy != 1 || len(h.Readers) != 1 || len(h.Files) != 1 || string(h.Files[0].Pending) != "two\n" || !h.Files[0].PlainEOL {
		t.Fatalf("handover %+v", h)
	}
	if cloexec(t, h.Readers[0].FD) {
		t.Fatal("the busy reader's fd is close-on-exec")
	}
	w.WriteString("three\n") // waits in the pipe for the next image
	h2 := simulateExec(t, l1, h)
	l2 := New(Options{Dir: dir})
	defer l2.Close()
	if err := l2.Adopt(h2); err != nil {
		t.Fatal(err)
	}
	w.WriteString("four\n")
	waitFor(t, "every line once, in order", func() bool { return readMaybe(logPath) == "one\ntwo\nthree\nfour\n" })
	// The old image's write would complete only now; an exec ends it first.
	release()
	released = true
}

// A failed exec after a busy handover: the reader resumes once its write
// completes, and nothing is lost or doubled.
func TestHandoverBusyReattach(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	w, err := l.OpenPipe("busy", "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	logPath := filepath.Join(dir, "busy.log")
	release := blockIO(l)
	w.WriteString("one\n")
	waitFor(t, "the reader to be stuck writing", func() bool { return inFlight(l, "busy.log") })
	h, err := l.DetachBy(time.Now().Add(50 * time.Millisecond))
	if err != nil || h.Busy != 1 {
		release()
		t.Fatalf("DetachBy: %+v %v", h, err)
	}
	dup := h.Readers[0].FD
	l.Reattach()
	if _, err := unix.FcntlInt(uintptr(dup), unix.F_GETFD, 0); err == nil {
		t.Error("the duplicate handed over is still open after Reattach")
	}
	release()
	w.WriteString("two\n")
	waitFor(t, "both lines once", func() bool { return readMaybe(logPath) == "one\ntwo\n" })
	w.WriteString("three\n")
	waitFor(t, "the reader to go on", func() bool { return readMaybe(logPath) == "one\ntwo\nthree\n" })
	// A second detach finds it as an ordinary reader.
	h, err = l.Detach()
	if err != nil || h.Busy != 0 || len(h.Readers) != 1 {
		t.Fatalf("second Detach: %+v %v", h, err)
	}
	l.Reattach()
}

// A FIFO at a log's path is refused (with one warning), without blocking,
// whether or not someone reads it: the output waits in memory.
func TestLogFIFORefused(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var warnings []string
	l := New(Options{Dir: dir, Retry: 20 * time.Millisecond, Warnf: func(f string, a ...any) {
		mu.Lock()
		warnings = append(warnings, fmt.Sprintf(f, a...))
		mu.Unlock()
	}})
	defer l.Close()
	fifo := filepath.Join(dir, "fifo.log")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, withReader := range []bool{false, true} {
		if withReader {
			rfd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(rfd)
		}
		w, err := l.OpenPipe("fifo", "")
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString("kept\n")
		w.Close()
		waitFor(t, "the output to be kept in memory", func() bool { return l.Stats().Buffered > 0 })
		waitReaders(t, l)
	}
	time.Sleep(100 * time.Millisecond) // retries: no more warnings
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "not a regular file") || !strings.Contains(warnings[0], fifo) {
		t.Fatalf("warnings: %q", warnings)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st, err)
	}
}
