package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == supervise.PreExecArg {
		supervise.RunPreExec(os.Args[2:])
	}
	switch os.Getenv("CGROUP_TEST_HELPER") {
	case "alloc":
		os.Exit(allocHelper())
	}
	os.Exit(m.Run())
}

// allocHelper allocates and touches CGROUP_TEST_MB megabytes, then exits 0.
func allocHelper() int {
	mb, _ := strconv.Atoi(os.Getenv("CGROUP_TEST_MB"))
	var keep [][]byte
	for i := 0; i < mb; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println(len(keep))
	return 0
}

// One Supervisor for the whole test binary (only one may be live).
var (
	supOnce  sync.Once
	sup      *supervise.Supervisor
	supErr   error
	exitMu   sync.Mutex
	exitWait = map[int]chan supervise.Exit{}
	exitDone = map[int]supervise.Exit{}
)

func supervisor(t testing.TB) *supervise.Supervisor {
	t.Helper()
	supOnce.Do(func() {
		ch := make(chan supervise.Exit)
		sup, supErr = supervise.New(ch, supervise.Options{
			PreExec:      []string{"/proc/self/exe", supervise.PreExecArg},
			Subreaper:    true,
			ConsolePath:  os.DevNull,
			InheritUmask: true,
		})
		go func() {
			for e := range ch {
				exitMu.Lock()
				if c := exitWait[e.Pid]; c != nil {
					c <- e
					delete(exitWait, e.Pid)
				} else {
					exitDone[e.Pid] = e
				}
				exitMu.Unlock()
			}
		}()
	})
	if supErr != nil {
		t.Fatal(supErr)
	}
	return sup
}

// exitOf returns a channel that gets the Exit of pid.
func exitOf(pid int) <-chan supervise.Exit {
	c := make(chan supervise.Exit, 1)
	exitMu.Lock()
	defer exitMu.Unlock()
	if e, ok := exitDone[pid]; ok {
		delete(exitDone, pid)
		c <- e
	} else {
		exitWait[pid] = c
	}
	return c
}

func waitExit(t testing.TB, pid int, d time.Duration) supervise.Exit {
	t.Helper()
	select {
	case e := <-exitOf(pid):
		return e
	case <-time.After(d):
		t.Fatalf("no exit of pid %d within %v", pid, d)
	}
	panic("unreachable")
}

var testEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// spawn starts argv in g (nil: no cgroup) through the supervisor.
func spawn(t testing.TB, g *Group, env []string, argv ...string) int {
	t.Helper()
	r := supervise.Request{Argv: argv, Env: append(append([]string(nil), testEnv...), env...), Console: conf.ConsoleNone}
	if g != nil {
		r.CgroupDir = g.Dir()
		r.CgroupProcs = g.V1Procs()
	}
	pid, err := supervisor(t).Spawn(r)
	if err != nil {
		t.Fatalf("spawn %v: %v", argv, err)
	}
	return pid
}

var mgrSeq atomic.Int32

// newManager makes a Manager with a subtree of its own, removed at the end
// of the test. Without cgroups it skips, unless CI is set.
func newManager(t testing.TB) (*Manager, chan Empty) {
	t.Helper()
	supervisor(t)
	ch := make(chan Empty)
	name := fmt.Sprintf("upstart-test-%d-%d", os.Getpid(), mgrSeq.Add(1))
	m, err := New(ch, Options{Name: name, Logf: t.Logf})
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no usable cgroup v2 here (%v); CI must have one", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killTree(m.root)
		for _, r := range m.v1root {
			killTree(r)
		}
		m.Close()
		time.Sleep(20 * time.Millisecond)
		for _, r := range append([]string{m.root}, values(m.v1root)...) {
			if err := rmdirTree(r); err != nil {
				// Processes may take a moment to go.
				time.Sleep(200 * time.Millisecond)
				if err := rmdirTree(r); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
	})
	return m, ch
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// killTree SIGKILLs every process listed below dir (cleanup only).
func killTree(dir string) {
	for i := 0; i < 100; i++ {
		n := 0
		walkProcs(dir, func(pid int) { n++; syscall.Kill(pid, syscall.SIGKILL) })
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitEmpty(t testing.TB, ch <-chan Empty, g *Group, d time.Duration) Empty {
	t.Helper()
	select {
	case e := <-ch:
		if e.Group != g {
			t.Fatalf("Empty for %s/%s/%s, want %s", e.Job, e.Instance, e.Process, g.rel)
		}
		return e
	case <-time.After(d):
		pids, _ := g.Pids()
		t.Fatalf("no Empty for %s within %v (pids %v)", g.rel, d, pids)
	}
	panic("unreachable")
}

func noEmpty(t testing.TB, ch <-chan Empty, d time.Duration) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected Empty for %s/%s/%s", e.Job, e.Instance, e.Process)
	case <-time.After(d):
	}
}

// waitFor checks cond every few milliseconds (test scaffolding only).
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func procCgroup(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return parseProcCgroup(string(b))[""]
}

// alive says whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

var _ = filepath.Join
