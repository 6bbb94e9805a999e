package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(args, func(string) string { return "" }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInput(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/init.d"), 0o755)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--root", root, "7"}, 2, `unknown runlevel "7"`},
		{[]string{"--root", root}, 2, "no runlevel given"},
		{[]string{"--root", root, "--no-events", "2"}, 2, "rc2.d: no such file or directory"},
		{[]string{"--root", root, "--debian-rc", "0"}, 2, "cannot run Debian's rc script " + root + "/etc/init.d/rc: stat"},
		{[]string{"--root", root, "--order", "magic", "--no-events", "2"}, 2, ""},
	} {
		if c.args[len(c.args)-1] == "2" && c.want == "" {
			os.MkdirAll(filepath.Join(root, "etc/rc2.d"), 0o755)
			c.want = `unknown order source "magic"`
		}
		code, _, errs := runCmd(c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestDebianRC(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/init.d"), 0o755)
	mark := filepath.Join(root, "ran")
	os.WriteFile(filepath.Join(root, "etc/init.d/rc"), []byte("#!/bin/sh\necho \"$1 $RUNLEVEL $PREVLEVEL\" > "+mark+"\n"), 0o755)
	if code, _, errs := runCmd("--root", root, "--debian-rc", "2", "N"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(mark); string(b) != "2 2 N\n" {
		t.Fatalf("rc saw %q", b)
	}
}

func TestScriptEnv(t *testing.T) {
	got := scriptEnv([]string{"UPSTART_JOB=rc", "UPSTART_INSTANCE=", "UPSTART_EVENTS=runlevel", "UPSTART_SESSION=x", "TERM=linux", "RUNLEVEL=9"}, "2", "N")
	want := "UPSTART_SESSION=x TERM=linux PATH=/sbin:/usr/sbin:/bin:/usr/bin RUNLEVEL=2 PREVLEVEL=N runlevel=2 previous=N"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q", got)
	}
}
