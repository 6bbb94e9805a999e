package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needTools fails (in CI) or skips (elsewhere) when a program is missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("%s not installed (CI installs it)", n)
			}
			t.Fatalf("%s not installed, and CI is set", n)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// procThreads is the number of threads of a process.
func procThreads(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// pidsCgroup makes a pids cgroup (v2 when the pids controller is there,
// else v1's pids hierarchy), moves pid into it, and limits it to its
// current count plus extra. Cleanup moves the process back and removes it.
func pidsCgroup(t *testing.T, pid, extra int) (dir string) {
	t.Helper()
	root := "/sys/fs/cgroup"
	if b, err := os.ReadFile(root + "/cgroup.controllers"); err != nil || !strings.Contains(string(b), "pids") {
		root = "/sys/fs/cgroup/pids"
	}
	if _, err := os.Stat(root + "/cgroup.procs"); err != nil {
		t.Fatalf("no pids controller: %v", err)
	}
	dir = filepath.Join(root, fmt.Sprintf("goupstart-test-pids-%d", pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.WriteFile(root+"/cgroup.procs", []byte(strconv.Itoa(pid)), 0)
		os.Remove(dir)
	})
	if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(dir + "/pids.current")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(cur)))
	if err := os.WriteFile(dir+"/pids.max", []byte(strconv.Itoa(n+extra)), 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Forty `console log` jobs write to a file system that is then frozen,
// while the daemon may create only a few more threads (a pids limit).
// Each log write blocks in the kernel and holds its thread: without a
// bound, the daemon went from 7 to 46 threads, the runtime could not
// create the next one and aborted (PID 1 gone). Now at most
// logger.IOThreads writers block; the daemon lives, answers, and writes
// the logs on once the file system is thawed. A re-exec meanwhile does
// not wait for the blocked writers.
func TestFrozenLogPidsLimit(t *testing.T) {
	needRoot(t, "a loop mount, fsfreeze and a pids cgroup")
	needTools(t, "mkfs.ext4", "fsfreeze", "mount", "umount", "perl")
	const jobs, extra = 40, 12
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "truncate", "-s", "64M", img)
	run(t, "mkfs.ext4", "-q", "-F", img)
	run(t, "mount", "-o", "loop", img, mnt)
	t.Cleanup(func() {
		exec.Command("fsfreeze", "-u", mnt).Run()
		exec.Command("umount", "-l", mnt).Run()
	})

	defs := map[string]string{}
	for k := 0; k < jobs; k++ {
		defs[fmt.Sprintf("w%02d", k)] = "start on go\nconsole log\n" +
			`exec perl -e '$| = 1; while (1) { print "x" x 100, "\n"; select(undef, undef, undef, 0.02) }'` + "\n"
	}
	s := startSession(t, defs, "--logdir", mnt)
	s.mustCtl("emit", "go")
	waitFor(t, "every job's log", func() bool {
		m, _ := filepath.Glob(mnt + "/w*.log")
		if len(m) < jobs {
			return false
		}
		for _, p := range m {
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				return false
			}
		}
		return true
	})
	pid := s.cmd.Process.Pid
	before := procThreads(pid)
	cg := pidsCgroup(t, pid, extra)

	run(t, "fsfreeze", "-f", mnt)
	thawed := false
	t.Cleanup(func() {
		if !thawed {
			exec.Command("fsfreeze", "-u", mnt).Run()
		}
	})
	time.Sleep(3 * time.Second) // every writer has met the freeze
	frozen := procThreads(pid)
	events, _ := os.ReadFile(cg + "/pids.events")
	t.Logf("daemon threads: %d before the freeze, %d with the file system frozen (pids limit: %d more; pids.events: %s)",
		before, frozen, extra, strings.TrimSpace(string(events)))
	if err := s.cmd.Process.Signal(syscall.Signal(0)); err != nil || s.cmd.ProcessState != nil {
		t.Fatalf("the daemon died:\n%s", s.stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initctl"), "list")
	cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), "start/running") != jobs {
		t.Fatalf("initctl list with the logs frozen: %v\n%s\ndaemon said:\n%s", err, out, s.stderr.String())
	}

	// A re-exec now: the logger's handover does not wait for the blocked
	// writers past its deadline (their output goes over unwritten). The
	// exec itself then waits in the kernel for the threads blocked in the
	// frozen writes to end, that is for the thaw.
	conn := dialPrivate(t, s.address)
	reexecs := strings.Count(s.stderr.String(), "Re-executing")
	conn.Object("", upstartManager).Call(upstartIface+".Restart", 0)
	conn.Close()
	waitFor(t, "the re-exec despite the blocked writers", func() bool {
		return strings.Count(s.stderr.String(), "Re-executing") > reexecs
	})
	if !strings.Contains(s.stderr.String(), "log writers are blocked: their output is handed over unwritten") {
		t.Errorf("no word of the busy log writers:\n%s", s.stderr.String())
	}

	run(t, "fsfreeze", "-u", mnt)
	thawed = true
	waitFor(t, "the new image to answer", func() bool {
		_, _, code := s.ctl("initctl", "version")
		return code == 0
	})
	if out := s.mustCtl("list"); strings.Count(out, "start/running") != jobs {
		t.Fatalf("list after the re-exec:\n%s\ndaemon said:\n%s", out, s.stderr.String())
	}
	p := filepath.Join(mnt, "w00.log")
	st, _ := os.Stat(p)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st2, err := os.Stat(p)
		if err == nil && st2.Size() > st.Size()+10*101 {
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("sh", "-c", "ls -l "+mnt+"; cat /proc/"+strconv.Itoa(pid)+"/status | grep Threads").CombinedOutput()
			t.Fatalf("the logs are not written again: %v\n%s\ndaemon said:\n%s", err, out, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("daemon threads after the thaw: %d", procThreads(pid))
}
