package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/kmsg"
	"github.com/goupstart/upstart/internal/mount"
	"github.com/goupstart/upstart/internal/supervise"
)

// bootSetup does what PID 1 of a machine or container needs before jobs
// run: its own session, a known umask and directory, the file systems an
// init owns (each only where nothing is mounted yet), Ctrl-Alt-Del and
// keyboard requests as signals. Failures are logged and the next step
// still happens: a container may forbid mounts and still run fine.
func (d *daemon) bootSetup() {
	syscall.Setsid()
	syscall.Umask(0o022)
	os.Chdir("/")
	logf := func(f string, a ...any) { d.log.Warn(fmt.Sprintf(f, a...)) }
	const nosuidNoexec = syscall.MS_NOSUID | syscall.MS_NOEXEC
	specs := []mount.Spec{
		{Source: "proc", Dir: "/proc", Type: "proc", Flags: nosuidNoexec | syscall.MS_NODEV, Probe: "/proc/self"},
		{Source: "sysfs", Dir: "/sys", Type: "sysfs", Flags: nosuidNoexec | syscall.MS_NODEV, Probe: "/sys/kernel"},
		{Source: "devtmpfs", Dir: "/dev", Type: "devtmpfs", Data: "mode=0755", Flags: nosuidNoexec, Probe: "/dev/null"},
		{Source: "devpts", Dir: "/dev/pts", Type: "devpts", Data: "gid=5,mode=0620,ptmxmode=0666", Flags: nosuidNoexec, Probe: "/dev/pts/ptmx"},
		{Source: "tmpfs", Dir: "/dev/shm", Type: "tmpfs", Data: "mode=1777", Flags: nosuidNoexec | syscall.MS_NODEV, Mode: 0o777 | os.ModeSticky},
		{Source: "tmpfs", Dir: "/run", Type: "tmpfs", Data: "mode=0755", Flags: syscall.MS_NOSUID | syscall.MS_NODEV, Mode: 0o755},
	}
	if d.o.mountTmp {
		specs = append(specs, mount.Spec{Source: "tmpfs", Dir: "/tmp", Type: "tmpfs", Data: "mode=1777",
			Flags: syscall.MS_NOSUID | syscall.MS_NODEV, Mode: 0o777 | os.ModeSticky})
	}
	mounted := mount.Ensure(specs, logf)
	for _, m := range mounted {
		if m == "/run" {
			// /run/lock is world-writable with the sticky bit, as
			// Debian's and Chromium OS's lock files expect.
			if err := os.Mkdir("/run/lock", 0o755); err != nil && !os.IsExist(err) {
				logf("Unable to create /run/lock: %v", err)
			} else if err := os.Chmod("/run/lock", 0o777|os.ModeSticky); err != nil {
				logf("Unable to set the mode of /run/lock: %v", err)
			}
		}
	}
	// The cgroup v2 hierarchy, for process tracking, on a fresh /sys only:
	// where /sys/fs/cgroup holds anything (a host's hierarchies seen from
	// a container) it is left as it is, and --no-cgroup-mount leaves it
	// alone for a system that builds its own tree there (Chromium OS's
	// cgroups.conf mounts a tmpfs and v1 controllers on it).
	if !d.o.noCgroupMount {
		if ents, err := os.ReadDir("/sys/fs/cgroup"); err == nil && len(ents) == 0 && !mount.IsMountPoint("/sys/fs/cgroup") {
			if err := syscall.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", syscall.MS_NOSUID|syscall.MS_NOEXEC|syscall.MS_NODEV, "nsdelegate"); err != nil {
				logf("Unable to mount the cgroup2 filesystem: %v", err)
			}
		}
	}
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin")
	if initialPIDNamespace() {
		// The kernel sends SIGINT on Ctrl-Alt-Del instead of rebooting
		// (control-alt-delete event). In a container reboot(2) cannot
		// do this (EINVAL) and there is no keyboard anyway.
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
			logf("Unable to disable Ctrl-Alt-Del: %v", err)
		}
		// Keyboard requests (Alt-Up) as SIGWINCH (keyboard-request
		// event); only a virtual console can do it, so a serial
		// console's refusal is no error.
		for _, tty := range []string{"/dev/console", "/dev/tty0"} {
			f, err := os.OpenFile(tty, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
			if err != nil {
				continue
			}
			err = unix.IoctlSetInt(int(f.Fd()), kdSigAccept, int(syscall.SIGWINCH))
			f.Close()
			if err == nil {
				break
			}
			d.log.Debug(fmt.Sprintf("%s does not take keyboard requests: %v", tty, err))
		}
	}
}

// initialPIDNamespace tells whether this process runs in the machine's
// own PID namespace (PID 1 there is the machine's init; elsewhere it is a
// container's).
func initialPIDNamespace() bool {
	link, err := os.Readlink("/proc/self/ns/pid")
	// PROC_PID_INIT_INO, the inode of the initial PID namespace.
	return err == nil && link == "pid:[4026531836]"
}

// setDaemonLog chooses where the daemon's own messages go: --daemon-log,
// else the kernel log for PID 1 of a machine (as Upstart), else stderr
// (a session instance, or a container, whose runtime reads stderr). A
// target that cannot be opened leaves them on stderr, with a warning.
func (d *daemon) setDaemonLog() {
	target := d.o.daemonLog
	if target == "" {
		if d.pid1 && initialPIDNamespace() {
			target = "kmsg"
		} else {
			target = "stderr"
		}
	}
	switch target {
	case "stderr":
		return
	case "kmsg":
		w, err := kmsg.Open("init")
		if err != nil {
			d.log.Warn(fmt.Sprintf("Unable to log to /dev/kmsg: %v", err))
			return
		}
		d.logh.setOutput(nil, w)
	default:
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o640)
		if err != nil {
			d.log.Warn(fmt.Sprintf("Unable to log to %s: %v", target, err))
			return
		}
		d.logh.setOutput(f, nil)
	}
}

// configureSupervisor sets the mode-dependent supervisor options.
func configureSupervisor(o *supervise.Options, d *daemon) {
	if d.o.user {
		// A session's jobs write to the terminal the session runs on,
		// start in its directory and keep its umask (as in Upstart).
		o.ConsolePath = "/proc/self/fd/2"
		o.InheritUmask = !d.o.noInheritEnv
		return
	}
	o.DefaultChdir = "/"
}

// kdSigAccept is the KDSIGACCEPT ioctl of a virtual console (linux/kd.h).
const kdSigAccept = 0x4B4E
