package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
)

// reopen makes the Manager of the next image of a re-exec: same options,
// so the same root. old's cleanup (registered first, run last) removes
// the tree.
func reopen(t *testing.T, old *Manager) (*Manager, chan Empty) {
	t.Helper()
	ch := make(chan Empty)
	m, err := New(ch, Options{Name: old.name, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if m.Root() != old.Root() {
		t.Fatalf("root %s, was %s", m.Root(), old.Root())
	}
	return m, ch
}

// waitEmptyOf waits for the Empty of job/instance/process.
func waitEmptyOf(t *testing.T, ch <-chan Empty, want GroupName, d time.Duration) Empty {
	t.Helper()
	select {
	case e := <-ch:
		if got := (GroupName{Job: e.Job, Instance: e.Instance, Process: e.Process}); got != want {
			t.Fatalf("Empty for %+v, want %+v", got, want)
		}
		return e
	case <-time.After(d):
		t.Fatalf("no Empty for %+v within %v", want, d)
	}
	panic("unreachable")
}

// adopted is the group m has for rel (nil if none).
func adopted(m *Manager, rel string) *Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.groups[rel]
}

// The daemon re-execs: its children run on in their groups, the next
// image's Manager takes the tree over and reports each group's end.
func TestAdopt(t *testing.T) {
	m1, _ := newManager(t)
	const job = "net/web"
	cgs := []conf.Cgroup{{Controller: "pids", Key: "max", Value: "100"}}
	if _, err := m1.Limits(cgs); err != nil {
		t.Logf("no pids controller (%v): without limits", err)
		cgs = nil
	}
	mainG, err := m1.Group(job, "a", "main", cgs)
	if err != nil {
		t.Fatal(err)
	}
	postG, err := m1.Group(job, "a", "post-start", cgs)
	if err != nil {
		t.Fatal(err)
	}
	idleG, err := m1.Group(job, "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	mainPid := spawn(t, mainG, nil, "sleep", "1000")
	// A group the job made for itself below its PROCESS group.
	deleg := filepath.Join(mainG.Path(), "deleg")
	if err := os.Mkdir(deleg, 0o755); err != nil {
		t.Fatal(err)
	}
	delegPid := spawn(t, mainG, nil, "sleep", "1000")
	if err := writeFile(filepath.Join(deleg, "cgroup.procs"), strconv.Itoa(delegPid)); err != nil {
		t.Fatal(err)
	}
	postPid := spawn(t, postG, nil, "sleep", "1000")
	idlePid := spawn(t, idleG, nil, "true")
	for _, g := range []*Group{mainG, postG, idleG} {
		g.Watch()
	}
	waitExit(t, idlePid, 5*time.Second)
	v1Main, v1Post := mainG.V1Procs(), postG.V1Procs()
	pidsMax := filepath.Join(m1.Root(), Escape(job), "a", "pids.max")
	if r, ok := m1.v1root["pids"]; ok {
		pidsMax = filepath.Join(r, Escape(job), "a", "pids.max")
	}
	limit := readTrim(pidsMax)
	// Leftovers of a Group that failed half-way, and a directory that
	// is not ours.
	for _, d := range []string{"stale", "stale2/x", "not.ours/x/main"} {
		if err := os.MkdirAll(filepath.Join(m1.Root(), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { rmdirTree(filepath.Join(m1.Root(), "not.ours")) })

	m1.Close() // the old image goes; its tree and processes stay
	m2, ch := reopen(t, m1)
	start := time.Now()
	names, err := m2.Adopt()
	if err != nil {
		t.Fatal(err)
	}
	idle := GroupName{Job: job, Instance: "", Process: "main"}
	busy := GroupName{Job: job, Instance: "a", Process: "main"}
	post := GroupName{Job: job, Instance: "a", Process: "post-start"}
	if want := []GroupName{idle, busy, post}; !slices.Equal(names, want) {
		t.Fatalf("Adopt = %+v, want %+v", names, want)
	}
	e := waitEmptyOf(t, ch, idle, time.Second)
	t.Logf("Empty of the idle group %v after Adopt", time.Since(start))
	noEmpty(t, ch, 150*time.Millisecond)

	// What the old Manager knew is known again.
	gm, gp := adopted(m2, mainG.rel), adopted(m2, postG.rel)
	if gm == nil || gp == nil || e.Group != adopted(m2, idleG.rel) {
		t.Fatalf("groups not registered: %v %v %v", gm, gp, e.Group)
	}
	if !slices.Equal(gm.V1Procs(), v1Main) || !slices.Equal(gp.V1Procs(), v1Post) {
		t.Errorf("V1Procs %v %v, were %v %v", gm.V1Procs(), gp.V1Procs(), v1Main, v1Post)
	}
	if gm.Dir() == nil {
		t.Error("adopted group has no directory to spawn into")
	}
	if got := readTrim(pidsMax); got != limit {
		t.Errorf("%s: %q, was %q", pidsMax, got, limit)
	}
	if j, i, p, ok := m2.Lookup(mainPid); !ok || (GroupName{Job: j, Instance: i, Process: p}) != busy {
		t.Errorf("Lookup(%d) = %q %q %q %v", mainPid, j, i, p, ok)
	}
	for _, d := range []string{"stale", "stale2"} {
		if exists(filepath.Join(m2.Root(), d)) {
			t.Errorf("leftover %s not removed", d)
		}
	}
	if !exists(filepath.Join(m2.Root(), "not.ours", "x", "main")) {
		t.Error("a directory that is not ours was removed")
	}
	// Again: nothing changes, nothing is reported twice.
	if again, err := m2.Adopt(); err != nil || !slices.Equal(again, names) {
		t.Fatalf("second Adopt = %+v, %v", again, err)
	}
	noEmpty(t, ch, 50*time.Millisecond)

	// One process ends: its group's Empty.
	syscall.Kill(postPid, syscall.SIGKILL)
	waitExit(t, postPid, 5*time.Second)
	ep := waitEmptyOf(t, ch, post, 5*time.Second)

	// Kill of the adopted instance takes the delegated group too.
	if err := m2.Instance(job, "a").Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, mainPid, 5*time.Second)
	waitExit(t, delegPid, 5*time.Second)
	eb := waitEmptyOf(t, ch, busy, 5*time.Second)
	noEmpty(t, ch, 50*time.Millisecond)

	for _, g := range []*Group{e.Group, ep.Group, eb.Group} {
		if err := g.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if exists(filepath.Join(m2.Root(), Escape(job))) {
		t.Error("job directory left")
	}
	for c, r := range m2.v1root {
		if exists(filepath.Join(r, Escape(job))) {
			t.Errorf("v1 %s: job directory left", c)
		}
	}
}

// A group that empties while it is being adopted, before or after its
// watch is added, gives one Empty.
func TestAdoptRace(t *testing.T) {
	for stage := 0; stage < 2; stage++ {
		t.Run("stage"+strconv.Itoa(stage), func(t *testing.T) {
			m1, _ := newManager(t)
			g, err := m1.Group("race", "", "main", nil)
			if err != nil {
				t.Fatal(err)
			}
			pid := spawn(t, g, nil, "sleep", "1000")
			g.Watch()
			m1.Close()
			m2, ch := reopen(t, m1)
			var hookErr string
			testAdoptHook = func(s int, _ *Group) {
				if s != stage {
					return
				}
				// Under m.mu: no t.Fatal here.
				syscall.Kill(pid, syscall.SIGKILL)
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
					if p, err := populated(g.Path()); err == nil && !p {
						return
					}
					if time.Now().After(deadline) {
						hookErr = "the group did not empty"
						return
					}
				}
			}
			defer func() { testAdoptHook = nil }()
			names, err := m2.Adopt()
			testAdoptHook = nil
			if hookErr != "" {
				t.Fatal(hookErr)
			}
			want := GroupName{Job: "race", Process: "main"}
			if err != nil || !slices.Equal(names, []GroupName{want}) {
				t.Fatalf("Adopt = %+v, %v", names, err)
			}
			waitExit(t, pid, 5*time.Second)
			waitEmptyOf(t, ch, want, time.Second)
			noEmpty(t, ch, 200*time.Millisecond)
		})
	}
}

// A name too long to be kept whole is adopted under its directory name;
// Group with the real name names it.
func TestAdoptShortened(t *testing.T) {
	m1, _ := newManager(t)
	long := strings.Repeat("x/", 100)
	g, err := m1.Group(long, "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "sleep", "1000")
	g.Watch()
	m1.Close()
	m2, ch := reopen(t, m1)
	names, err := m2.Adopt()
	want := GroupName{Job: Escape(long), Process: "main", Shortened: true}
	if err != nil || !slices.Equal(names, []GroupName{want}) {
		t.Fatalf("Adopt = %+v, %v; want %+v", names, err, want)
	}
	if j, _, _, ok := m2.Lookup(pid); !ok || j != Escape(long) {
		t.Errorf("Lookup before naming: %q %v", j, ok)
	}
	g2, err := m2.Group(long, "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g2 != adopted(m2, g.rel) || g2.Job() != long {
		t.Fatalf("Group did not name the adopted group (job %q)", g2.Job())
	}
	if j, _, _, ok := m2.Lookup(pid); !ok || j != long {
		t.Errorf("Lookup after naming: %q %v", j, ok)
	}
	if err := g2.Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid, 5*time.Second)
	waitEmptyOf(t, ch, GroupName{Job: long, Process: "main"}, 5*time.Second)
	if err := g2.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestGroupName(t *testing.T) {
	sum := strings.Repeat("0123456789abcdef", 2)
	for _, c := range []struct {
		j, i, p string
		want    GroupName
		ok      bool
	}{
		{"net%2Fweb", "_", "main", GroupName{Job: "net/web", Process: "main"}, true},
		{"j", "%5F", "pre-start", GroupName{Job: "j", Instance: "_", Process: "pre-start"}, true},
		{"j%2E~" + sum, "i", "main", GroupName{Job: "j%2E~" + sum, Instance: "i", Process: "main", Shortened: true}, true},
		{"j", "i", "_", GroupName{}, false},           // no process type is unnamed
		{"not.ours", "i", "main", GroupName{}, false}, // Escape never keeps a dot
		{"j~" + sum[:31], "i", "main", GroupName{}, false},
		{"j~" + strings.ToUpper(sum), "i", "main", GroupName{}, false},
		{"j", "%2f", "main", GroupName{}, false},
	} {
		got, ok := groupName(c.j, c.i, c.p)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("groupName(%q, %q, %q) = %+v, %v; want %+v, %v", c.j, c.i, c.p, got, ok, c.want, c.ok)
		}
	}
}

// RemoveStale removes the empty tree of a dead session beside the root,
// and leaves the tree of a live one, a busy tree and foreign directories.
func TestRemoveStale(t *testing.T) {
	parent := t.TempDir()
	m := &Manager{root: filepath.Join(parent, "upstart-1")}
	dead := deadPid(t)
	for _, d := range []string{
		"upstart-" + dead + "/job/inst/main",            // stale: goes
		"upstart-" + strconv.Itoa(os.Getpid()) + "/job", // alive: stays
		"upstart-x/job", // not a pid: stays
		"other-" + dead, // foreign: stays
	} {
		if err := os.MkdirAll(filepath.Join(parent, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.RemoveStale(); n != 1 {
		t.Errorf("removed %d trees, want 1", n)
	}
	ents, _ := os.ReadDir(parent)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{"other-" + dead, "upstart-" + strconv.Itoa(os.Getpid()), "upstart-x"}
	slices.Sort(want)
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("left %v, want %v", left, want)
	}
}

// deadPid returns the pid of a process that has ended and been reaped.
func deadPid(t *testing.T) string {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The test binary's supervisor (a subreaper reaping every child) may
	// reap it before Wait does: wait for it to be gone either way.
	cmd.Wait()
	pid := strconv.Itoa(cmd.Process.Pid)
	waitFor(t, "the process to be reaped", 5*time.Second, func() bool {
		_, err := os.Stat("/proc/" + pid)
		return err != nil
	})
	return pid
}

// InstanceProcs lists the processes of an instance's groups by process
// type, and nothing of other instances.
func TestInstanceProcs(t *testing.T) {
	m, _ := newManager(t)
	mk := func(inst, proc string) *Group {
		g, err := m.Group("net/web", inst, proc, nil)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	main, post, other := mk("a", "main"), mk("a", "post-start"), mk("b", "main")
	p1 := spawn(t, main, nil, "sleep", "100")
	p2 := spawn(t, main, nil, "sleep", "101")
	p3 := spawn(t, post, nil, "sleep", "102")
	spawn(t, other, nil, "sleep", "103")
	want := map[int]string{p1: "main", p2: "main", p3: "post-start"}
	var got map[int]string
	waitFor(t, "the processes in their groups", 5*time.Second, func() bool {
		got = m.InstanceProcs("net/web", "a")
		return len(got) == len(want)
	})
	for pid, p := range want {
		if got[pid] != p {
			t.Errorf("pid %d: %q, want %q (all: %v)", pid, got[pid], p, got)
		}
	}
	if got := m.InstanceProcs("net/web", "c"); len(got) != 0 {
		t.Errorf("an instance without groups has %v", got)
	}
}

// A re-exec while a release is pending (ReleaseLater, not done yet when
// the image went): the next image's Manager takes the empty groups over,
// reports each Empty, and Remove takes them; nothing is left.
func TestAdoptPendingRelease(t *testing.T) {
	m1, _ := newManager(t)
	g, err := m1.Group("j", "i", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	m1.ReleaseLater("j", "i")
	// The image is gone before its releaser ran.
	m1.mu.Lock()
	m1.closed = true
	m1.mu.Unlock()
	m2, ch := reopen(t, m1)
	if _, err := m2.Adopt(); err != nil {
		t.Fatal(err)
	}
	e := waitEmptyOf(t, ch, GroupName{Job: "j", Instance: "i", Process: "main"}, 5*time.Second)
	if err := e.Group.Remove(); err != nil {
		t.Fatal(err)
	}
	if exists(g.Path()) || exists(filepath.Join(m2.Root(), "j")) || m2.Known() != 0 {
		t.Fatalf("left after the re-exec: group %v, job %v, %d known", exists(g.Path()), exists(filepath.Join(m2.Root(), "j")), m2.Known())
	}
}
