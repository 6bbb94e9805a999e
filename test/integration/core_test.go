package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// `tmpfiles PATH…` (Chromium OS) runs `systemd-tmpfiles --create PATH…`
// before pre-start; the start fails if that fails.
func TestTmpfiles(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "t.conf")
	if err := os.WriteFile(conf, []byte("d "+dir+"/made 0750 - - -\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSession(t, map[string]string{
		"tmp":    "tmpfiles " + conf + "\ntask\npre-start exec test -d " + dir + "/made\nexec true\n",
		"broken": "tmpfiles " + dir + "/missing.conf\ntask\nexec true\n",
	})
	if out, errs, code := s.ctl("start", "tmp"); code != 0 {
		t.Fatalf("start tmp: %q %q", out, errs)
	}
	st, err := os.Stat(dir + "/made")
	if err != nil || st.Mode().Perm() != 0o750 {
		t.Fatalf("tmpfiles did not create the directory: %v %v", st, err)
	}
	_, errs, code := s.ctl("start", "broken")
	if code != 1 || errs != "start: Job failed to start\n" {
		t.Fatalf("start broken: %q %d", errs, code)
	}
}

// --startup-event names the first event; SIGHUP rescans the configuration.
func TestStartupEventAndSighup(t *testing.T) {
	dir := t.TempDir()
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	writeJob(t, s.confdir, "first", "start on boot\ntask\nexec touch "+dir+"/booted\n")
	s.startWith([]string{"--user", "--confdir", s.confdir, "--startup-event", "boot", "--verbose"})
	waitFor(t, "the boot event to run the job", func() bool {
		_, err := os.Stat(dir + "/booted")
		return err == nil
	})
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", func() bool { return strings.Contains(s.stderr.String(), "Reloading configuration") })
	if out, _, code := s.ctl("status", "first"); code != 0 || out != "first stop/waiting\n" {
		t.Fatalf("after SIGHUP: %q %d", out, code)
	}
}

// Several conf dirs: the first that has a job wins; prepend and append
// dirs go before and after the --confdir ones whatever the option order.
func TestConfDirOrder(t *testing.T) {
	pre, main, post := t.TempDir(), t.TempDir(), t.TempDir()
	writeJob(t, pre, "a", "start on from-prepend\n")
	writeJob(t, main, "a", "start on from-confdir\n")
	writeJob(t, main, "b", "start on from-confdir\n")
	writeJob(t, post, "b", "start on from-append\n")
	writeJob(t, post, "c", "start on from-append\n")
	s := &session{t: t, confdir: main, rt: t.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	s.startWith([]string{"--user", "--append-confdir", post, "--confdir", main, "--prepend-confdir", pre, "--no-startup-event"})
	for job, want := range map[string]string{"a": "from-prepend", "b": "from-confdir", "c": "from-append"} {
		out, errs, code := s.ctl("initctl", "show-config", job)
		if code != 0 {
			t.Fatalf("show-config %s: %s", job, errs)
		}
		if !strings.Contains(out, "  start on "+want+"\n") {
			t.Errorf("job %s: show-config %q, want start on %s", job, out, want)
		}
	}
}

// Issue 15 item 10: an edit of one job file among many re-reads that file
// only (the daemon says how many it re-read), and the edit applies; a new
// file is a new job, a removed one goes.
func TestConfChangeRereadsOnlyThatFile(t *testing.T) {
	jobs := map[string]string{}
	for i := 0; i < 300; i++ {
		jobs[fmt.Sprintf("j%03d", i)] = "start on never\nexec sleep 1\n"
	}
	s := startSession(t, jobs, "--debug")
	waitFor(t, "the jobs", func() bool {
		out, _, _ := s.ctl("initctl", "list")
		return strings.Count(out, "\n") == 300
	})
	before := strings.Count(s.stderr.String(), "Configuration changed:")
	writeJob(t, s.confdir, "j150", "start on other-event\nexec sleep 1\n")
	waitFor(t, "the edit to apply", func() bool {
		out, _, _ := s.ctl("initctl", "show-config", "j150")
		return strings.Contains(out, "start on other-event")
	})
	log := s.stderr.String()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Configuration changed:") && !strings.Contains(l, "re-read 1 job(s)") {
			t.Fatalf("an edit of one file: %q\n%s", l, log)
		}
	}
	if strings.Count(log, "Configuration changed:") == before {
		t.Fatalf("no re-read in the log:\n%s", log)
	}
	writeJob(t, s.confdir, "zznew", "exec sleep 1\n")
	if err := os.Remove(filepath.Join(s.confdir, "j000.conf")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new job and the removal", func() bool {
		out, _, _ := s.ctl("initctl", "list")
		return strings.Contains(out, "zznew stop/waiting") && !strings.Contains(out, "j000 ")
	})
	if strings.Contains(s.stderr.String(), "reloading every job file") {
		t.Fatalf("a full reload for file changes:\n%s", s.stderr.String())
	}
}
