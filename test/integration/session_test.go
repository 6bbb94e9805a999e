package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestStartStopStatus(t *testing.T) {
	s := startSession(t, map[string]string{"sleeper": "exec sleep 3600\n"})
	out, errs, code := s.ctl("initctl", "start", "sleeper")
	if code != 0 || !regexp.MustCompile(`^sleeper start/running, process \d+\n$`).MatchString(out) {
		t.Fatalf("start: %q %q %d", out, errs, code)
	}
	pid, _ := strconv.Atoi(regexp.MustCompile(`\d+`).FindString(out))
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		t.Fatalf("main process %d does not exist", pid)
	}
	_, errs, code = s.ctl("start", "sleeper")
	if code != 1 || errs != "start: Job is already running: sleeper\n" {
		t.Fatalf("second start: %q %d", errs, code)
	}
	out, _, code = s.ctl("status", "sleeper")
	if code != 0 || out != "sleeper start/running, process "+strconv.Itoa(pid)+"\n" {
		t.Fatalf("status: %q %d", out, code)
	}
	out, errs, code = s.ctl("initctl", "stop", "sleeper")
	if code != 0 || out != "sleeper stop/waiting\n" {
		t.Fatalf("stop: %q %q %d", out, errs, code)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Fatalf("main process %d still exists after stop", pid)
	}
	_, errs, code = s.ctl("stop", "sleeper")
	if code != 1 || errs != "stop: Unknown instance: \n" {
		t.Fatalf("second stop: %q %d", errs, code)
	}
	_, errs, code = s.ctl("initctl", "status", "nope")
	if code != 1 || errs != "initctl: Unknown job: nope\n" {
		t.Fatalf("unknown job: %q %d", errs, code)
	}
	out, _, code = s.ctl("initctl", "version")
	if code != 0 || out != "init (upstart 1.13.2)\n" {
		t.Fatalf("version: %q", out)
	}
}

// emit waits until the jobs it started have run, and fails when one failed.
func TestEmitWaitsAndFails(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, map[string]string{
		"writer": "start on go\ntask\nscript\n  sleep 0.2\n  echo done > " + dir + "/out\nend script\n",
		"failer": "start on fail\ntask\nexec false\n",
	})
	if _, errs, code := s.ctl("initctl", "emit", "go"); code != 0 {
		t.Fatalf("emit: %q %d", errs, code)
	}
	if data, err := os.ReadFile(dir + "/out"); err != nil || string(data) != "done\n" {
		t.Fatalf("emit returned before the task ran: %q %v", data, err)
	}
	_, errs, code := s.ctl("initctl", "emit", "fail")
	if code != 1 || errs != "initctl: Event failed\n" {
		t.Fatalf("failing emit: %q %d", errs, code)
	}
	_, errs, code = s.ctl("initctl", "emit", "--no-wait", "fail")
	if code != 0 {
		t.Fatalf("emit --no-wait: %q %d", errs, code)
	}
}

// Settings that must hold before the job's program runs: the job reports
// them at its first instruction.
func TestProcessSettings(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, map[string]string{
		"settings": `task
limit nofile 123 456
umask 027
nice 7
oom score 345
env GREETING=hello
script
  echo "$(ulimit -Sn) $(ulimit -Hn) $(umask) $(cut -d' ' -f19 /proc/self/stat) $(cat /proc/self/oom_score_adj) $GREETING $UPSTART_JOB" > ` + dir + `/out
end script
`,
	})
	if _, errs, code := s.ctl("start", "settings"); code != 0 {
		t.Fatalf("start: %q", errs)
	}
	data, err := os.ReadFile(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(data)), "123 456 0027 7 345 hello settings"; got != want {
		t.Fatalf("job saw %q, want %q", got, want)
	}
}

// A broken job file is reported with FILE:LINE and the other jobs load.
func TestBrokenJobFile(t *testing.T) {
	s := startSession(t, map[string]string{
		"good":   "exec sleep 3600\n",
		"broken": "description \"x\"\nfrobnicate now\n",
	})
	want := filepath.Join(s.confdir, "broken.conf") + ":2: Unknown stanza"
	waitFor(t, "the parse error in the log", func() bool { return strings.Contains(s.stderr.String(), want) })
	if out, _, code := s.ctl("start", "good"); code != 0 || !strings.HasPrefix(out, "good start/running") {
		t.Fatalf("good job: %q %d", out, code)
	}
	if _, errs, code := s.ctl("status", "broken"); code != 1 || errs != "status: Unknown job: broken\n" {
		t.Fatalf("broken job: %q %d", errs, code)
	}
}

// Changes on disk take effect without a restart; a running instance keeps
// its definition until it stops.
func TestConfigChangesOnDisk(t *testing.T) {
	s := startSession(t, map[string]string{"a": "exec sleep 3600\n"})
	writeJob(t, s.confdir, "net/late", "exec sleep 3600\n")
	waitFor(t, "net/late to appear", func() bool {
		_, _, code := s.ctl("status", "net/late")
		return code == 0
	})
	os.Remove(filepath.Join(s.confdir, "a.conf"))
	waitFor(t, "a to disappear", func() bool {
		_, _, code := s.ctl("status", "a")
		return code == 1
	})
	if _, _, code := s.ctl("initctl", "reload-configuration"); code != 0 {
		t.Fatal("reload-configuration failed")
	}
}

func TestListShowsEveryJob(t *testing.T) {
	s := startSession(t, map[string]string{
		"one": "exec sleep 3600\n",
		"two": "instance $N\nexec sleep 3600\n",
	})
	s.ctl("start", "one")
	s.ctl("start", "two", "N=x")
	out, _, _ := s.ctl("initctl", "list")
	got := strings.Join(lines(out), "|")
	if !regexp.MustCompile(`one start/running, process \d+`).MatchString(got) ||
		!regexp.MustCompile(`two \(x\) start/running, process \d+`).MatchString(got) {
		t.Fatalf("list: %q", out)
	}
}
