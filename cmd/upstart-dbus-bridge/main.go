// Command upstart-dbus-bridge emits a `dbus` event for every signal on a
// D-Bus bus (--system, the default, or --session):
//
//	dbus [BUS=<--bus-name>] SIGNAL=<member> INTERFACE=… OBJPATH=… SENDER=…
//	     ARG0=… ARG1=…
//
// Arguments of basic types are given as text; an argument of another type
// (array, struct, dict, variant) is skipped but keeps its number. Signals
// of Upstart's own interfaces are not bridged. Unless --always, signals
// are only bridged while some job's condition names the dbus event.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/bridge"
)

func main() {
	fs := flag.NewFlagSet("upstart-dbus-bridge", flag.ContinueOnError)
	system := fs.Bool("system", false, "bridge the system bus (the default)")
	session := fs.Bool("session", false, "bridge the session bus (DBUS_SESSION_BUS_ADDRESS)")
	busName := fs.String("bus-name", "", "add BUS=NAME to every event")
	always := fs.Bool("always", false, "bridge signals even when no job names the dbus event")
	f := bridge.ParseFlags(fs, "upstart-dbus-bridge", "Bridge between D-Bus and Upstart: emits dbus events for bus signals.", os.Args[1:])
	if *system && *session {
		fmt.Fprintln(os.Stderr, "upstart-dbus-bridge: --system and --session exclude each other")
		os.Exit(1)
	}
	if f.Daemon {
		bridge.Daemonize(os.Args[1:])
	}
	log := f.Logger("dbus")
	em := bridge.NewEmitter(log)
	w := &watcher{em: em, always: *always}
	stop := bridge.StopOnSignal()
	open := dbus.SystemBusPrivate
	if *session {
		open = dbus.SessionBusPrivate
	}
	go listen(open, *busName, w, log, stop)
	bridge.Run(bridge.Options{User: f.User}, w, log, stop)
}

type watcher struct {
	em     *bridge.Emitter
	always bool
	wanted atomic.Bool // some job names the dbus event
}

func (w *watcher) Jobs(c *bridge.Conn, jobs []bridge.Job) {
	w.em.SetConn(c)
	named := false
	for _, j := range jobs {
		if len(j.Operands("dbus")) > 0 {
			named = true
			break
		}
	}
	w.wanted.Store(named)
}

// listen stays connected to the bus (reconnecting when it goes away) and
// bridges its signals.
func listen(open func(...dbus.ConnOption) (*dbus.Conn, error), busName string, w *watcher, log *slog.Logger, stop <-chan struct{}) {
	bridge.Reconnect(stop, log, "bus", func() (bool, error) {
		conn, err := open()
		if err != nil {
			return false, err
		}
		defer conn.Close()
		if err = conn.Auth(nil); err == nil {
			if err = conn.Hello(); err == nil {
				err = conn.AddMatchSignal()
			}
		}
		if err != nil {
			return false, err
		}
		sigs := make(chan *dbus.Signal, 256)
		conn.Signal(sigs)
		for {
			select {
			case <-stop:
				return true, nil
			case s, ok := <-sigs:
				if !ok {
					return false, nil
				}
				if env, ok := signalEnv(s, busName); ok && (w.always || w.wanted.Load()) {
					w.em.Emit("dbus", env)
				}
			}
		}
	})
}

// signalEnv is the dbus event's environment for s, or false for a signal
// that is not bridged.
func signalEnv(s *dbus.Signal, busName string) ([]string, bool) {
	i := strings.LastIndexByte(s.Name, '.') // s.Name is INTERFACE.MEMBER
	if i <= 0 {
		return nil, false
	}
	iface, member := s.Name[:i], s.Name[i+1:]
	if strings.HasPrefix(iface, "com.ubuntu.Upstart") {
		return nil, false
	}
	if s.Sender == "org.freedesktop.DBus" && iface == "org.freedesktop.DBus" && member == "NameAcquired" {
		return nil, false // the bus greeting us
	}
	var env []string
	if busName != "" {
		env = append(env, "BUS="+busName)
	}
	env = append(env, "SIGNAL="+member, "INTERFACE="+iface, "OBJPATH="+string(s.Path), "SENDER="+s.Sender)
	for i, a := range s.Body {
		if v, ok := basic(a); ok {
			env = append(env, "ARG"+strconv.Itoa(i)+"="+v)
		}
	}
	return env, true
}

// basic renders a value of a basic D-Bus type as text.
func basic(a any) (string, bool) {
	switch v := a.(type) {
	case string:
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return "", false
		}
		return v, true
	case dbus.ObjectPath:
		return string(v), true
	case dbus.Signature:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case byte:
		return strconv.Itoa(int(v)), true
	case int16, int32, int64, uint16, uint32, uint64:
		return fmt.Sprint(v), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}
