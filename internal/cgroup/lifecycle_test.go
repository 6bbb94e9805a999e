package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A watched group removed from outside (by another daemon sharing the
// tree, or by hand) is reported empty once the instance is killed (the
// kernel sends no inotify event for it): nothing waits for it for ever
// (issue 12 item 4).
func TestVanishedGroupIsEmpty(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("j", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Armed as after a spawn whose process has not ended yet.
	m.mu.Lock()
	g.armed = true
	m.mu.Unlock()
	if err := unix.Rmdir(g.Path()); err != nil {
		t.Fatal(err)
	}
	if err := m.Instance("j", "").Kill(); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, ch, g, 5*time.Second)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// ReleaseInstance removes an instance's groups, also one whose Empty was
// declined (the daemon had not yet handled its leader's exit), and keeps
// watching one that still holds a process (issue 15 item 4).
func TestReleaseInstance(t *testing.T) {
	m, ch := newManager(t)
	pre, err := m.Group("j", "i", "pre-start", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, pre, nil, "true")
	pre.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, pre, 5*time.Second) // declined: not removed
	main, err := m.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid = spawn(t, main, nil, "sleep", "0.3")
	main.Watch()
	if n := m.Known(); n != 2 {
		t.Fatalf("%d groups known, want 2", n)
	}
	if err := m.ReleaseInstance("j", "i"); err == nil || !strings.Contains(err.Error(), "processes remain") {
		t.Fatalf("ReleaseInstance with a process left: %v", err)
	}
	if exists(pre.Path()) || m.Known() != 1 || pre.FD() != -1 {
		t.Fatalf("empty group kept: exists %v, known %d, fd %d", exists(pre.Path()), m.Known(), pre.FD())
	}
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, main, 5*time.Second)
	if err := m.ReleaseInstance("j", "i"); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(m.Root(), "j")) || m.Known() != 0 {
		t.Fatalf("instance left: %v, %d known", exists(filepath.Join(m.Root(), "j")), m.Known())
	}
	// A late Remove through the old handle does not touch a new
	// instance of the same name.
	again, err := m.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pre.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := main.Remove(); err != nil || !exists(again.Path()) || again.FD() < 0 {
		t.Fatalf("stale Remove removed the new group: %v", err)
	}
}

// A group whose directories were removed from outside is made again by
// the next Group: the next spawn goes into it, it does not fail (issue 15
// item 11). Also when the tree's root went.
func TestGroupRemovedFromOutside(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("j", "", "pre-start", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "true")
	g.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	for _, d := range []string{g.Path(), filepath.Dir(g.Path()), filepath.Join(m.Root(), "j"), m.Root()} {
		if err := os.Remove(d); err != nil {
			t.Fatal(err)
		}
	}
	g2, err := m.Group("j", "", "pre-start", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid = spawn(t, g2, nil, "sleep", "0.2")
	if got, want := procCgroup(pid), g2.CgroupPath(); got != want {
		t.Fatalf("process in %q, want %q", got, want)
	}
	g2.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g2, 5*time.Second)
}

// A group asked for again is the same group while its directory is the one
// it holds open (no mkdir chain then); a directory removed and made again
// from outside at the same path is noticed, and the next spawn goes into
// the new one.
func TestGroupLeafReplacedFromOutside(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("r", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "true")
	g.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	again, err := m.Group("r", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again != g {
		t.Fatal("the same group asked for again is another *Group")
	}
	if err := os.Remove(g.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(g.Path(), 0o755); err != nil {
		t.Fatal(err)
	}
	g2, err := m.Group("r", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid = spawn(t, g2, nil, "sleep", "0.2")
	if got, want := procCgroup(pid), g2.CgroupPath(); got != want {
		t.Fatalf("process in %q, want %q", got, want)
	}
	g2.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g2, 5*time.Second)
}
