package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
)

// cmdMonitor is upstart-monitor's command-line mode: it prints each event
// as the daemon announces it (the EventEmitted signal, sent when an event
// has finished), until interrupted:
//
//	2013-03-13 10:20:30.123456<TAB>name KEY='value' ...
func cmdMonitor(e *env, args []string) error {
	if len(args) > 0 {
		return usageError{"unexpected argument"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	ch := make(chan *dbus.Signal, 1024)
	c.conn.Signal(ch)
	if c.dest != "" {
		// On a bus, signals only come to those who ask for them.
		err := c.conn.AddMatchSignal(dbus.WithMatchInterface(control.ManagerIface),
			dbus.WithMatchMember("EventEmitted"), dbus.WithMatchObjectPath(control.ManagerPath))
		if err != nil {
			return err
		}
	}
	sep := e.separator
	if sep == "" {
		sep = "\t"
	}
	if !e.quiet {
		fmt.Fprintf(e.stdout, "# Upstart Event Monitor (console mode)\n#\n# Connected to %s\n#\n# Columns: time, event and environment\n\n", e.destination())
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	defer signal.Stop(stop)
	done := c.conn.Context().Done()
	for {
		select {
		case <-stop:
			return nil
		case <-done:
			return errors.New("Disconnected from Upstart")
		case s, ok := <-ch:
			if !ok {
				return errors.New("Disconnected from Upstart")
			}
			if s.Name != control.ManagerIface+".EventEmitted" || len(s.Body) != 2 {
				continue
			}
			name, _ := s.Body[0].(string)
			env, _ := s.Body[1].([]string)
			line := time.Now().Format("2006-01-02 15:04:05.000000") + sep + formatEvent(name, env)
			if _, err := fmt.Fprintln(e.stdout, line); err != nil {
				return nil // reader went away
			}
		}
	}
}

// formatEvent renders an event as upstart-monitor does: the name, then each
// variable as KEY='VALUE' (quoted so that blanks in values stay visible).
func formatEvent(name string, env []string) string {
	var b strings.Builder
	b.WriteString(name)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		b.WriteString(" " + k + "='" + v + "'")
	}
	return b.String()
}

// destination names the connection as upstart-monitor's -d values do.
func (e *env) destination() string {
	o := e.conn
	switch {
	case o.user || e.getenv("UPSTART_SESSION") != "" && !o.system && !o.session:
		return "D-Bus session socket"
	case o.system:
		return "D-Bus system bus"
	case o.session:
		return "D-Bus session bus"
	case os.Geteuid() == 0:
		return "D-Bus system socket"
	}
	return "D-Bus system bus"
}
