package logger

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openPTY allocates a pseudo-terminal. The master is non-blocking (so the
// runtime's poller serves its reads) and close-on-exec; the slave is
// opened without becoming anyone's controlling terminal (the daemon may be
// a session leader) and close-on-exec too: the child gets it as its
// standard output through the spawn's file table, not by inheritance.
//
// The slave keeps the kernel's default termios, so output processing
// turns every "\n" into "\r\n", as in Upstart's logs.
func openPTY() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, without a path
	// lookup in /dev/pts (which may be another devpts instance, e.g. in a
	// chroot or container). Older kernels: fall back to the path.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER,
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
		if err != nil {
			unix.Close(mfd)
			return nil, nil, fmt.Errorf("ptsname: %w", err)
		}
		fd, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(mfd)
			return nil, nil, fmt.Errorf("open pty slave: %w", err)
		}
		sfd = uintptr(fd)
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), os.NewFile(sfd, "pty-slave"), nil
}
