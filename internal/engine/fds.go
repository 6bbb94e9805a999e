package engine

import (
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/supervise"
)

// Sockets of socket activation: an event emitted with a file
// (EmitEventWithFile: upstart-socket-bridge's listening socket) gives a
// copy of it to the instance it starts, which keeps it until it goes
// (respawns included) and hands it to each of its processes as descriptor
// 3 (then 4, ...). The processes find them named as Upstart did
// (UPSTART_FDS) and as systemd's socket-activated daemons read them
// (LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID set to their own pid by the
// pre-exec step).

// listenFdsStart is where the descriptors start in a process (systemd's
// SD_LISTEN_FDS_START).
const listenFdsStart = 3

// takeFiles gives i copies of the files of the events that start it,
// replacing what an earlier start gave it.
func (e *Engine) takeFiles(i *instance, evs []*cond.Event) {
	var fds []*os.File
	for _, c := range evs {
		f := evOf(c).file
		if f == nil {
			continue
		}
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			e.logf(slog.LevelWarn, "%s: cannot keep the socket of event %s: %v", i.label(), c.Name, err)
			continue
		}
		fds = append(fds, os.NewFile(uintptr(fd), "socket"))
	}
	if len(fds) == 0 && len(i.fds) == 0 {
		return
	}
	e.closeFiles(i)
	i.fds = fds
}

// closeFiles lets go of the instance's sockets.
func (e *Engine) closeFiles(i *instance) {
	for _, f := range i.fds {
		f.Close()
	}
	i.fds = nil
}

// passFiles adds the instance's sockets to a spawn request.
func passFiles(i *instance, r *supervise.Request) {
	if len(i.fds) == 0 {
		return
	}
	nums := make([]string, len(i.fds))
	names := make([]string, len(i.fds))
	for k, f := range i.fds {
		n := listenFdsStart + k
		r.Files = append(r.Files, supervise.ChildFile{Num: n, File: f})
		nums[k], names[k] = strconv.Itoa(n), "socket"
	}
	r.Env = environ.Merge(r.Env, "UPSTART_FDS="+strings.Join(nums, " "),
		"LISTEN_FDS="+strconv.Itoa(len(i.fds)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
	r.PidEnv = append(r.PidEnv, "LISTEN_PID")
}
