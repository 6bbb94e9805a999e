package supervise

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/goupstart/upstart/internal/apparmor"
	"github.com/goupstart/upstart/internal/conf"
)

// fakeAppArmor points the supervisor at a tree of its own: enabled says
// what the module parameter reads ("" for no AppArmor at all), parser is
// the body of ROOT/sbin/apparmor_parser ("" for none).
func fakeAppArmor(t *testing.T, enabled, parser string) string {
	t.Helper()
	root := t.TempDir()
	if enabled != "" {
		mustWrite(t, filepath.Join(root, "sys/module/apparmor/parameters/enabled"), enabled+"\n", 0o644)
		if err := os.MkdirAll(filepath.Join(root, "sys/kernel/security/apparmor"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if parser != "" {
		mustWrite(t, filepath.Join(root, "sbin/apparmor_parser"), parser, 0o755)
	}
	old := aaHost
	aaHost = apparmor.Paths{Root: root}
	t.Cleanup(func() { aaHost = old })
	return root
}

func mustWrite(t *testing.T, name, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func wantSpawnErr(t *testing.T, err error, op, text string) {
	t.Helper()
	var se *SpawnError
	if !errors.As(err, &se) || se.Op != op || !strings.Contains(err.Error(), text) {
		t.Fatalf("got %v, want a SpawnError %q containing %q", err, op, text)
	}
}

// Without AppArmor the security process is refused before anything runs,
// with the reason.
func TestSecurityProcessUnavailable(t *testing.T) {
	h := newHarness(t, Options{})
	for _, c := range []struct{ enabled, parser, why string }{
		{"", "", "the kernel has no AppArmor"},
		{"N", "#!/bin/sh\n", "disabled in the kernel"},
		{"Y", "", "no parser at /sbin/apparmor_parser"},
	} {
		fakeAppArmor(t, c.enabled, c.parser)
		j := execJob("/bin/true")
		j.ApparmorLoad = "/etc/apparmor.d/x"
		_, err := h.spawn(Request{Job: j, Type: conf.PreStart, Security: true})
		wantSpawnErr(t, err, opLoad, "AppArmor is not available: ")
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("%v: does not say %q", err, c.why)
		}
	}
}

// The security process is the parser with Upstart's options, and none of
// the job's settings (here a limit and a user) apply to it.
func TestSecurityProcessRunsParser(t *testing.T) {
	root := fakeAppArmor(t, "Y", "#!/bin/sh\necho \"$0 $* nofile=$(ulimit -n) uid=$(id -u)\"\nexit 3\n")
	h := newHarness(t, Options{})
	j := execJob("/bin/true")
	j.ApparmorLoad = "/etc/apparmor.d/usr.sbin.x"
	j.Limits = []conf.Limit{{Resource: int(syscall.RLIMIT_NOFILE), Soft: 77, Hard: 77}}
	if os.Getuid() == 0 {
		j.Setuid = "nobody"
	}
	e, out := h.run(Request{Job: j, Type: conf.PreStart, Security: true})
	if e.SpawnErr != nil || e.Status.ExitStatus() != 3 {
		t.Fatalf("exit %+v", e)
	}
	want := root + "/sbin/apparmor_parser -r -W /etc/apparmor.d/usr.sbin.x nofile="
	if !strings.HasPrefix(out, want) || strings.Contains(out, "nofile=77") || (os.Getuid() == 0 && !strings.Contains(out, "uid=0")) {
		t.Errorf("parser saw %q, want %q… without the job's limit or user", out, want)
	}
}

// `apparmor switch` without AppArmor: the main process is refused.
func TestSwitchUnavailable(t *testing.T) {
	fakeAppArmor(t, "", "")
	h := newHarness(t, Options{})
	j := execJob("/bin/true")
	j.ApparmorSwitch = "x"
	_, err := h.spawn(Request{Job: j, Type: conf.Main})
	wantSpawnErr(t, err, opSecurity, "unable to switch security profile: AppArmor is not available")
}

// `apparmor switch` with the module said to be there: the pre-exec
// process writes the profile ($VARs expanded) for the exec; on a kernel
// where that write fails (no AppArmor in fact, or no such profile) the
// job's program never runs and the spawn fails naming the profile. The
// write that succeeds is tested under QEMU (test/system).
func TestSwitchWriteFails(t *testing.T) {
	fakeAppArmor(t, "Y", "")
	h := newHarness(t, Options{})
	mark := filepath.Join(t.TempDir(), "ran")
	j := execJob("/bin/touch " + mark)
	j.ApparmorSwitch = "goupstart-test-$NAME"
	pid, err := h.spawn(Request{Job: j, Type: conf.Main, Env: []string{"PATH=/usr/bin:/bin", "NAME=nosuch"}})
	if err != nil {
		t.Fatal(err)
	}
	wantSpawnErr(t, h.wait(pid).SpawnErr, opSecurity, `profile "goupstart-test-nosuch"`)
	if _, err := os.Stat(mark); err == nil {
		t.Error("the job's program ran")
	}
	// Other processes of the job are not confined (Upstart's rule).
	e, _ := h.run(Request{Job: j, Type: conf.PreStart, Process: &conf.Process{Command: "/bin/true"}})
	if e.SpawnErr != nil {
		t.Errorf("pre-start: %v", e.SpawnErr)
	}
}

// A bad expansion of the name fails the spawn.
func TestSwitchBadName(t *testing.T) {
	fakeAppArmor(t, "Y", "")
	h := newHarness(t, Options{})
	j := execJob("/bin/true")
	j.ApparmorSwitch = "${NAME"
	_, err := h.spawn(Request{Job: j, Type: conf.Main})
	wantSpawnErr(t, err, opSecurity, "unable to switch security profile")
}
