package system

import (
	"errors"
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

// TestBootDebian boots a Debian 12 root filesystem (debian-rootfs: built
// once with mmdebstrap and cached) with our init, tools and the job set
// of conf/debian, installed by scripts/install.sh, as PID 1 of a real
// kernel, three times (issue 10). Each time the guest's check-debian job
// checks from inside that runlevel 2 is reached (`runlevel` prints "N
// 2"), sshd listens on port 22, rsyslogd and cron run and a getty runs on
// ttyS0, and sysv-events shows the init scripts' events reaching jobs; a
// job with `apparmor load` and `apparmor switch` runs confined (issue 12);
// the udev bridge, started as the shipped job before udevd's coldplug,
// emits net-device-added for the guest's virtio NIC (issue 11). The first
// boot then runs `shutdown -h now`: every stop script of runlevel 0 must
// end well in dependency order, sendsigs find nothing that needed
// SIGKILL, the halt script run last and the kernel power down; it logs
// the boot and shutdown times. The second runs `reboot`: the runlevel 6
// scripts and the kernel's restart. The third gets Ctrl-Alt-Del from
// QEMU's monitor: the control-alt-delete event, the shipped
// control-alt-delete job starting and its `shutdown -r now`, the runlevel
// 6 scripts and the kernel's restart.
func TestBootDebian(t *testing.T) {
	if os.Getuid() != 0 {
		skipOrFail(t, "building the Debian tree needs root")
	}
	needTools(t, "qemu-system-x86_64", "cpio", "mmdebstrap")
	if testing.Short() && os.Getenv("CI") == "" {
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
	for _, tool := range []string{"shutdown", "halt", "poweroff", "reboot", "runlevel", "telinit"} {
		if _, err := os.Stat(filepath.Join(dest, "sbin", tool)); err != nil {
			t.Fatalf("install.sh installed no %s: %v", tool, err)
		}
	}
	accel := qemuAccel(t, dir)
	// One initramfs for the three boots (building it costs about as much
	// as the kernel's boot to init under load).
	initrd := filepath.Join(dir, "initrd.img")
	build := exec.Command("./qemu-boot", "--no-busybox",
		"--init-path", "/sbin/init", "--init", filepath.Join(dest, "sbin/init"),
		"--add", rootfs+":/", "--add", dest+":/", "--add", "testdata/debian:/etc/init",
		"--add", "testdata/debian-aa:/etc/goupstart-test",
		// The cloud kernel's NIC drivers are modules: udevd loads them
		// for the virtio NIC (user networking, nothing on the host).
		"--modules", "virtio_pci,virtio_net",
		"--build-only", "--initrd-out", initrd)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("qemu-boot --build-only: %v\n%s", err, out)
	}
	t.Run("shutdown", func(t *testing.T) { debianShutdown(t, initrd, accel) })
	t.Run("reboot", func(t *testing.T) { debianReboot(t, initrd, accel) })
	t.Run("ctrl-alt-delete", func(t *testing.T) { debianCtrlAltDel(t, initrd, accel) })
}

// bootDebian boots the initramfs and returns qemu-boot's exit code and
// the console. during, if set, runs while the guest runs (with the
// console file's path and QEMU's monitor socket).
func bootDebian(t *testing.T, initrd, accel, appendArgs string, during func(console, monitor string)) (int, string) {
	dir := t.TempDir()
	console := filepath.Join(dir, "console.log")
	monitor := filepath.Join(dir, "monitor")
	args := []string{"--initrd", initrd, "--init-path", "/sbin/init",
		"--mem", "1G", "--accel", accel, "--timeout", "400", "--console-log", console, "-q"}
	if appendArgs != "" {
		args = append(args, "--append", appendArgs)
	}
	args = append(args, "--", "-monitor", "unix:"+monitor+",server=on,wait=off", "-nic", "user,model=virtio-net-pci")
	cmd := exec.Command("./qemu-boot", args...)
	var qout strings.Builder
	cmd.Stdout, cmd.Stderr = &qout, &qout
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu-boot: %v", err)
	}
	if during != nil {
		during(console, monitor)
	}
	err := cmd.Wait()
	wall := time.Since(t0)
	logb, _ := os.ReadFile(console)
	code := qemuExit(t, err, qout.String())
	t.Logf("qemu-boot (%s, %.0fs): %s", accel, wall.Seconds(), strings.TrimSpace(qout.String()))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", logb)
		}
	})
	return code, string(logb)
}

// checkBoot checks what every boot must show by runlevel 2.
func checkBoot(t *testing.T, log string) {
	t.Helper()
	for _, want := range []string{
		"CHECK runlevel N 2", "CHECK sshd-listening", "CHECK rsyslogd running", "CHECK cron running", "CHECK getty on ttyS0",
		"CHECK event started JOB=ssh SYSV_ACTION=start RUNLEVEL=2",
		"sysv-rc: runlevel S (from N): 18 scripts", "sysv-rc: runlevel 2 (from N): 6 scripts",
		"sysv-rc: start ssh: ok", "sysv-rc: start rsyslog: ok", "sysv-rc: start cron: ok",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(log, "CHECK FAILED") || strings.Contains(log, ": FAILED,") {
		t.Errorf("a check or a script failed")
	}
	checkAppArmor(t, log)
	checkNetDevice(t, log)
}

// checkAppArmor: the aa-confined job (apparmor load + apparmor switch)
// ran its main process under its profile, which denied it /etc/shadow
// (the kernel's audit line says so too); its pre-start ran unconfined.
func checkAppArmor(t *testing.T, log string) {
	t.Helper()
	for _, want := range []string{
		"CHECK apparmor enabled=Y", "sysv-rc: start apparmor: ok",
		"CHECK aa-pre-start label unconfined", "CHECK aa-label goupstart-confined (enforce)", "CHECK aa-confined done",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if !regexp.MustCompile(`CHECK aa-denied /etc/shadow: .*Permission denied`).MatchString(log) {
		t.Errorf("the confined job was not denied /etc/shadow")
	}
	if !regexp.MustCompile(`apparmor="DENIED" operation="open"[^\n]* profile="goupstart-confined" name="/etc/shadow"`).MatchString(log) {
		t.Errorf("no AppArmor denial of /etc/shadow in the kernel's log")
	}
}

// checkNetDevice: the udev bridge, started by the shipped job before
// udevd's coldplug, emitted net-device-added for the guest's NIC (found in
// /sys/class/net by the check job) and a job started on it.
func checkNetDevice(t *testing.T, log string) {
	t.Helper()
	m := regexp.MustCompile(`CHECK nic (\S+) net-device-added seen`).FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		t.Errorf("no NIC with its net-device-added")
	}
	for _, n := range m {
		if !strings.Contains(log, "CHECK event net-device-added INTERFACE="+n[1]+" DEVPATH=/devices/pci") {
			t.Errorf("no net-device-added INTERFACE=%s of a PCI device", n[1])
		}
	}
}

// checkStops checks that the stop scripts of a shutdown or reboot ended
// well and in dependency order, and that sendsigs needed no SIGKILL; it
// returns where umountroot's line is.
func checkStops(t *testing.T, log string) int {
	t.Helper()
	// ssh and cron have no K link in Debian 12: sendsigs ends them.
	stops := []string{"sendsigs", "rsyslog", "umountnfs.sh", "umountfs", "umountroot"}
	at := map[string]int{}
	for _, s := range stops {
		i := strings.Index(log, "sysv-rc: stop "+s+": ok")
		if i < 0 {
			t.Errorf("console lacks %q", "sysv-rc: stop "+s+": ok")
		}
		at[s] = i
	}
	for _, o := range [][2]string{{"sendsigs", "rsyslog"}, {"rsyslog", "umountnfs.sh"}, {"umountnfs.sh", "umountfs"}, {"umountfs", "umountroot"}} {
		if at[o[0]] >= 0 && at[o[1]] >= 0 && at[o[0]] > at[o[1]] {
			t.Errorf("%s stopped after %s", o[0], o[1])
		}
	}
	if !strings.Contains(log, "All processes ended within") || strings.Contains(log, "Killing all remaining processes") {
		t.Errorf("sendsigs did not find every process gone after SIGTERM")
	}
	return at["umountroot"]
}

// debianShutdown: the guest checks itself and runs shutdown -h now.
func debianShutdown(t *testing.T, initrd, accel string) {
	code, log := bootDebian(t, initrd, accel, "", nil)
	if code != 0 {
		t.Fatalf("the guest did not power off (qemu-boot exit %d)", code)
	}
	checkBoot(t, log)
	if !strings.Contains(log, "reboot: Power down") {
		t.Errorf("console lacks the kernel's power-down")
	}
	// UPSTART_EVENTS lists every event of sysv-events' start on that is
	// true: "started ssh" stays so (ssh is ended by sendsigs, not stopped
	// by its script), so the lines read "started stopping …".
	if !regexp.MustCompile(`CHECK event [a-z ]*stopping JOB=rsyslog SYSV_ACTION=stop RUNLEVEL=0 RESULT=\n`).MatchString(log) {
		t.Errorf("no stopping JOB=rsyslog event reached a job")
	}
	if !regexp.MustCompile(`CHECK event [a-z ]*stopped JOB=rsyslog SYSV_ACTION=stop RUNLEVEL=0 RESULT=ok`).MatchString(log) {
		t.Errorf("no stopped JOB=rsyslog RESULT=ok event reached a job")
	}
	umountroot := checkStops(t, log)
	if !strings.Contains(log, "Will now halt") || strings.Index(log, "Will now halt") < umountroot {
		t.Errorf("the halt script did not run last")
	}
	// PID 1 starts when the kernel runs /sbin/init (the task exists from
	// the kernel's own start, before the initramfs is unpacked).
	pid1, ssh, down, shut := kernelTime(log, "Run /sbin/init as init process"), checkValue(log, "sshd-listening"), kernelTime(log, "reboot: Power down"), checkValue(log, "shutdown")
	if pid1 >= 0 && ssh >= 0 && down >= 0 && shut >= 0 {
		t.Logf("FIGURE accel=%s boot (exec of /sbin/init to sshd listening) %.2fs; shutdown (shutdown -h now to power down) %.2fs", accel, ssh-pid1, down-shut)
	}
}

// debianReboot: the guest checks itself and runs `reboot` (no -f: outside
// runlevels 0 and 6 it goes through shutdown -r now); the runlevel 6
// scripts run and the kernel restarts.
func debianReboot(t *testing.T, initrd, accel string) {
	code, log := bootDebian(t, initrd, accel, "goupstart.test=reboot", nil)
	if code != 11 {
		t.Fatalf("the guest did not reboot (qemu-boot exit %d)", code)
	}
	checkBoot(t, log)
	for _, want := range []string{"CHECK reboot ", "Will now restart", "reboot: Restarting system"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if !regexp.MustCompile(`CHECK event [a-z ]*stopped JOB=rsyslog SYSV_ACTION=stop RUNLEVEL=6 RESULT=ok`).MatchString(log) {
		t.Errorf("no stopped JOB=rsyslog RUNLEVEL=6 RESULT=ok event reached a job")
	}
	umountroot := checkStops(t, log)
	if i := strings.Index(log, "Will now restart"); i >= 0 && i < umountroot {
		t.Errorf("the reboot script did not run last")
	}
	if strings.Contains(log, "CHECK control-alt-delete") {
		t.Errorf("a control-alt-delete event or job without Ctrl-Alt-Del")
	}
	rb, restart := checkValue(log, "reboot"), kernelTime(log, "reboot: Restarting system")
	if rb >= 0 && restart >= 0 {
		t.Logf("FIGURE accel=%s reboot (reboot to the kernel's restart) %.2fs", accel, restart-rb)
	}
}

// debianCtrlAltDel: once the guest is up, Ctrl-Alt-Del through QEMU's
// monitor; the control-alt-delete job runs shutdown -r now, the
// runlevel 6 scripts run and the kernel restarts.
func debianCtrlAltDel(t *testing.T, initrd, accel string) {
	var sent float64 = -1
	code, log := bootDebian(t, initrd, accel, "goupstart.test=cad", func(console, monitor string) {
		deadline := time.Now().Add(400 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(console)
			if strings.Contains(string(b), "CHECK ready-for-cad") {
				break
			}
			if strings.Contains(string(b), "reboot: ") || strings.Contains(string(b), "Kernel panic") {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		c, err := net.Dial("unix", monitor)
		if err != nil {
			t.Errorf("QEMU monitor: %v", err)
			return
		}
		defer c.Close()
		if _, err := c.Write([]byte("sendkey ctrl-alt-delete\n")); err != nil {
			t.Errorf("QEMU monitor: %v", err)
		}
		sent = 0
		time.Sleep(time.Second) // let QEMU read it before the connection closes
	})
	if sent < 0 {
		t.Fatalf("the guest never got ready for Ctrl-Alt-Del (qemu-boot exit %d)", code)
	}
	if code != 11 {
		t.Fatalf("the guest did not reboot (qemu-boot exit %d)", code)
	}
	checkBoot(t, log)
	for _, want := range []string{"CHECK control-alt-delete event", "CHECK control-alt-delete job starting", "Will now restart", "reboot: Restarting system"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	umountroot := checkStops(t, log)
	if i := strings.Index(log, "Will now restart"); i >= 0 && i < umountroot {
		t.Errorf("the reboot script did not run last")
	}
	ready, restart := checkValue(log, "ready-for-cad"), kernelTime(log, "reboot: Restarting system")
	if ready >= 0 && restart >= 0 {
		t.Logf("FIGURE accel=%s ready-for-cad to restart (incl. the monitor's polling, up to 0.5 s) %.2fs", accel, restart-ready)
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
