package integration

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `init --help` lists every option init takes (issue 12 item 8, issue 13
// item 4); an option we do not implement is logged once and ignored, an
// unknown one is ignored silently.
func TestInitHelpAndOptions(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "init"), "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"--append-confdir=DIR", "--chroot-sessions", "--confdir=DIR", "--default-console=VALUE",
		"--logdir=DIR", "--no-cgroups", "--no-dbus", "--no-inherit-env", "--no-log", "--no-sessions", "--no-startup-event",
		"--prepend-confdir=DIR", "--restart", "--state-fd=FD", "--session", "--startup-event=NAME", "--user",
		"--write-state-file", "--log-events", "--chromeos", "--import-default-deny", "--strip-init-env",
		"--default-oom-score=N", "-q, --quiet", "-v, --verbose", "--help", "--version"} {
		if !strings.Contains(string(out), "  "+opt+" ") && !strings.Contains(string(out), "  "+opt+"\n") {
			t.Errorf("init --help lacks %s:\n%s", opt, out)
		}
	}
	if !strings.HasPrefix(string(out), "Usage: init [OPTION]...\nProcess management daemon.\n\nOptions:\n") {
		t.Errorf("init --help:\n%s", out)
	}
	s := startSession(t, map[string]string{"j": "exec sleep 1060\n"}, "--chroot-sessions", "--frobnicate", "--chroot-sessions", "quiet")
	if _, errs, code := s.ctl("start", "j"); code != 0 {
		t.Fatal(errs)
	}
	if n := strings.Count(s.stderr.String(), "--chroot-sessions is not implemented"); n != 1 {
		t.Errorf("--chroot-sessions logged %d times:\n%s", n, s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), "frobnicate") {
		t.Errorf("unknown option mentioned:\n%s", s.stderr.String())
	}
}
