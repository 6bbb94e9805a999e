package integration

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Job files whose names are not UTF-8, hold a newline, or are "." or ".."
// are not loaded (a log line each), so they can neither forge `initctl
// list` lines nor make the daemon send invalid UTF-8; an event name that
// is not UTF-8 is refused (issue 15 items 8 and 11).
func TestBadJobAndEventNames(t *testing.T) {
	s := startSession(t, map[string]string{
		"ok":                                    "exec sleep 1\n",
		"zz\xff":                                "exec sleep 1\n",
		"evil\nforged start/running, process 1": "exec sleep 1\n",
		".":                                     "exec sleep 1\n",
		"..":                                    "exec sleep 1\n",
	})
	out, errs, code := s.ctl("initctl", "list")
	if code != 0 || out != "ok stop/waiting\n" {
		t.Errorf("initctl list: %q %q %d", out, errs, code)
	}
	log := s.stderr.String()
	for _, want := range []string{
		`not loaded: the job name "zz\xff" is not valid UTF-8`,
		`not loaded: the job name "evil\nforged start/running, process 1" holds a control character`,
		`not loaded: the job name "." has a path element "."`,
		`not loaded: the job name ".." has a path element ".."`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no log line %q in:\n%s", want, log)
		}
	}
	if !utf8.ValidString(log) {
		t.Errorf("the daemon logged invalid UTF-8:\n%q", log)
	}
	// (Refused by godbus in initctl already; the daemon's own refusal is
	// tested in internal/control.)
	out, errs, code = s.ctl("initctl", "emit", "ev\xff")
	if code == 0 || !strings.Contains(strings.ToLower(errs), "utf") {
		t.Errorf("initctl emit of a name that is not UTF-8: %q %q %d", out, errs, code)
	}
	if _, errs, code := s.ctl("initctl", "emit", "fine", "K=\u2603"); code != 0 {
		t.Errorf("initctl emit of UTF-8: %q %d", errs, code)
	}
}
