// Command upstart-udev-bridge emits an event for every device event udevd
// has processed: SUBSYSTEM-device-added, -removed, -changed (other actions
// by name, e.g. cpu-device-online), with KERNEL, DEVPATH, DEVNAME (when
// there is one), SUBSYSTEM, ACTION and then every udev property in the
// environment. It reads udevd's netlink group, as libudev's monitor does,
// and takes messages only from root (SCM_CREDENTIALS). --no-strip keeps
// bytes that are not printable ASCII in values. Once it listens it sends
// READY=1 to $NOTIFY_SOCKET when that is set (`expect notify`).
package main

import (
	"flag"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/bridge"
	"github.com/goupstart/upstart/internal/uevent"
)

func main() {
	fs := flag.NewFlagSet("upstart-udev-bridge", flag.ContinueOnError)
	noStrip := fs.Bool("no-strip", false, "keep non-printable bytes in values")
	f := bridge.ParseFlags(fs, "upstart-udev-bridge", "Bridge between udev and Upstart: emits SUBSYSTEM-device-ACTION events.", os.Args[1:])
	if f.Daemon {
		bridge.Daemonize(os.Args[1:])
	}
	log := f.Logger("udev")
	fd, err := listen()
	if err != nil {
		log.Error("netlink", "err", err)
		os.Exit(1)
	}
	// Listening: a job with `expect notify` is running from here on, so
	// what starts after it (udevd's coldplug) is all seen.
	if err := bridge.NotifyReady(); err != nil {
		log.Warn("readiness", "err", err)
	}
	em := bridge.NewEmitter(log)
	go read(fd, em, *noStrip, log)
	bridge.Run(bridge.Options{User: f.User}, conns{em}, log, bridge.StopOnSignal())
}

type conns struct{ em *bridge.Emitter }

func (c conns) Jobs(conn *bridge.Conn, _ []bridge.Job) { c.em.SetConn(conn) }

// listen opens the netlink socket on udevd's group, with credentials
// passed and a receive buffer large enough for a burst at boot.
func listen() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: uevent.GroupUdev}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// read emits an event per valid message, for ever.
func read(fd int, em *bridge.Emitter, keepAll bool, log *slog.Logger) {
	buf := make([]byte, uevent.MaxMessage)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.ENOBUFS {
				log.Warn("device events were lost: the netlink receive buffer overflowed")
				continue
			}
			log.Error("netlink read", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if !fromRoot(oob[:oobn]) {
			log.Warn("ignoring a device event not sent by root")
			continue
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid == 0 {
			continue // the kernel's own uevent on this group is not udevd's
		}
		d, err := uevent.ParseUdev(buf[:n])
		if err != nil {
			log.Warn("ignoring a malformed device event", "err", err)
			continue
		}
		name, env := d.Event(keepAll)
		em.Emit(name, env)
	}
}

// fromRoot checks the sender's credentials.
func fromRoot(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return cred.Uid == 0
		}
	}
	return false
}
