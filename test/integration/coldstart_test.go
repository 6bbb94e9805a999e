package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The main processes of the jobs one event starts are spawned as one batch
// on several threads (supervise.Batch). Each job ends up as if spawned
// alone: running with a pid of its own that is its own session leader, in
// its own JOB/INSTANCE/main cgroup where the daemon uses cgroups; a job
// whose program is missing fails alone; the jobs stop as usual.
func TestColdStartBatch(t *testing.T) {
	const n = 30
	jobs := map[string]string{"bad": "start on go\nexec /nonexistent/program\n"}
	for k := range n {
		jobs[fmt.Sprintf("svc%02d", k)] = "start on go\nexec sleep 3609\n"
	}
	s := startSession(t, jobs)
	// The event fails (bad fails), once every job has started or failed.
	if _, errs, code := s.ctl("initctl", "emit", "go"); code != 1 || !strings.Contains(errs, "Event failed") {
		t.Fatalf("emit go: exit %d, %s", code, errs)
	}
	out, errs, code := s.ctl("initctl", "list")
	if code != 0 {
		t.Fatalf("initctl list: %s", errs)
	}
	running := regexp.MustCompile(`(?m)^(svc\d\d) start/running, process (\d+)$`).FindAllStringSubmatch(out, -1)
	if len(running) != n {
		t.Fatalf("%d of %d jobs running:\n%s\ndaemon said:\n%s", len(running), n, out, s.stderr.String())
	}
	if !strings.Contains(out, "bad stop/waiting\n") {
		t.Errorf("bad is not stop/waiting:\n%s", out)
	}
	cgroups := strings.Contains(s.stderr.String(), "Process tracking: cgroups")
	root := ""
	if cgroups {
		root = cgroupRoot(t, s.stderr.String())
	}
	t.Logf("%d jobs started by one event; cgroup tracking: %v", n, cgroups)
	seen := map[int]bool{}
	for _, m := range running {
		pid, _ := strconv.Atoi(m[2])
		if seen[pid] {
			t.Fatalf("pid %d twice:\n%s", pid, out)
		}
		seen[pid] = true
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("%s: %v", m[1], err)
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if f[3] != m[2] { // session id (field 6)
			t.Errorf("%s (pid %d) is in session %s, not its own", m[1], pid, f[3])
		}
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(cmd) != "sleep\x003609\x00" {
			t.Errorf("%s (pid %d) runs %q", m[1], pid, cmd)
		}
		if cgroups {
			cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			if want := "/" + filepath.Base(root) + "/" + m[1] + "/_/main\n"; !strings.Contains(string(cg), want) {
				t.Errorf("%s (pid %d) is in %q, not in …%s", m[1], pid, cg, want)
			}
		}
	}
	for _, m := range running {
		if _, errs, code := s.ctl("initctl", "stop", m[1]); code != 0 {
			t.Fatalf("stop %s: %s", m[1], errs)
		}
		pid, _ := strconv.Atoi(m[2])
		waitFor(t, m[1]+"'s process to end", func() bool {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			return err != nil || strings.Contains(string(st), ") Z")
		})
	}
}
