package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/goupstart/upstart/internal/supervise"
)

// bootSetup does what PID 1 of a machine or container needs before jobs
// run: its own session, a known umask and directory, and the kernel
// filesystems if nobody mounted them. Failures are warnings: a container
// may forbid mounts and still run fine.
func (d *daemon) bootSetup() {
	syscall.Setsid()
	syscall.Umask(0o022)
	os.Chdir("/")
	mounts := []struct{ src, dir, fstype, opts, probe string }{
		{"proc", "/proc", "proc", "", "/proc/self"},
		{"sysfs", "/sys", "sysfs", "", "/sys/kernel"},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755", "/dev/null"},
		{"devpts", "/dev/pts", "devpts", "gid=5,mode=0620,ptmxmode=0666", "/dev/pts/ptmx"},
	}
	for _, m := range mounts {
		if _, err := os.Stat(m.probe); err == nil {
			continue
		}
		os.MkdirAll(m.dir, 0o755)
		if err := syscall.Mount(m.src, m.dir, m.fstype, syscall.MS_NOSUID|syscall.MS_NOEXEC, m.opts); err != nil {
			d.log.Warn(fmt.Sprintf("Unable to mount %s filesystem: %v", m.dir, err))
		}
	}
	// The cgroup v2 hierarchy, for process tracking, on a fresh /sys only:
	// where /sys/fs/cgroup holds anything (a host's hierarchies seen from
	// a container) it is left as it is.
	if ents, err := os.ReadDir("/sys/fs/cgroup"); err == nil && len(ents) == 0 {
		if err := syscall.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", syscall.MS_NOSUID|syscall.MS_NOEXEC|syscall.MS_NODEV, "nsdelegate"); err != nil {
			d.log.Warn(fmt.Sprintf("Unable to mount the cgroup2 filesystem: %v", err))
		}
	}
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin")
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
