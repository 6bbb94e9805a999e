package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Chromium OS fork's rules behind --chromeos and --default-oom-score
// (issue 12 item 7): import default-deny, init's keys stripped from
// emitted events, tmpfiles in a state of its own with --create --remove,
// and a default OOM score adjustment.
func TestChromeOSRules(t *testing.T) {
	real, err := exec.LookPath("systemd-tmpfiles")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-tmpfiles not installed (Debian package systemd)")
		}
		t.Skip("no systemd-tmpfiles")
	}
	dir := t.TempDir()
	// A systemd-tmpfiles that takes its time, so that the state shows.
	wrap := filepath.Join(dir, "bin")
	os.Mkdir(wrap, 0o755)
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/tmpfiles-args\nwhile [ ! -e " + dir + "/go-on ]; do sleep 0.05; done\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrap, "systemd-tmpfiles"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", wrap+":"+os.Getenv("PATH"))
	conf := filepath.Join(dir, "t.conf")
	os.WriteFile(conf, []byte("d "+dir+"/made 0750 - - -\nr "+dir+"/gone\n"), 0o644)
	os.WriteFile(dir+"/gone", nil, 0o644)

	// A raised default needs no privilege (the Chromium OS example's
	// -1000 needs CAP_SYS_RESOURCE, which PID 1 has); a job may go back
	// down to 0, the least its parent ever had.
	args := []string{"--chromeos", "--default-oom-score", "300"}
	s := startSession(t, map[string]string{
		"imp":   "start on go\ntask\nimport WANTED\nexec sh -c 'echo \"[$WANTED] [$OTHER] [$JOB]\" > " + dir + "/imp'\n",
		"plain": "start on go\ntask\nexec sh -c 'echo \"[$WANTED] [$OTHER] [$JOB]\" > " + dir + "/plain'\n",
		"tmp":   "tmpfiles " + conf + "\nexec sleep 1070\n",
		"oom":   "exec sleep 1071\n",
		"oom0":  "oom score 0\nexec sleep 1072\n",
	}, args...)

	if _, errs, code := s.ctl("initctl", "emit", "go", "WANTED=1", "OTHER=2", "JOB=forged"); code != 0 {
		t.Fatal(errs)
	}
	for job, want := range map[string]string{"imp": "[1] [] []\n", "plain": "[] [] []\n"} {
		if b, _ := os.ReadFile(dir + "/" + job); string(b) != want {
			t.Errorf("%s saw %q, want %q", job, b, want)
		}
	}

	if _, errs, code := s.ctl("start", "-n", "tmp"); code != 0 {
		t.Fatal(errs)
	}
	var st string
	waitFor(t, "tmp in its tmpfiles state", func() bool {
		st, _, _ = s.ctl("status", "tmp")
		return strings.Contains(st, "tmpfiles")
	})
	if !regexp.MustCompile(`^tmp start/tmpfiles, \(tmpfiles\) process \d+\n$`).MatchString(st) {
		t.Errorf("status %q", st)
	}
	os.WriteFile(dir+"/go-on", nil, 0o644)
	waitFor(t, "tmp running", func() bool { st, _, _ = s.ctl("status", "tmp"); return strings.Contains(st, "start/running") })
	if b, _ := os.ReadFile(dir + "/tmpfiles-args"); string(b) != "--create --remove "+conf+"\n" {
		t.Errorf("systemd-tmpfiles %q", b)
	}
	if _, err := os.Stat(dir + "/made"); err != nil {
		t.Errorf("d line: %v", err)
	}
	if _, err := os.Stat(dir + "/gone"); err == nil {
		t.Error("r line did not act (no --remove)")
	}

	{
		for job, want := range map[string]string{"oom": "300", "oom0": "0"} {
			if _, errs, code := s.ctl("start", job); code != 0 {
				t.Fatal(errs)
			}
			var pids []int
			waitFor(t, job+"'s process", func() bool {
				pids = jobProcesses(job, "sleep "+map[string]string{"oom": "1071", "oom0": "1072"}[job])
				return len(pids) == 1
			})
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pids[0]))
			if strings.TrimSpace(string(b)) != want {
				t.Errorf("%s: oom_score_adj %q, want %s", job, b, want)
			}
		}
	}
}
