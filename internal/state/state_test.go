package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every format written so far still decodes (testdata has a document of
// each, from a daemon in the middle of things; the engine's tests restore
// them too).
func TestFixturesDecode(t *testing.T) {
	files, _ := filepath.Glob("testdata/state-v*")
	if len(files) < Version {
		t.Fatalf("testdata has %d fixtures for %d formats: add one for the new format (see internal/engine/saved_test.go)", len(files), Version)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(d.Engine.Classes) == 0 || len(d.Engine.Events) == 0 || d.Daemon.ListenerFD < 0 || len(d.Logger) == 0 {
			t.Errorf("%s decoded to a nearly empty document: %d classes, %d events", f, len(d.Engine.Classes), len(d.Engine.Events))
		}
		if d.Version >= 2 && len(d.Reaped) == 0 {
			t.Errorf("%s: format %d without the reaped exits it introduced", f, d.Version)
		}
	}
}

func TestVersions(t *testing.T) {
	b, err := Encode(&Document{Daemon: Daemon{ListenerFD: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, append([]byte(magic), Version)) {
		t.Fatalf("encoded without the version: %q", b)
	}
	if d, err := Decode(b); err != nil || d.Version != Version || d.Daemon.ListenerFD != -1 {
		t.Fatalf("%+v %v", d, err)
	}
	j, err := EncodeJSON(&Document{Daemon: Daemon{ListenerFD: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), fmt.Sprintf(`"version":%d`, JSONVersion)) {
		t.Fatalf("encoded without the version: %s", j)
	}
	if d, err := Decode(j); err != nil || d.Version != JSONVersion {
		t.Fatalf("%+v %v", d, err)
	}
	_, err = Decode([]byte(`{"version":99,"engine":{}}`))
	if !errors.Is(err, ErrNewer) {
		t.Fatalf("newer format: %v", err)
	}
	for _, bad := range []string{`{}`, `{"version":0}`, `{"version":4}`, `not json`, `{"version":1,"engine":{"classes":7}}`} {
		if _, err := Decode([]byte(bad)); err == nil || errors.Is(err, ErrNewer) {
			t.Errorf("Decode(%s): %v", bad, err)
		}
	}
}

// Format 3 writes each distinct environment list once; Decode gives every
// instance and event its list back, nil and empty kept apart, each a copy
// of its own (the engine changes lists in place). A reference out of
// range is refused.
func TestSharedEnvironments(t *testing.T) {
	common := []string{"PATH=/bin", "HOME=/root", "LONG=" + strings.Repeat("x", 500)}
	var classes []Class
	for k := 0; k < 100; k++ {
		classes = append(classes, Class{Name: fmt.Sprint("j", k), Instances: []Instance{{
			Name: "", Env: append([]string(nil), common...), StartEnv: nil, StopEnv: []string{},
		}}})
	}
	classes[7].Instances[0].StartEnv = []string{"A=1"}
	doc := &Document{Daemon: Daemon{ListenerFD: -1, PidTracked: []InstanceRef{{Job: "j7", Instance: ""}}}, Engine: Engine{Classes: classes,
		Events: []Event{{Name: "startup", Env: []string{"A=1"}, FD: -1}, {Name: "x", FD: -1}}}}
	b, err := Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "LONG="); n != 1 {
		t.Fatalf("the common list is written %d times in %d bytes", n, len(b))
	}
	if doc.Engine.Classes[0].Instances[0].Env == nil || doc.Engine.Envs != nil {
		t.Fatal("Encode changed the document it was given")
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range d.Engine.Classes {
		in := c.Instances[0]
		if strings.Join(in.Env, " ") != strings.Join(common, " ") || in.StopEnv == nil || len(in.StopEnv) != 0 ||
			(k == 7) != (in.StartEnv != nil) || in.EnvRef != 0 {
			t.Fatalf("instance %d: %+v", k, in)
		}
	}
	if ev := d.Engine.Events; strings.Join(ev[0].Env, " ") != "A=1" || ev[1].Env != nil || d.Engine.Envs != nil {
		t.Fatalf("events %+v", ev)
	}
	if len(d.Daemon.PidTracked) != 1 || d.Daemon.PidTracked[0] != (InstanceRef{Job: "j7"}) {
		t.Fatalf("pid-tracked instances %+v", d.Daemon.PidTracked)
	}
	d.Engine.Classes[0].Instances[0].Env[0] = "PATH=/changed"
	if d.Engine.Classes[1].Instances[0].Env[0] != "PATH=/bin" {
		t.Fatal("two instances share one list")
	}
	for _, bad := range []string{
		`{"version":3,"engine":{"envs":[["A=1"]],"classes":[{"name":"c","instances":[{"name":"","env_ref":2}]}]}}`,
		`{"version":3,"engine":{"events":[{"name":"e","env_ref":-1}]}}`,
	} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) accepted a reference out of range", bad)
		}
	}
}
