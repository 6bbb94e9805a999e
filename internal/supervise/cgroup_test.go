package supervise

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// testCgroup2 makes an empty cgroup v2 directory for one test, or skips
// (only when CI is unset) saying why there is none.
func testCgroup2(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("no writable cgroup v2 (%s), and CI has one", why)
		}
		t.Skipf("no writable cgroup v2: %s; CI is unset", why)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		skip(err.Error())
	}
	defer f.Close()
	var mnt string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, _ := strings.Cut(sc.Text(), " - ")
		if strings.HasPrefix(post, "cgroup2 ") {
			if fs := strings.Fields(pre); len(fs) >= 5 && fs[3] == "/" && (mnt == "" || fs[4] == "/sys/fs/cgroup") {
				mnt = fs[4]
			}
		}
	}
	if mnt == "" {
		skip("no cgroup2 mount")
	}
	b, _ := os.ReadFile("/proc/self/cgroup")
	var self string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			self = p
		}
	}
	dir := filepath.Join(mnt, self, fmt.Sprintf("supervise-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))
	if err := os.Mkdir(dir, 0o755); err != nil {
		skip(err.Error())
	}
	t.Cleanup(func() { unix.Rmdir(dir) })
	return dir
}

func cgroupOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// A process given a cgroup directory starts in it, in both modes.
func TestSpawnIntoCgroup(t *testing.T) {
	modes(t, func(t *testing.T, pre bool) {
		dir := testCgroup2(t)
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		h := newHarness(t, Options{})
		pid, err := h.spawn(Request{Job: job(pre, execJob("sleep 10")), CgroupDir: d})
		if err != nil {
			t.Fatal(err)
		}
		got := cgroupOf(pid)
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		h.s.Signal(pid, unix.SIGKILL)
		h.wait(pid)
		if !strings.HasSuffix(got, "/"+filepath.Base(dir)) || strings.TrimSpace(string(procs)) != fmt.Sprint(pid) {
			t.Fatalf("pid %d in %q; cgroup.procs %q", pid, got, procs)
		}
	})
}

// CgroupProcs are joined by the pre-exec step; a failure is a SpawnErr.
func TestCgroupProcs(t *testing.T) {
	h := newHarness(t, Options{})
	dir := testCgroup2(t) // a v2 cgroup.procs takes a pid the same way
	pid, err := h.spawn(Request{Job: execJob("sleep 10"), CgroupProcs: []string{filepath.Join(dir, "cgroup.procs")}})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for i := 0; i < 200 && !strings.HasSuffix(got, "/"+filepath.Base(dir)); i++ {
		got = cgroupOf(pid) // joins before the exec
		if strings.HasSuffix(got, "/"+filepath.Base(dir)) {
			break
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 5e6}, nil)
	}
	h.s.Signal(pid, unix.SIGKILL)
	if e := h.wait(pid); e.SpawnErr != nil {
		t.Fatal(e.SpawnErr)
	}
	if !strings.HasSuffix(got, "/"+filepath.Base(dir)) {
		t.Fatalf("pid %d in %q", pid, got)
	}

	pid, err = h.spawn(Request{Job: execJob("true"), CgroupProcs: []string{filepath.Join(dir, "nosuch", "cgroup.procs")}})
	if err != nil {
		t.Fatal(err)
	}
	e := h.wait(pid)
	if e.SpawnErr == nil || !strings.HasPrefix(e.SpawnErr.Error(), "unable to enter cgroup") {
		t.Fatalf("SpawnErr %v", e.SpawnErr)
	}

	s := &preSpec{cgroupProcs: []string{"/a/cgroup.procs", "/b c/cgroup.procs"}, path: "/bin/true", argv: []string{"true"}}
	back, err := parsePreSpec(s.args())
	if err != nil || fmt.Sprint(back.cgroupProcs) != fmt.Sprint(s.cgroupProcs) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}
