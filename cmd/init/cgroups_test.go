package main

import (
	"slices"
	"testing"
)

// The tree's name of PID 1 reaches the next image in argv, replacing the
// one it was given (issue 12 item 4).
func TestReexecArgsCgroupName(t *testing.T) {
	got := reexecArgs([]string{"init", "--cgroup-name", "upstart-ns1-aa", "--state-fd=3", "--restart", "--debug", "--cgroup-name=x"}, 7, "upstart-ns1-bb")
	want := []string{"init", "--debug", "--restart", "--state-fd", "7", "--cgroup-name", "upstart-ns1-bb"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	def := reexecArgs([]string{"init", "--cgroup-name=x"}, 4, "")
	if !slices.Equal(def, []string{"init", "--restart", "--state-fd", "4"}) {
		t.Fatalf("default name: %q", def)
	}
	o, err := parseOptions(def[1:])
	if err != nil || o.cgroupName != "" || o.stateFD != 4 || !o.restart {
		t.Fatalf("%+v %v", o, err)
	}
	o, _ = parseOptions([]string{"--cgroup-name", "upstart-ns1-bb"})
	if o.cgroupName != "upstart-ns1-bb" {
		t.Fatalf("--cgroup-name read as %q", o.cgroupName)
	}
}
