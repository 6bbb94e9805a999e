package integration

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needRoot skips only outside CI; in CI (root, namespaces) these tests run.
func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s needs root (CI runs this test as root)", what)
	}
	t.Fatalf("%s needs root, and CI is set", what)
}

type procInfo struct {
	pid, ppid int
	state     string
	cmdline   string
}

// processes reads every process of the machine from /proc.
func processes() []procInfo {
	ents, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; split after ')'.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out = append(out, procInfo{pid, ppid, f[0], strings.TrimRight(strings.ReplaceAll(string(cl), "\x00", " "), " ")})
	}
	return out
}

// TestPID1Namespace runs init as PID 1 of a new PID namespace: jobs start
// on startup, a job's double-forked orphan is re-parented to our init and
// reaped when it exits, and no zombie is left.
func TestPID1Namespace(t *testing.T) {
	needRoot(t, "a PID namespace")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare not installed: %v", err)
	}
	dir := t.TempDir()
	writeJob(t, dir, "orphaner", `start on startup
script
  # Leave two orphans: one by a plain background-and-exit, one double
  # forked into its own session.
  sh -c 'sleep 1.3 & exit 0'
  setsid sh -c 'sleep 1.4 &'
  exec sleep 3600
end script
`)
	writeJob(t, dir, "quick", "start on startup\ntask\nexec true\n")
	initPid, stderr := startPID1(t, nil, "--confdir", dir, "--no-log")
	// Both orphans must be re-parented to our PID 1.
	var orphans []int
	waitFor(t, "the orphans to be re-parented to init", func() bool {
		orphans = orphans[:0]
		for _, p := range processes() {
			if p.ppid == initPid && (p.cmdline == "sleep 1.3" || p.cmdline == "sleep 1.4") {
				orphans = append(orphans, p.pid)
			}
		}
		return len(orphans) == 2
	})
	// ... and reaped when they exit: gone from /proc, not zombies.
	waitFor(t, "the orphans to be reaped", func() bool {
		for _, o := range orphans {
			if _, err := os.Stat("/proc/" + strconv.Itoa(o)); err == nil {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	for _, p := range processes() {
		if p.ppid == initPid && p.state == "Z" {
			t.Errorf("zombie child of init: %+v", p)
		}
	}
	// initctl reaches the system instance on its private socket (inside
	// the namespace's network, where the abstract socket lives).
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(initPid), "-n",
		filepath.Join(binDir, "initctl"), "list").CombinedOutput()
	if err != nil {
		t.Fatalf("initctl list: %v\n%s\ninit said:\n%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), "orphaner start/running, process ") ||
		!strings.Contains(string(out), "quick stop/waiting") {
		t.Fatalf("initctl list:\n%s", out)
	}
}

// removeSystemCgroups removes the cgroup tree a PID-1 init of a namespace
// leaves in the host's hierarchy (it is killed, so it cannot clean up).
// Only empty directories go; it waits a little for the killed processes.
// Trees named in the daemon's log (a PID 1 that shares its cgroup has a
// tree of its own) go too.
func removeSystemCgroups(trees ...string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/upstart")
	roots = append(roots, "/sys/fs/cgroup/upstart")
	roots = append(roots, trees...)
	deadline := time.Now().Add(3 * time.Second)
	for _, root := range roots {
		for {
			var dirs []string
			filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for k := len(dirs) - 1; k >= 0; k-- {
				os.Remove(dirs[k])
			}
			if _, err := os.Stat(root); err != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// startPID1 runs init with args as PID 1 of a new PID (and network)
// namespace, killed with the test, and returns its pid as the host sees
// it and its output.
func startPID1(t *testing.T, env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	return startPID1With(t, nil, env, args...)
}

// startPID1With is startPID1 with a command (prlimit, say) that runs
// unshare.
func startPID1With(t *testing.T, prefix, env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	return startPID1Full(t, prefix, filepath.Join(binDir, "init"), env, args...)
}

// startPID1At is startPID1 with the init binary at path.
func startPID1At(t *testing.T, path string, env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	return startPID1Full(t, nil, path, env, args...)
}

func startPID1Full(t *testing.T, prefix []string, path string, env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	argv := append(append([]string{}, prefix...), append([]string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--net",
		path}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var initPid int
	t.Cleanup(func() {
		cmd.Process.Kill()
		// Killing PID 1 of the namespace kills everything in it; unshare's
		// --kill-child alone does not reach an init that re-executed
		// itself (the parent-death signal does not survive the exec).
		if initPid > 0 {
			syscall.Kill(initPid, syscall.SIGKILL)
		}
		cmd.Wait()
		removeSystemCgroups(treesIn(stderr.String())...)
	})
	// Our init is the child of unshare.
	waitFor(t, "init to start", func() bool {
		for _, p := range processes() {
			if p.ppid == cmd.Process.Pid && strings.Contains(p.cmdline, "/init") {
				initPid = p.pid
				return true
			}
		}
		return false
	})
	return initPid, stderr
}

// treesIn lists the cgroup trees named in a daemon's log.
func treesIn(log string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`Process tracking: cgroups \(([^)]+)\)`).FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}

// Issue 12 item 4: two inits as PID 1 of PID namespaces that share one
// cgroup (no cgroup namespace) each have a tree of their own: stopping a
// job in one neither touches nor waits for the other's job of the same
// name; a process that is not ours in one of our groups is neither killed
// nor waited for; the tree's name survives a re-exec.
func TestPID1SharedCgroup(t *testing.T) {
	needRoot(t, "PID namespaces")
	jobs := map[string]string{
		"zzshared": "start on startup\nexec sleep 3605\n",
		// Deaf to SIGTERM: its stop ends with the kill of its group.
		"zzvictim": "start on startup\nkill timeout 1\nscript\n  trap '' TERM\n  exec sleep 3606\nend script\n",
	}
	type ns struct {
		pid    int
		log    *syncBuffer
		tree   string
		ctlErr func(args ...string) (string, error)
	}
	var nss [2]*ns
	for k := range nss {
		dir := t.TempDir()
		for n, b := range jobs {
			writeJob(t, dir, n, b)
		}
		pid, log := startPID1(t, nil, "--confdir", dir, "--no-log")
		n := &ns{pid: pid, log: log}
		n.ctlErr = func(args ...string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(n.pid), "-n",
				filepath.Join(binDir, "initctl")}, args...)...).CombinedOutput()
			return string(out), err
		}
		nss[k] = n
	}
	running := regexp.MustCompile(`start/running, process (\d+)`)
	for _, n := range nss {
		waitFor(t, "both jobs running", func() bool {
			out, _ := n.ctlErr("list")
			return len(running.FindAllString(out, -1)) == 2
		})
		trees := treesIn(n.log.String())
		if len(trees) != 1 {
			if os.Getenv("CI") == "" && strings.Contains(n.log.String(), "Process tracking: pid tracking") {
				t.Skip("no writable cgroup v2 hierarchy (CI has one, and runs this test)")
			}
			t.Fatalf("no cgroup tree in the log:\n%s", n.log.String())
		}
		n.tree = trees[0]
	}
	if nss[0].tree == nss[1].tree || filepath.Base(nss[0].tree) == "upstart" {
		t.Fatalf("the two inits share a tree or use the default name: %s, %s", nss[0].tree, nss[1].tree)
	}
	status := func(n *ns, job string) string {
		out, err := n.ctlErr("status", job)
		if err != nil {
			t.Fatalf("status %s: %v: %s\ninit said:\n%s", job, err, out, n.log.String())
		}
		return out
	}
	otherBefore := status(nss[1], "zzshared")

	// Stop in the first: it returns, and the second's job runs on.
	if out, err := nss[0].ctlErr("stop", "zzshared"); err != nil {
		t.Fatalf("stop zzshared in the first namespace: %v: %s\ninit said:\n%s", err, out, nss[0].log.String())
	}
	if got := status(nss[0], "zzshared"); got != "zzshared stop/waiting\n" {
		t.Fatalf("first: %q", got)
	}
	time.Sleep(200 * time.Millisecond)
	if got := status(nss[1], "zzshared"); got != otherBefore {
		t.Fatalf("the second namespace's zzshared changed: %q, was %q", got, otherBefore)
	}

	// A process that is not ours (the host's) put into a group of the
	// first: a stop (SIGTERM, then at the kill timeout the kill of the
	// group) kills only ours, and does not wait for it.
	alien := exec.Command("sleep", "3607")
	if err := alien.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { alien.Process.Kill(); alien.Wait() }()
	group := filepath.Join(nss[0].tree, "zzvictim", "_", "main")
	if err := os.WriteFile(filepath.Join(group, "cgroup.procs"), []byte(strconv.Itoa(alien.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	if out, err := nss[0].ctlErr("stop", "zzvictim"); err != nil {
		t.Fatalf("stop zzvictim with a foreign process in its group: %v: %s\ninit said:\n%s", err, out, nss[0].log.String())
	}
	if got := status(nss[0], "zzvictim"); got != "zzvictim stop/waiting\n" {
		t.Fatalf("zzvictim: %q", got)
	}
	if !strings.Contains(nss[0].log.String(), "holds processes of another PID namespace: only ours are killed") {
		t.Fatalf("the stop did not come to the kill of the group:\n%s", nss[0].log.String())
	}
	// (A child of ours: killed, it would be a zombie until waited for.)
	if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", alien.Process.Pid)); !strings.Contains(string(st), ") S ") {
		t.Fatalf("the foreign process was killed: %q", st)
	}
	// Its group is not reused while the foreign process is in it: the
	// start fails with a clear message.
	if out, err := nss[0].ctlErr("start", "zzvictim"); err == nil {
		t.Fatalf("zzvictim started into a group holding a foreign process: %s", out)
	}
	waitFor(t, "the refusal in the log", func() bool {
		return strings.Contains(nss[0].log.String(), "holds processes that are not ours")
	})
	alien.Process.Kill()
	alien.Wait()

	// A re-exec keeps the tree: the new image finds its job's group.
	if _, err := nss[0].ctlErr("start", "zzshared"); err != nil {
		t.Fatalf("start zzshared again: %v\ninit said:\n%s", err, nss[0].log.String())
	}
	if err := syscall.Kill(nss[0].pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new image's tree", func() bool { return len(treesIn(nss[0].log.String())) == 2 })
	if trees := treesIn(nss[0].log.String()); trees[1] != trees[0] {
		t.Fatalf("the re-exec changed the tree: %s → %s", trees[0], trees[1])
	}
	waitFor(t, "the new image to answer", func() bool {
		_, err := nss[0].ctlErr("status", "zzshared")
		return err == nil
	})
	if out, err := nss[0].ctlErr("stop", "zzshared"); err != nil {
		t.Fatalf("stop zzshared after the re-exec: %v: %s\ninit said:\n%s", err, out, nss[0].log.String())
	}
	if got := status(nss[1], "zzshared"); got != otherBefore {
		t.Fatalf("the second namespace's zzshared changed: %q, was %q", got, otherBefore)
	}
}

// pid1Initctl runs initctl against the PID 1 of a namespace (its private
// socket lives in the namespace's network); a failure, or no answer in
// 5 s (a socket still bound that nobody serves), is returned as
// "error: …".
func pid1Initctl(initPid int, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(initPid), "-n",
		filepath.Join(binDir, "initctl")}, args...)...).CombinedOutput()
	if err != nil {
		return "error: " + err.Error() + ": " + string(out)
	}
	return string(out)
}

// sigtermReexec re-executes PID 1 of a namespace (SIGTERM) and waits until
// the new image runs.
func sigtermReexec(t *testing.T, initPid int, stderr *syncBuffer) {
	t.Helper()
	if err := syscall.Kill(initPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl, _ := os.ReadFile("/proc/" + strconv.Itoa(initPid) + "/cmdline")
		if strings.Contains(string(cl), "\x00--restart\x00") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("init did not re-execute itself (%q):\n%s", cl, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
