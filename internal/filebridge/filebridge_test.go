package filebridge

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

type rec struct {
	t  *testing.T
	ch chan Event
}

func newWatcher(t *testing.T, home string) (*Watcher, *rec) {
	t.Helper()
	r := &rec{t: t, ch: make(chan Event, 100)}
	w, err := New(home, func(e Event) { r.ch <- e }, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	t.Cleanup(func() { w.Close() })
	return w, r
}

// want waits for the next event and checks it.
func (r *rec) want(file, typ, match string) {
	r.t.Helper()
	select {
	case e := <-r.ch:
		if e.File != file || e.Type != typ || e.Match != match {
			r.t.Fatalf("event %+v, want FILE=%s EVENT=%s MATCH=%s", e, file, typ, match)
		}
	case <-time.After(5 * time.Second):
		r.t.Fatalf("no event, want FILE=%s EVENT=%s", file, typ)
	}
}

// none checks that no event comes within a short while.
func (r *rec) none() {
	r.t.Helper()
	select {
	case e := <-r.ch:
		r.t.Fatalf("unexpected event %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

func spec(file string, types ...string) *Spec {
	s := &Spec{File: file}
	if len(types) > 0 {
		s.Types = map[string]bool{}
		for _, t := range types {
			s.Types[t] = true
		}
	}
	return s
}

func TestFileCreateModifyDelete(t *testing.T) {
	dir := t.TempDir()
	w, r := newWatcher(t, "")
	f := filepath.Join(dir, "app.pid")
	w.SetSpecs([]*Spec{spec(f)})
	r.none()
	os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644)
	os.WriteFile(f, []byte("1"), 0o644)
	r.want(f, Create, "")
	r.want(f, Modify, "")
	os.Remove(f)
	r.want(f, Delete, "")
	r.none()
}

func TestOnlyWantedTypes(t *testing.T) {
	dir := t.TempDir()
	w, r := newWatcher(t, "")
	f := filepath.Join(dir, "x")
	w.SetSpecs([]*Spec{spec(f, Delete)})
	os.WriteFile(f, nil, 0o644)
	os.Remove(f)
	r.want(f, Delete, "")
	r.none()
}

func TestPreExistingReportedOnce(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "ready")
	os.WriteFile(f, nil, 0o644)
	w, r := newWatcher(t, "")
	w.SetSpecs([]*Spec{spec(f, Create), spec(filepath.Join(dir, "absent"), Create)})
	r.want(f, Create, "")
	w.SetSpecs([]*Spec{spec(f, Create)}) // the same spec again: not new
	r.none()
}

func TestGlobAndDirectory(t *testing.T) {
	dir := t.TempDir()
	w, r := newWatcher(t, "")
	glob := filepath.Join(dir, "*.crash")
	w.SetSpecs([]*Spec{spec(glob, Create)})
	os.WriteFile(filepath.Join(dir, "a.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "b.crash"), nil, 0o644)
	r.want(glob, Create, filepath.Join(dir, "b.crash"))
	r.none()
	w.SetSpecs([]*Spec{spec(dir + "/")})
	r.want(dir+"/", Create, "") // a.txt
	r.want(dir+"/", Create, "") // b.crash
	os.Remove(filepath.Join(dir, "a.txt"))
	r.want(dir+"/", Delete, "")
}

// A path whose directories do not exist yet is found when they appear.
func TestMissingDirectoryAppears(t *testing.T) {
	dir := t.TempDir()
	w, r := newWatcher(t, "")
	f := filepath.Join(dir, "a", "b", "flag")
	w.SetSpecs([]*Spec{spec(f, Create)})
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Created right after the directories: either the watch on b or the
	// look into b when its watch is set up reports it, never both.
	os.WriteFile(f, nil, 0o644)
	r.want(f, Create, "")
	r.none()
	os.RemoveAll(filepath.Join(dir, "a"))
	time.Sleep(50 * time.Millisecond)
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	time.Sleep(50 * time.Millisecond)
	os.WriteFile(f, nil, 0o644)
	r.want(f, Create, "")
}

func TestRelativePathsOnlyForSessions(t *testing.T) {
	home := t.TempDir()
	w, r := newWatcher(t, "")
	w.SetSpecs([]*Spec{spec("~/flag")})
	os.WriteFile(filepath.Join(home, "flag"), nil, 0o644)
	r.none()
	w2, r2 := newWatcher(t, home)
	w2.SetSpecs([]*Spec{spec("~/flag2", Create), spec("rel", Create)})
	os.WriteFile(filepath.Join(home, "flag2"), nil, 0o644)
	r2.want("~/flag2", Create, "")
	os.WriteFile(filepath.Join(home, "rel"), nil, 0o644)
	r2.want("rel", Create, "")
}
