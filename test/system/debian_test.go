package system

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBootDebian boots a Debian 12 root filesystem (debian-rootfs: built
// once with mmdebstrap and cached) with our init, tools and the job set
// of conf/debian, installed by scripts/install.sh, as PID 1 of a real
// kernel. The guest's check-debian job checks from inside that runlevel 2
// is reached (`runlevel` prints "N 2"), sshd listens on port 22, rsyslogd
// and cron run and a getty runs on ttyS0, and sysv-events shows the init
// scripts' events reaching jobs; then `shutdown -h now`. The console must
// show every stop script of runlevel 0 ending well in dependency order,
// sendsigs finding nothing that needed SIGKILL, and the kernel's power
// down. It logs the boot and shutdown times it measured.
func TestBootDebian(t *testing.T) {
	if os.Getuid() != 0 {
		skipOrFail(t, "building the Debian tree needs root")
	}
	for _, bin := range []string{"qemu-system-x86_64", "cpio", "mmdebstrap"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, "%s is not installed", bin)
		}
	}
	if testing.Short() {
		t.Skip("a Debian boot takes minutes under emulation; not in -short")
	}
	out, err := exec.Command("./debian-rootfs").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			skipOrFail(t, "debian-rootfs: %s", ee.Stderr)
		}
		t.Fatalf("debian-rootfs: %v\n%s", err, stderrOf(err))
	}
	rootfs := strings.TrimSpace(string(out))
	dir := t.TempDir()
	dest := filepath.Join(dir, "dest")
	if out, err := exec.Command("../../scripts/install.sh", "--debian", "--destdir", dest).CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	for _, tool := range []string{"shutdown", "halt", "poweroff", "runlevel", "telinit"} {
		if _, err := os.Stat(filepath.Join(dest, "sbin", tool)); err != nil {
			t.Fatalf("install.sh installed no %s: %v", tool, err)
		}
	}
	accel := qemuAccel(t, dir)
	console := filepath.Join(dir, "console.log")
	cmd := exec.Command("./qemu-boot", "--no-busybox",
		"--init-path", "/sbin/init", "--init", filepath.Join(dest, "sbin/init"),
		"--add", rootfs+":/", "--add", dest+":/", "--add", "testdata/debian:/etc/init",
		"--mem", "1G", "--accel", accel, "--timeout", "400", "--console-log", console, "-q")
	t0 := time.Now()
	qout, err := cmd.CombinedOutput()
	wall := time.Since(t0)
	logb, _ := os.ReadFile(console)
	log := string(logb)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("qemu-boot: %v", err)
	}
	if code == 3 {
		skipOrFail(t, "qemu-boot cannot run here: %s", qout)
	}
	t.Logf("qemu-boot (%s, %.0fs): %s", accel, wall.Seconds(), strings.TrimSpace(string(qout)))
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", log)
		}
	}()
	if code != 0 {
		t.Fatalf("the guest did not power off (qemu-boot exit %d)", code)
	}
	for _, want := range []string{
		"CHECK runlevel N 2", "CHECK sshd-listening", "CHECK rsyslogd running", "CHECK cron running", "CHECK getty on ttyS0",
		"CHECK event started JOB=ssh SYSV_ACTION=start RUNLEVEL=2",
		"CHECK event stopping JOB=rsyslog SYSV_ACTION=stop RUNLEVEL=0",
		"sysv-rc: runlevel S (from N): 16 scripts", "sysv-rc: runlevel 2 (from N): 6 scripts",
		"sysv-rc: start ssh: ok", "sysv-rc: start rsyslog: ok", "sysv-rc: start cron: ok",
		"reboot: Power down",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if !regexp.MustCompile(`CHECK event [a-z ]*stopped JOB=rsyslog SYSV_ACTION=stop RUNLEVEL=0 RESULT=ok`).MatchString(log) {
		t.Errorf("no stopped JOB=rsyslog RESULT=ok event reached a job")
	}
	if strings.Contains(log, "CHECK FAILED") || strings.Contains(log, ": FAILED,") {
		t.Errorf("a check or a script failed")
	}
	// The shutdown: every stop script ended well, in dependency order; the
	// daemons were gone before sendsigs, which needed no SIGKILL.
	stops := []string{"ssh", "cron", "sendsigs", "rsyslog", "umountnfs.sh", "umountfs", "umountroot"}
	at := map[string]int{}
	for _, s := range stops {
		i := strings.Index(log, "sysv-rc: stop "+s+": ok")
		if i < 0 {
			t.Errorf("console lacks %q", "sysv-rc: stop "+s+": ok")
		}
		at[s] = i
	}
	for _, o := range [][2]string{{"ssh", "sendsigs"}, {"cron", "sendsigs"}, {"sendsigs", "rsyslog"}, {"rsyslog", "umountnfs.sh"}, {"umountfs", "umountroot"}} {
		if at[o[0]] >= 0 && at[o[1]] >= 0 && at[o[0]] > at[o[1]] {
			t.Errorf("%s stopped after %s", o[0], o[1])
		}
	}
	if !strings.Contains(log, "All processes ended within") || strings.Contains(log, "Killing all remaining processes") {
		t.Errorf("sendsigs did not find every process gone after SIGTERM")
	}
	if !strings.Contains(log, "Will now halt") || strings.Index(log, "Will now halt") < at["umountroot"] {
		t.Errorf("the halt script did not run last")
	}
	// Figures.
	pid1, ssh, down, shut := checkValue(log, "pid1-start"), checkValue(log, "sshd-listening"), kernelTime(log, "reboot: Power down"), checkValue(log, "shutdown")
	if pid1 >= 0 && ssh >= 0 && down >= 0 && shut >= 0 {
		t.Logf("FIGURE accel=%s boot (PID 1 start to sshd listening) %.2fs; shutdown (shutdown -h now to power down) %.2fs", accel, ssh-pid1, down-shut)
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// checkValue returns the number after "CHECK NAME " in the console, or -1.
func checkValue(log, name string) float64 {
	m := regexp.MustCompile(`CHECK ` + regexp.QuoteMeta(name) + ` ([0-9.]+)`).FindStringSubmatch(log)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// kernelTime returns the printk time stamp of the first line holding s, or -1.
func kernelTime(log, s string) float64 {
	m := regexp.MustCompile(`\[ *([0-9]+\.[0-9]+)\] ` + regexp.QuoteMeta(s)).FindStringSubmatch(log)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// qemuAccel picks the accelerator: $QEMU_BOOT_ACCEL if set; else KVM when
// /dev/kvm is usable and a tiny guest powers off under it within 15 s
// (on some hosts nested KVM hangs the guest at its first instructions),
// else TCG.
func qemuAccel(t *testing.T, dir string) string {
	if a := os.Getenv("QEMU_BOOT_ACCEL"); a != "" {
		return a
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	if _, err := exec.LookPath("busybox"); err != nil {
		return "tcg"
	}
	probe := filepath.Join(dir, "probe-init")
	if err := os.WriteFile(probe, []byte("#!/bin/sh\npoweroff -f\n"), 0o755); err != nil {
		return "tcg"
	}
	err = exec.Command("./qemu-boot", "--init", probe, "--busybox-all", "--accel", "kvm", "--timeout", "15", "-q").Run()
	if err == nil {
		return "kvm"
	}
	t.Logf("KVM is there but a guest does not boot under it (%v); using TCG", err)
	return "tcg"
}
