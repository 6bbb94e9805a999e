package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// pivotSandbox runs init as PID 1 of new PID, mount and network
// namespaces whose root is a private tmpfs (pivot_root): the host's /usr,
// /etc, the test binaries and the job directory are bound read-only, and
// nothing else of the host is there. /proc is this PID namespace's; init
// mounts /sys, /dev's file systems and /run itself, as on a machine, so
// /sys/fs/cgroup is the empty directory of a fresh sysfs.
func pivotSandbox(t *testing.T, jobs map[string]string, args ...string) *sandbox {
	t.Helper()
	needRoot(t, "a PID namespace with a root of its own")
	for _, tool := range []string{"unshare", "nsenter", "pivot_root"} {
		needTool(t, tool)
	}
	s := &sandbox{t: t, confdir: t.TempDir(), stderr: newSyncBuffer()}
	for name, body := range jobs {
		writeJob(t, s.confdir, name, body)
	}
	root := t.TempDir()
	script := `set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$ROOT"
for d in /usr /etc /bin /sbin /lib /lib32 /lib64 /libx32 "$BIN" "$CONF"; do
	[ -e "$d" ] || continue
	if [ -L "$d" ]; then
		cp -P "$d" "$ROOT$d"
		continue
	fi
	mkdir -p "$ROOT$d"
	mount --bind "$d" "$ROOT$d"
	mount -o remount,bind,ro "$ROOT$d"
done
mkdir -p "$ROOT/dev" "$ROOT/proc" "$ROOT/sys" "$ROOT/run" "$ROOT/tmp" "$ROOT/var/log" "$ROOT/old"
chmod 1777 "$ROOT/tmp"
ln -s /run "$ROOT/var/run"
# The host's device nodes, read-only (init mounts devpts and /dev/shm on
# it in this namespace).
mount --bind /dev "$ROOT/dev"
mount -o remount,bind,ro "$ROOT/dev"
mount -t proc -o nosuid,nodev,noexec proc "$ROOT/proc"
cd "$ROOT"
pivot_root . old
umount -l /old
rmdir /old
exec "$@"
`
	s.cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount", "--net",
		"sh", "-c", script, "sh", filepath.Join(binDir, "init"), "--confdir", s.confdir}, args...)...)
	s.cmd.Env = append(os.Environ(), "ROOT="+root, "BIN="+binDir, "CONF="+s.confdir)
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("init's output:\n%s", s.stderr.String())
		}
		if s.pid > 0 {
			syscall.Kill(s.pid, syscall.SIGKILL)
		}
		s.cmd.Process.Kill()
		s.cmd.Wait()
		// The tree it made in the host's cgroup2 hierarchy, named in its
		// log by the path it had in its own mount of that hierarchy.
		var trees []string
		if mnt := hostCgroup2(); mnt != "" {
			for _, tr := range treesIn(s.stderr.String()) {
				if rel, ok := strings.CutPrefix(tr, "/sys/fs/cgroup/"); ok {
					trees = append(trees, filepath.Join(mnt, rel))
				}
			}
		}
		removeSystemCgroups(trees...)
	})
	s.awaitInit()
	return s
}

// hostCgroup2 is where the host has its cgroup2 hierarchy mounted (its
// root), "" if nowhere.
func hostCgroup2() string {
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" && f[3] == "/" {
			return f[4]
		}
	}
	return ""
}

// Issue 10 item 2: PID 1 started with /sys/fs/cgroup left alone (nothing
// mounted there) tracks by pid; when the system mounts a cgroup2
// hierarchy later, the instances started from then on are placed in
// cgroups, and the ones already running stay tracked by pid, not moved
// and not lost: stopping them still stops every process they have.
func TestPID1CgroupMountedLater(t *testing.T) {
	job := func(n int) string {
		return "script\n  sleep " + strconv.Itoa(n+1) + " &\n  exec sleep " + strconv.Itoa(n) + "\nend script\n"
	}
	s := pivotSandbox(t, map[string]string{"early": job(1050), "late": job(1060)}, "--no-cgroup-mount", "--no-log")
	if !strings.Contains(s.stderr.String(), "Process tracking: pid tracking (cgroup: no cgroup2 filesystem is mounted)") {
		t.Fatalf("init did not start with pid tracking for want of a hierarchy:\n%s", s.stderr.String())
	}
	if _, errs, code := s.run(nil, "initctl", "start", "early"); code != 0 {
		t.Fatalf("start early: %s", errs)
	}
	var early []int
	waitFor(t, "early's two processes", func() bool {
		early = append(jobProcesses("early", "sleep 1050"), jobProcesses("early", "sleep 1051")...)
		return len(early) == 2
	})
	// The system mounts its hierarchy (as Chromium OS's cgroups.conf, or a
	// job on `mounted`, would).
	if _, errs, code := s.run(nil, "mount", "-t", "cgroup2", "-o", "nosuid,nodev,noexec", "cgroup2", "/sys/fs/cgroup"); code != 0 {
		t.Fatalf("mount cgroup2: %s", errs)
	}
	waitFor(t, "init to take the hierarchy", func() bool {
		return strings.Contains(s.stderr.String(), "for instances started from now on; 1 running instances stay tracked by pid")
	})
	tree := regexp.MustCompile(`Process tracking: cgroups \(([^)]+)\) for instances`).FindStringSubmatch(s.stderr.String())
	if tree == nil {
		t.Fatalf("no tree in the log:\n%s", s.stderr.String())
	}
	if _, errs, code := s.run(nil, "initctl", "start", "late"); code != 0 {
		t.Fatalf("start late: %s", errs)
	}
	var late []int
	waitFor(t, "late's two processes", func() bool {
		late = append(jobProcesses("late", "sleep 1060"), jobProcesses("late", "sleep 1061")...)
		return len(late) == 2
	})
	// late is in its groups of the new tree; early was not moved.
	treeName := filepath.Base(tree[1])
	for _, pid := range late {
		if cg := v2CgroupOf(pid); !strings.HasSuffix(cg, "/"+treeName+"/late/_/main") {
			t.Errorf("late process %d in %q, want .../%s/late/_/main", pid, cg, treeName)
		}
	}
	for _, pid := range early {
		if cg := v2CgroupOf(pid); strings.Contains(cg, treeName) {
			t.Errorf("early process %d was moved into %q", pid, cg)
		}
	}
	// A stateful re-exec keeps each instance's tracking: the new image
	// finds the hierarchy at start, and early's processes outside it.
	sigtermReexec(t, s.pid, s.stderr)
	waitFor(t, "init to answer after the re-exec", func() bool {
		_, _, code := s.run(nil, "initctl", "version")
		return code == 0
	})
	waitFor(t, "the new image to keep early's pid tracking", func() bool {
		return strings.Contains(s.stderr.String(), "Process tracking: 1 instances of the previous image stay tracked by pid")
	})
	// Each says how it is tracked. late's list has both its processes
	// (by the PIDs of init's namespace); early's background process is a
	// child of its main process, which pid tracking finds only once its
	// parent is gone (init(8)), but the stop reaches it all the same.
	for name, tracking := range map[string]string{"early": "pids", "late": "cgroups"} {
		out, _, _ := s.run(nil, "initctl", "-v", "status", name)
		if !strings.Contains(out, "\ttracking: "+tracking+"\n") {
			t.Errorf("status -v %s, want tracking %s:\n%s", name, tracking, out)
		}
		if name != "late" {
			continue
		}
		for _, pid := range late {
			if !slices.Contains(strings.Fields(strings.ReplaceAll(out, ",", " ")), nsPid(pid)) {
				t.Errorf("status -v %s does not list %d (%s here):\n%s", name, pid, nsPid(pid), out)
			}
		}
	}
	// Both stop whole: the background process of each too.
	for _, name := range []string{"early", "late"} {
		if _, errs, code := s.run(nil, "initctl", "stop", name); code != 0 {
			t.Fatalf("stop %s: %s", name, errs)
		}
	}
	waitFor(t, "every process of both jobs to end", func() bool {
		for _, pid := range append(append([]int{}, early...), late...) {
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
				return false
			}
		}
		return true
	})
	// late's groups went with it (removed a little after the stop, off
	// the daemon's loop: cgroup.Manager.ReleaseLater).
	if mnt := hostCgroup2(); mnt != "" {
		waitFor(t, "late's groups to go", func() bool {
			_, err := os.Stat(filepath.Join(mnt, treeName, "late"))
			return os.IsNotExist(err)
		})
	}
	// Started again, early is now in a cgroup.
	if _, errs, code := s.run(nil, "initctl", "start", "early"); code != 0 {
		t.Fatalf("start early again: %s", errs)
	}
	waitFor(t, "early in its group", func() bool {
		p := jobProcesses("early", "sleep 1050")
		return len(p) == 1 && strings.HasSuffix(v2CgroupOf(p[0]), "/"+treeName+"/early/_/main")
	})
}

// nsPid is the PID a process has in its own (innermost) PID namespace.
func nsPid(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return f[len(f)-1]
			}
		}
	}
	return ""
}

// v2CgroupOf is pid's cgroup v2 path ("0::" line), "" if none.
func v2CgroupOf(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}
