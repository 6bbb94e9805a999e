package integration

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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
func removeSystemCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/upstart")
	roots = append(roots, "/sys/fs/cgroup/upstart")
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
	argv := append(append([]string{}, prefix...), append([]string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--net",
		filepath.Join(binDir, "init")}, args...)...)
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
		removeSystemCgroups()
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
