package control

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

// The cases of docs/dbus-errors.md that a session instance cannot show
// (PID 1, an unprivileged caller), against the table.
func TestErrorTablePID1AndDenied(t *testing.T) {
	f, err := os.Open("../../docs/dbus-errors.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type row struct{ name, msg string }
	rows := map[string]row{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(strings.Trim(sc.Text(), "|"), " | ")
		if !strings.HasPrefix(sc.Text(), "| `") || len(cols) != 5 {
			continue
		}
		uq := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		rows[uq(cols[0])] = row{uq(cols[3]), uq(cols[4])}
	}

	pid1 := newFixture(t, Options{Privileged: func(uint32) bool { return true }})
	pid1.srv.pid1 = true
	pc := pid1.dial(t)
	denied := newFixture(t, Options{Privileged: func(uint32) bool { return false }})
	dc := denied.dial(t)

	got := map[string]*dbus.Call{
		"pid1-set-env":        pcall(pc, ManagerPath, ManagerIface+".SetEnvList", []string{}, []string{"A=1"}, true),
		"pid1-notify-dbus":    pcall(pc, ManagerPath, ManagerIface+".NotifyDBusAddress", "unix:path=/x"),
		"denied-reload":       pcall(dc, ManagerPath, ManagerIface+".ReloadConfiguration"),
		"denied-emit":         pcall(dc, ManagerPath, ManagerIface+".EmitEvent", "ev", []string{}, false),
		"denied-log-priority": pcall(dc, ManagerPath, PropertiesIface+".Set", ManagerIface, "log_priority", dbus.MakeVariant("debug")),
		"denied-get-env":      pcall(dc, ManagerPath, ManagerIface+".GetEnv", []string{}, "X"),
		"denied-set-env":      pcall(dc, ManagerPath, ManagerIface+".SetEnvList", []string{}, []string{"A=1"}, true),
		"denied-state":        pcall(dc, ManagerPath, ManagerIface+".GetState"),
		"denied-restart":      pcall(dc, ManagerPath, ManagerIface+".Restart"),
		"denied-disk":         pcall(dc, ManagerPath, ManagerIface+".NotifyDiskWriteable"),
	}
	for id, c := range got {
		want, ok := rows[id]
		if !ok {
			t.Errorf("%s: not in docs/dbus-errors.md", id)
			continue
		}
		wantErr(t, c, want.name, want.msg)
	}
	for id := range rows {
		if _, ok := got[id]; !ok && (strings.HasPrefix(id, "pid1-") || strings.HasPrefix(id, "denied-")) {
			t.Errorf("%s: in the table but not checked", id)
		}
	}
	// A PID 1 may change a job's own table (only the global one is refused).
	if c := pcall(pc, ManagerPath, ManagerIface+".SetEnvList", []string{"foo", ""}, []string{"A=1"}, true); errName(c.Err) == "com.ubuntu.Upstart0_6.Error.PermissionDenied" {
		t.Errorf("SetEnvList on a job's table refused on PID 1: %v", c.Err)
	}
}
