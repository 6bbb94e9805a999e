package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/apparmor"
)

// `apparmor load` and `apparmor switch` (issue 12 item 5) never let a job
// run unconfined: where AppArmor is not available (this host's kernel has
// none, or it is off) the start fails with the reason in the log; where
// it is, the parser fails on a profile that does not exist and the switch
// finds no such profile, and the start fails as well. Either way nothing
// of the job runs. Confinement that works is tested under QEMU
// (test/system, TestBootDebian).
func TestAppArmorRefused(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, map[string]string{
		"aaload":   "apparmor load " + dir + "/no-such-profile\npre-start exec touch " + dir + "/pre\nexec touch " + dir + "/main\n",
		"aaswitch": "apparmor switch goupstart-no-such-profile\nexec touch " + dir + "/main2\n",
	})
	loadable, enabled := apparmor.Host.Loadable() == nil, apparmor.Host.Enabled() == nil
	t.Logf("AppArmor on this host: enabled %v, profiles loadable %v", enabled, loadable)

	_, errs, code := s.ctl("start", "aaload")
	if code == 0 || !strings.Contains(errs, "Job failed to start") {
		t.Errorf("start aaload: exit %d, %q", code, errs)
	}
	want := "Failed to spawn aaload security process: unable to load security profile: AppArmor is not available: "
	if loadable {
		want = "aaload security process ("
	}
	if !s.hasLog(want) {
		t.Errorf("log lacks %q:\n%s", want, s.stderr.String())
	}
	s.waitStatus("aaload", "stop/waiting")

	_, errs, code = s.ctl("start", "aaswitch")
	if code == 0 || !strings.Contains(errs, "Job failed to start") {
		t.Errorf("start aaswitch: exit %d, %q", code, errs)
	}
	want = "Failed to spawn aaswitch main process: unable to switch security profile: AppArmor is not available: "
	if enabled {
		want = `Failed to spawn aaswitch main process: unable to switch security profile: profile "goupstart-no-such-profile" is not loaded`
	}
	if !s.hasLog(want) {
		t.Errorf("log lacks %q:\n%s", want, s.stderr.String())
	}
	for _, f := range []string{"pre", "main", "main2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s ran", f)
		}
	}
}
