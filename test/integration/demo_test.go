package integration

import (
	"os/exec"
	"regexp"
	"testing"
)

// The README demo: the Chromium OS boot graph in a session instance.
func TestDemo(t *testing.T) {
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, re := range []string{
		`(?m)^system-services start/running$`,
		`(?m)^boot-services start/running$`,
		`(?m)^failsafe start/running$`,
		`(?m)^ui start/running, process \d+$`,
		`(?m)^cron start/running, process \d+$`,
		`(?m)^sshd start/running, process \d+$`,
		`(?m)^startup stop/waiting$`,
		`(?m)^failsafe-delay stop/waiting$`,
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("demo output lacks %s:\n%s", re, out)
		}
	}
}
