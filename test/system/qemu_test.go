// Package system holds the system tests: our init as PID 1 of a real Linux
// kernel under QEMU (software emulation), booted from an initramfs with
// busybox, job files from testdata/init and initctl.
package system

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// skipOrFail skips when something the test needs is missing, except in CI
// (CI installs it), where that is a failure.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (CI installs it and runs this test)", args...)
}

// TestBootRealKernel boots init as PID 1 of a real kernel. The guest's
// check job (testdata/init/check.conf) verifies from inside: output
// logged while /var/log/upstart did not exist yet reaches its file after
// notify-disk-writeable; processes are tracked by cgroup (init mounts
// cgroup2 on a fresh /sys); a stateful re-exec of PID 1 (SIGTERM) keeps
// every job; a service still respawns after it; `expect fork` finds a
// forked daemon's process and stopping the job kills it. Then it powers off, and qemu-boot's
// exit status says how the guest ended.
func TestBootRealKernel(t *testing.T) {
	for _, bin := range []string{"qemu-system-x86_64", "busybox", "cpio"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, "%s is not installed", bin)
		}
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "../../cmd/init", "../../cmd/initctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	console := filepath.Join(dir, "console.log")
	cmd := exec.Command("./qemu-boot",
		"--init-path", "/sbin/init", "--init", filepath.Join(dir, "init"),
		"--add", "testdata/init:/etc/init",
		"--add", filepath.Join(dir, "initctl")+":/sbin/initctl",
		"--append", "PATH=/sbin:/bin:/usr/sbin:/usr/bin",
		"--timeout", "240", "--console-log", console, "-q")
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(console)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("qemu-boot: %v", err)
	}
	if code == 3 {
		skipOrFail(t, "qemu-boot cannot run here: %s", out)
	}
	t.Logf("qemu-boot: %s", strings.TrimSpace(string(out)))
	if code != 0 {
		t.Fatalf("the guest did not power off cleanly (qemu-boot exit %d)\nconsole:\n%s", code, log)
	}
	for _, want := range []string{"CHECK early output logged", "CHECK cgroup tracking", "CHECK boot chart and blame name every job", "CHECK why explains the boot", "CHECK re-exec kept every job",
		"CHECK respawn after the re-exec", "CHECK expect fork found the forked daemon", "CHECK stop killed the forked daemon", "CHECK all done", "Re-executing"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(string(log), "CHECK FAILED") || t.Failed() {
		t.Fatalf("console:\n%s", log)
	}
}
