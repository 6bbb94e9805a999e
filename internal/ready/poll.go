package ready

import (
	"bufio"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/engine"
)

// poll looks at a file, a listening socket or a bus name every
// PollInterval until it is there (a ready notice) or stop is closed.
func (m *Manager) poll(w engine.Watch, stop chan struct{}) {
	var check func() bool
	var env []string
	var bus *control.BusConn
	defer func() {
		if bus != nil {
			bus.Close()
		}
	}()
	switch w.Kind[0] {
	case "file":
		path := w.Kind[1]
		env = []string{"FILE=" + path}
		check = func() bool { _, err := os.Stat(path); return err == nil }
	case "socket":
		proto, addr := w.Kind[1], w.Kind[2]
		env = []string{"PROTO=" + proto, "ADDR=" + addr}
		check = func() bool { return Listening(proto, addr) }
	case "dbus":
		name := w.Kind[1]
		env = []string{"NAME=" + name}
		check = func() bool {
			if bus == nil {
				bus = m.connectBus()
				if bus == nil {
					return false
				}
			}
			out, err := bus.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", name)
			if err != nil || len(out) != 1 {
				bus.Close()
				bus = nil
				return false
			}
			has, _ := out[0].(bool)
			return has
		}
	default:
		return
	}
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		if check() {
			m.Deliver(engine.Notice{ID: w.ID, Ready: true, Env: env})
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (m *Manager) connectBus() *control.BusConn {
	addr := ""
	if m.BusAddress != nil {
		addr = m.BusAddress()
	}
	if addr == "" {
		// The system bus, as libdbus finds it.
		if addr = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); addr == "" {
			addr = "unix:path=/var/run/dbus/system_bus_socket"
		}
	}
	c, err := control.DialBus(addr)
	if err != nil {
		return nil
	}
	return c
}

// Listening reports whether a socket of this network namespace listens
// on addr (tcp: LISTEN; udp: bound; unix: a listening stream socket or a
// bound datagram socket at the path or @abstract name), from /proc/net.
// A wildcard listener (0.0.0.0, ::) counts for any address of the port,
// and one on :: for IPv4 addresses too.
func Listening(proto, addr string) bool {
	if proto == "unix" {
		return unixListening(addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	var want net.IP
	if host != "" && host != "*" {
		if want = net.ParseIP(host); want == nil {
			return false
		}
	}
	state := "0A" // TCP_LISTEN
	if proto == "udp" {
		state = "07" // TCP_CLOSE: a bound, unconnected datagram socket
	}
	for _, f := range []string{"/proc/net/" + proto, "/proc/net/" + proto + "6"} {
		if inetListening(f, state, want, p) {
			return true
		}
	}
	return false
}

func inetListening(file, state string, want net.IP, port int) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 4 || fl[3] != state {
			continue
		}
		ip, p, ok := procAddr(fl[1])
		if !ok || p != port {
			continue
		}
		if want == nil || ip.IsUnspecified() || ip.Equal(want) {
			return true
		}
	}
	return false
}

// procAddr decodes /proc/net/tcp's "0100007F:1F90": the address as the
// kernel's 32-bit words in host (little-endian) order, the port in hex.
func procAddr(s string) (net.IP, int, bool) {
	h, ps, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, false
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil, 0, false
	}
	for k := 0; k+4 <= len(b); k += 4 {
		b[k], b[k+1], b[k+2], b[k+3] = b[k+3], b[k+2], b[k+1], b[k]
	}
	p, err := strconv.ParseUint(ps, 16, 16)
	if err != nil {
		return nil, 0, false
	}
	return net.IP(b), int(p), true
}

func unixListening(path string) bool {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fl := strings.Fields(sc.Text())
		if len(fl) < 8 || fl[7] != path {
			continue
		}
		flags, _ := strconv.ParseUint(fl[3], 16, 32)
		typ := fl[4]
		if typ == "0002" || flags&0x10000 != 0 { // a datagram socket, or __SO_ACCEPTCON
			return true
		}
	}
	return false
}
