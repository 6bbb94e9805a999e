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

// A NAME other than $UPSTART_CGROUP names a group below the instance's,
// expanded with the process's environment.
func TestLimitsNamed(t *testing.T) {
	m := fakeManager([]string{"memory", "pids"}, []string{"cpu", "blkio"})
	env := []string{"SVC=pg sql", "N=2"}
	l, err := m.LimitsEnv([]conf.Cgroup{
		{Controller: "memory", Name: "db/$SVC", Key: "limit_in_bytes", Value: "64M"},
		{Controller: "pids", Name: "/db//${SVC}", Key: "max", Value: "10"},
		{Controller: "freezer", Name: "db/$SVC"},
		{Controller: "cpu", Name: "$UPSTART_CGROUP/c$N", Key: "shares", Value: "512"},
		{Controller: "blkio", Key: "weight", Value: "500"},
	}, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", l)
	if want := []string{"@db", "@pg%20sql"}; !slices.Equal(l.v2Sub, want) {
		t.Errorf("v2 group %q, want %q", l.v2Sub, want)
	}
	if want := []string{"@c2"}; !slices.Equal(l.v1Sub["cpu"], want) {
		t.Errorf("v1 cpu group %q, want %q", l.v1Sub["cpu"], want)
	}
	if l.v1Sub["blkio"] != nil {
		t.Errorf("v1 blkio group %q, want the instance's", l.v1Sub["blkio"])
	}
	if !strings.Contains(l.String(), "v2 upstart/JOB/INSTANCE/@db/@pg%20sql/memory.max = 67108864") ||
		!strings.Contains(l.String(), "v1 cpu upstart/JOB/INSTANCE/@c2/cpu.shares = 512") {
		t.Errorf("plan:\n%s", l)
	}
	// $UPSTART_CGROUP alone, or an empty expansion, is the instance's.
	for _, name := range []string{"$UPSTART_CGROUP", "${UPSTART_CGROUP}", "${EMPTY}", "$UPSTART_CGROUP/"} {
		l, err := m.LimitsEnv([]conf.Cgroup{{Controller: "pids", Name: name, Key: "max", Value: "1"}}, []string{"EMPTY="})
		if err != nil || l.v2Sub != nil {
			t.Errorf("%q: group %q, %v", name, l.v2Sub, err)
		}
	}
	// A changed name changes the fingerprint: settings are written again.
	a, _ := m.LimitsEnv([]conf.Cgroup{{Controller: "pids", Name: "$X", Key: "max", Value: "1"}}, []string{"X=a"})
	b, _ := m.LimitsEnv([]conf.Cgroup{{Controller: "pids", Name: "$X", Key: "max", Value: "1"}}, []string{"X=b"})
	if a.fingerprint() == b.fingerprint() {
		t.Error("the group's name is not in the fingerprint")
	}
}

// cgroup v2 is one hierarchy: a process can be in one group of it.
func TestLimitsNamedConflict(t *testing.T) {
	m := fakeManager([]string{"memory", "pids"}, []string{"cpu"})
	for _, c := range []struct {
		cgs []conf.Cgroup
		why string
	}{
		{[]conf.Cgroup{{Controller: "memory", Name: "a", Key: "max", Value: "1M"}, {Controller: "pids", Name: "b", Key: "max", Value: "1"}},
			"cgroup pids b max 1: names upstart/JOB/INSTANCE/@b but cgroup memory a max 1M names upstart/JOB/INSTANCE/@a: cgroup v2 is one hierarchy"},
		{[]conf.Cgroup{{Controller: "memory", Name: "a", Key: "max", Value: "1M"}, {Controller: "pids", Key: "max", Value: "1"}},
			"names upstart/JOB/INSTANCE but cgroup memory a max 1M names upstart/JOB/INSTANCE/@a"},
		{[]conf.Cgroup{{Controller: "cpu", Name: "a"}, {Controller: "cpu", Name: "b", Key: "shares", Value: "2"}},
			"one group of the cpu hierarchy"},
	} {
		_, err := m.Limits(c.cgs)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%+v: %v (want %q)", c.cgs, err, c.why)
		}
	}
	// Different names in different v1 hierarchies, and v2 and v1, are fine.
	if _, err := m.Limits([]conf.Cgroup{{Controller: "memory", Name: "a"}, {Controller: "cpu", Name: "b"}, {Controller: "cpuacct"}}); err != nil {
		t.Error(err)
	}
}

func TestLookupPathNamed(t *testing.T) {
	m := &Manager{name: "upstart", selfPath: "/x", groups: map[string]*Group{}}
	for p, want := range map[string][3]string{
		"/x/upstart/web/_/@db/@pg/main":    {"web", "", "main"},
		"/x/upstart/web/one/@db/pre-start": {"web", "one", "pre-start"},
		"/x/upstart/web/one/main":          {"web", "one", "main"},
	} {
		j, i, pr, ok := m.LookupPath(p)
		if !ok || [3]string{j, i, pr} != want {
			t.Errorf("%s: %q %q %q %v, want %q", p, j, i, pr, ok, want)
		}
	}
	for _, p := range []string{"/x/upstart/web/_/@db", "/x/upstart/web/_/main/sub", "/x/upstart/web/_/@db/main/sub", "/x/upstart/web/_/x/@db/main"} {
		if j, i, pr, ok := m.LookupPath(p); ok {
			t.Errorf("%s: %q %q %q, want not ours", p, j, i, pr)
		}
	}
}

// namedHier is the hierarchy a controller of the stanzas is in: the v2
// tree, or its v1 one.
func namedHier(m *Manager, ctrl string) (root string, v1 bool) {
	if r, ok := m.v1root[ctrl]; ok && !m.v2ctrls[ctrl] {
		return r, true
	}
	return m.Root(), false
}

// The processes of an instance with a named group live in it; two
// instances with the same literal NAME get a group each; killing one
// instance leaves the other alone; the groups go with their instances.
func TestNamedGroup(t *testing.T) {
	m, ch := newManager(t)
	cgs := []conf.Cgroup{{Controller: "pids", Name: "svc/$N", Key: "max", Value: "16"}}
	if _, err := m.LimitsEnv(cgs, []string{"N=1"}); err != nil {
		skipOutsideCI(t, "no pids controller: "+err.Error())
	}
	root, v1 := namedHier(m, "pids")
	groups := map[string]*Group{}
	pids := map[string]int{}
	for _, inst := range []string{"one", "two"} {
		env := []string{"N=same"}
		g, err := m.GroupEnv("web", inst, "main", cgs, env)
		if err != nil {
			t.Fatal(err)
		}
		groups[inst] = g
		// A child that outlives its parent: still the instance's.
		pid := spawn(t, g, nil, "sh", "-c", "sleep 1000 & exec sleep 1001")
		g.Watch()
		pids[inst] = pid
		named := filepath.Join(root, "web", inst, "@svc", "@same")
		if got := readTrim(filepath.Join(named, "pids.max")); got != "16" {
			t.Errorf("%s: pids.max %q in %s", inst, got, named)
		}
		var in string
		if v1 {
			// The process joins its v1 groups itself, before its
			// program runs.
			pidsLine := func() string {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.SplitN(l, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "pids") {
						return f[2]
					}
				}
				return ""
			}
			waitFor(t, "the process in its v1 group", 5*time.Second, func() bool {
				in = pidsLine()
				return strings.HasSuffix(in, "/web/"+inst+"/@svc/@same/main")
			})
			// The v2 group stays the instance's own.
			if want := g.CgroupPath(); procCgroup(pid) != want || strings.Contains(want, "@") {
				t.Errorf("%s: v2 cgroup %s, want %s", inst, procCgroup(pid), want)
			}
		} else {
			in = procCgroup(pid)
			if !strings.HasSuffix(g.CgroupPath(), "/web/"+inst+"/@svc/@same/main") {
				t.Errorf("%s: group %s", inst, g.CgroupPath())
			}
			if j, i, p, ok := m.Lookup(pid); !ok || j != "web" || i != inst || p != "main" {
				t.Errorf("Lookup(%d) = %q %q %q %v", pid, j, i, p, ok)
			}
		}
		if !strings.HasSuffix(in, "/web/"+inst+"/@svc/@same/main") {
			t.Errorf("%s: process in %q, want .../web/%s/@svc/@same/main", inst, in, inst)
		}
	}
	waitFor(t, "both processes of each instance", 5*time.Second, func() bool {
		return len(m.InstanceProcs("web", "one")) == 2 && len(m.InstanceProcs("web", "two")) == 2
	})
	for pid, proc := range m.InstanceProcs("web", "one") {
		if proc != "main" {
			t.Errorf("InstanceProcs: %d in %q", pid, proc)
		}
	}
	// Stop instance one: everything in its named group dies, two's live.
	if err := m.Instance("web", "one").Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pids["one"], 5*time.Second)
	waitEmpty(t, ch, groups["one"], 5*time.Second)
	if !alive(pids["two"]) || len(m.InstanceProcs("web", "two")) != 2 {
		t.Fatal("killing instance one reached instance two")
	}
	if err := m.ReleaseInstance("web", "one"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{root, m.Root()} {
		if exists(filepath.Join(r, "web", "one")) {
			t.Errorf("%s/web/one left after its instance went", r)
		}
	}
	if !exists(filepath.Join(root, "web", "two", "@svc", "@same")) {
		t.Error("instance two's group went with instance one")
	}
	// Signal (the kill signal) reaches the named group too.
	if err := m.Instance("web", "two").Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pids["two"], 5*time.Second)
	waitEmpty(t, ch, groups["two"], 5*time.Second)
	if err := groups["two"].Remove(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{root, m.Root()} {
		if exists(filepath.Join(r, "web")) {
			t.Errorf("%s/web left after the last group's Remove", r)
		}
	}
}

// After a re-exec the next image takes over the process groups of named
// groups (and only those: the @NAME levels are not process groups).
func TestAdoptNamed(t *testing.T) {
	m1, _ := newManager(t)
	// A controller of the v2 hierarchy, so that the process group is
	// below the named group there.
	var cgs []conf.Cgroup
	for _, c := range []string{"freezer", "pids", "memory", "cpu", "hugetlb"} {
		try := []conf.Cgroup{{Controller: c, Name: "a/b"}}
		if l, err := m1.Limits(try); err == nil && l.v2Sub != nil {
			cgs = try
			break
		}
	}
	if cgs == nil {
		skipOutsideCI(t, "no controller in cgroup v2 here")
	}
	g, err := m1.Group("job", "", "main", cgs)
	if err != nil {
		t.Fatal(err)
	}
	pid := spawn(t, g, nil, "sleep", "1000")
	g.Watch()
	m2, ch2 := reopen(t, m1)
	m1.Close()
	found, err := m2.Adopt()
	if err != nil {
		t.Fatal(err)
	}
	rel := g.rel
	if !strings.HasSuffix(rel, "/@a/@b/main") {
		t.Fatalf("group %s, want JOB/INSTANCE/@a/@b/main", rel)
	}
	want := GroupName{Job: "job", Instance: "", Process: "main"}
	if len(found) != 1 || found[0] != want {
		t.Fatalf("adopted %+v, want %+v (group %s)", found, want, rel)
	}
	if adopted(m2, rel) == nil {
		t.Fatalf("no group %s after Adopt", rel)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitExit(t, pid, 5*time.Second)
	e := waitEmptyOf(t, ch2, want, 5*time.Second)
	if err := e.Group.Remove(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(m2.Root(), "job")) {
		t.Error("job's groups left after Remove")
	}
}

// A setting of a v2 controller goes to the named group, with the
// controller enabled in every ancestor down to it.
func TestNamedGroupV2Setting(t *testing.T) {
	m, ch := newManager(t)
	var cg *conf.Cgroup
	var file, want string
	for _, c := range []struct {
		cg         conf.Cgroup
		file, want string
	}{
		{conf.Cgroup{Controller: "pids", Name: "x/y", Key: "max", Value: "12"}, "pids.max", "12"},
		{conf.Cgroup{Controller: "memory", Name: "x/y", Key: "max", Value: "64M"}, "memory.max", "67108864"},
		{conf.Cgroup{Controller: "hugetlb", Name: "x/y", Key: "hugetlb.2MB.max", Value: "4M"}, "hugetlb.2MB.max", "4194304"},
	} {
		if l, err := m.Limits([]conf.Cgroup{c.cg}); err == nil && l.v2Sub != nil && len(l.v2) == 1 {
			cg, file, want = &c.cg, c.file, c.want
			break
		}
	}
	if cg == nil {
		skipOutsideCI(t, "no pids, memory or hugetlb controller in cgroup v2 here")
	}
	g, err := m.Group("v2set", "i", "main", []conf.Cgroup{*cg})
	if err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(m.Root(), "v2set", "i", "@x", "@y")
	if got := readTrim(filepath.Join(named, file)); got != want {
		t.Errorf("%s/%s = %q, want %q", named, file, got, want)
	}
	pid := spawn(t, g, nil, "true")
	g.Watch()
	waitExit(t, pid, 5*time.Second)
	waitEmpty(t, ch, g, 5*time.Second)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(m.Root(), "v2set")) {
		t.Error("groups left after Remove")
	}
}
