package supervise

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/conf"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == PreExecArg {
		RunPreExec(os.Args[2:])
	}
	if os.Getenv("SUPERVISE_TEST_HELPER") == "subreaper" {
		os.Exit(subreaperHelper())
	}
	os.Exit(m.Run())
}

var preExecArgv = []string{"/proc/self/exe", PreExecArg}

// harness runs one Supervisor for one test and checks that every spawned
// pid gets exactly one Exit.
type harness struct {
	t     testing.TB
	s     *Supervisor
	exits chan Exit

	mu      sync.Mutex
	nextOut *os.File // what LogOutput returns for the next spawn
	got     map[int]Exit
	spawned map[int]bool
}

func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, exits: make(chan Exit), got: map[int]Exit{}, spawned: map[int]bool{}}
	if opts.PreExec == nil {
		opts.PreExec = preExecArgv
	}
	if opts.LogOutput == nil {
		opts.LogOutput = func(Request) (*os.File, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			f := h.nextOut
			return f, nil
		}
	}
	opts.Logf = t.Logf
	s, err := New(h.exits, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	// Late or duplicate exits show up here.
	deadline := time.After(200 * time.Millisecond)
loop:
	for {
		select {
		case e := <-h.exits:
			h.record(e)
		case <-deadline:
			break loop
		}
	}
	h.s.Close()
}

func (h *harness) record(e Exit) {
	h.t.Helper()
	if _, dup := h.got[e.Pid]; dup {
		h.t.Errorf("second Exit for pid %d: %+v", e.Pid, e)
	}
	h.mu.Lock()
	known := h.spawned[e.Pid]
	h.mu.Unlock()
	if !known {
		h.t.Errorf("Exit for pid %d that was not spawned: %+v", e.Pid, e)
	}
	h.got[e.Pid] = e
}

func (h *harness) spawn(r Request) (int, error) {
	if r.Console == conf.ConsoleDefault {
		r.Console = conf.ConsoleLog
	}
	if r.Env == nil {
		r.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "TERM=dumb"}
	}
	pid, err := h.s.Spawn(r)
	if err == nil {
		h.mu.Lock()
		h.spawned[pid] = true
		h.mu.Unlock()
	}
	return pid, err
}

func (h *harness) wait(pid int) Exit {
	h.t.Helper()
	if e, ok := h.got[pid]; ok {
		return e
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-h.exits:
			h.record(e)
			if e.Pid == pid {
				return e
			}
		case <-timeout:
			h.t.Fatalf("no Exit for pid %d", pid)
		}
	}
}

// run spawns r with its output captured, waits for the Exit and returns it
// with the output.
func (h *harness) run(r Request) (Exit, string) {
	h.t.Helper()
	f, err := os.CreateTemp(h.t.TempDir(), "out")
	if err != nil {
		h.t.Fatal(err)
	}
	name := f.Name()
	f.Close()
	os.Chmod(name, 0o666)
	w, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.nextOut = w
	h.mu.Unlock()
	pid, err := h.spawn(r)
	if err != nil {
		h.t.Fatalf("spawn: %v", err)
	}
	e := h.wait(pid)
	out, _ := os.ReadFile(name)
	return e, string(out)
}

func execJob(cmd string) *conf.Job {
	j := &conf.Job{Name: "test"}
	j.Process[conf.Main] = &conf.Process{Command: cmd}
	return j
}

func scriptJob(body string) *conf.Job {
	j := &conf.Job{Name: "test"}
	j.Process[conf.Main] = &conf.Process{Script: true, Command: body}
	return j
}

func ptr[T any](v T) *T { return &v }

// forcePre makes a job go through pre-exec mode without changing anything
// observable but the nice value (set to what it already is).
func forcePre(j *conf.Job) *conf.Job {
	j.Nice = ptr(currentNice())
	return j
}

func currentNice() int {
	b, _ := os.ReadFile("/proc/thread-self/stat")
	f := statFields(string(b))
	n, _ := strconv.Atoi(f[18])
	return n
}

// statFields splits /proc/PID/stat into its fields, numbered from 0
// (field 1 of proc(5) is index 0), with comm kept whole.
func statFields(s string) []string {
	i := strings.LastIndex(s, ")")
	j := strings.Index(s, "(")
	if i < 0 || j < 0 {
		return nil
	}
	return append([]string{strings.TrimSpace(s[:j]), s[j+1 : i]}, strings.Fields(s[i+1:])...)
}

func isRoot() bool { return os.Geteuid() == 0 }

func needRoot(t *testing.T) {
	t.Helper()
	if !isRoot() {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root, and CI runs as root")
		}
		t.Skip("needs root (setuid/chroot/negative nice); CI is unset")
	}
}

// modes runs f for direct spawning and for pre-exec spawning.
func modes(t *testing.T, f func(t *testing.T, pre bool)) {
	t.Run("direct", func(t *testing.T) { f(t, false) })
	t.Run("pre-exec", func(t *testing.T) { f(t, true) })
}

func job(pre bool, j *conf.Job) *conf.Job {
	if pre {
		return forcePre(j)
	}
	return j
}

func TestExitStatus(t *testing.T) {
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		for _, c := range []struct {
			cmd  string
			code int
		}{{"/bin/true", 0}, {"false", 1}, {"sh -c 'exit 3'", 3}} {
			e, _ := h.run(Request{Job: job(pre, execJob(c.cmd))})
			if e.SpawnErr != nil || !e.Status.Exited() || e.Status.ExitStatus() != c.code {
				t.Errorf("%q: got %+v (exited %v status %d), want exit %d", c.cmd, e, e.Status.Exited(), e.Status.ExitStatus(), c.code)
			}
		}
	})
}

func TestSignal(t *testing.T) {
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		pid, err := h.spawn(Request{Job: job(pre, execJob("sleep 100"))})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := h.s.Signal(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		e := h.wait(pid)
		if e.SpawnErr != nil || !e.Status.Signaled() || e.Status.Signal() != syscall.SIGTERM {
			t.Errorf("got %+v, want killed by SIGTERM", e)
		}
		// The group is gone: not an error.
		if err := h.s.Signal(pid, syscall.SIGTERM); err != nil {
			t.Errorf("signal to a gone group: %v", err)
		}
	})
}

func TestSignalReachesGroup(t *testing.T) {
	h := newHarness(t, Options{})
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	pid, err := h.spawn(Request{Job: scriptJob("sleep 100 &\necho $! > " + pidFile + "\nwait\n")})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	for i := 0; i < 200 && child == 0; i++ {
		b, _ := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 {
		t.Fatal("script did not report its child")
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
	if f := statFields(string(b)); len(f) < 6 || f[4] != strconv.Itoa(pid) || f[5] != strconv.Itoa(pid) {
		t.Errorf("child %d: pgrp/session %v, want %d (every job process leads its session)", child, f[4:6], pid)
	}
	if err := h.s.Signal(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := h.wait(pid); !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
		t.Errorf("got %+v, want SIGKILL", e)
	}
	for i := 0; ; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil || statFields(string(b))[2] == "Z" {
			break
		}
		if i == 200 {
			t.Fatalf("child %d of the group survived SIGKILL of the group", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSpawnErrors(t *testing.T) {
	dir := t.TempDir()
	noExec := filepath.Join(dir, "noexec")
	os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644)
	h := newHarness(t, Options{})

	type tc struct {
		name  string
		job   *conf.Job
		op    string
		errno syscall.Errno
		sync  bool // reported by Spawn rather than in the Exit
	}
	withChdir := func(j *conf.Job, d string) *conf.Job { j.Chdir = d; return j }
	withUser := func(j *conf.Job, u, g string) *conf.Job { j.Setuid, j.Setgid = u, g; return j }
	badLimit := execJob("/bin/true")
	badLimit.Limits = []conf.Limit{{Resource: unix.RLIMIT_NOFILE, Soft: 100, Hard: 10}}
	cases := []tc{
		{"missing binary", execJob("no-such-program-xyz"), opExec, syscall.ENOENT, true},
		{"missing binary pre-exec", forcePre(execJob("no-such-program-xyz")), opExec, syscall.ENOENT, true},
		{"missing path", execJob("/no/such/program"), opExec, syscall.ENOENT, true},
		{"missing path pre-exec", forcePre(execJob("/no/such/program")), opExec, syscall.ENOENT, false},
		{"not executable", execJob(noExec), opExec, syscall.EACCES, true},
		{"not executable pre-exec", forcePre(execJob(noExec)), opExec, syscall.EACCES, false},
		{"bad chdir", withChdir(execJob("/bin/true"), "/no/such/dir"), opChdir, syscall.ENOENT, true},
		{"bad chdir pre-exec", withChdir(forcePre(execJob("/bin/true")), "/no/such/dir"), opChdir, syscall.ENOENT, false},
		{"chdir to file pre-exec", withChdir(forcePre(execJob("/bin/true")), noExec), opChdir, syscall.ENOTDIR, false},
		{"bad limit", badLimit, opRlimit, syscall.EINVAL, false},
		{"unknown user", withUser(execJob("/bin/true"), "no-such-user-xyz", ""), opUser, 0, true},
		{"unknown group", withUser(execJob("/bin/true"), "", "no-such-group-xyz"), opGroup, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pid, err := h.spawn(Request{Job: c.job})
			if !c.sync {
				if err != nil {
					t.Fatalf("Spawn: %v, want an Exit with SpawnErr", err)
				}
				err = h.wait(pid).SpawnErr
			}
			var se *SpawnError
			if !errors.As(err, &se) || se.Op != c.op {
				t.Fatalf("got %v, want a SpawnError with Op %q", err, c.op)
			}
			if c.errno != 0 && !errors.Is(err, c.errno) {
				t.Errorf("got %v, want errno %v", err, c.errno)
			}
			if !strings.HasPrefix(err.Error(), "unable to "+c.op) {
				t.Errorf("message %q", err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
}

// TestSpawnErrReaperFirst makes the reaper collect failed pre-exec
// processes before their status pipes are read: the Exit must still carry
// the SpawnErr, once.
func TestSpawnErrReaperFirst(t *testing.T) {
	testHookStatusRead = func() { time.Sleep(100 * time.Millisecond) }
	defer func() { testHookStatusRead = nil }()
	h := newHarness(t, Options{})
	j := forcePre(execJob("/bin/true"))
	j.Chdir = "/no/such/dir"
	var pids []int
	for i := 0; i < 20; i++ {
		pid, err := h.spawn(Request{Job: j})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		e := h.wait(pid)
		if !errors.Is(e.SpawnErr, syscall.ENOENT) {
			t.Errorf("pid %d: %+v, want SpawnErr chdir ENOENT", pid, e)
		}
	}
	// A successful pre-exec spawn still reports a plain exit.
	e, _ := h.run(Request{Job: forcePre(execJob("/bin/true"))})
	if e.SpawnErr != nil || e.Status.ExitStatus() != 0 {
		t.Errorf("got %+v", e)
	}
}

const settingsScript = `cat /proc/$$/limits /proc/$$/stat /proc/$$/oom_score_adj
umask
echo "ulimit-n $(ulimit -n)"
id -u
id -g
id -G
`

type observed struct {
	limits map[string][2]string // "Max open files" -> soft, hard
	nice   int
	oom    int
	umask  string
	ulimit string
	uid    string
	gid    string
	groups string
}

func parseSettings(t *testing.T, out string) observed {
	t.Helper()
	o := observed{limits: map[string][2]string{}}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var tail []string
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "Limit "):
		case strings.HasPrefix(l, "Max "):
			// "Max open files            1024                 2048                 files"
			name := strings.TrimSpace(l[:26])
			f := strings.Fields(l[26:])
			o.limits[name] = [2]string{f[0], f[1]}
		case strings.Contains(l, ") "):
			f := statFields(l)
			o.nice, _ = strconv.Atoi(f[18])
			o.oom, _ = strconv.Atoi(lines[i+1])
			tail = lines[i+2:]
		}
		if tail != nil {
			break
		}
	}
	if len(tail) < 5 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	o.umask = tail[0]
	o.ulimit = strings.TrimPrefix(tail[1], "ulimit-n ")
	o.uid, o.gid, o.groups = tail[2], tail[3], tail[4]
	return o
}

func TestSettings(t *testing.T) {
	nice := 7
	if isRoot() {
		nice = -5
	}
	for _, name := range []string{"as-daemon", "setuid"} {
		t.Run(name, func(t *testing.T) {
			if name == "setuid" {
				needRoot(t)
			}
			h := newHarness(t, Options{})
			j := scriptJob(settingsScript)
			j.Umask = ptr(uint32(0o027))
			j.Nice = ptr(nice)
			j.OOMScore = ptr(345)
			j.Limits = []conf.Limit{
				{Resource: unix.RLIMIT_NOFILE, Soft: 1000, Hard: 2000},
				{Resource: unix.RLIMIT_CORE, Soft: 0, Hard: ^uint64(0)},
				{Resource: unix.RLIMIT_NPROC, Soft: 3000, Hard: 4000},
			}
			if name == "setuid" {
				// Upstart's order: limits and a negative nice are set
				// before privileges are dropped.
				j.Setuid, j.Setgid = "nobody", "nogroup"
			}
			e, out := h.run(Request{Job: j})
			if e.SpawnErr != nil || e.Status.ExitStatus() != 0 {
				t.Fatalf("exit %+v, output:\n%s", e, out)
			}
			o := parseSettings(t, out)
			want := map[string][2]string{
				"Max open files":     {"1000", "2000"},
				"Max core file size": {"0", "unlimited"},
				"Max processes":      {"3000", "4000"},
			}
			for k, v := range want {
				if o.limits[k] != v {
					t.Errorf("%s: got %v, want %v", k, o.limits[k], v)
				}
			}
			if o.ulimit != "1000" {
				t.Errorf("ulimit -n: %s", o.ulimit)
			}
			if o.nice != nice {
				t.Errorf("nice: got %d, want %d", o.nice, nice)
			}
			if o.oom != 345 {
				t.Errorf("oom_score_adj: got %d, want 345", o.oom)
			}
			if o.umask != "0027" {
				t.Errorf("umask: got %s, want 0027", o.umask)
			}
			if name == "setuid" && (o.uid != "65534" || o.gid != "65534" || o.groups != "65534") {
				t.Errorf("ids: %s %s %s, want 65534 65534 65534", o.uid, o.gid, o.groups)
			}
		})
	}
}

func TestDefaultChdir(t *testing.T) {
	cwd, _ := os.Getwd()
	for _, c := range []struct{ def, want string }{{"/", "/"}, {"", cwd}, {"/tmp", "/tmp"}} {
		h := newHarness(t, Options{DefaultChdir: c.def})
		_, out := h.run(Request{Job: execJob("sh -c pwd")})
		if strings.TrimSpace(out) != c.want {
			t.Errorf("DefaultChdir %q: %q, want %q", c.def, out, c.want)
		}
		// A job's chdir wins.
		j := execJob("sh -c pwd")
		j.Chdir = "/usr"
		if _, out = h.run(Request{Job: j}); strings.TrimSpace(out) != "/usr" {
			t.Errorf("chdir /usr: %q", out)
		}
		h.close()
	}
}

func TestDefaultUmask(t *testing.T) {
	old := unix.Umask(0o002)
	defer unix.Umask(old)
	t.Run("system", func(t *testing.T) {
		h := newHarness(t, Options{})
		_, out := h.run(Request{Job: execJob("sh -c umask")})
		if strings.TrimSpace(out) != "0022" {
			t.Errorf("umask %q, want 0022", out)
		}
	})
	t.Run("inherit", func(t *testing.T) {
		h := newHarness(t, Options{InheritUmask: true})
		_, out := h.run(Request{Job: execJob("sh -c umask")})
		if strings.TrimSpace(out) != "0002" {
			t.Errorf("umask %q, want 0002", out)
		}
	})
}

func TestCredentials(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name, user, group, want string
	}{
		{"user and group", "nobody", "nogroup", "65534 65534 65534"},
		{"user", "nobody", "", "65534 65534 65534"},
		{"group", "", "nogroup", ""},
	}
	// id -G: the effective group, then the supplementary groups.
	daemonGroups := "65534"
	for _, g := range strings.Fields(procStatus(t, "self")["Groups"]) {
		if g != "65534" {
			daemonGroups += " " + g
		}
	}
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		for _, c := range cases {
			for _, script := range []bool{false, true} {
				var j *conf.Job
				if script {
					// Multi-line: the shell must be able to open
					// /proc/self/fd/9 as the job's user.
					j = scriptJob("echo $(id -u) $(id -g)\nid -G\n")
				} else {
					j = execJob("sh -c 'echo $(id -u) $(id -g); id -G'")
				}
				j = job(pre, j)
				j.Setuid, j.Setgid = c.user, c.group
				e, out := h.run(Request{Job: j})
				got := strings.Join(strings.Fields(out), " ")
				want := c.want
				if c.user == "" {
					// Supplementary groups stay the daemon's.
					want = "0 65534 " + daemonGroups
				}
				if e.SpawnErr != nil || e.Status.ExitStatus() != 0 || got != want {
					t.Errorf("%s (script %v): exit %+v, got %q, want %q", c.name, script, e, got, want)
				}
			}
		}
	})
}

// TestChdirBeforeSetuid: Upstart changes directory while still root.
func TestChdirBeforeSetuid(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "private")
	os.Mkdir(dir, 0o700)
	h := newHarness(t, Options{})
	j := execJob("sh -c 'echo $PWD; id -u'")
	j.Chdir, j.Setuid = dir, "nobody"
	e, out := h.run(Request{Job: j})
	if e.SpawnErr != nil || strings.Fields(out)[0] != dir {
		t.Errorf("exit %+v, output %q", e, out)
	}
}

func findStaticBusybox() string {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p
		}
	}
	return ""
}

func TestChroot(t *testing.T) {
	needRoot(t)
	bb := findStaticBusybox()
	if bb == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no static busybox; install busybox-static")
		}
		t.Skip("no static busybox to build a chroot with (apt-get install busybox-static); CI is unset")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for _, d := range []string{"bin", "etc", "work"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755)
	for _, a := range []string{"sh", "id", "pwd", "ls", "cat", "echo"} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	// A user that exists only inside the chroot.
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\njail:x:4242:4343::/work:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\njail:x:4343:\nextra:x:4444:jail\n"), 0o644)

	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		j := job(pre, execJob("sh -c 'pwd; id -u; id -g; id -G; ls /'"))
		j.Chroot, j.Chdir, j.Setuid = root, "/work", "jail"
		e, out := h.run(Request{Job: j})
		got := strings.Fields(out)
		want := []string{"/work", "4242", "4343", "4343", "4444", "bin", "etc", "work"}
		if e.SpawnErr != nil || e.Status.ExitStatus() != 0 || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("exit %+v, output %q, want %q", e, got, want)
		}
		// No chdir: the root of the chroot.
		// (A multi-line script would need /proc inside the chroot.)
		j = job(pre, scriptJob("pwd; ls\n"))
		j.Chroot = root
		e, out = h.run(Request{Job: j})
		if e.SpawnErr != nil || strings.Join(strings.Fields(out), " ") != "/ bin etc work" {
			t.Errorf("exit %+v, output %q", e, out)
		}
		// Programs are found in the chroot's PATH.
		j = job(pre, execJob("echo inside"))
		j.Chroot = root
		e, out = h.run(Request{Job: j, Env: []string{"PATH=/bin"}})
		if e.SpawnErr != nil || strings.TrimSpace(out) != "inside" {
			t.Errorf("exit %+v, output %q", e, out)
		}
		// The user is looked up in the chroot, not on the host.
		j = job(pre, execJob("/bin/true"))
		j.Chroot, j.Setuid = root, "nobody"
		if _, err := h.spawn(Request{Job: j}); err == nil || !strings.Contains(err.Error(), "unable to find setuid user") {
			t.Errorf("host user inside chroot: %v", err)
		}
		j = job(pre, execJob("/bin/true"))
		j.Chroot = filepath.Join(root, "nonexistent")
		if _, err := h.spawn(Request{Job: j}); err == nil || !strings.Contains(err.Error(), "unable to change root directory") {
			t.Errorf("missing chroot: %v", err)
		}
	})
}

func TestScript(t *testing.T) {
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		// One line (trailing newlines only): sh -e -c.
		e, out := h.run(Request{Job: job(pre, scriptJob("echo one $0 $#\n\n\n"))})
		if e.Status.ExitStatus() != 0 || strings.TrimSpace(out) != "one /bin/sh 0" {
			t.Errorf("one-line script: %+v %q", e, out)
		}
		// Multi-line: read from fd 9, which the job's children do not get.
		e, out = h.run(Request{Job: job(pre, scriptJob("x=1\necho $0 $x\nls /proc/self/fd\nfalse\necho not reached\n"))})
		if !e.Status.Exited() || e.Status.ExitStatus() != 1 || strings.Join(strings.Fields(out), " ") != "/proc/self/fd/9 1 0 1 2 3" {
			t.Errorf("multi-line script: %+v %q", e, out)
		}
		// Larger than a pipe buffer.
		var b strings.Builder
		for b.Len() < 200<<10 {
			b.WriteString(": " + strings.Repeat("x", 75) + "\n")
		}
		b.WriteString("echo end of big script\n")
		e, out = h.run(Request{Job: job(pre, scriptJob(b.String()))})
		if e.Status.ExitStatus() != 0 || strings.TrimSpace(out) != "end of big script" {
			t.Errorf("big script: %+v %q", e, out)
		}
	})
}

func TestExecCommandLine(t *testing.T) {
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		env := []string{"PATH=/usr/bin:/bin", "FOO=foo value"}
		for _, c := range []struct{ cmd, want string }{
			{"echo   split   on\tspaces", "split on spaces"},
			{"echo $FOO", "foo value"},
			{"echo a=b", "a=b"},
			{"echo 'quoted  string' > /dev/stderr", "quoted  string"},
			{"sh -c 'echo $$ $PPID; exec 2>&1'", ""}, // exec: the shell is replaced, so $$ is the job
		} {
			r := Request{Job: job(pre, execJob(c.cmd)), Env: env}
			e, out := h.run(r)
			got := strings.TrimRight(out, "\n")
			if c.want == "" {
				f := strings.Fields(got)
				if len(f) != 2 || f[0] != strconv.Itoa(e.Pid) {
					t.Errorf("%q: %q, want the job's own pid %d first", c.cmd, got, e.Pid)
				}
				continue
			}
			if e.SpawnErr != nil || e.Status.ExitStatus() != 0 || got != c.want {
				t.Errorf("%q: exit %+v, output %q, want %q", c.cmd, e, got, c.want)
			}
		}
		// Argv overrides the job's process.
		e, out := h.run(Request{Job: job(pre, execJob("false")), Argv: []string{"echo", "from", "argv"}, Env: env})
		if e.Status.ExitStatus() != 0 || strings.TrimSpace(out) != "from argv" {
			t.Errorf("argv: %+v %q", e, out)
		}
	})
}

func TestNoDescriptorLeak(t *testing.T) {
	// A descriptor the daemon inherited without close-on-exec.
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		// Some descriptors of our own, as the daemon will have.
		r, w, _ := os.Pipe()
		defer r.Close()
		defer w.Close()
		e, out := h.run(Request{Job: job(pre, execJob("ls /proc/self/fd"))})
		if e.Status.ExitStatus() != 0 || strings.Join(strings.Fields(out), " ") != "0 1 2 3" {
			t.Errorf("descriptors of a job (ls has 3 open): %q", out)
		}
	})
}

// spawnAndInspect spawns r (whose program must be a long sleep), waits
// until the job's own program runs and returns its pid. The process is
// killed at the end of the test.
func (h *harness) spawnAndInspect(t *testing.T, r Request) int {
	t.Helper()
	pid, err := h.spawn(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.s.Signal(pid, syscall.SIGKILL)
		h.wait(pid)
	})
	for i := 0; ; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(b)) == "sleep" {
			return pid
		}
		if i == 500 {
			t.Fatalf("pid %d never became sleep", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSignalState(t *testing.T) {
	self := procStatus(t, "self")
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{})
		pid := h.spawnAndInspect(t, Request{Job: job(pre, execJob("sleep 100"))})
		st := procStatus(t, strconv.Itoa(pid))
		if st["SigBlk"] != "0000000000000000" {
			t.Errorf("SigBlk of job: %s, want none", st["SigBlk"])
		}
		if st["SigIgn"] != self["SigIgn"] {
			t.Errorf("SigIgn of job: %s, want the daemon's %s", st["SigIgn"], self["SigIgn"])
		}
	})
}

func procStatus(t *testing.T, pid string) map[string]string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func TestConsole(t *testing.T) {
	dir := t.TempDir()
	// probe returns where fds 0, 1 and 2 of the job lead and whether it
	// has a controlling terminal.
	probe := func(t *testing.T, h *harness, c conf.Console, pre bool) string {
		t.Helper()
		pid := h.spawnAndInspect(t, Request{Job: job(pre, execJob("sleep 100")), Console: c})
		var got []string
		for fd := 0; fd < 3; fd++ {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, l)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if statFields(string(b))[6] != "0" {
			got = append(got, "ctty")
		}
		return strings.Join(got, " ")
	}
	three := func(s string) string { return s + " " + s + " " + s }
	file := filepath.Join(dir, "console")
	os.WriteFile(file, nil, 0o644)
	modes(t, func(t *testing.T, pre bool) {
		h := newHarness(t, Options{ConsolePath: file})
		if got := probe(t, h, conf.ConsoleNone, pre); got != three("/dev/null") {
			t.Errorf("none: %q", got)
		}
		if got := probe(t, h, conf.ConsoleLog, pre); got != three("/dev/null") {
			t.Errorf("log without a logger: %q", got)
		}
		if got := probe(t, h, conf.ConsoleOutput, pre); got != three(file) {
			t.Errorf("output: %q", got)
		}
		// A console that is not a terminal cannot be owned: output only.
		if got := probe(t, h, conf.ConsoleOwner, pre); got != three(file) {
			t.Errorf("owner of a file: %q", got)
		}
	})
	t.Run("log", func(t *testing.T) {
		logFile := filepath.Join(dir, "log")
		h := newHarness(t, Options{LogOutput: func(r Request) (*os.File, error) {
			return os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE, 0o600)
		}})
		if got := probe(t, h, conf.ConsoleLog, false); got != "/dev/null "+logFile+" "+logFile {
			t.Errorf("log: %q", got)
		}
	})
	t.Run("unopenable", func(t *testing.T) {
		h := newHarness(t, Options{ConsolePath: filepath.Join(dir, "missing")})
		if got := probe(t, h, conf.ConsoleOutput, false); got != three("/dev/null") {
			t.Errorf("fallback: %q", got)
		}
	})
	t.Run("owner of a terminal", func(t *testing.T) {
		master, slave, err := openPty()
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal(err)
			}
			t.Skipf("no pty (%v); CI is unset", err)
		}
		defer master.Close()
		modes(t, func(t *testing.T, pre bool) {
			h := newHarness(t, Options{ConsolePath: slave})
			if got := probe(t, h, conf.ConsoleOwner, pre); got != three(slave)+" ctty" {
				t.Errorf("owner: %q", got)
			}
			if got := probe(t, h, conf.ConsoleOutput, pre); got != three(slave) {
				t.Errorf("output: %q", got)
			}
		})
	})
}

func openPty() (*os.File, string, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, "", err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, "", err
	}
	return m, "/dev/pts/" + strconv.Itoa(n), nil
}

func TestOnlyOneSupervisor(t *testing.T) {
	h := newHarness(t, Options{})
	_ = h
	if _, err := New(make(chan Exit), Options{}); err == nil {
		t.Fatal("second live Supervisor accepted")
	}
}

// TestNoZombies runs the test binary as a subreaper that spawns a job whose
// grandchild is orphaned; the orphan must be reparented to it and reaped.
func TestNoZombies(t *testing.T) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), "SUPERVISE_TEST_HELPER=subreaper", "SUPERVISE_TEST_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("helper:\n%s", out)
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
}

func subreaperHelper() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
		return 1
	}
	exits := make(chan Exit, 16)
	s, err := New(exits, Options{Subreaper: true, PreExec: preExecArgv})
	if err != nil {
		return fail("%v", err)
	}
	defer s.Close()
	me := os.Getpid()
	pidFile := filepath.Join(os.Getenv("SUPERVISE_TEST_DIR"), "grandchild")
	// The subshell forks sleep and exits: sleep is orphaned.
	j := scriptJob("(sleep 1 & echo $! > " + pidFile + ")\n(exec sleep 0.2 &)\nexit 0\n")
	pid, err := s.Spawn(Request{Job: j, Console: conf.ConsoleNone, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		return fail("spawn: %v", err)
	}
	select {
	case e := <-exits:
		if e.Pid != pid || e.Status.ExitStatus() != 0 {
			return fail("unexpected exit %+v", e)
		}
	case <-time.After(10 * time.Second):
		return fail("no exit for the job")
	}
	b, _ := os.ReadFile(pidFile)
	gc, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if gc == 0 {
		return fail("no grandchild pid")
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", gc))
	if err != nil {
		return fail("grandchild %d already gone: %v", gc, err)
	}
	if f := statFields(string(st)); f[3] != strconv.Itoa(me) {
		return fail("grandchild %d has parent %s, want us (%d)", gc, f[3], me)
	}
	fmt.Printf("grandchild %d reparented to %d\n", gc, me)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", gc))
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			return fail("grandchild %d not reaped", gc)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("grandchild %d reaped\n", gc)
	// No zombie child of ours anywhere.
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := statFields(string(st)); len(f) > 3 && f[3] == strconv.Itoa(me) && f[2] == "Z" {
			return fail("zombie %s", e.Name())
		}
	}
	// Orphans are reported as Orphan exits (never as ours), with the
	// grandchild among them.
	sawGrandchild := false
	for done := false; !done; {
		select {
		case e := <-exits:
			if !e.Orphan {
				return fail("non-orphan Exit for a process we did not spawn: %+v", e)
			}
			if e.Pid == gc {
				sawGrandchild = true
			}
		case <-time.After(100 * time.Millisecond):
			done = true
		}
	}
	if !sawGrandchild {
		return fail("no Orphan exit for grandchild %d", gc)
	}
	fmt.Println("ok")
	return 0
}

func benchmarkSpawn(b *testing.B, j *conf.Job) {
	h := newHarness(b, Options{})
	r := Request{Job: j, Console: conf.ConsoleNone, Env: []string{"PATH=/usr/bin:/bin"}}
	b.ResetTimer()
	start := time.Now()
	var inSpawn time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		pid, err := h.spawn(r)
		inSpawn += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if e := h.wait(pid); e.SpawnErr != nil || e.Status.ExitStatus() != 0 {
			b.Fatalf("%+v", e)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "spawns/s")
	// How long the daemon's loop is held up by one Spawn call.
	b.ReportMetric(float64(inSpawn.Microseconds())/float64(b.N), "µs-in-Spawn")
}

func BenchmarkSpawn(b *testing.B) {
	benchmarkSpawn(b, execJob("/bin/true"))
}

func BenchmarkSpawnPreExec(b *testing.B) {
	j := execJob("/bin/true")
	j.Umask = ptr(uint32(0o077))
	benchmarkSpawn(b, j)
}

// HoldReaping: a child that ends while it is held stays a zombie, and its
// Exit comes once it is released (issue 14, stop-all).
func TestHoldReaping(t *testing.T) {
	h := newHarness(t, Options{})
	release := h.s.HoldReaping()
	pid, err := h.spawn(Request{Job: execJob("sleep 100")})
	if err != nil {
		release()
		t.Fatal(err)
	}
	if err := h.s.Signal(pid, syscall.SIGTERM); err != nil {
		release()
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			release()
			t.Fatalf("pid %d not a zombie while reaping is held: %q", pid, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case e := <-h.exits:
		release()
		t.Fatalf("Exit %+v while reaping is held", e)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if e := h.wait(pid); !e.Status.Signaled() || e.Status.Signal() != syscall.SIGTERM {
		t.Fatalf("got %+v after the release, want killed by SIGTERM", e)
	}
}
