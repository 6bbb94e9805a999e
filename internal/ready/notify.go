// Package ready holds the readiness watchers behind `expect notify`,
// `expect fd N`, `expect file PATH`, `expect socket …`, `expect dbus NAME`
// and `watchdog` (architecture decision 5): per-instance notify sockets
// (the sd_notify protocol), s6 notification pipes, and pollers of files,
// listening sockets and bus names. A watcher only sends engine.Notices;
// what they mean is the engine's business.
package ready

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/goupstart/upstart/internal/engine"
)

// MaxNotify is the longest notify message accepted (as systemd: a pipe
// buffer's atomic size); a longer datagram is refused whole.
const MaxNotify = 4096

// MaxStatus bounds a STATUS= text kept for `initctl -v status`.
const MaxStatus = 1024

// ParseNotify reads one sd_notify datagram: newline-separated KEY=VALUE
// assignments. Unknown keys are ignored (the protocol grows); a message
// with a known key given a bad value, or with no assignment at all, is an
// error and nothing of it is used.
func ParseNotify(b []byte) (engine.Notice, error) {
	var n engine.Notice
	if len(b) > MaxNotify {
		return n, fmt.Errorf("notify message of more than %d bytes", MaxNotify)
	}
	assigned := false
	for len(b) > 0 {
		line := b
		if k := bytes.IndexByte(b, '\n'); k >= 0 {
			line, b = b[:k], b[k+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq <= 0 {
			return engine.Notice{}, fmt.Errorf("malformed notify message (a line without KEY=)")
		}
		key, val := string(line[:eq]), line[eq+1:]
		assigned = true
		bad := func() (engine.Notice, error) {
			return engine.Notice{}, fmt.Errorf("bad %s= in notify message", key)
		}
		switch key {
		case "READY", "RELOADING", "STOPPING":
			if string(val) != "1" {
				return bad()
			}
			switch key {
			case "READY":
				n.Ready = true
			case "RELOADING":
				n.Reloading = true
			default:
				n.Stopping = true
			}
		case "STATUS":
			if !utf8.Valid(val) || bytes.IndexByte(val, 0) >= 0 {
				return bad()
			}
			if len(val) > MaxStatus {
				val = val[:MaxStatus]
				for !utf8.Valid(val) {
					val = val[:len(val)-1]
				}
			}
			s := string(val)
			n.Status = &s
		case "MAINPID":
			v, err := strconv.ParseUint(string(val), 10, 31)
			if err != nil || v < 1 {
				return bad()
			}
			n.MainPID = int(v)
		case "ERRNO":
			v, err := strconv.ParseUint(string(val), 10, 31)
			if err != nil {
				return bad()
			}
			n.Errno, n.HasErrno = int(v), true
		case "EXTEND_TIMEOUT_USEC":
			v, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil || v == 0 || v > maxUsec {
				return bad()
			}
			n.ExtendUsec = v
		case "WATCHDOG":
			switch string(val) {
			case "1":
				n.Watchdog = true
			case "trigger":
				n.WatchdogTrig = true
			default:
				return bad()
			}
		case "WATCHDOG_USEC":
			v, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil || v == 0 || v > maxUsec {
				return bad()
			}
			n.WatchdogUsec = v
		}
	}
	if !assigned {
		return engine.Notice{}, fmt.Errorf("empty notify message")
	}
	return n, nil
}

// maxUsec bounds the microsecond values (a year): a time.Duration of
// them cannot overflow.
const maxUsec = 365 * 24 * 3600 * 1e6
