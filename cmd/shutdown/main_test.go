package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/utmp"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 30, 0, 0, time.Local)
	for when, want := range map[string]int{"now": 0, "+5": 5, "7": 7, "10:45": 15, "10:30": 0, "10:29": 1439, "0:00": 810} {
		if d, msg := parseWhen(when, now); msg != "" || d != want {
			t.Errorf("parseWhen(%q) = %d %q, want %d", when, d, msg, want)
		}
	}
	for when, want := range map[string]string{"24:00": "illegal hour value", "x:10": "illegal hour value",
		"10:60": "illegal minute value", "10:": "illegal minute value", "+": "illegal time value",
		"-3": "illegal time value", "soon": "illegal time value", "": "illegal time value"} {
		if _, msg := parseWhen(when, now); msg != want {
			t.Errorf("parseWhen(%q) says %q, want %q", when, msg, want)
		}
	}
}

func TestWarning(t *testing.T) {
	for _, c := range []struct {
		r    shutdownReq
		want string
	}{
		{shutdownReq{level: '0', initHalt: "POWEROFF"}, "\rThe system is going down for power off NOW!\r\n"},
		{shutdownReq{level: '0', initHalt: "HALT", delay: 1}, "\rThe system is going down for halt in 1 minute!\r\n"},
		{shutdownReq{level: '6', delay: 12, message: "bye \r\n"}, "\rThe system is going down for reboot in 12 minutes!\r\nbye \r\n"},
		{shutdownReq{level: '1', delay: 2}, "\rThe system is going down for maintenance in 2 minutes!\r\n"},
	} {
		if got := c.r.warning(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
	var warned []int
	for d := 200; d >= 0; d-- {
		if warnNow(d) {
			warned = append(warned, d)
		}
	}
	if fmt.Sprint(warned) != "[180 150 120 90 60 45 30 15 9 8 7 6 5 4 3 2 1 0]" {
		t.Errorf("warned at %v", warned)
	}
}

func newTest(prog string) (*env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &env{prog: prog, stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		geteuid: func() int { return 0 }, utmp: "/nonexistent/utmp", wtmp: "/nonexistent/wtmp",
		address: "unix:path=/nonexistent/socket"}, &out, &errb
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		prog string
		args []string
		code int
		err  string
	}{
		{"reboot", []string{"--bogus"}, 1, "reboot: invalid option: --bogus\nTry `reboot --help' for more information.\n"},
		{"reboot", []string{"-x"}, 1, "reboot: invalid option: -x\nTry `reboot --help' for more information.\n"},
		{"reboot", []string{"--force=yes"}, 1, "reboot: unexpected argument: --force=yes\nTry `reboot --help' for more information.\n"},
		{"shutdown", []string{"-g"}, 1, "shutdown: missing argument: -g\nTry `shutdown --help' for more information.\n"},
		{"shutdown", []string{"-r"}, 1, "shutdown: time expected\nTry `shutdown --help' for more information.\n"},
		{"telinit", []string{"-e", "NOEQUALS", "2"}, 1, "telinit: invalid environment variable: NOEQUALS\nTry `telinit --help' for more information.\n"},
		{"telinit", []string{"x"}, 1, "telinit: illegal runlevel: x\nTry `telinit --help' for more information.\n"},
		// Valid, but init is not there: a clear error.
		{"telinit", []string{"2"}, 1, "telinit: Unable to connect to Upstart: "},
		{"shutdown", []string{"-c"}, 1, "shutdown: Cannot find pid of running shutdown\n"},
	} {
		e, _, errb := newTest(c.prog)
		if c.prog == "shutdown" {
			pidFile = filepath.Join(t.TempDir(), "shutdown.pid")
		}
		code := tools[c.prog](e, c.args)
		if code != c.code || !strings.HasPrefix(errb.String(), c.err) {
			t.Errorf("%s %v: %d %q, want %d %q", c.prog, c.args, code, errb.String(), c.code, c.err)
		}
	}
	// Not root: refused before anything happens.
	e, _, errb := newTest("poweroff")
	e.geteuid = func() int { return 1000 }
	if code := runReboot(e, []string{"-f"}); code != 1 || errb.String() != "poweroff: Need to be root\n" {
		t.Errorf("non-root poweroff -f: %d %q", code, errb.String())
	}
	// Debian's halt and reboot init scripts' options parse (then the
	// caller, not root, is refused).
	for prog, args := range map[string][]string{"halt": {"-d", "-f", "-i", "-p", "-h"}, "reboot": {"-d", "-f", "-i"}} {
		e, _, errb := newTest(prog)
		e.geteuid = func() int { return 1000 }
		if code := runReboot(e, args); code != 1 || errb.String() != prog+": Need to be root\n" {
			t.Errorf("%s %v: %d %q", prog, args, code, errb.String())
		}
	}
	// --version and --help answer and exit 0.
	e, out, _ := newTest("runlevel")
	if code := runRunlevel(e, []string{"--version"}); code != 0 || out.String() != "runlevel (upstart 1.13.2)\n" {
		t.Errorf("--version: %d %q", code, out.String())
	}
	e, out, _ = newTest("shutdown")
	if code := runShutdown(e, []string{"--help"}); code != 0 || !strings.HasPrefix(out.String(), "Usage: shutdown [OPTION]... TIME [MESSAGE]\n") {
		t.Errorf("--help: %d %q", code, out.String())
	}
}

func TestRunlevelTool(t *testing.T) {
	dir := t.TempDir()
	e, out, _ := newTest("runlevel")
	e.utmp = filepath.Join(dir, "utmp")
	if code := runRunlevel(e, nil); code != 1 || out.String() != "unknown\n" {
		t.Fatalf("no record: %d %q", code, out.String())
	}
	utmp.WriteRunlevel(e.utmp, filepath.Join(dir, "wtmp"), '5', 'N')
	out.Reset()
	if code := runRunlevel(e, nil); code != 0 || out.String() != "N 5\n" {
		t.Fatalf("after 5: %d %q", code, out.String())
	}
	// Another file given as the argument.
	out.Reset()
	if code := runRunlevel(e, []string{filepath.Join(dir, "none")}); code != 1 || out.String() != "unknown\n" {
		t.Fatalf("other file: %d %q", code, out.String())
	}
	// The environment of a job started by the runlevel event wins.
	e.getenv = func(k string) string { return map[string]string{"RUNLEVEL": "3", "PREVLEVEL": "5"}[k] }
	out.Reset()
	if code := runRunlevel(e, nil); code != 0 || out.String() != "5 3\n" {
		t.Fatalf("from env: %d %q", code, out.String())
	}
}
