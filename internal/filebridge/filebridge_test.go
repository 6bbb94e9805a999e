package filebridge

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSpecs(t *testing.T) {
	conds := [][][]string{
		{{"file", "FILE=/etc/a.conf", "EVENT=create"}, {"started", "JOB=x"}, {"/AND"}},
		{{"file", "FILE=/etc/a.conf", "EVENT=delete"}},
		{{"file", "/var/spool/", "modify"}},
		{{"file", "FILE=/tmp/*.ready"}},
		{{"file", "FILE=relative"}, {"file", "EVENT=create"}, {"file", "FILE=/x", "EVENT=explode"}, {"file", "FILE=$HOME/x"}},
	}
	specs, problems := Specs(conds)
	var got []string
	for _, s := range specs {
		var evs []string
		for e := range s.Events {
			evs = append(evs, e)
		}
		slices.Sort(evs)
		got = append(got, s.File+" "+s.Kind+" "+s.Dir+" "+s.Pattern+" "+strings.Join(evs, ",")+map[bool]string{true: " all", false: ""}[s.All])
	}
	want := []string{
		"/etc/a.conf file /etc a.conf create,delete",
		"/tmp/*.ready glob /tmp *.ready  all",
		"/var/spool/ dir /var/spool  modify",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("specs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(problems) != 4 {
		t.Errorf("problems %q", problems)
	}
}

type recorder struct{ ch chan string }

func (r recorder) emit(env []string) { r.ch <- strings.Join(env, " ") }

func (r recorder) want(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.ch:
		if got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no event, want %q", want)
	}
}

func (r recorder) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-r.ch:
		t.Fatalf("unexpected event %q", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// Files, directories and globs: creation, modification and deletion,
// matches that existed before (announced once), a directory that does not
// exist yet.
func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	r := recorder{make(chan string, 64)}
	w, err := NewWatcher(r.emit, func(m string) { t.Log(m) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go w.Run()
	pre := filepath.Join(dir, "pre")
	os.WriteFile(pre, nil, 0o644)
	later := filepath.Join(dir, "sub", "deeper", "flag")
	specs, _ := Specs([][][]string{{
		{"file", "FILE=" + pre}, {"file", "FILE=" + dir + "/*.ready", "EVENT=create"},
		{"file", "FILE=" + later, "EVENT=create"},
	}})
	w.SetSpecs(specs)
	r.want(t, "FILE="+pre+" EVENT=create")
	r.none(t)
	w.SetSpecs(specs) // a rescan does not announce it again
	r.none(t)

	os.WriteFile(pre, []byte("x"), 0o644)
	r.want(t, "FILE="+pre+" EVENT=modify")
	os.Remove(pre)
	r.want(t, "FILE="+pre+" EVENT=delete")
	os.WriteFile(filepath.Join(dir, "a.ready"), nil, 0o644)
	r.want(t, "FILE="+dir+"/*.ready EVENT=create MATCH="+dir+"/a.ready")
	os.WriteFile(filepath.Join(dir, "a.other"), nil, 0o644)
	r.none(t)

	os.MkdirAll(filepath.Dir(later), 0o755)
	time.Sleep(50 * time.Millisecond)
	os.WriteFile(later, nil, 0o644)
	r.want(t, "FILE="+later+" EVENT=create")
	r.none(t)
}
