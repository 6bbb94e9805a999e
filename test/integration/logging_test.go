package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// logDir is where a session started by startSession puts job logs.
func (s *session) logDir() string { return filepath.Join(s.rt, "cache", "upstart") }

func readLog(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// waitLog waits until the log at path satisfies ok and returns it.
func waitLog(t testing.TB, path, what string, ok func(string) bool) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = readLog(t, path)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s in %s; it holds %q", what, path, trunc(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func trunc(s string) string {
	if len(s) > 400 {
		return s[:200] + " ... " + s[len(s)-200:]
	}
	return s
}

func (s *session) mustCtl(args ...string) string {
	s.t.Helper()
	out, errs, code := s.ctl("initctl", args...)
	if code != 0 {
		s.t.Fatalf("initctl %v: %q %q %d\ndaemon said:\n%s", args, out, errs, code, s.stderr.String())
	}
	return out
}

// Output through a pty: "\n" becomes "\r\n"; one file per instance, named
// as Upstart does; created on first output, mode 0640; all processes of an
// instance append to it; jobs that print nothing and console none jobs
// have none.
func TestLoggingBasics(t *testing.T) {
	s := startSession(t, map[string]string{
		"hello":   "task\nexec echo hello world\n",
		"quiet":   "task\nexec true\n",
		"none":    "task\nconsole none\nexec echo nothing\n",
		"foo/bar": "task\ninstance $X\npre-start exec echo pre $X\nexec printf 'main\\000%s\\n' $X\npost-stop exec echo post\n",
		"stderr":  "task\nscript\necho out\necho err >&2\nend script\n",
		"tty":     "task\nscript\n[ -t 1 ] && echo stdout is a tty\n[ -t 0 ] || echo stdin is not\nend script\n",
	})
	for _, a := range [][]string{{"start", "hello"}, {"start", "quiet"}, {"start", "none"},
		{"start", "foo/bar", "X=wib/ble"}, {"start", "stderr"}, {"start", "tty"}} {
		s.mustCtl(a...)
	}
	dir := s.logDir()
	got := waitLog(t, filepath.Join(dir, "hello.log"), "hello", func(s string) bool { return s != "" })
	if got != "hello world\r\n" {
		t.Errorf("hello.log = %q", got)
	}
	st, err := os.Stat(filepath.Join(dir, "hello.log"))
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("hello.log mode: %v %v", st.Mode(), err)
	}
	want := "pre wib/ble\r\nmain\x00wib/ble\r\npost\r\n"
	waitLog(t, filepath.Join(dir, "foo_bar-wib_ble.log"), "all three processes", func(s string) bool { return s == want })
	waitLog(t, filepath.Join(dir, "stderr.log"), "stdout and stderr", func(s string) bool { return s == "out\r\nerr\r\n" })
	waitLog(t, filepath.Join(dir, "tty.log"), "tty checks", func(s string) bool {
		return s == "stdout is a tty\r\nstdin is not\r\n"
	})
	time.Sleep(200 * time.Millisecond)
	for _, n := range []string{"quiet.log", "none.log"} {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v)", n, err)
		}
	}
	// A second run appends.
	s.mustCtl("start", "hello")
	waitLog(t, filepath.Join(dir, "hello.log"), "second run", func(s string) bool { return s == "hello world\r\nhello world\r\n" })
}

// --no-log: console log is console none; --logdir moves the logs.
func TestLoggingNoLogAndLogdir(t *testing.T) {
	s := startSession(t, map[string]string{"hello": "task\nexec echo hello\n"}, "--no-log")
	s.mustCtl("start", "hello")
	time.Sleep(200 * time.Millisecond)
	if ents, _ := os.ReadDir(s.logDir()); len(ents) != 0 {
		t.Errorf("--no-log wrote %v", ents)
	}
	other := t.TempDir()
	s2 := startSession(t, map[string]string{"hello": "task\nconsole log\nexec echo hello\n"}, "--logdir", other)
	s2.mustCtl("start", "hello")
	waitLog(t, filepath.Join(other, "hello.log"), "hello", func(s string) bool { return s == "hello\r\n" })
}

// logModes are the two ways `console log` output travels: a pty (the
// default, "\n" becomes "\r\n") and a pipe (`console log pipe`, unchanged).
var logModes = []struct {
	name, stanza, eol string
}{
	{"pty", "console log\n", "\r\n"},
	{"pipe", "console log pipe\n", "\n"},
}

// A process's last bytes are written even when it exits right after
// writing them, many times over.
func TestLoggingLastBytes(t *testing.T) {
	for _, m := range logModes {
		t.Run(m.name, func(t *testing.T) {
			s := startSession(t, map[string]string{
				"burst": "task\n" + m.stanza + "instance $N\nscript\nhead -c 200000 /dev/zero | tr '\\000' a\nprintf 'END %s' $N\nend script\n",
			})
			for i := 0; i < 20; i++ {
				s.mustCtl("start", "burst", "N="+strconv.Itoa(i))
			}
			for i := 0; i < 20; i++ {
				p := filepath.Join(s.logDir(), fmt.Sprintf("burst-%d.log", i))
				got := waitLog(t, p, "END", func(s string) bool { return strings.HasSuffix(s, "END "+strconv.Itoa(i)) })
				if len(got) != 200000+len("END ")+len(strconv.Itoa(i)) {
					t.Errorf("%s: %d bytes", p, len(got))
				}
			}
		})
	}
}

// A background child that keeps the pty (or pipe) open keeps logging
// after the process that started it has ended: here a forking daemon
// (`expect fork`), whose child stays the job's main process. (When a job
// stops, every process of it is killed, so the child must belong to a
// running job.)
func TestLoggingBackgroundChild(t *testing.T) {
	for _, m := range logModes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startSession(t, map[string]string{
				"parent": m.stanza + "expect fork\nscript\n(while [ ! -e " + dir + "/go ]; do sleep 0.05; done; echo from child; exec sleep 3600) &\necho $$ > " + dir + "/pid\necho from main\nend script\n",
			})
			s.mustCtl("start", "--no-wait", "parent")
			var pid int
			waitFor(t, "the main pid", func() bool {
				b, _ := os.ReadFile(filepath.Join(dir, "pid"))
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				return pid > 0
			})
			waitFor(t, "the main process to end", func() bool { _, err := os.Stat(fmt.Sprint("/proc/", pid)); return err != nil })
			p := filepath.Join(s.logDir(), "parent.log")
			waitLog(t, p, "main's line", func(s string) bool { return s == "from main"+m.eol })
			os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
			waitLog(t, p, "the child's line", func(s string) bool { return s == "from main"+m.eol+"from child"+m.eol })
		})
	}
}

// `console log pipe`: output reaches the same log file through a pipe,
// unchanged (no "\r"), and standard output is not a terminal.
func TestLoggingPipe(t *testing.T) {
	s := startSession(t, map[string]string{
		"plain": "task\nconsole log pipe\nscript\necho out\necho err >&2\n[ -t 1 ] || echo stdout is not a tty\nend script\n",
	})
	s.mustCtl("start", "plain")
	waitLog(t, filepath.Join(s.logDir(), "plain.log"), "three lines", func(s string) bool {
		return s == "out\nerr\nstdout is not a tty\n"
	})
}

// makeReadOnly makes dir read-only for the daemon: a read-only bind mount
// as root, permissions otherwise. It returns the function that undoes it.
func makeReadOnly(t *testing.T, dir string) (undo func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		os.Chmod(dir, 0o555)
		return func() { os.Chmod(dir, 0o755) }
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		needCap(t, "bind mount", err)
	}
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		needCap(t, "read-only remount", err)
	}
	undone := false
	t.Cleanup(func() {
		if !undone {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return func() {
		undone = true
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Fatal(err)
		}
	}
}

// needCap skips when a capability is missing, except in CI, where it fails.
func needCap(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

var lostRe = regexp.MustCompile(`^\[init: (\d+) bytes of output were lost\]\r\n`)

// Early boot: while the log directory is read-only, output waits in
// memory, also for jobs that end; initctl notify-disk-writeable writes it,
// in order. Past the per-log bound the oldest output is dropped and the
// file says how much.
func TestLoggingReadOnlyDirThenNotify(t *testing.T) {
	dir := t.TempDir()
	undo := makeReadOnly(t, dir)
	s := startSession(t, map[string]string{
		"early": "task\nscript\necho one\necho two\nend script\n",
		"big":   "task\nscript\nhead -c 1500000 /dev/zero | tr '\\000' b\necho\necho tail\nend script\n",
		"svc":   "script\necho svc up\nsleep 0.5\necho svc later\nexec sleep 3600\nend script\n",
	}, "--logdir", dir)
	s.mustCtl("start", "early")
	s.mustCtl("start", "big")
	s.mustCtl("start", "svc")
	time.Sleep(800 * time.Millisecond)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files in a read-only dir: %v", ents)
	}
	undo()
	s.mustCtl("notify-disk-writeable")
	// The flush is done when the command returns.
	if got := readLog(t, filepath.Join(dir, "early.log")); got != "one\r\ntwo\r\n" {
		t.Errorf("early.log = %q", got)
	}
	got := readLog(t, filepath.Join(dir, "big.log"))
	m := lostRe.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("big.log does not start with the dropped note: %q", trunc(got))
	}
	lost, _ := strconv.Atoi(m[1])
	total := 1500000 + len("\r\ntail\r\n")
	kept := got[len(m[0]):]
	if lost+len(kept) != total || len(kept) != 1<<20 || !strings.HasSuffix(kept, "bbb\r\ntail\r\n") {
		t.Errorf("big.log: lost %d, kept %d (total %d), ends %q", lost, len(kept), total, kept[len(kept)-20:])
	}
	// A running job's early and later output, in order, in one file.
	waitLog(t, filepath.Join(dir, "svc.log"), "svc lines", func(s string) bool { return s == "svc up\r\nsvc later\r\n" })
}

// A log directory that appears later is written to on its own, without
// notify-disk-writeable.
func TestLoggingMissingDirAppears(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	s := startSession(t, map[string]string{"early": "task\nexec echo early bird\n"}, "--logdir", dir)
	s.mustCtl("start", "early")
	time.Sleep(300 * time.Millisecond)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitLog(t, filepath.Join(dir, "early.log"), "early output", func(s string) bool { return s == "early bird\r\n" })
}

// seqJob prints numbered lines until stopped.
const seqJob = "script\ni=0\nwhile :; do echo line $i; i=$((i+1)); sleep 0.005; done\nend script\n"

// seqLines returns the numbers of the complete lines in s.
func seqLines(t *testing.T, s string) []int {
	t.Helper()
	var ns []int
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasSuffix(l, "\r\n") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "line "), "\r\n"))
		if err != nil {
			t.Fatalf("bad line %q", l)
		}
		ns = append(ns, n)
	}
	return ns
}

func consecutive(ns []int) bool {
	for i := 1; i < len(ns); i++ {
		if ns[i] != ns[i-1]+1 {
			return false
		}
	}
	return true
}

// logrotate's styles, without telling the daemon: rename ("nocreate" and
// "create") and copytruncate.
func TestLoggingRotation(t *testing.T) {
	s := startSession(t, map[string]string{"seq": seqJob})
	s.mustCtl("start", "seq")
	p := filepath.Join(s.logDir(), "seq.log")
	enough := func(s string) bool { return strings.Count(s, "\n") >= 20 }

	// rename, nocreate: a fresh file appears at the path.
	waitLog(t, p, "lines", enough)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	fresh := waitLog(t, p, "lines in a fresh file", enough)
	old := readLog(t, p+".1")
	all := append(seqLines(t, old), seqLines(t, fresh)...)
	if all[0] != 0 || !consecutive(all) {
		t.Errorf("lines lost or repeated across the rename: %v", all)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("fresh file mode %v", st.Mode())
	}

	// rename, create: logrotate makes the new file itself.
	if err := os.Rename(p, p+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	created := waitLog(t, p, "lines in the created file", enough)
	all = append(seqLines(t, readLog(t, p+".2")), seqLines(t, created)...)
	if !consecutive(all) || all[0] != seqLines(t, fresh)[0] {
		t.Errorf("lines lost or repeated across the second rename: %v", all)
	}

	// copytruncate: writing goes on at the new end, with no hole of NULs.
	data := readLog(t, p)
	if err := os.WriteFile(p+".3", []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	after := waitLog(t, p, "lines after truncation", enough)
	if strings.ContainsRune(after, 0) || !strings.HasPrefix(after, "line ") && !strings.Contains(after[:20], "\r\nline ") {
		t.Errorf("after copytruncate the log starts %q", after[:40])
	}
	s.mustCtl("stop", "seq")
}

// --log-events: every event, its environment and what handling it
// started or stopped.
func TestLoggingEvents(t *testing.T) {
	s := startSession(t, map[string]string{
		"svc":  "start on go\nstop on halt\nexec sleep 3600\n",
		"inst": "start on go\ninstance $WHO\nstop on halt\nexec sleep 3600\n",
	}, "--log-events")
	s.mustCtl("emit", "go", "WHO=a b", "X=1")
	s.mustCtl("emit", "halt")
	s.mustCtl("start", "svc") // a command, not an event: no goal line
	p := filepath.Join(s.logDir(), "events.log")
	got := waitLog(t, p, "events", func(s string) bool { return strings.Contains(s, "event started JOB=svc") })
	ts := `\S+ `
	for _, re := range []string{
		`(?m)^` + ts + `event go "WHO=a b" X=1\n` + ts + `  go: start inst \("a b"\)\n` + ts + `  go: start svc\n`,
		`(?m)^` + ts + `event halt\n` + ts + `  halt: stop inst \("a b"\)\n` + ts + `  halt: stop svc\n`,
		`(?m)^` + ts + `event starting JOB=svc INSTANCE=$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("events.log does not match %s:\n%s", re, got)
		}
	}
	if n := strings.Count(got, ": start svc"); n != 1 {
		t.Errorf("%d goal lines for svc start:\n%s", n, got)
	}
}

// vmHWM is the peak resident set of pid, in KiB.
func vmHWM(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

var _ = bytes.Equal

// A FIFO at a job's log path is refused with a warning, not opened for a
// blocking write: the output waits in memory, a re-exec is not held up by
// it (the logger's handover used to wait for the stuck writer for ever,
// with reaping stopped and the control socket closed), and the output is
// written once the path is a file again.
func TestLogFIFOAndReexec(t *testing.T) {
	s := startSession(t, map[string]string{
		"fifo": "console log\nexec sh -c 'echo hello; exec sleep 3600'\n",
	})
	if err := os.MkdirAll(s.logDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(s.logDir(), "fifo.log")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("start", "fifo")
	time.Sleep(300 * time.Millisecond) // the output reaches the logger
	listBefore := s.mustCtl("list")
	restartDaemon(t, s)
	if !strings.Contains(s.stderr.String(), "refusing log "+fifo+": not a regular file") {
		t.Fatalf("no word of the FIFO:\n%s", s.stderr.String())
	}
	if got := s.mustCtl("list"); got != listBefore {
		t.Fatalf("list changed:\n%s\n%s", listBefore, got)
	}
	os.Remove(fifo)
	waitLog(t, fifo, "the kept output in a regular file", func(c string) bool { return c == "hello\r\n" })
}
