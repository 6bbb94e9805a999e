package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 15 item 10: a change to one job file among many re-reads that
// file only (counted, not timed); files that are not job files are not
// read at all; a removed file names its job with no definition.
func TestRereadOnlyChanged(t *testing.T) {
	dir := t.TempDir()
	const N = 500
	for i := 0; i < N; i++ {
		write(t, filepath.Join(dir, fmt.Sprintf("j%03d.conf", i)), fmt.Sprintf("description \"job %d\"\nexec sleep 1\n", i))
	}
	w, err := NewWatcher([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// changes waits for the watcher to report want among what changed.
	changes := func(want string) (files, dirs []string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case <-w.C:
				f, d, all := w.Changes()
				if all {
					t.Fatal("watcher lost track")
				}
				files, dirs = append(files, f...), append(dirs, d...)
				for _, p := range files {
					if p == want {
						return files, dirs
					}
				}
			case <-deadline:
				t.Fatalf("no change reported for %s", want)
			}
		}
	}
	reread := func(files, dirs []string) (map[string]*Job, int64) {
		t.Helper()
		before := filesRead.Load()
		jobs, ok, errs := Reread([]string{dir}, files, dirs)
		if !ok || len(errs) > 0 {
			t.Fatalf("Reread: ok %v, errors %v", ok, errs)
		}
		return jobs, filesRead.Load() - before
	}

	// A touch of one file.
	now := time.Now().Add(time.Second)
	if err := os.Chtimes(filepath.Join(dir, "j123.conf"), now, now); err != nil {
		t.Fatal(err)
	}
	jobs, n := reread(changes(filepath.Join(dir, "j123.conf")))
	if n != 1 || len(jobs) != 1 || jobs["j123"] == nil || jobs["j123"].Description != "job 123" {
		t.Fatalf("touch of one file among %d: %d files read, jobs %v", N, n, jobs)
	}
	// An editor's swap file, then an edit of one job.
	write(t, filepath.Join(dir, ".j007.conf.swp"), "x")
	write(t, filepath.Join(dir, "j007.conf"), "description \"edited\"\nexec sleep 2\n")
	jobs, n = reread(changes(filepath.Join(dir, "j007.conf")))
	if n != 1 || len(jobs) != 1 || jobs["j007"].Description != "edited" {
		t.Fatalf("edit of one file: %d files read, jobs %v", n, jobs)
	}
	// A removal reads nothing and names the job.
	if err := os.Remove(filepath.Join(dir, "j042.conf")); err != nil {
		t.Fatal(err)
	}
	jobs, n = reread(changes(filepath.Join(dir, "j042.conf")))
	if j, named := jobs["j042"]; n != 0 || len(jobs) != 1 || !named || j != nil {
		t.Fatalf("removal: %d files read, jobs %v", n, jobs)
	}
	// A new directory: everything is loaded again.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-w.C:
		case <-deadline:
			t.Fatal("no change reported for the new directory")
		}
		f, d, _ := w.Changes()
		if len(d) == 0 {
			continue
		}
		if _, ok, _ := Reread([]string{dir}, f, d); ok {
			t.Fatal("a new directory did not ask for a full load")
		}
		return
	}
}
