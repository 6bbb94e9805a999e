package logger

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileName(t *testing.T) {
	for _, c := range []struct{ job, inst, want string }{
		{"foo", "", "foo.log"},
		{"foo/bar", "wibble", "foo_bar-wibble.log"},
		{"a/b/c", "x/y", "a_b_c-x_y.log"},
	} {
		if got := FileName(c.job, c.inst); got != c.want {
			t.Errorf("FileName(%q, %q) = %q, want %q", c.job, c.inst, got, c.want)
		}
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Output through a pty reaches the file after the slave is closed, with
// "\n" as "\r\n"; the file is 0640 even under a narrow umask.
func TestPTYToFile(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	slave, err := l.Open("job/x", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "job_x.log")); !os.IsNotExist(err) {
		t.Fatalf("log exists before any output: %v", err)
	}
	slave.WriteString("one\ntwo\x00\n")
	slave.Close()
	l.Wait()
	if got := read(t, filepath.Join(dir, "job_x.log")); got != "one\r\ntwo\x00\r\n" {
		t.Errorf("log = %q", got)
	}
	st, _ := os.Stat(filepath.Join(dir, "job_x.log"))
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	if s := l.Stats(); s.Open != 0 || s.Buffered != 0 {
		t.Errorf("stats after the end: %+v", s)
	}
}

// Bounds: per log and overall, the oldest output goes first and the file
// later says how much.
func TestEarlyBufferBounds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	l := New(Options{Dir: dir, JobLimit: 100, TotalLimit: 150, Retry: time.Hour})
	defer l.Close()
	a, b := l.acquire("a.log"), l.acquire("b.log")
	a.write([]byte(strings.Repeat("a", 80)))
	b.write([]byte(strings.Repeat("b", 80))) // total 160: a loses 10
	a.write([]byte(strings.Repeat("A", 50))) // a holds 120: loses 20; total 180: a loses 30
	if s := l.Stats(); s.Buffered != 150 || s.Dropped != 60 {
		t.Fatalf("stats %+v", s)
	}
	if err := l.NotifyDiskWriteable(); err == nil {
		t.Fatal("flush into a missing directory succeeded")
	}
	os.Mkdir(dir, 0o755)
	if err := l.NotifyDiskWriteable(); err != nil {
		t.Fatal(err)
	}
	want := "[init: 60 bytes of output were lost]\r\n" + strings.Repeat("a", 20) + strings.Repeat("A", 50)
	if got := read(t, filepath.Join(dir, "a.log")); got != want {
		t.Errorf("a.log = %q", got)
	}
	// Later output follows, without another note.
	a.write([]byte("later"))
	if got := read(t, filepath.Join(dir, "a.log")); got != want+"later" {
		t.Errorf("a.log = %q", got)
	}
	if got := read(t, filepath.Join(dir, "b.log")); got != strings.Repeat("b", 80) {
		t.Errorf("b.log = %q", got)
	}
	l.release(a)
	l.release(b)
	if s := l.Stats(); s.Open != 0 || s.Buffered != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A log whose processes ended keeps its output until the directory can be
// written, and the background retry writes it.
func TestRetryAfterEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	l := New(Options{Dir: dir, Retry: 20 * time.Millisecond})
	defer l.Close()
	slave, err := l.Open("gone", "1")
	if err != nil {
		t.Fatal(err)
	}
	slave.WriteString("bye\n")
	slave.Close()
	l.Wait()
	if s := l.Stats(); s.Buffered != 5 {
		t.Fatalf("stats %+v", s)
	}
	os.Mkdir(dir, 0o755)
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Buffered != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := read(t, filepath.Join(dir, "gone-1.log")); got != "bye\r\n" {
		t.Errorf("log = %q", got)
	}
	if s := l.Stats(); s.Open != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Rename and delete are noticed at the next write.
func TestRotatedFileReplaced(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	lf := l.acquire("r.log")
	defer l.release(lf)
	p := filepath.Join(dir, "r.log")
	lf.write([]byte("1\n"))
	os.Rename(p, p+".1")
	lf.write([]byte("2\n"))
	os.Remove(p)
	lf.write([]byte("3\n"))
	if read(t, p+".1") != "1\n" || read(t, p) != "3\n" {
		t.Errorf("got %q and %q", read(t, p+".1"), read(t, p))
	}
}

func TestEventLogLines(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	ev := l.EventLog()
	ev.Event("go", []string{"A=1", "B=two words", "C=\n"})
	ev.Goal("go", "svc", "", "start")
	ev.Goal("go", "inst", "x y", "stop")
	ev.Close()
	l.Close()
	got := read(t, filepath.Join(dir, EventLogName))
	var stripped []string
	for _, line := range strings.SplitAfter(got, "\n") {
		if line != "" {
			_, rest, _ := strings.Cut(line, " ")
			stripped = append(stripped, rest)
		}
	}
	want := []string{"event go A=1 \"B=two words\" \"C=\\n\"\n", "  go: start svc\n", "  go: stop inst (\"x y\")\n"}
	if strings.Join(stripped, "") != strings.Join(want, "") {
		t.Errorf("events.log:\n%s", got)
	}
}

// A chatty writer that keeps the pty full: every byte arrives, in order,
// with "\n" as "\r\n", and the copy neither stalls nor loses a readiness
// report between its reads (the writer blocks until the reader drains).
func TestPTYBulk(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	var want, chunk strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&chunk, "line %04d %s\n", i, strings.Repeat("x", i%90))
	}
	const repeat = 80 // about 4 MB per pty
	crlf := strings.ReplaceAll(chunk.String(), "\n", "\r\n")
	for i := 0; i < repeat; i++ {
		want.WriteString(crlf)
	}
	for round := 0; round < 3; round++ {
		slave, err := l.Open("bulk", fmt.Sprint(round))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for i := 0; i < repeat; i++ {
				// Small and large writes, so the reader sees both.
				s := chunk.String()
				for len(s) > 0 {
					k := min(len(s), 512+i%5*16000)
					slave.WriteString(s[:k])
					s = s[k:]
				}
			}
			slave.Close()
		}()
	}
	done := make(chan struct{})
	go func() { l.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("copy stalled")
	}
	for round := 0; round < 3; round++ {
		if got := read(t, filepath.Join(dir, fmt.Sprintf("bulk-%d.log", round))); got != want.String() {
			t.Errorf("log %d: %d bytes, want %d", round, len(got), want.Len())
		}
	}
}

// Output of a process that has ended is in the log before anything a
// later process of the same instance writes: Open takes what the earlier
// ptys hold first (a main process's last line before post-stop's first).
func TestOrderAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	l := New(Options{Dir: dir})
	defer l.Close()
	for i := 0; i < 100; i++ {
		job := fmt.Sprintf("job%d", i)
		first, err := l.Open(job, "")
		if err != nil {
			t.Fatal(err)
		}
		first.WriteString("first\n")
		first.Close()
		second, err := l.OpenPipe(job, "")
		if err != nil {
			t.Fatal(err)
		}
		second.WriteString("second\n")
		second.Close()
	}
	for i := 0; i < 100; i++ {
		p := filepath.Join(dir, fmt.Sprintf("job%d.log", i))
		want := "first\r\nsecond\n"
		waitFor(t, p, func() bool { b, _ := os.ReadFile(p); return len(b) >= len(want) })
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Fatalf("%s: %q, want %q", p, b, want)
		}
	}
}
