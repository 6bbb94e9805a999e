package main

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/utmp"
)

// runReboot is reboot, halt and poweroff: outside runlevels 0 and 6 and
// without --force they hand over to `shutdown ... now`; otherwise they
// record the shutdown in wtmp, sync and call reboot(2).
func runReboot(t *env, args []string) int {
	noSync, force, powerOff, wtmpOnly := false, false, false, false
	opts := []option{
		{'n', "no-sync", "", "don't sync before reboot or halt", func(string) { noSync = true }},
		{'f', "force", "", "force reboot or halt, don't call shutdown(8)", func(string) { force = true }},
		{'p', "poweroff", "", "switch off the power when called as halt", func(string) { powerOff = true }},
		{'w', "wtmp-only", "", "write wtmp entry, but don't actually reboot", func(string) { wtmpOnly = true }},
		{'d', "", "", "", ignored}, {'i', "", "", "", ignored}, {'h', "", "", "", ignored},
		{'t', "", "SECS", "", ignored},
	}
	usage := ""
	if t.prog == "reboot" {
		usage = "[REBOOTCOMMAND]"
	}
	rest, code, ok := t.parse(args, opts, usage, map[string]string{
		"reboot": "Reboot the system.", "halt": "Halt the system.", "poweroff": "Power off the system."}[t.prog],
		"Without --force, and outside runlevels 0 and 6, this calls shutdown(8).")
	if !ok {
		return code
	}
	if !t.needRoot() {
		return 1
	}
	mode := t.prog
	if mode == "halt" && powerOff {
		mode = "poweroff"
	}
	if wtmpOnly {
		if err := utmp.WriteShutdown(t.utmp, t.wtmp); err != nil {
			t.errorf("Unable to write shutdown record: %v", err)
			return 1
		}
		return 0
	}
	if !force {
		if cur, _, err := t.currentRunlevel(t.utmp); err != nil || (cur != '0' && cur != '6') {
			argv := map[string][]string{
				"reboot":   {"shutdown", "-r", "now"},
				"halt":     {"shutdown", "-h", "-H", "now"},
				"poweroff": {"shutdown", "-h", "-P", "now"},
			}[mode]
			t.infof("Calling shutdown")
			exe, err := os.Executable()
			if err == nil {
				err = syscall.Exec(exe, argv, os.Environ())
			}
			t.errorf("Unable to execute shutdown: %v", err)
			return 1
		}
	}
	if err := utmp.WriteShutdown(t.utmp, t.wtmp); err != nil {
		t.infof("Unable to write shutdown record: %v", err)
	}
	os.Chdir("/")
	if !noSync {
		t.infof("Syncing disks")
		unix.Sync()
	}
	var err error
	switch mode {
	case "reboot":
		t.infof("Rebooting")
		if len(rest) > 0 {
			err = restart2(rest[0])
		} else {
			err = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		}
	case "halt":
		t.infof("Halting")
		err = unix.Reboot(unix.LINUX_REBOOT_CMD_HALT)
	default:
		t.infof("Powering off")
		err = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	t.errorf("Unable to %s: %v", mode, err)
	return 1
}

// restart2 reboots with a command for the firmware or boot loader
// (LINUX_REBOOT_CMD_RESTART2), which x/sys/unix does not wrap.
func restart2(arg string) error {
	p, err := unix.BytePtrFromString(arg)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
		unix.LINUX_REBOOT_CMD_RESTART2, uintptr(unsafe.Pointer(p)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
