package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// ReleaseLater leaves the removals to the releaser: at once nothing is
// removed (the daemon's loop makes no system call for it), and a little
// later the instance's groups, INSTANCE and JOB are gone, with their
// descriptors and watches (issue 14, stop-all). A late Remove through a
// pending group's handle leaves it to the releaser.
func TestReleaseLater(t *testing.T) {
	m, ch := newManager(t)
	pre, err := m.Group("j", "i", "pre-start", nil)
	if err != nil {
		t.Fatal(err)
	}
	main, err := m.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, main, nil, "true")
	main.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, main, 5*time.Second)
	m.ReleaseLater("j", "i")
	if !exists(main.Path()) || !exists(pre.Path()) || m.Known() != 2 {
		t.Fatalf("ReleaseLater removed at once: main %v, pre-start %v, %d known", exists(main.Path()), exists(pre.Path()), m.Known())
	}
	if err := main.Remove(); err != nil || !exists(main.Path()) {
		t.Fatalf("Remove of a pending group: %v, exists %v", err, exists(main.Path()))
	}
	waitFor(t, "the released instance to go", 5*time.Second, func() bool {
		return !exists(filepath.Join(m.Root(), "j")) && m.Known() == 0
	})
	if main.FD() != -1 || pre.FD() != -1 {
		t.Fatalf("descriptors left: main %d, pre-start %d", main.FD(), pre.FD())
	}
	m.mu.Lock()
	wds, pending := len(m.wds), len(m.pending)
	m.mu.Unlock()
	if wds != 0 || pending != 0 {
		t.Fatalf("%d watches and %d releases left", wds, pending)
	}
}

// An instance started again before its release was done: the Group for
// it does the release first (the groups it left are removed), then makes
// what the new start needs; the spawn into it works, and the releaser
// does not take it later.
func TestReleaseLaterThenStartAgain(t *testing.T) {
	m, ch := newManager(t)
	pre, err := m.Group("j", "i", "pre-start", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Group("j", "i", "main", nil); err != nil {
		t.Fatal(err)
	}
	m.ReleaseLater("j", "i")
	again, err := m.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	pending := len(m.pending)
	m.mu.Unlock()
	if exists(pre.Path()) || pre.FD() != -1 || pending != 0 || m.Known() != 1 {
		t.Fatalf("the start did not do the release first: pre-start %v (fd %d), %d pending, %d known", exists(pre.Path()), pre.FD(), pending, m.Known())
	}
	pid := spawn(t, again, nil, "sleep", "0.2")
	if got, want := procCgroup(pid), again.CgroupPath(); got != want {
		t.Fatalf("process in %q, want %q", got, want)
	}
	again.Watch()
	time.Sleep(releaseMaxDelay + 100*time.Millisecond)
	if !exists(again.Path()) || again.FD() < 0 || m.Known() != 1 {
		t.Fatalf("the new group went: exists %v, fd %d, %d known", exists(again.Path()), again.FD(), m.Known())
	}
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, again, 5*time.Second)
	if err := again.Remove(); err != nil || exists(filepath.Join(m.Root(), "j")) || m.Known() != 0 {
		t.Fatalf("Remove: %v, job left %v, %d known", err, exists(filepath.Join(m.Root(), "j")), m.Known())
	}
}

// A released group that still holds a process (a background child that
// outlived the instance) stays, watched; its Empty comes when the process
// ends, and Remove then takes it. Close does what is still pending.
func TestReleaseLaterKeepsPopulated(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "sleep", "0.3")
	m.ReleaseLater("j", "i")
	m.ReleasePending()
	if !exists(g.Path()) || g.FD() < 0 || m.Known() != 1 {
		t.Fatalf("populated group: exists %v, fd %d, %d known", exists(g.Path()), g.FD(), m.Known())
	}
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	if err := g.Remove(); err != nil || exists(filepath.Join(m.Root(), "j")) {
		t.Fatalf("Remove: %v, job left %v", err, exists(filepath.Join(m.Root(), "j")))
	}
	h, err := m.Group("k", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	m.ReleaseLater("k", "")
	m.Close()
	if exists(h.Path()) || exists(filepath.Join(m.Root(), "k")) {
		t.Fatal("Close left a pending release undone")
	}
}

// A group the watcher read empty is not read again for its processes
// (InstanceProcs) until something enters it: the next spawn (Watch), or
// a process moved into it from outside, which its next event shows.
func TestEmptyGroupKnownEmpty(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "true")
	g.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	m.mu.Lock()
	known := g.empty
	m.mu.Unlock()
	if !known || len(m.InstanceProcs("j", "i")) != 0 {
		t.Fatalf("after the Empty: known empty %v, processes %v", known, m.InstanceProcs("j", "i"))
	}
	outside := exec.Command("sleep", "30")
	if err := outside.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { outside.Process.Kill(); outside.Wait() }()
	if err := os.WriteFile(filepath.Join(g.Path(), "cgroup.procs"), []byte(strconv.Itoa(outside.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the moved process among the instance's", 5*time.Second, func() bool {
		_, ok := m.InstanceProcs("j", "i")[outside.Process.Pid]
		return ok
	})
	outside.Process.Kill()
	outside.Wait()
	// Read empty again (its Empty), then a spawn makes it not known
	// empty at once.
	waitFor(t, "the group to be read empty again", 5*time.Second, func() bool {
		pid := spawn(t, g, nil, "true")
		g.Watch()
		waitExit(t, pid, 5*time.Second)
		waitEmpty(t, ch, g, 5*time.Second)
		m.mu.Lock()
		defer m.mu.Unlock()
		return g.empty
	})
	pid = spawn(t, g, nil, "sleep", "0.3")
	g.Watch()
	if _, ok := m.InstanceProcs("j", "i")[pid]; !ok {
		t.Fatalf("the spawned process %d is not listed", pid)
	}
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
}
