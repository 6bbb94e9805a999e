package main

import (
	"strings"
	"testing"
)

// Output formats of the commands the other tests leave out.

func TestFormatEvent(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"startup", nil, "startup"},
		{"started", []string{"JOB=svc", "INSTANCE="}, "started JOB='svc' INSTANCE=''"},
		{"hello", []string{"A=b c", "X=1=2"}, "hello A='b c' X='1=2'"},
	} {
		if got := formatEvent(c.name, c.env); got != c.want {
			t.Errorf("formatEvent(%q, %q) = %q, want %q", c.name, c.env, got, c.want)
		}
	}
}

func TestNotifyCommands(t *testing.T) {
	h := newHarness(t)
	// The fake backend has neither capability: the daemon's error shows.
	h.expect(t, a("initctl", "notify-dbus-address", "unix:path=/x"), "",
		"initctl: NotifyDBusAddress is not supported by this init daemon\n", 1)
	h.expect(t, a("initctl", "notify-cgroup-manager-address", "unix:path=/x"), "",
		"initctl: NotifyCGroupManagerAddress is not supported by this init daemon\n", 1)
	h.expect(t, a("initctl", "notify-dbus-address"), "",
		"initctl: missing D-Bus address\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "monitor", "extra"), "",
		"initctl: unexpected argument\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "monitor", "-x"), "",
		"initctl: unrecognised option: -x\nTry `initctl --help' for more information.\n", 1)
}

func TestHelpAndVersion(t *testing.T) {
	h := newHarness(t)
	h.expect(t, a("initctl", "--version"), "initctl (upstart 1.13.2)\n", "", 0)
	h.expect(t, a("status", "--version"), "status (upstart 1.13.2)\n", "", 0)
	h.expect(t, a("initctl", "start", "--help"), "Usage: initctl start [-n] JOB [KEY=VALUE]...\nStart job.\n", "", 0)
	h.expect(t, a("start", "--help"), "Usage: start [-n] JOB [KEY=VALUE]...\nStart job.\n", "", 0)
	out, _, code := h.run("initctl", "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: initctl [OPTION]... COMMAND [OPTION]... [ARG]...\n") {
		t.Fatalf("--help: %q %d", out, code)
	}
	for _, c := range commands {
		if !strings.Contains(out, "\n  "+c.name+" ") {
			t.Errorf("--help lacks %s", c.name)
		}
	}
	h.expect(t, a("initctl"), "", "initctl: missing command\nTry `initctl --help' for more information.\n", 1)
}
