package conf

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Entries named like job files that are not regular files (issue 15 item
// 11): each is reported in one line, none is opened in a way that could
// block (a FIFO), and the other jobs load.
func TestLoadSpecialEntries(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/ok.conf", "exec true\n")
	if err := syscall.Mkfifo(dir+"/fifo.conf", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir+"/dir.conf", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop.conf", dir+"/loop.conf"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", dir+"/dangling.override"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		jobs map[string]*Job
		errs []error
	}
	done := make(chan result, 1)
	go func() { j, e := Load([]string{dir}); done <- result{j, e} }()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked")
	}
	if got := keys(r.jobs); strings.Join(got, ",") != "ok" {
		t.Fatalf("jobs %v", got)
	}
	var msgs []string
	for _, e := range r.errs {
		msgs = append(msgs, e.Error())
	}
	sort.Strings(msgs)
	want := []string{
		dir + "/dangling.override: not a regular file (a dangling symbolic link), skipped",
		dir + "/dir.conf: not a regular file (a directory), skipped",
		dir + "/fifo.conf: not a regular file (a FIFO), skipped",
		dir + "/loop.conf: not a regular file (a symbolic link loop), skipped",
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	// LoadJob of the FIFO's name (as after an inotify event) neither
	// blocks nor loads.
	go func() { j, e := LoadJob([]string{dir}, "fifo"); done <- result{map[string]*Job{"fifo": j}, e} }()
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("LoadJob blocked")
	}
	if r.jobs["fifo"] != nil || len(r.errs) != 1 || r.errs[0].Error() != want[2] {
		t.Fatalf("LoadJob of a FIFO: %v %v", r.jobs["fifo"], r.errs)
	}
}

// A file replaced by a FIFO after the directory was read is refused by
// the read itself, without blocking.
func TestReadFileNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.conf")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, follow := range []bool{false, true} {
		done := make(chan error, 1)
		go func() { _, err := readFile(p, follow); done <- err }()
		select {
		case err := <-done:
			var se *SkipError
			if !errors.As(err, &se) || se.Kind != "a FIFO" {
				t.Fatalf("readFile of a FIFO: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("readFile blocked on a FIFO")
		}
	}
	if err := os.Symlink("x.conf", filepath.Join(dir, "l.conf")); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(filepath.Join(dir, "l.conf"), false); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("readFile followed a symlink: %v", err)
	}
}
