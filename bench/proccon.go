package main

// The kernel's process events connector (netlink, NETLINK_CONNECTOR,
// CN_IDX_PROC): every exec on the machine, with the kernel's own
// CLOCK_MONOTONIC time of it. The respawn scenario times a replacement by
// the exec event of its service's program, so the figure is the
// supervisor's latency alone: finding the replacement by scanning /proc
// added the scan (1000+ processes on this shared machine: a readdir and a
// cmdline read per new process, every 100 µs) to every system's figure,
// and the bench's polling took a CPU from the supervisor it was timing.
// Needs root (CAP_NET_ADMIN) in the initial user and PID namespaces.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procEventExec     = 2
	cnMsgLen          = 20 // struct cn_msg without its data
	procEventHdrLen   = 16 // what, cpu, timestamp_ns
)

// procConn is a subscription to the process events.
type procConn struct {
	fd  int
	buf []byte
}

// execEvent is one exec: the process (thread group) and the kernel's
// CLOCK_MONOTONIC time of it in ns.
type execEvent struct {
	pid int
	ns  int64
}

// errEventsLost: the socket's buffer overflowed and events were dropped.
var errEventsLost = errors.New("process events lost (receive buffer overflow)")

func openProcConn() (*procConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector socket: %w", err)
	}
	// Every exec and exit of the machine comes through: room for a burst
	// while the bench reads /proc.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink connector: %w", err)
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+cnMsgLen+4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(msg[12:], uint32(unix.Getpid()))
	cn := msg[unix.NLMSG_HDRLEN:]
	binary.NativeEndian.PutUint32(cn[0:], cnIdxProc)
	binary.NativeEndian.PutUint32(cn[4:], cnValProc)
	binary.NativeEndian.PutUint16(cn[16:], 4)
	binary.NativeEndian.PutUint32(cn[cnMsgLen:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe to process events: %w", err)
	}
	c := &procConn{fd: fd, buf: make([]byte, 64<<10)}
	if err := c.selfCheck(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// selfCheck runs `true` and waits for its exec event. The kernel ignores a
// subscription from outside the initial user and PID namespaces (a
// container) without an error, and its events name processes by their pids
// there: no event means the bench cannot time by events.
func (c *procConn) selfCheck() error {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("process events self-check: %w", err)
	}
	pid := cmd.Process.Pid
	cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for {
		ev, ok, err := c.next(deadline)
		if err != nil {
			return fmt.Errorf("process events self-check: %w", err)
		}
		if !ok {
			return errors.New("no process events arrive (not in the initial user and PID namespaces?)")
		}
		if ev.pid == pid {
			return nil
		}
	}
}

func (c *procConn) close() { unix.Close(c.fd) }

// next returns the next exec event, waiting at most until deadline
// (ok false: none by then).
func (c *procConn) next(deadline time.Time) (ev execEvent, ok bool, err error) {
	for {
		wait := time.Until(deadline)
		if wait < 0 {
			wait = 0
		}
		p := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, int(wait.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ev, false, err
		}
		if n == 0 {
			if time.Now().Before(deadline) {
				continue // Poll's ms granularity
			}
			return ev, false, nil
		}
		m, _, err := unix.Recvfrom(c.fd, c.buf, unix.MSG_DONTWAIT)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err == unix.ENOBUFS:
			return ev, false, errEventsLost
		case err != nil:
			return ev, false, err
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:m])
		if err != nil {
			continue
		}
		for _, nm := range msgs {
			if ev, ok := parseExec(nm.Data); ok {
				return ev, true, nil
			}
		}
	}
}

// parseExec reads a cn_msg carrying a proc_event of type exec.
func parseExec(d []byte) (execEvent, bool) {
	if len(d) < cnMsgLen+procEventHdrLen+8 {
		return execEvent{}, false
	}
	if binary.NativeEndian.Uint32(d[0:]) != cnIdxProc || binary.NativeEndian.Uint32(d[4:]) != cnValProc {
		return execEvent{}, false
	}
	e := d[cnMsgLen:]
	if binary.NativeEndian.Uint32(e[0:]) != procEventExec {
		return execEvent{}, false
	}
	ns := int64(binary.NativeEndian.Uint64(e[8:]))
	tgid := int32(binary.NativeEndian.Uint32(e[procEventHdrLen+4:]))
	return execEvent{pid: int(tgid), ns: ns}, true
}

// monoNow is CLOCK_MONOTONIC in ns, the clock of the events' timestamps.
func monoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
