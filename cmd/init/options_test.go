package main

import (
	"reflect"
	"testing"
)

// Unknown options and arguments are ignored (the kernel's command line
// reaches PID 1); the ones we know take their values either way.
func TestParseOptionsIgnoresUnknown(t *testing.T) {
	o, err := parseOptions([]string{"--frob", "-x", "splash", "ro", "--confdir", "a", "--confdir=b",
		"--frob=1", "-q", "--chroot-sessions", "--chroot-sessions", "--no-cgroups", "--default-oom-score", "-1000"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.confdirs, []string{"a", "b"}) || o.priority != "error" || !o.noCgroups {
		t.Errorf("options %+v", o)
	}
	if !reflect.DeepEqual(o.unimplemented, []string{"--chroot-sessions"}) {
		t.Errorf("unimplemented %v, want --chroot-sessions once", o.unimplemented)
	}
	if o.defaultOOM == nil || *o.defaultOOM != -1000 {
		t.Errorf("default oom %v", o.defaultOOM)
	}
	if _, err := parseOptions([]string{"--default-oom-score", "2000"}); err == nil {
		t.Error("--default-oom-score 2000 accepted")
	}
	if _, err := parseOptions([]string{"--confdir"}); err == nil {
		t.Error("--confdir without a value accepted")
	}
	o, _ = parseOptions([]string{"--chromeos"})
	if !o.importDeny || !o.stripInitKeys {
		t.Errorf("--chromeos: %+v", o)
	}
}
