package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/goupstart/upstart/internal/utmp"
)

// sandbox is init as PID 1 of new PID, mount and network namespaces,
// with tmpfs on /run and /var/log and a private /etc, so that utmp, wtmp,
// the shutdown pid file and /etc/nologin of the tools are the
// namespace's own and never the host's.
type sandbox struct {
	t       *testing.T
	cmd     *exec.Cmd
	pid     int // init, as the host sees it
	stderr  *syncBuffer
	etc     string // the sandbox's /etc, seen from the host
	confdir string
	out     string // a host directory jobs may write to (OUT in their env)
}

func startSandbox(t *testing.T, jobs map[string]string, args ...string) *sandbox {
	t.Helper()
	return startSandboxWith(t, "", jobs, args...)
}

// startSandboxWith runs the shell commands setup in the namespaces before
// init starts.
func startSandboxWith(t *testing.T, setup string, jobs map[string]string, args ...string) *sandbox {
	t.Helper()
	needRoot(t, "a PID namespace")
	needTool(t, "unshare")
	needTool(t, "nsenter")
	s := &sandbox{t: t, etc: t.TempDir(), confdir: t.TempDir(), out: t.TempDir(), stderr: newSyncBuffer()}
	for _, f := range []string{"passwd", "group", "hostname", "nsswitch.conf"} {
		if data, err := os.ReadFile("/etc/" + f); err == nil {
			os.WriteFile(filepath.Join(s.etc, f), data, 0o644)
		}
	}
	for name, body := range jobs {
		writeJob(t, s.confdir, name, strings.ReplaceAll(body, "$OUT", s.out))
	}
	script := `set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/lock
mount -t tmpfs tmpfs /var/log
mount --bind "$SANDBOX_ETC" /etc
` + setup + `
exec "$@"`
	s.cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", "--net", "--propagation", "private",
		"sh", "-c", script, "sh", filepath.Join(binDir, "init"), "--confdir", s.confdir}, args...)...)
	s.cmd.Env = append(os.Environ(), "SANDBOX_ETC="+s.etc)
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.pid > 0 {
			syscall.Kill(s.pid, syscall.SIGKILL)
		}
		s.cmd.Process.Kill()
		s.cmd.Wait()
		removeSystemCgroups()
	})
	s.awaitInit()
	return s
}

// awaitInit waits for the sandbox's init (the child of the unshare that
// started it) to exist and for its private socket to answer.
func (s *sandbox) awaitInit() {
	waitFor(s.t, "init to start", func() bool {
		for _, p := range processes() {
			if p.ppid == s.cmd.Process.Pid && strings.Contains(p.cmdline, "/init --confdir") {
				s.pid = p.pid
				return true
			}
		}
		return false
	})
	waitFor(s.t, "init to answer", func() bool {
		_, _, code := s.run(nil, "initctl", "version")
		return code == 0
	})
}

// run runs one of our tools (or any program, if prog holds a slash) in
// the sandbox's namespaces; it returns stdout, stderr and the exit code.
func (s *sandbox) run(prefix []string, prog string, args ...string) (string, string, int) {
	s.t.Helper()
	if !strings.Contains(prog, "/") {
		if _, err := os.Stat(filepath.Join(binDir, prog)); err == nil {
			prog = filepath.Join(binDir, prog)
		}
	}
	argv := append([]string{"-t", strconv.Itoa(s.pid), "-p", "-m", "-n", "--"}, prefix...)
	argv = append(append(argv, prog), args...)
	cmd := exec.Command("nsenter", argv...)
	cmd.Env = []string{"PATH=" + binDir + ":/usr/sbin:/usr/bin:/sbin:/bin"}
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

// events reads what the runlevel-recording job wrote.
func (s *sandbox) events() string {
	data, _ := os.ReadFile(filepath.Join(s.out, "runlevels"))
	return string(data)
}

func (s *sandbox) waitEvents(want string) {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for s.events() != want {
		if time.Now().After(deadline) {
			s.t.Fatalf("runlevel events %q, want %q\ninit said:\n%s", s.events(), want, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const recordRunlevels = `start on runlevel
task
exec sh -c 'echo "$RUNLEVEL $PREVLEVEL ${INIT_HALT:-none}" >> $OUT/runlevels'
`

// TestToolsRunlevels: telinit, runlevel, init as telinit, halt without
// --force, and the records in utmp and wtmp that who -r and last -x read.
func TestToolsRunlevels(t *testing.T) {
	s := startSandbox(t, map[string]string{"rl": recordRunlevels}, "--no-log", "--no-cgroups")
	expect := func(gotOut, gotErr string, gotCode int, out, errs string, code int) {
		t.Helper()
		if gotOut != out || gotErr != errs || gotCode != code {
			t.Fatalf("got %q %q %d, want %q %q %d", gotOut, gotErr, gotCode, out, errs, code)
		}
	}
	out, errs, code := s.run(nil, "runlevel")
	expect(out, errs, code, "unknown\n", "", 1)

	out, errs, code = s.run(nil, "telinit", "2")
	expect(out, errs, code, "", "", 0)
	s.waitEvents("2 N none\n")
	out, errs, code = s.run(nil, "runlevel")
	expect(out, errs, code, "N 2\n", "", 0)

	// Bad input changes nothing.
	out, errs, code = s.run(nil, "telinit", "9")
	expect(out, errs, code, "", "telinit: illegal runlevel: 9\nTry `telinit --help' for more information.\n", 1)
	out, errs, code = s.run(nil, "telinit", "23")
	expect(out, errs, code, "", "telinit: illegal runlevel: 23\nTry `telinit --help' for more information.\n", 1)
	if _, err := exec.LookPath("setpriv"); err == nil {
		os.Chmod(binDir, 0o755)
		out, errs, code = s.run([]string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}, "telinit", "3")
		expect(out, errs, code, "", "telinit: Need to be root\n", 1)
		out, errs, code = s.run([]string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}, "shutdown", "-h", "now")
		expect(out, errs, code, "", "shutdown: Need to be root\n", 1)
		out, errs, code = s.run([]string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}, "reboot", "-f")
		expect(out, errs, code, "", "reboot: Need to be root\n", 1)
	}
	out, _, _ = s.run(nil, "runlevel")
	if out != "N 2\n" || s.events() != "2 N none\n" {
		t.Fatalf("bad input changed the runlevel: %q, events %q", out, s.events())
	}

	// -e adds to the event; S and s are the same.
	out, errs, code = s.run(nil, "telinit", "-e", "FOO=bar", "s")
	expect(out, errs, code, "", "", 0)
	s.waitEvents("2 N none\nS 2 none\n")
	// init run from a shell (PID is not 1) is telinit.
	out, errs, code = s.run(nil, "init", "3")
	expect(out, errs, code, "", "", 0)
	s.waitEvents("2 N none\nS 2 none\n3 S none\n")
	// halt outside runlevels 0 and 6 calls shutdown -h -H now.
	out, errs, code = s.run(nil, "halt")
	expect(out, errs, code, "", "", 0)
	s.waitEvents("2 N none\nS 2 none\n3 S none\n0 3 HALT\n")
	out, _, _ = s.run(nil, "runlevel")
	if out != "3 0\n" {
		t.Fatalf("runlevel after halt: %q", out)
	}
	// A job started by the event reads the level from its environment.
	out, _, _ = s.run([]string{"env", "RUNLEVEL=5", "PREVLEVEL=4"}, "runlevel")
	if out != "4 5\n" {
		t.Fatalf("runlevel with RUNLEVEL set: %q", out)
	}
	// telinit q reloads the configuration, telinit u re-executes init.
	out, errs, code = s.run(nil, "telinit", "q")
	expect(out, errs, code, "", "", 0)
	out, errs, code = s.run(nil, "telinit", "u")
	expect(out, errs, code, "", "", 0)
	waitFor(t, "init to re-execute", func() bool {
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.pid))
		if !bytes.Contains(cl, []byte("--restart")) {
			return false
		}
		out, _, _ := s.run(nil, "initctl", "status", "rl")
		return out == "rl stop/waiting\n"
	})

	// The records, as the system's own tools read them.
	if _, err := exec.LookPath("who"); err == nil {
		out, _, _ := s.run(nil, "who", "-r")
		if !strings.Contains(out, "run-level 0") || !strings.Contains(out, "last=3") {
			t.Errorf("who -r: %q", out)
		}
	}
	if _, err := exec.LookPath("last"); err == nil {
		out, _, _ := s.run(nil, "last", "-x", "-f", "/var/log/wtmp")
		for _, want := range []string{"reboot   system boot", "runlevel (to lvl 2)", "runlevel (to lvl S)", "runlevel (to lvl 3)", "runlevel (to lvl 0)"} {
			if !strings.Contains(out, want) {
				t.Errorf("last -x lacks %q:\n%s", want, out)
			}
		}
		if n := strings.Count(out, "system boot"); n != 1 {
			t.Errorf("%d boot records:\n%s", n, out)
		}
	}
	// --wtmp-only writes the shutdown record and nothing else.
	out, errs, code = s.run(nil, "reboot", "-w")
	expect(out, errs, code, "", "", 0)
	if _, err := exec.LookPath("last"); err == nil {
		out, _, _ := s.run(nil, "last", "-x", "-f", "/var/log/wtmp")
		if !strings.Contains(out, "shutdown system down") {
			t.Errorf("last -x lacks the shutdown record:\n%s", out)
		}
	}
}

// TestToolsShutdownPending: a pending shutdown keeps logins out, refuses
// a second one, is cancelled with -c, and one due in a minute happens.
func TestToolsShutdownPending(t *testing.T) {
	s := startSandbox(t, map[string]string{"rl": recordRunlevels}, "--no-log", "--no-cgroups")
	if _, _, code := s.run(nil, "telinit", "2"); code != 0 {
		t.Fatal("telinit 2 failed")
	}
	s.waitEvents("2 N none\n")

	// Malformed times are refused.
	for when, msg := range map[string]string{"12:75": "illegal minute value", "24:00": "illegal hour value",
		"+x": "illegal time value", "soon": "illegal time value"} {
		out, errs, code := s.run(nil, "shutdown", "-r", when)
		if out != "" || code != 1 || errs != "shutdown: "+msg+"\nTry `shutdown --help' for more information.\n" {
			t.Errorf("shutdown -r %s: %q %q %d", when, out, errs, code)
		}
	}
	out, errs, code := s.run(nil, "shutdown", "-c")
	if code != 1 || errs != "shutdown: Cannot find pid of running shutdown\n" {
		t.Errorf("shutdown -c with none pending: %q %q %d", out, errs, code)
	}

	// A pending halt in two minutes.
	pending := exec.Command("nsenter", "-t", strconv.Itoa(s.pid), "-p", "-m", "-n", "--",
		filepath.Join(binDir, "shutdown"), "-h", "+2", "maintenance", "window")
	pendingErr := newSyncBuffer()
	pending.Stderr = pendingErr
	if err := pending.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shutdown pid file and /etc/nologin", func() bool {
		out, _, code := s.run(nil, "/bin/cat", "/var/run/shutdown.pid")
		if code != 0 || strings.TrimSpace(out) == "" {
			return false
		}
		_, err := os.Stat(filepath.Join(s.etc, "nologin"))
		return err == nil
	})
	nologin, _ := os.ReadFile(filepath.Join(s.etc, "nologin"))
	if string(nologin) != "\rThe system is going down for halt in 2 minutes!\r\nmaintenance window \r\n" {
		t.Errorf("/etc/nologin: %q", nologin)
	}
	out, errs, code = s.run(nil, "shutdown", "-r", "now")
	if code != 1 || errs != "shutdown: Another shutdown is already running\n" {
		t.Errorf("a second shutdown: %q %q %d", out, errs, code)
	}
	out, errs, code = s.run(nil, "shutdown", "-c")
	if code != 0 || errs != "" {
		t.Errorf("shutdown -c: %q %q %d", out, errs, code)
	}
	done := make(chan error, 1)
	go func() { done <- pending.Wait() }()
	select {
	case err := <-done:
		if err != nil || pendingErr.String() != "shutdown: Shutdown cancelled\n" {
			t.Errorf("the cancelled shutdown: %v %q", err, pendingErr.String())
		}
	case <-time.After(10 * time.Second):
		pending.Process.Kill()
		t.Fatal("the cancelled shutdown did not end")
	}
	if _, err := os.Stat(filepath.Join(s.etc, "nologin")); err == nil {
		t.Error("/etc/nologin left after the cancel")
	}
	if s.events() != "2 N none\n" {
		t.Fatalf("a cancelled shutdown changed the runlevel: %q", s.events())
	}

	// A reboot in one minute happens after a minute.
	start := time.Now()
	out, errs, code = s.run(nil, "shutdown", "-r", "+1")
	if code != 0 {
		t.Fatalf("shutdown -r +1: %q %q %d", out, errs, code)
	}
	s.waitEvents("2 N none\n6 2 none\n")
	if d := time.Since(start); d < 59*time.Second {
		t.Errorf("the shutdown due in a minute came after %v", d)
	}
	if _, err := os.Stat(filepath.Join(s.etc, "nologin")); err == nil {
		t.Error("/etc/nologin left after the shutdown")
	}
	out, _, _ = s.run(nil, "runlevel")
	if out != "2 6\n" {
		t.Errorf("runlevel: %q", out)
	}
	// Now in runlevel 6: shutdown -P now powers off.
	s.run(nil, "shutdown", "-h", "-P", "now")
	s.waitEvents("2 N none\n6 2 none\n0 6 POWEROFF\n")
}

// TestToolsWall: shutdown warns the users utmp lists on their terminals,
// and -k only warns.
func TestToolsWall(t *testing.T) {
	s := startSandbox(t, map[string]string{"rl": recordRunlevels}, "--no-log", "--no-cgroups")
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer tty.Close()
	// A user logged in on that terminal, in the sandbox's utmp (its /run
	// seen through /proc/PID/root).
	rec := utmp.Record{Type: utmp.UserProcess, Pid: int32(os.Getpid()), Line: strings.TrimPrefix(tty.Name(), "/dev/"),
		ID: "tw", User: "alice", Time: time.Now()}
	if err := utmp.Put(fmt.Sprintf("/proc/%d/root/run/utmp", s.pid), rec); err != nil {
		t.Fatal(err)
	}
	out, errs, code := s.run(nil, "shutdown", "-k", "-r", "+15", "back", "soon")
	if out != "" || errs != "" || code != 0 {
		t.Fatalf("shutdown -k: %q %q %d", out, errs, code)
	}
	got := make(chan string, 1)
	go func() {
		var b []byte
		buf := make([]byte, 1024)
		for !bytes.Contains(b, []byte("back soon")) {
			master.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := master.Read(buf)
			if err != nil {
				break
			}
			b = append(b, buf[:n]...)
		}
		got <- string(b)
	}()
	text := <-got
	for _, want := range []string{"Broadcast message from root@", "The system is going down for reboot in 15 minutes!", "back soon"} {
		if !strings.Contains(text, want) {
			t.Errorf("the terminal got %q, lacks %q", text, want)
		}
	}
	// Only warned: no runlevel change, nothing pending.
	time.Sleep(200 * time.Millisecond)
	if s.events() != "" {
		t.Errorf("shutdown -k changed the runlevel: %q", s.events())
	}
	if _, _, code := s.run(nil, "/bin/cat", "/var/run/shutdown.pid"); code == 0 {
		t.Error("shutdown -k left a pid file")
	}
}
