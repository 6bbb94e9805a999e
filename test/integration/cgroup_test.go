package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needCgroups skips only outside CI when the daemon cannot use cgroups.
func needCgroups(t *testing.T, s *session) {
	t.Helper()
	if strings.Contains(s.stderr.String(), "Process tracking: cgroups") {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skip("no writable cgroup v2 hierarchy for the daemon (CI has one, and runs this test)")
	}
	t.Fatalf("daemon is not using cgroups in CI:\n%s", s.stderr.String())
}

func jobProcesses(job, cmd string) []int {
	var out []int
	for _, p := range processes() {
		if p.cmdline != cmd {
			continue
		}
		env, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/environ")
		if strings.Contains(string(env), "\x00UPSTART_JOB="+job+"\x00") || strings.HasPrefix(string(env), "UPSTART_JOB="+job+"\x00") {
			out = append(out, p.pid)
		}
	}
	return out
}

// The cgroup stanza: a memory limit and a pids limit, both enforced; a
// fork bomb stops at the limit and the rest of the system runs on.
func TestCgroupLimits(t *testing.T) {
	s := startSession(t, map[string]string{
		"small": "task\ncgroup memory memory.limit_in_bytes 64M\nexec dd if=/dev/zero of=/dev/null bs=8M count=1\n",
		"big":   "task\ncgroup memory memory.limit_in_bytes 64M\nexec dd if=/dev/zero of=/dev/null bs=256M count=1\n",
		"bomb":  "cgroup pids pids.max 16\nscript\n  (for i in $(seq 60); do sleep 1010 & done) 2>/dev/null &\n  exec sleep 1011\nend script\n",
	}, "--verbose")
	needCgroups(t, s)
	if _, errs, code := s.ctl("start", "small"); code != 0 {
		t.Fatalf("small job under the memory limit failed: %s", errs)
	}
	if _, errs, code := s.ctl("start", "big"); code != 1 || errs != "start: Job failed to start\n" {
		t.Fatalf("big job over the memory limit: %q %d", errs, code)
	}
	if !strings.Contains(s.stderr.String(), "big main process") || !strings.Contains(s.stderr.String(), "killed by KILL signal") {
		t.Errorf("big job not OOM-killed:\n%s", s.stderr.String())
	}
	if _, errs, code := s.ctl("start", "bomb"); code != 0 {
		t.Fatalf("start bomb: %s", errs)
	}
	waitFor(t, "the bomb's main process", func() bool { return len(jobProcesses("bomb", "sleep 1011")) == 1 })
	// The bomb's subshell forks until the limit stops it, then ends.
	n := 0
	waitFor(t, "the bomb to hit the limit", func() bool {
		n = len(jobProcesses("bomb", "sleep 1010"))
		return n >= 8 && len(jobProcesses("bomb", "sh -e /proc/self/fd/9")) <= 1
	})
	if n >= 16 || n < 8 {
		t.Fatalf("%d bomb processes with pids.max 16", n)
	}
	// The rest of the system runs on.
	if err := exec.Command("true").Run(); err != nil {
		t.Fatalf("cannot fork outside the job: %v", err)
	}
	// status -v lists every process of the job (the bomb's subshell may
	// still be ending: look until the two agree).
	var out string
	var sleeps []int
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, _ = s.ctl("initctl", "-v", "status", "bomb")
		out = strings.Replace(out, "\ttracking: cgroups\n", "", 1)
		sleeps = append(jobProcesses("bomb", "sleep 1010"), jobProcesses("bomb", "sleep 1011")...)
		all := len(sleeps)
		if strings.Count(out, "\n") == all && strings.Count(out, "\tmain process ") == all-1 {
			break
		}
		if time.Now().After(deadline) {
			var procs []string
			for _, p := range processes() {
				if env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid)); strings.Contains("\x00"+string(env), "\x00UPSTART_JOB=bomb\x00") {
					procs = append(procs, fmt.Sprintf("%d %q", p.pid, p.cmdline))
				}
			}
			t.Fatalf("status never listed every process: status says\n%s\nsleeps %v; the job's processes in /proc: %v", out, sleeps, procs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, errs, code := s.ctl("stop", "bomb"); code != 0 {
		t.Fatal(errs)
	}
	if left := len(jobProcesses("bomb", "sleep 1010")) + len(jobProcesses("bomb", "sleep 1011")); left != 0 {
		t.Fatalf("%d bomb processes left after stop", left)
	}
}
