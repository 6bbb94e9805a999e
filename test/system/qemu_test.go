// Package system holds the system tests: our init as PID 1 of a real Linux
// kernel under QEMU (software emulation), booted from an initramfs with
// busybox, job files from testdata/init and initctl.
package system

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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

// needTools skips (fails in CI) a test whose programs are missing.
func needTools(t *testing.T, bins ...string) {
	t.Helper()
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, "%s is not installed", bin)
		}
	}
}

// buildGuest builds the static binaries a guest runs into a new
// directory and returns it.
func buildGuest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "../../cmd/init", "../../cmd/initctl", "../../cmd/shutdown")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

// qemuExit is qemu-boot's exit status; status 3 (it cannot run here)
// skips the test outside CI.
func qemuExit(t *testing.T, err error, out string) int {
	t.Helper()
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
	return code
}

// TestBootRealKernel boots init as PID 1 of a real kernel. The guest's
// check job (testdata/init/check.conf) verifies from inside: output
// logged while /var/log/upstart did not exist yet reaches its file after
// notify-disk-writeable; processes are tracked by cgroup (init mounts
// cgroup2 on a fresh /sys); a stateful re-exec of PID 1 (SIGTERM) keeps
// every job; a service still respawns after it; `expect fork` finds a
// forked daemon's process and stopping the job kills it; the daemon logs
// into the kernel log; Ctrl-Alt-Del is PID 1's; /run and /dev/shm are
// mounted; telinit and runlevel work; two ext4 disks made here are
// mounted read-write (disk.conf), a file on one held open for writing
// by a job. Then the test presses Ctrl-Alt-Del through the QEMU monitor:
// the control-alt-delete job runs `poweroff`, which goes through shutdown
// to runlevel 0, whose job asks PID 1 to end the system; qemu-boot's exit
// status says how the guest ended, and the disks must come back clean
// (remounted read-only) with what the guest wrote (synced).
func TestBootRealKernel(t *testing.T) {
	needTools(t, "qemu-system-x86_64", "busybox", "cpio", "mkfs.ext4", "dumpe2fs", "debugfs", "depmod", "modprobe")
	dir := buildGuest(t)
	console := filepath.Join(dir, "console.log")
	monitor := filepath.Join(dir, "monitor.sock")
	// A journal makes an ext4 that was not remounted read-only say
	// needs_recovery (its superblock still says clean); one without a
	// journal says "not clean" in its superblock.
	disk, noJournal := makeDisk(t, true), makeDisk(t, false)
	args := []string{
		"--init-path", "/sbin/init", "--init", filepath.Join(dir, "init"),
		"--add", "testdata/init:/etc/init",
		"--add", filepath.Join(dir, "initctl") + ":/sbin/initctl",
		// The disks that disk.conf mounts read-write: PID 1's end must
		// leave them clean (remounted read-only) with what the guest
		// wrote on them.
		"--disk", disk, "--disk", noJournal, "--modules", "virtio_pci virtio_blk",
		// no_timer_check: a TCG guest on a loaded host can fail the kernel's
		// IO-APIC timer check and panic before init runs.
		"--append", "PATH=/sbin:/bin:/usr/sbin:/usr/bin no_timer_check",
		"--monitor", monitor,
		"--timeout", "240", "--console-log", console, "-q"}
	// The tools, by name, as the symlinks would give them.
	for _, n := range []string{"shutdown", "reboot", "halt", "poweroff", "telinit", "runlevel"} {
		args = append(args, "--add", filepath.Join(dir, "shutdown")+":/sbin/"+n)
	}
	// TCG unless QEMU_BOOT_ACCEL=kvm (qemu-boot reads it): the /dev/kvm
	// of our nested VMs fails with a KVM internal error mid-boot.
	cmd := exec.Command("./qemu-boot", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu-boot: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// When the guest says so, press Ctrl-Alt-Del.
	pressed := false
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(100 * time.Millisecond):
		}
		if pressed {
			continue
		}
		if log, _ := os.ReadFile(console); bytes.Contains(log, []byte("CHECK waiting for ctrl-alt-del")) {
			if err := sendMonitor(monitor, "sendkey ctrl-alt-delete"); err != nil {
				t.Errorf("QEMU monitor: %v", err)
			}
			pressed = true
		}
	}
	log, _ := os.ReadFile(console)
	code := qemuExit(t, err, out.String())
	t.Logf("qemu-boot: %s", strings.TrimSpace(out.String()))
	if code != 0 {
		t.Fatalf("the guest did not power off cleanly (qemu-boot exit %d)\nconsole:\n%s", code, log)
	}
	for _, want := range []string{"CHECK early output logged", "CHECK cgroup tracking", "CHECK boot chart and blame name every job",
		"CHECK why explains the boot", "CHECK re-exec kept every job",
		"CHECK respawn after the re-exec", "CHECK expect fork found the forked daemon", "CHECK stop killed the forked daemon",
		"CHECK daemon log in the kernel log", "CHECK mounts", "CHECK runlevel N 2", "CHECK all done", "Re-executing",
		"CHECK control-alt-delete job ran", "CHECK runlevel 0 from 2, INIT_HALT=POWEROFF",
		"CHECK disks mounted read-write, a file held open",
		"init: Stopping every job for poweroff", "init: Calling reboot(2) for poweroff", "reboot: Power down"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	checkRemounted(t, string(log))
	checkDisk(t, disk, map[string]string{"/file": "written by the guest before the poweroff\n", "/held": "held open\n",
		"/from-host": "made on the host\n"})
	checkDisk(t, noJournal, map[string]string{"/file": "written by the guest before the poweroff\n",
		"/from-host": "made on the host\n"})
	if strings.Contains(string(log), "CHECK FAILED") || t.Failed() {
		t.Fatalf("console:\n%s", log)
	}
}

// makeDisk makes a small ext4 image for a guest's virtio disk, with or
// without a journal.
func makeDisk(t *testing.T, journal bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tree", "from-host"), []byte("made on the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, features := filepath.Join(dir, "journal.img"), "has_journal"
	if !journal {
		img, features = filepath.Join(dir, "nojournal.img"), "^has_journal"
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", features, "-d", filepath.Join(dir, "tree"), img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return img
}

// remountedRE is PID 1's line after the read-only remount, in the kernel log.
var remountedRE = regexp.MustCompile(`init: Remounted (\d+) file systems read-only`)

// checkRemounted checks PID 1's count of remounted file systems: the
// two disks at least.
func checkRemounted(t *testing.T, log string) {
	t.Helper()
	if m := remountedRE.FindStringSubmatch(log); m == nil {
		t.Errorf("console lacks PID 1's \"Remounted N file systems read-only\"")
	} else if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("PID 1 remounted %d file systems read-only, want the two disks at least: %s", n, m[0])
	}
}

// checkDisk checks, after the guest's end, that PID 1 remounted the disk
// image img read-only (its superblock says clean, its journal needs no
// recovery) and synced what the guest wrote: files maps paths to their
// contents.
func checkDisk(t *testing.T, img string, files map[string]string) {
	t.Helper()
	out, err := exec.Command("dumpe2fs", "-h", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs -h: %v\n%s", err, out)
	}
	sb := string(out)
	if !regexp.MustCompile(`(?m)^Filesystem state:\s+clean$`).MatchString(sb) {
		t.Errorf("%s was not left clean:\n%s", filepath.Base(img), sb)
	}
	if strings.Contains(sb, "needs_recovery") {
		t.Errorf("%s: the journal needs recovery (not remounted read-only):\n%s", filepath.Base(img), sb)
	}
	for file, want := range files {
		out, err := exec.Command("debugfs", "-R", "cat "+file, img).Output()
		if err != nil || string(out) != want {
			t.Errorf("%s: debugfs cat %s: %q (%v), want %q", filepath.Base(img), file, out, err, want)
		}
	}
}

// sendMonitor sends one command to QEMU's human monitor on a unix socket.
func sendMonitor(path, command string) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(command + "\n")); err != nil {
		return err
	}
	// Read the echo so that the command is taken before we hang up.
	buf := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte(command)) {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("reading the monitor: %w (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	time.Sleep(200 * time.Millisecond)
	return nil
}

// TestBootChromeOSGraph boots the example Chromium OS graph
// (examples/chromeos-boot) as a Chromium OS-like system would run init:
// cgroups left to the system, /usr/local last in jobs' PATH. When
// system-services has started, the guest shuts down as Chromium OS does
// (initctl emit runlevel RUNLEVEL=0): the halt job disables respawning
// and runs halt --force --poweroff.
func TestBootChromeOSGraph(t *testing.T) {
	needTools(t, "qemu-system-x86_64", "busybox", "cpio")
	dir := buildGuest(t)
	console := filepath.Join(dir, "console.log")
	args := []string{
		"--init-path", "/sbin/init", "--init", filepath.Join(dir, "init"),
		"--init-args", "--no-cgroup-mount --job-path=/usr/bin:/usr/sbin:/sbin:/bin:/usr/local/sbin:/usr/local/bin",
		"--add", "../../examples/chromeos-boot:/etc/init",
		"--add", "testdata/chromeos:/etc/init",
		"--add", filepath.Join(dir, "initctl") + ":/sbin/initctl",
		"--append", "PATH=/sbin:/bin:/usr/sbin:/usr/bin no_timer_check",
		"--timeout", "240", "--console-log", console, "-q"}
	for _, n := range []string{"shutdown", "reboot", "halt", "poweroff", "telinit", "runlevel"} {
		args = append(args, "--add", filepath.Join(dir, "shutdown")+":/sbin/"+n)
	}
	out, err := exec.Command("./qemu-boot", args...).CombinedOutput()
	log, _ := os.ReadFile(console)
	code := qemuExit(t, err, string(out))
	t.Logf("qemu-boot: %s", strings.TrimSpace(string(out)))
	if code != 0 {
		t.Fatalf("the guest did not power off cleanly (qemu-boot exit %d)\nconsole:\n%s", code, log)
	}
	for _, want := range []string{"CHECK system-services started", "CHECK daemon log in the kernel log",
		"CHECK cgroup directory left alone", "CHECK job PATH with /usr/local last",
		"halt: respawn disabled, powering off", "reboot: Power down"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("console:\n%s", log)
	}
}
