package main

import (
	"slices"
	"testing"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
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

// lateTracking: instances that spawned before a hierarchy was in use stay
// on pid tracking until they go; the others use cgroups.
func TestLateTrackingKeepsEarlyInstances(t *testing.T) {
	lt := &lateTracking{pidInst: map[string]bool{}}
	early := &supervise.Request{Job: &conf.Job{Name: "early"}, Instance: "a"}
	if done, err := lt.Place(early, "main"); done != nil || err != nil {
		t.Fatalf("Place without a hierarchy: placed %v, %v", done != nil, err)
	}
	if lt.TrackingOf("early", "a") != "pids" || lt.TrackingOf("late", "") != "pids" || lt.Using() {
		t.Fatal("tracking before the hierarchy")
	}
	if _, _, _, ok := lt.Owner("/upstart/early/a/main"); ok {
		t.Fatal("Owner without a hierarchy")
	}
	// The hierarchy appears (cg set on the loop).
	lt.cg = &cgroupTracking{}
	lt.using.Store(true)
	if lt.TrackingOf("early", "a") != "pids" || lt.TrackingOf("late", "") != "cgroups" || lt.TrackingOf("early", "b") != "cgroups" {
		t.Fatalf("after: early/a %s, late %s, early/b %s", lt.TrackingOf("early", "a"), lt.TrackingOf("late", ""), lt.TrackingOf("early", "b"))
	}
	// A later process of the early instance is not placed either.
	if done, err := lt.Place(early, "post-stop"); done != nil || err != nil {
		t.Fatalf("Place of an early instance's process: placed %v, %v", done != nil, err)
	}
	// Once it has gone, a new instance of that name uses cgroups.
	lt.InstanceGone("early", "a")
	if lt.TrackingOf("early", "a") != "cgroups" {
		t.Fatal("the early instance's tracking outlived it")
	}
}
