package main

// The end of the system: PID 1 asked to halt, power off or reboot (by
// the signals systemd uses for this, which container managers send, or
// by org.goupstart.Manager1.Shutdown) stops every job, kills what is
// left, writes the shutdown record, syncs, remounts read-only what it can
// and calls reboot(2). Each failure is logged and the next step still
// happens; PID 1 never exits on its own (in a container, reboot(2) ends
// it with the signal its parent reads: SIGINT for halt and power-off,
// SIGHUP for reboot).

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/mount"
	"github.com/goupstart/upstart/internal/utmp"
)

// The signals that ask PID 1 to end the system: SIGRTMIN+3, +4 and +5 as
// the C library numbers them (34 + n), as in systemd.
const (
	sigHalt     = syscall.Signal(34 + 3)
	sigPowerOff = syscall.Signal(34 + 4)
	sigReboot   = syscall.Signal(34 + 5)
)

// Bounds of the end (docs/decisions.md).
const (
	// stopSlack is how much longer than the longest kill timeout the
	// jobs get to stop (pre-stop and post-stop scripts run too).
	stopSlack = 10 * time.Second
	// termWait is how long other processes get between SIGTERM and
	// SIGKILL; killWait how long SIGKILL gets to take effect.
	termWait = 3 * time.Second
	killWait = 2 * time.Second
)

var shutdownSignals = map[syscall.Signal]string{sigHalt: "halt", sigPowerOff: "poweroff", sigReboot: "reboot"}

var _ control.SystemShutdowner = (*daemonBackend)(nil)
var _ control.RespawnDisabler = (*daemonBackend)(nil)

// SystemShutdown serves org.goupstart.Manager1.Shutdown: PID 1 only.
func (b *daemonBackend) SystemShutdown(how string) error {
	if !b.d.pid1 {
		return api.Errorf(control.ErrNotSupported, "Only PID 1 shuts the system down")
	}
	for sig, h := range shutdownSignals {
		if h == how {
			signals <- sig
			return nil
		}
	}
	return api.Errorf(api.ErrInvalidArgs, "Unknown shutdown action: "+how)
}

// endSystem runs the end of the system; it returns only if reboot(2)
// failed (the daemon then goes on, with every job stopped).
func (d *daemon) endSystem(how string) {
	start := time.Now()
	msg := func(f string, a ...any) { d.log.Log(context.Background(), priorities["message"], fmt.Sprintf(f, a...)) }
	warn := func(f string, a ...any) { d.log.Warn(fmt.Sprintf(f, a...)) }
	msg("Stopping every job for %s", how)

	// Jobs first, with their own stop sequence and kill timeouts; none
	// may respawn meanwhile.
	var wait time.Duration
	d.call(func() {
		d.e.DisableRespawn()
		wait = d.e.StopAll()
	})
	deadline := time.Now().Add(wait + stopSlack)
	for {
		var n int
		d.call(func() {
			n = d.e.InstanceCount()
			if n > 0 {
				// Jobs that the stopping ones started (start on
				// stopped …) are stopped as well.
				d.e.StopAll()
			}
		})
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.call(func() {
		for _, name := range d.e.Running() {
			warn("%s did not stop in time, killing it", name)
		}
		d.e.KillEverything()
	})

	// Then every other process: TERM, a little time, KILL.
	if n := otherProcesses(); n > 0 {
		msg("Sending all processes the TERM signal (%d left)", n)
		if err := syscall.Kill(-1, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
			warn("Unable to signal all processes: %v", err)
		}
		waitNoProcesses(termWait)
		if n := otherProcesses(); n > 0 {
			msg("Sending all processes the KILL signal (%d left)", n)
			if err := syscall.Kill(-1, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
				warn("Unable to signal all processes: %v", err)
			}
			waitNoProcesses(killWait)
		}
	}

	// Nothing of ours may hold a file open for writing on a file system
	// about to become read-only.
	if logs.events != nil {
		logs.events.Close()
	}
	if logs.lg != nil {
		logs.lg.Close()
	}
	machine := initialPIDNamespace()
	if machine {
		if d.o.daemonLog != "" && d.o.daemonLog != "kmsg" && d.o.daemonLog != "stderr" {
			d.setKmsgOrStderr()
		}
		if err := utmp.WriteShutdown(utmp.UtmpFile, utmp.WtmpFile); err != nil {
			d.log.Debug(fmt.Sprintf("Unable to write the shutdown record: %v", err))
		}
	}
	unix.Sync()
	if machine {
		// In a container the file systems are (parts of) the host's:
		// they are not ours to remount.
		n := mount.RemountReadOnly(func(f string, a ...any) { warn(f, a...) })
		msg("Remounted %d file systems read-only", n)
		unix.Sync()
	}
	cmd := map[string]int{"halt": unix.LINUX_REBOOT_CMD_HALT, "poweroff": unix.LINUX_REBOOT_CMD_POWER_OFF,
		"reboot": unix.LINUX_REBOOT_CMD_RESTART}[how]
	msg("Calling reboot(2) for %s after %.1f s", how, time.Since(start).Seconds())
	err := unix.Reboot(cmd)
	d.log.Error(fmt.Sprintf("Unable to %s: %v", how, err))
}

// setKmsgOrStderr moves the daemon's log off a file before the file
// systems become read-only.
func (d *daemon) setKmsgOrStderr() {
	saved := d.o.daemonLog
	d.o.daemonLog = "kmsg"
	d.setDaemonLog()
	d.o.daemonLog = saved
}

// otherProcesses counts the processes other than PID 1 and the kernel's
// threads (children of kthreadd, PID 2), which signals do not reach.
func otherProcesses() int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == 2 || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[1] == "2" || f[0] == "Z" {
			continue
		}
		n++
	}
	return n
}

func waitNoProcesses(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if otherProcesses() == 0 {
			return
		}
	}
}
