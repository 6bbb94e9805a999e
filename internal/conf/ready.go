package conf

import (
	"net"
	"strconv"
	"strings"

	"github.com/goupstart/upstart/internal/cond"
)

// Readiness stanzas (our extension, architecture decision 5):
//
//	expect event COND                 the `start on` language
//	expect notify                     sd_notify READY=1 on NOTIFY_SOCKET
//	expect fd N                       a newline on fd N (s6 notification fd)
//	expect file PATH                  PATH exists
//	expect socket tcp|udp|unix ADDR   something listens on ADDR
//	expect dbus NAME                  NAME has an owner on the bus
//	watchdog SECONDS                  WATCHDOG=1 at least this often
//
// The sugar is an event condition on the ready event its watcher emits,
// so the engine handles all of them as `expect event`.

// MaxNotifyFD is the highest descriptor `expect fd N` accepts.
const MaxNotifyFD = 255

func (p *parser) expectReady(kind string) error {
	j := p.job
	if kind == "event" {
		n, err := p.condition()
		if err != nil {
			return err
		}
		j.Expect, j.ExpectExits, j.ExpectOn, j.ExpectWatch = ExpectEvent, 0, n, nil
		return nil
	}
	watch := []string{kind}
	switch kind {
	case "notify":
	case "fd":
		v, err := p.arg()
		if err != nil {
			return err
		}
		n, ok := decimal(v.text)
		if !ok || n < 3 || n > MaxNotifyFD {
			return p.errAt(v.line, "Illegal descriptor, expected 3 to "+strconv.Itoa(MaxNotifyFD))
		}
		watch = append(watch, v.text)
	case "file", "dbus":
		v, err := p.arg()
		if err != nil {
			return err
		}
		if kind == "file" && !strings.HasPrefix(v.text, "/") && !strings.HasPrefix(v.text, "$") {
			return p.errAt(v.line, "Illegal path, expected an absolute path")
		}
		if kind == "dbus" && !validBusName(v.text) {
			return p.errAt(v.line, "Illegal bus name")
		}
		watch = append(watch, v.text)
	case "socket":
		proto, err := p.arg()
		if err != nil {
			return err
		}
		addr, err := p.arg()
		if err != nil {
			return err
		}
		if msg := checkSocketAddr(proto.text, addr.text); msg != "" {
			return p.errAt(addr.line, msg)
		}
		watch = append(watch, proto.text, addr.text)
	}
	// The condition is the ready event of this instance from this source.
	args := []string{"JOB=$UPSTART_JOB", "INSTANCE=$UPSTART_INSTANCE", "SOURCE=" + kind}
	j.Expect, j.ExpectExits = ExpectEvent, 0
	j.ExpectOn = &cond.Node{Op: cond.Match, Name: ReadyEvent, Args: args}
	j.ExpectWatch = watch
	return p.skipComment()
}

// checkSocketAddr checks an `expect socket` address ("" when good).
func checkSocketAddr(proto, addr string) string {
	switch proto {
	case "tcp", "udp":
		if strings.Contains(addr, "$") {
			return ""
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "Illegal address, expected HOST:PORT"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "Illegal port, expected 1 to 65535"
		}
		if host != "" && host != "*" && net.ParseIP(host) == nil {
			return "Illegal address, expected an IP address"
		}
		return ""
	case "unix":
		if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") && !strings.HasPrefix(addr, "$") {
			return "Illegal address, expected an absolute path or @abstract name"
		}
		return ""
	}
	return "Illegal protocol, expected tcp, udp or unix"
}

// validBusName accepts a well-known D-Bus name (a.b.c, no leading digit
// in an element, at most 255 bytes).
func validBusName(s string) bool {
	if len(s) == 0 || len(s) > 255 || strings.HasPrefix(s, ":") {
		return false
	}
	elems := strings.Split(s, ".")
	if len(elems) < 2 {
		return false
	}
	for _, e := range elems {
		if e == "" || (e[0] >= '0' && e[0] <= '9') {
			return false
		}
		for _, c := range e {
			if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// stanzaWatchdog parses `watchdog SECONDS`: the job gets a notify socket
// and WATCHDOG_USEC/WATCHDOG_PID; once running, a WATCHDOG=1 must come at
// least every SECONDS or the main process is killed (0 turns it off).
func stanzaWatchdog(p *parser, _ int) error {
	v, err := p.arg()
	if err != nil {
		return err
	}
	d, ok := seconds(v.text)
	if !ok {
		return p.errAt(v.line, errInterval)
	}
	p.job.Watchdog = d
	return p.skipComment()
}
