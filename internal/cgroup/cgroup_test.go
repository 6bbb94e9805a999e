package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
)

func TestSpawnIntoGroup(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("net/apache", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g2, _ := m.Group("net/apache", "", "main", nil); g2 != g {
		t.Fatal("Group is not idempotent")
	}
	if want := filepath.Join(m.Root(), "net%2Fapache", "_", "main"); g.Path() != want {
		t.Fatalf("path %s, want %s", g.Path(), want)
	}
	pid := spawn(t, g, nil, "sleep", "1000")
	if err := g.Watch(); err != nil {
		t.Fatal(err)
	}
	pids, err := g.Pids()
	if err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("Pids = %v, %v; want %d", pids, err, pid)
	}
	if got := procCgroup(pid); got != g.CgroupPath() {
		t.Fatalf("/proc/%d/cgroup: %s, want %s", pid, got, g.CgroupPath())
	}
	if j, i, p, ok := m.Lookup(pid); !ok || j != "net/apache" || i != "" || p != "main" {
		t.Fatalf("Lookup = %q %q %q %v", j, i, p, ok)
	}
	if ipids, _ := m.Instance("net/apache", "").Pids(); !slices.Equal(ipids, pids) {
		t.Fatalf("instance pids %v, group pids %v", ipids, pids)
	}
	if p, _ := g.Populated(); !p {
		t.Fatal("not populated")
	}
	if err := g.Remove(); err == nil {
		t.Fatal("Remove of a populated group succeeded")
	}
	noEmpty(t, ch, 100*time.Millisecond)
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	e := waitExit(t, pid, 5*time.Second)
	if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
		t.Fatalf("exit status %v", e.Status)
	}
	em := waitEmpty(t, ch, g, 5*time.Second)
	if em.Job != "net/apache" || em.Instance != "" || em.Process != "main" {
		t.Fatalf("Empty %+v", em)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{g.Path(), filepath.Dir(g.Path()), filepath.Dir(filepath.Dir(g.Path()))} {
		if exists(d) {
			t.Errorf("%s left behind", d)
		}
	}
	if !exists(m.Root()) {
		t.Error("root removed")
	}
}

// A double fork with setsid and SIGTERM ignored leaves a grandchild that
// Upstart 1.13 would lose; it stays in the group and dies with Kill.
func TestDoubleForkEscapee(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("daemon", "x", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "gc")
	script := `(setsid sh -c 'trap "" TERM; echo $$ > ` + pidFile + `; exec sleep 1000' &) ; exec sleep 1000`
	pid := spawn(t, g, nil, "sh", "-c", script)
	g.Watch()
	var gc int
	waitFor(t, "the grandchild", 5*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		gc, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return gc > 0
	})
	sidOf := func(p int) int { s, _ := syscall.Getpgid(p); return s }
	if sidOf(gc) == sidOf(pid) {
		t.Fatalf("grandchild %d did not leave the group %d", gc, sidOf(pid))
	}
	pids, _ := g.Pids()
	if !slices.Contains(pids, gc) || !slices.Contains(pids, pid) {
		t.Fatalf("Pids %v, want %d and %d", pids, pid, gc)
	}
	if err := m.Instance("daemon", "x").Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, pid, 5*time.Second); !e.Status.Signaled() || e.Status.Signal() != syscall.SIGTERM {
		t.Fatalf("main: %v", e.Status)
	}
	noEmpty(t, ch, 200*time.Millisecond)
	if !alive(gc) {
		t.Fatal("grandchild died of SIGTERM; the test is broken")
	}
	start := time.Now()
	if err := m.Instance("daemon", "x").Kill(); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, ch, g, 5*time.Second)
	t.Logf("Empty %v after Kill", time.Since(start))
	waitFor(t, "the grandchild to be reaped", 2*time.Second, func() bool { return !alive(gc) })
	if err := m.Instance("daemon", "x").Remove(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(m.Root(), "daemon")) {
		t.Error("job dir left behind")
	}
}

// Empty comes when the last process has gone, not when the spawned one
// exits.
func TestEmptyAfterLastExit(t *testing.T) {
	m, ch := newManager(t)
	g, err := m.Group("j", "", "pre-start", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pid := spawn(t, g, nil, "sh", "-c", "sleep 0.4 & exit 0")
	g.Watch()
	if e := waitExit(t, pid, 5*time.Second); e.Status.ExitStatus() != 0 {
		t.Fatalf("exit %v", e.Status)
	}
	if p, _ := g.Populated(); !p {
		t.Fatal("helper not in the group")
	}
	waitEmpty(t, ch, g, 5*time.Second)
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("Empty after %v, before the helper ended", d)
	}
	noEmpty(t, ch, 100*time.Millisecond) // exactly one

	// Watch on an empty group reports at once; a respawn into the same
	// group is reported again.
	if err := g.Watch(); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, ch, g, time.Second)
	pid = spawn(t, g, nil, "sleep", "0.1")
	g.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// The watcher never blocks on the channel: Empties are queued.
func TestEmptyQueued(t *testing.T) {
	m, ch := newManager(t)
	const n = 30
	var gs []*Group
	var pids []int
	for i := 0; i < n; i++ {
		g, err := m.Group("many", strconv.Itoa(i), "main", nil)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, spawn(t, g, nil, "true"))
		g.Watch()
		gs = append(gs, g)
	}
	for _, p := range pids {
		waitExit(t, p, 5*time.Second)
	}
	// Nobody read ch meanwhile; a new group still works.
	g, _ := m.Group("many", "late", "main", nil)
	pid := spawn(t, g, nil, "true")
	g.Watch()
	waitExit(t, pid, 5*time.Second)
	got := map[*Group]bool{}
	for i := 0; i < n+1; i++ {
		select {
		case e := <-ch:
			got[e.Group] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d Empties", i)
		}
	}
	for _, g := range append(gs, g) {
		if !got[g] {
			t.Errorf("no Empty for %s", g.rel)
		}
	}
	if err := m.Job("many").Remove(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(m.Root(), "many")) {
		t.Error("job dir left")
	}
}

func TestKillFallback(t *testing.T) {
	m, ch := newManager(t)
	testNoKillFile = true
	defer func() { testNoKillFile = false }()
	g, err := m.Group("fb", "", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "sh", "-c", "trap '' TERM; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; wait")
	g.Watch()
	waitFor(t, "11 processes", 5*time.Second, func() bool { p, _ := g.Pids(); return len(p) == 11 })
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	if m.feat.Freeze && readTrim(filepath.Join(g.Path(), "cgroup.freeze")) != "0" {
		t.Error("group left frozen")
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestNastyNames(t *testing.T) {
	m, ch := newManager(t)
	long := strings.Repeat("ü/", 300)
	names := []string{"", "_", ".", "..", "net/apache", "../../escape", "a b\tc\n", "ünïcødé", long, long + "x",
		"cgroup.procs", "memory.max", "%41", "a~b", "\x00", "-", "main"}
	seen := map[string]string{}
	for _, n := range names {
		e := Escape(n)
		if e == "" || e == "." || e == ".." || strings.ContainsAny(e, "/.\x00") || len(e) > MaxComponent {
			t.Errorf("Escape(%q) = %q: not a safe component", n, e)
		}
		if o, dup := seen[e]; dup {
			t.Errorf("Escape(%q) = Escape(%q) = %q", n, o, e)
		}
		seen[e] = n
		if back, ok := Unescape(e); len(e) < keepLen && (!ok || back != n) {
			t.Errorf("Unescape(%q) = %q, %v; want %q", e, back, ok, n)
		}
	}
	for _, bad := range []string{"", "a.b", "%4", "%zz", "%41", "%2f", "a%"} {
		if _, ok := Unescape(bad); ok {
			t.Errorf("Unescape(%q) accepted", bad)
		}
	}
	for _, n := range names {
		p := n
		if p == "" {
			p = "main" // a process type always has a name
		}
		g, err := m.Group(n, n, p, nil)
		if err != nil {
			t.Fatalf("Group(%q): %v", n, err)
		}
		if filepath.Dir(filepath.Dir(filepath.Dir(g.Path()))) != m.Root() {
			t.Fatalf("Group(%q) at %s, outside %s", n, g.Path(), m.Root())
		}
		pid := spawn(t, g, nil, "true")
		g.Watch()
		waitExit(t, pid, 5*time.Second)
		waitEmpty(t, ch, g, 5*time.Second)
		if err := g.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(m.Root()); len(slices.DeleteFunc(ents, func(e os.DirEntry) bool { return !e.IsDir() })) != 0 {
		t.Errorf("left in root: %v", ents)
	}
}

// A job's memory limit holds: a process allocating beyond it is killed by
// the OOM killer, one below it runs.
func TestMemoryLimit(t *testing.T) {
	m, ch := newManager(t)
	cgs := []conf.Cgroup{{Controller: "memory", Key: "memory.limit_in_bytes", Value: "48M"}}
	if v1, ok := m.v1root["memory"]; ok && exists(filepath.Join(filepath.Dir(v1), "memory.memsw.limit_in_bytes")) || m.v2ctrls["memory"] {
		// No way round the limit through swap.
		cgs = append(cgs, conf.Cgroup{Controller: "memory", Key: "memory.memsw.limit_in_bytes", Value: "48M"})
	}
	l, err := m.Limits(cgs)
	if err != nil {
		skipOutsideCI(t, "no memory controller: "+err.Error())
	}
	t.Logf("plan:\n%s", l)
	g, err := m.Group("mem", "", "main", cgs)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	pid := spawn(t, g, []string{"CGROUP_TEST_HELPER=alloc", "CGROUP_TEST_MB=8"}, self)
	g.Watch()
	if e := waitExit(t, pid, 20*time.Second); e.SpawnErr != nil || !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		t.Fatalf("8 MB under a 48 MB limit: %v %v", e.Status, e.SpawnErr)
	}
	waitEmpty(t, ch, g, 5*time.Second)
	pid = spawn(t, g, []string{"CGROUP_TEST_HELPER=alloc", "CGROUP_TEST_MB=200"}, self)
	g.Watch()
	e := waitExit(t, pid, 20*time.Second)
	if e.SpawnErr != nil || !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
		t.Fatalf("200 MB under a 48 MB limit: %v %v", e.Status, e.SpawnErr)
	}
	waitEmpty(t, ch, g, 5*time.Second)
	if v1, ok := m.v1root["memory"]; ok {
		inst := filepath.Join(v1, "mem", "_")
		oom := readTrim(filepath.Join(inst, "memory.oom_control")) + " / main: " + readTrim(filepath.Join(inst, "main", "memory.oom_control"))
		t.Logf("v1 %s: limit %s, oom_control %q", inst, readTrim(filepath.Join(inst, "memory.limit_in_bytes")), oom)
		if !strings.Contains(oom, "oom_kill 1") {
			t.Errorf("the kill was not the limit's OOM kill: %q", oom)
		}
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, r := range m.v1root {
		if exists(filepath.Join(r, "mem")) {
			t.Errorf("v1 %s/mem left", r)
		}
	}
}

// A fork bomb stops at the job's pids limit while the rest of the system
// (here: the test, which spawns on) runs on.
func TestPidsLimit(t *testing.T) {
	m, ch := newManager(t)
	cgs := []conf.Cgroup{{Controller: "pids", Key: "max", Value: "16"}}
	if _, err := m.Limits(cgs); err != nil {
		skipOutsideCI(t, "no pids controller: "+err.Error())
	}
	g, err := m.Group("bomb", "", "main", cgs)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "sh", "-c", `b() { while :; do sleep 1000 & b & done; }; b`)
	g.Watch()
	limited := func() string {
		if v1, ok := m.v1root["pids"]; ok {
			return filepath.Join(v1, "bomb", "_")
		}
		return filepath.Join(m.Root(), "bomb", "_")
	}()
	waitFor(t, "the bomb to hit the limit", 10*time.Second, func() bool {
		// The kernel counts the failed fork where the limit is (v2)
		// or where the process is (v1).
		for _, d := range []string{limited, filepath.Join(limited, "main")} {
			f := strings.Fields(readTrim(filepath.Join(d, "pids.events")))
			if len(f) == 2 && f[1] != "0" {
				return true
			}
		}
		return false
	})
	for i := 0; i < 20; i++ {
		pids, _ := g.Pids()
		if len(pids) > 16 {
			t.Fatalf("%d processes in the group, limit 16", len(pids))
		}
		// The rest of the system forks on.
		p := spawn(t, nil, nil, "true")
		waitExit(t, p, 5*time.Second)
	}
	t.Logf("pids.current %s, pids.events %s", readTrim(filepath.Join(limited, "pids.current")), readTrim(filepath.Join(limited, "pids.events")))
	if err := m.Instance("bomb", "").Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	if err := m.Instance("bomb", "").Remove(); err != nil {
		t.Fatal(err)
	}
}

// A stanza that cannot be honoured is an error naming it.
func TestStanzaRefused(t *testing.T) {
	m, _ := newManager(t)
	for _, c := range []conf.Cgroup{
		{Controller: "memory", Name: "$NOSUCHVAR", Key: "memory.limit_in_bytes", Value: "1M"},
		{Controller: "nosuch"},
		{Controller: "memory", Key: "../../cgroup.procs", Value: "1"},
		{Controller: "memory", Key: "memory.nosuchfile", Value: "1"},
	} {
		_, err := m.Group("refused", "", "main", []conf.Cgroup{c})
		if err == nil || !strings.Contains(err.Error(), "cgroup "+c.Controller) {
			t.Errorf("%+v: %v", c, err)
		} else {
			t.Logf("%v", err)
		}
	}
	m.Instance("refused", "").Remove()
	m.Job("refused").Remove()
}

// skipOutsideCI skips when CI is unset; in CI (which installs everything
// and runs as root) a missing capability fails the test.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: this must run)", why)
	}
	t.Skip(why + "; CI is unset")
}
