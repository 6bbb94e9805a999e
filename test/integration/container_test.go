package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitSignal waits for the sandbox's unshare (which dies of the signal
// that ended its child, our init) and returns that signal.
func (s *sandbox) exitSignal(timeout time.Duration) syscall.Signal {
	s.t.Helper()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.t.Fatalf("init did not end\ninit said:\n%s", s.stderr.String())
	}
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		s.t.Fatalf("init ended with %v, not by a signal\ninit said:\n%s", s.cmd.ProcessState, s.stderr.String())
	}
	s.pid = 0
	return ws.Signal()
}

const stopMarker = `start on startup
exec sleep 3600
post-stop exec sh -c 'echo stopped >> $OUT/svc'
`

// TestContainerExitStatus: reboot(2) in a PID namespace ends its init with
// SIGINT for power-off and halt, SIGHUP for a restart, and that is what
// the parent (a container runtime) sees, whether a tool calls it with
// --force, a job does at runlevel 0 or 6 (Upstart's way), or PID 1 is
// asked to end the system and stops its jobs first.
func TestContainerExitStatus(t *testing.T) {
	cases := []struct {
		name string
		do   func(s *sandbox)
		want syscall.Signal
		// stopped: the job's post-stop ran (PID 1 stopped it first)
		stopped bool
	}{
		{"poweroff -f", func(s *sandbox) { s.run(nil, "poweroff", "-f") }, syscall.SIGINT, false},
		{"halt -f", func(s *sandbox) { s.run(nil, "halt", "-f") }, syscall.SIGINT, false},
		{"reboot -f", func(s *sandbox) { s.run(nil, "reboot", "-f") }, syscall.SIGHUP, false},
		{"shutdown -h -P now, a job powers off at runlevel 0", func(s *sandbox) { s.run(nil, "shutdown", "-h", "-P", "now") }, syscall.SIGINT, false},
		{"telinit 6, a job reboots", func(s *sandbox) { s.run(nil, "telinit", "6") }, syscall.SIGHUP, false},
		{"SIGRTMIN+4 to PID 1", func(s *sandbox) { syscall.Kill(s.pid, sigRT(4)) }, syscall.SIGINT, true},
		{"SIGRTMIN+3 to PID 1", func(s *sandbox) { syscall.Kill(s.pid, sigRT(3)) }, syscall.SIGINT, true},
		{"SIGRTMIN+5 to PID 1", func(s *sandbox) { syscall.Kill(s.pid, sigRT(5)) }, syscall.SIGHUP, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startSandbox(t, map[string]string{
				"svc": stopMarker,
				"final": `start on runlevel [06]
task
exec sh -c 'if [ "$RUNLEVEL" = 6 ]; then reboot; else poweroff; fi'
`}, "--no-log")
			waitFor(t, "svc to run", func() bool {
				out, _, _ := s.run(nil, "initctl", "status", "svc")
				return strings.HasPrefix(out, "svc start/running")
			})
			c.do(s)
			if got := s.exitSignal(30 * time.Second); got != c.want {
				t.Fatalf("init ended by %v, want %v\ninit said:\n%s", got, c.want, s.stderr.String())
			}
			data, _ := os.ReadFile(filepath.Join(s.out, "svc"))
			if c.stopped != (string(data) == "stopped\n") {
				t.Fatalf("svc's post-stop wrote %q (stopped first: %v)\ninit said:\n%s", data, c.stopped, s.stderr.String())
			}
		})
	}
}

func sigRT(n int) syscall.Signal { return syscall.Signal(34 + n) }

// TestContainerEndKillsStragglers: PID 1 asked to power off kills a job
// that ignores its kill signal after the job's kill timeout, and every
// process outside jobs, before it calls reboot(2).
func TestContainerEndKillsStragglers(t *testing.T) {
	s := startSandbox(t, map[string]string{
		"stubborn": `start on startup
kill timeout 1
exec sh -c 'trap "" TERM; echo $$ > $OUT/stubborn.pid; while :; do sleep 0.1; done'
`,
		"svc": stopMarker,
		// Started by svc's stop, during the end: stopped in turn.
		"follower": `start on stopped svc
exec sleep 3600
post-stop exec sh -c 'echo stopped >> $OUT/follower'
`,
	}, "--no-log", "--verbose")
	waitFor(t, "stubborn to run", func() bool {
		_, err := os.Stat(filepath.Join(s.out, "stubborn.pid"))
		return err == nil
	})
	start := time.Now()
	syscall.Kill(s.pid, sigRT(4))
	if got := s.exitSignal(30 * time.Second); got != syscall.SIGINT {
		t.Fatalf("ended by %v", got)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the end came after %v, before stubborn's kill timeout", d)
	}
	log := s.stderr.String()
	for _, want := range []string{"Stopping every job for poweroff", "Calling reboot(2) for poweroff"} {
		if !strings.Contains(log, want) {
			t.Errorf("init's log lacks %q:\n%s", want, log)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(s.out, "svc")); string(data) != "stopped\n" {
		t.Errorf("svc was not stopped: %q", data)
	}
	// Each stopped by its own stop sequence (stubborn by its kill
	// timeout), none killed for being late.
	if strings.Contains(log, "did not stop in time") {
		t.Errorf("a job had to be killed at the end:\n%s", log)
	}
	if data, _ := os.ReadFile(filepath.Join(s.out, "follower")); string(data) != "stopped\n" {
		t.Errorf("follower, started during the end, was not stopped: %q\n%s", data, log)
	}
}

// TestDisableRespawn: after initctl disable-respawn no job respawns; the
// refusal for an unprivileged caller changes nothing.
func TestDisableRespawn(t *testing.T) {
	s := startSession(t, map[string]string{"svc": "respawn\nexec sleep 3600\n"})
	if _, errs, code := s.ctl("start", "svc"); code != 0 {
		t.Fatalf("start: %s", errs)
	}
	pidOf := func() int {
		out, _, _ := s.ctl("status", "svc")
		var pid int
		if i := strings.LastIndex(out, "process "); i >= 0 {
			for _, c := range strings.TrimSpace(out[i+8:]) {
				pid = pid*10 + int(c-'0')
			}
		}
		return pid
	}
	old := pidOf()
	syscall.Kill(old, syscall.SIGKILL)
	waitFor(t, "svc to respawn", func() bool { p := pidOf(); return p != 0 && p != old })
	if out, errs, code := s.ctl("initctl", "disable-respawn"); code != 0 || out != "" || errs != "" {
		t.Fatalf("disable-respawn: %q %q %d", out, errs, code)
	}
	syscall.Kill(pidOf(), syscall.SIGKILL)
	waitFor(t, "svc to stop", func() bool {
		out, _, _ := s.ctl("status", "svc")
		return out == "svc stop/waiting\n"
	})
	// A manual start still works; the job just does not come back.
	if _, errs, code := s.ctl("start", "svc"); code != 0 {
		t.Fatalf("start after disable-respawn: %s", errs)
	}
}

// TestContainerWithoutConsole: PID 1 of a container with no terminal at
// all, and a /dev that holds only null and is read-only, still boots its
// jobs, answers initctl and ends as the kernel defines.
func TestContainerWithoutConsole(t *testing.T) {
	s := startSandboxWith(t, `mount -t tmpfs -o size=64k tmpfs /dev
mknod -m 666 /dev/null c 1 3
mount -o remount,ro /dev
exec </dev/null`, map[string]string{"svc": stopMarker}, "--no-log")
	waitFor(t, "svc to run", func() bool {
		out, _, _ := s.run(nil, "initctl", "status", "svc")
		return strings.HasPrefix(out, "svc start/running")
	})
	syscall.Kill(s.pid, sigRT(4))
	if got := s.exitSignal(30 * time.Second); got != syscall.SIGINT {
		t.Fatalf("ended by %v", got)
	}
	if data, _ := os.ReadFile(filepath.Join(s.out, "svc")); string(data) != "stopped\n" {
		t.Errorf("svc was not stopped: %q\ninit said:\n%s", data, s.stderr.String())
	}
}

// TestChromeOSShutdownJobs: the example graph's runlevel 0 path, as
// Chromium OS's shutdown takes it: halt starts, pre-shutdown runs first
// and the ui stops before it; halt disables respawning.
func TestChromeOSShutdownJobs(t *testing.T) {
	// The jobs call initctl by name.
	t.Setenv("PATH", binDir+":"+os.Getenv("PATH"))
	s := &session{t: t, confdir: "../../examples/chromeos-boot", rt: t.TempDir(), stderr: newSyncBuffer()}
	s.startWith([]string{"--user", "--confdir", s.confdir})
	waitFor(t, "system-services", func() bool {
		out, _, _ := s.ctl("status", "system-services")
		return out == "system-services start/running\n"
	})
	if _, errs, code := s.ctl("initctl", "emit", "runlevel", "RUNLEVEL=0", "PREVLEVEL=2"); code != 0 {
		t.Fatalf("emit: %s", errs)
	}
	if out, _, _ := s.ctl("status", "ui"); out != "ui stop/waiting\n" {
		t.Errorf("ui: %q", out)
	}
	waitFor(t, "halt to run", func() bool { return strings.Contains(s.stderr.String(), "halt: respawn disabled, powering off") })
	log, err := os.ReadFile(filepath.Join(s.rt, "cache", "upstart", "pre-shutdown.log"))
	if err != nil || !strings.Contains(string(log), "pre-shutdown: state saved") {
		t.Errorf("pre-shutdown.log: %q %v", log, err)
	}
	// Respawning is off: a service that dies stays down.
	out, _, _ := s.ctl("status", "cron")
	i := strings.LastIndex(out, "process ")
	if i < 0 {
		t.Fatalf("cron: %q", out)
	}
	var pid int
	fmt.Sscan(out[i+8:], &pid)
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "cron to stop", func() bool {
		out, _, _ := s.ctl("status", "cron")
		return out == "cron stop/waiting\n"
	})
}

// TestPID1SignalEvents: the signals the kernel (or powstatd) sends PID 1
// become upstart-events(7)'s events.
func TestPID1SignalEvents(t *testing.T) {
	jobs := map[string]string{}
	for _, ev := range []string{"control-alt-delete", "keyboard-request", "power-status-changed"} {
		jobs["on-"+ev] = "start on " + ev + "\ntask\nexec sh -c 'echo " + ev + " >> $OUT/events'\n"
	}
	s := startSandbox(t, jobs, "--no-log", "--no-cgroups")
	want := ""
	for sig, ev := range map[syscall.Signal]string{syscall.SIGINT: "control-alt-delete", syscall.SIGWINCH: "keyboard-request", syscall.SIGPWR: "power-status-changed"} {
		syscall.Kill(s.pid, sig)
		want += ev + "\n"
		waitFor(t, ev, func() bool {
			data, _ := os.ReadFile(filepath.Join(s.out, "events"))
			return string(data) == want
		})
	}
}

// TestDaemonLogFile: --daemon-log=FILE sends the daemon's own messages to
// the file instead of stderr.
func TestDaemonLogFile(t *testing.T) {
	s := startSandbox(t, map[string]string{"svc": stopMarker}, "--no-log", "--no-cgroups", "--daemon-log=/run/init.log", "--verbose")
	file := fmt.Sprintf("/proc/%d/root/run/init.log", s.pid)
	want := "init: svc state changed from post-start to running\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		if strings.Contains(string(data), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log file lacks %q:\n%s\nstderr:\n%s", want, data, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(s.stderr.String(), "svc state changed") {
		t.Errorf("the daemon still logs to stderr:\n%s", s.stderr.String())
	}
}
