package state

import (
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
	files, _ := filepath.Glob("testdata/state-v*.json")
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
	if !strings.Contains(string(b), fmt.Sprintf(`"version":%d`, Version)) {
		t.Fatalf("encoded without the version: %s", b)
	}
	if _, err := Decode(b); err != nil {
		t.Fatal(err)
	}
	_, err = Decode([]byte(`{"version":99,"engine":{}}`))
	if !errors.Is(err, ErrNewer) {
		t.Fatalf("newer format: %v", err)
	}
	for _, bad := range []string{`{}`, `{"version":0}`, `not json`, `{"version":1,"engine":{"classes":7}}`} {
		if _, err := Decode([]byte(bad)); err == nil || errors.Is(err, ErrNewer) {
			t.Errorf("Decode(%s): %v", bad, err)
		}
	}
}
