// Package integration runs the real daemon (`init --user`, and `init` as
// PID 1 of a PID namespace) and drives it with the real `initctl`.
package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(toJSONEnv) != "" {
		stateToJSON()
	}
	dir, err := os.MkdirTemp("", "upstart-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	for _, n := range []string{"start", "stop", "restart", "reload", "status"} {
		os.Symlink("initctl", filepath.Join(dir, n))
	}
	for _, n := range []string{"reboot", "halt", "poweroff", "telinit", "runlevel"} {
		os.Symlink("shutdown", filepath.Join(dir, n))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// session is a running `init --user`.
type session struct {
	t       testing.TB
	cmd     *exec.Cmd
	confdir string
	rt      string
	address string
	stderr  *syncBuffer
	// initPath, if set, is the init binary to run; extraFiles are passed
	// as descriptors 3, 4, …
	initPath   string
	extraFiles []*os.File
}

type syncBuffer struct {
	ch  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.ch <- struct{}{}
	defer func() { <-b.ch }()
	return b.buf.Write(p)
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{ch: make(chan struct{}, 1)} }

func (b *syncBuffer) String() string {
	b.ch <- struct{}{}
	defer func() { <-b.ch }()
	return b.buf.String()
}

// startSession writes the given job files into a fresh conf dir and starts
// a session instance on it.
func startSession(t *testing.T, jobs map[string]string, args ...string) *session {
	t.Helper()
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for name, body := range jobs {
		writeJob(t, s.confdir, name, body)
	}
	return s.start(args...)
}

func (s *session) start(args ...string) *session {
	s.t.Helper()
	return s.startWith(append([]string{"--user", "--confdir", s.confdir, "--no-startup-event"}, args...))
}

// startWith starts init with exactly these arguments.
func (s *session) startWith(args []string) *session {
	t := s.t
	t.Helper()
	path := s.initPath
	if path == "" {
		path = filepath.Join(binDir, "init")
	}
	s.cmd = exec.Command(path, args...)
	s.cmd.ExtraFiles = s.extraFiles
	s.cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+s.rt, "XDG_CACHE_HOME="+s.rt+"/cache", "UPSTART_SESSION=")
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	file := filepath.Join(s.rt, "upstart", "sessions", fmt.Sprint(s.cmd.Process.Pid)+".session")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(file)
		if err == nil && strings.HasPrefix(string(data), "UPSTART_SESSION=") {
			s.address = strings.TrimSpace(strings.TrimPrefix(string(data), "UPSTART_SESSION="))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session file %s; daemon said:\n%s", file, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func (s *session) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
		s.t.Errorf("session instance did not exit on SIGTERM")
	}
}

func writeJob(t testing.TB, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, name+".conf")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ctl runs a control command (initctl or one of its names) against the
// session and returns stdout, stderr and the exit code.
func (s *session) ctl(prog string, args ...string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("%s %v: %v", prog, args, err)
	}
	return out.String(), errb.String(), code
}

// waitFor polls cond until it is true or 10 s have passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine, not a timing check
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
