package integration

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
}

func gone(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err != nil
}

var firstPid = regexp.MustCompile(`process (\d+)`)

func mainPid(t *testing.T, out string) int {
	t.Helper()
	m := firstPid.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no pid in %q", out)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// expect fork/daemon/exit N without ptrace: the main pid is the process
// left after N exits of the main process tree, including a parent that
// waits for its child to be ready before it exits.
func TestExpect(t *testing.T) {
	s := startSession(t, map[string]string{
		"fork":   "expect fork\nexec sh -c 'sleep 1001 & exit 0'\n",
		"daemon": "expect daemon\nexec sh -c 'setsid sh -c \"sleep 1002 & sleep 0.3; exit 0\" & exit 0'\n",
		"exit3":  "expect exit 3\nexec sh -c 'sh -c \"sh -c \\\"sleep 1003 & exec sleep 0.4\\\" & exec sleep 0.2\" & exit 0'\n",
		"ready":  "expect fork\nexec sh -c 'sleep 1004 & sleep 0.5; exit 0'\n",
	})
	for job, want := range map[string]string{"fork": "sleep 1001", "daemon": "sleep 1002", "exit3": "sleep 1003", "ready": "sleep 1004"} {
		out, errs, code := s.ctl("start", job)
		if code != 0 {
			t.Fatalf("start %s: %q %q", job, out, errs)
		}
		pid := mainPid(t, out)
		// A forked child shows its parent's command line until it execs.
		deadline := time.Now().Add(5 * time.Second)
		for cmdline(pid) != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := cmdline(pid); got != want {
			t.Errorf("%s: main pid %d is %q, want %q (%s)", job, pid, got, want, out)
		}
		if out, _, _ := s.ctl("status", job); !strings.HasPrefix(out, job+" start/running, process "+strconv.Itoa(pid)) {
			t.Errorf("%s: status %q", job, out)
		}
		s.ctl("stop", job)
		waitFor(t, job+" main process to go", func() bool { return gone(pid) })
	}
}

// A wrong expect fails the start after the timeout instead of hanging,
// and leaves nothing running.
func TestWrongExpectFails(t *testing.T) {
	s := startSession(t, map[string]string{
		"wrong": "expect daemon\nexpect timeout 1\nkill timeout 1\nexec sh -c 'sleep 1005 & exit 0'\n",
	})
	_, errs, code := s.ctl("start", "wrong")
	if code != 1 || errs != "start: Job failed to start\n" {
		t.Fatalf("start: %q %d", errs, code)
	}
	if !strings.Contains(s.stderr.String(), "wrong main process not ready after 1s (expect daemon)") {
		t.Errorf("no clear message in the log:\n%s", s.stderr.String())
	}
	waitFor(t, "the job to stop", func() bool {
		out, _, _ := s.ctl("status", "wrong")
		return out == "wrong stop/waiting\n"
	})
	for _, p := range processes() {
		if p.cmdline == "sleep 1005" {
			t.Fatalf("process of the failed job left running: %+v", p)
		}
	}
}

// A main process that double-forks and calls setsid, leaving a grandchild
// that ignores SIGTERM: stop leaves no process of it alive.
func TestStopKillsEscapedGrandchild(t *testing.T) {
	s := startSession(t, map[string]string{
		"escape": "kill timeout 1\nscript\n  setsid sh -c 'trap \"\" TERM; sleep 1006; true' &\n  exec sleep 1007\nend script\n",
	})
	if _, errs, code := s.ctl("start", "escape"); code != 0 {
		t.Fatal(errs)
	}
	var grandchild int
	waitFor(t, "the grandchild", func() bool {
		for _, p := range processes() {
			if p.cmdline == "sleep 1006" {
				grandchild = p.pid
				return true
			}
		}
		return false
	})
	start := time.Now()
	out, errs, code := s.ctl("stop", "escape")
	if code != 0 || out != "escape stop/waiting\n" {
		t.Fatalf("stop: %q %q", out, errs)
	}
	t.Logf("stop took %v (kill timeout 1s)", time.Since(start))
	for _, p := range processes() {
		if p.cmdline == "sleep 1006" || p.cmdline == "sleep 1007" || p.pid == grandchild && p.state != "Z" {
			t.Fatalf("left running after stop: %+v", p)
		}
	}
}

// A pre-start that starts a background helper: the helper shows under
// pre-start and is killed when the job stops.
func TestPreStartHelperTracked(t *testing.T) {
	s := startSession(t, map[string]string{
		"helper": "pre-start script\n  sleep 1008 &\nend script\nexec sleep 1009\n",
	})
	if _, errs, code := s.ctl("start", "helper"); code != 0 {
		t.Fatal(errs)
	}
	var out string
	// Upstart's status shows only the tracked process (the pre-start
	// has ended); -v lists the members too.
	waitFor(t, "the helper in status -v", func() bool {
		out, _, _ = s.ctl("initctl", "-v", "status", "helper")
		return strings.Contains(out, "\tpre-start process ")
	})
	if plain, _, _ := s.ctl("status", "helper"); strings.Contains(plain, "pre-start") {
		t.Errorf("status without -v shows the helper: %q", plain)
	}
	m := regexp.MustCompile(`\tpre-start process (\d+) \(member\)`).FindStringSubmatch(out)
	hp, _ := strconv.Atoi(m[1])
	deadline := time.Now().Add(5 * time.Second)
	for cmdline(hp) != "sleep 1008" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // a forked child execs a moment later
	}
	if cmdline(hp) != "sleep 1008" {
		t.Fatalf("pre-start process %d is %q; status %q", hp, cmdline(hp), out)
	}
	if _, errs, code := s.ctl("stop", "helper"); code != 0 {
		t.Fatal(errs)
	}
	if !gone(hp) {
		t.Fatalf("helper %d still running after stop", hp)
	}
}

// Custom actions (`action NAME …`, run by `initctl action JOB NAME`): they
// get PROCESS=NAME, show in status under their name, and are killed with
// the job. `initctl -v status` says which tracking is in use.
func TestCustomAction(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, map[string]string{
		"act": "action rotate script\n  echo \"$PROCESS $UPSTART_JOB\" > " + dir + "/out\n  exec sleep 1030\nend script\nexec sleep 1031\n",
	})
	if _, errs, code := s.ctl("initctl", "action", "act", "rotate"); code != 1 || errs != "initctl: Unknown instance: \n" {
		t.Fatalf("action on a stopped job: %q %d", errs, code)
	}
	s.ctl("start", "act")
	out, errs, code := s.ctl("initctl", "action", "act", "rotate")
	if code != 0 || !strings.HasPrefix(out, "rotate process ") {
		t.Fatalf("action: %q %q", out, errs)
	}
	waitFor(t, "the action's output", func() bool {
		b, _ := os.ReadFile(dir + "/out")
		return string(b) == "rotate act\n"
	})
	st, _, _ := s.ctl("initctl", "-v", "status", "act")
	if !regexp.MustCompile(`\trotate process \d+\n`).MatchString(st) || !regexp.MustCompile(`\ttracking: (cgroups|pids)\n`).MatchString(st) {
		t.Fatalf("status: %q", st)
	}
	if _, errs, code := s.ctl("initctl", "action", "act", "nope"); code != 1 || !strings.Contains(errs, "Unknown action: nope") {
		t.Fatalf("unknown action: %q %d", errs, code)
	}
	s.ctl("stop", "act")
	if n := len(jobProcesses("act", "sleep 1030")); n != 0 {
		t.Fatalf("action process left after stop")
	}
}
