package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hostile local users against the system instance (PID 1 of a PID and
// network namespace, with the kernel's default fd limits for init), with
// the clients of issue 15 (testdata/repro) run as nobody.

const pythonPath = "/usr/bin/python3"

// hostileSetup checks the tools and returns a copy of the repro clients
// that nobody can read.
func hostileSetup(t *testing.T) string {
	t.Helper()
	needRoot(t, "a PID namespace")
	for _, tool := range []string{"unshare", "nsenter", "setpriv", "prlimit"} {
		needTool(t, tool)
	}
	if _, err := os.Stat(pythonPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: %v", pythonPath, err)
		}
		t.Skipf("%s is missing (the repro clients need it)", pythonPath)
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	for _, n := range []string{"dos_bighdr.py", "dos_av.py", "dos_fds.py", "dos_bus_av.py"} {
		b, err := os.ReadFile(filepath.Join("testdata", "repro", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(binDir, 0o755)
	return dir
}

// startHostileTarget runs init as PID 1 of a namespace with `ulimit -Sn
// 1024 -Hn 4096`, as the kernel starts init.
func startHostileTarget(t *testing.T, args ...string) (int, *syncBuffer) {
	t.Helper()
	return startPID1With(t, []string{"prlimit", "--nofile=1024:4096"}, nil, args...)
}

// procStatusKB reads a "Vm…:   N kB" line of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, key string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("init is gone: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// hostile runs a repro client as nobody in init's network namespace. It
// returns when the client prints a line starting with until, exits, or
// after limit; stop kills it.
func hostile(t *testing.T, initPid int, limit time.Duration, until string, script string, args ...string) (out string, stop func()) {
	t.Helper()
	argv := append([]string{"-t", strconv.Itoa(initPid), "-n", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		pythonPath, script}, args...)
	cmd := exec.Command("nsenter", argv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once bool
	stop = func() {
		if !once {
			once = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(limit)
	var b strings.Builder
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return b.String(), stop
			}
			b.WriteString(l + "\n")
			if until != "" && strings.HasPrefix(l, until) {
				return b.String(), stop
			}
		case <-timeout:
			return b.String(), stop
		}
	}
}

// rootCtl runs initctl as root in init's network namespace, giving up
// after 10 s.
func rootCtl(initPid int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(initPid), "-n", filepath.Join(binDir, "initctl")}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), ctx.Err()
	}
	return string(out), err
}

// maxRSSGrowthKB is the bound docs/decisions.md states: no input may make
// the daemon's RSS grow more than 64 MiB above its idle size.
const maxRSSGrowthKB = 64 << 10

// TestHostileMemory: nobody sending huge messages (dos_bighdr: 20
// connections announcing 128 MiB and sending 100 MiB each; dos_av: one
// 64 MiB array of variants) may not make PID 1 grow past the bound.
func TestHostileMemory(t *testing.T) {
	repro := hostileSetup(t)
	confdir := t.TempDir()
	writeJob(t, confdir, "dosmemsvc", "start on startup\nexec sleep 3600\n")
	initPid, stderr := startHostileTarget(t, "--confdir", confdir, "--no-log")
	waitFor(t, "dosmemsvc to run", func() bool {
		out, _ := rootCtl(initPid, "status", "dosmemsvc")
		return strings.HasPrefix(out, "dosmemsvc start/running, process ")
	})
	time.Sleep(time.Second)
	idle := procStatusKB(t, initPid, "VmRSS")

	out, stop := hostile(t, initPid, 60*time.Second, "holding", filepath.Join(repro, "dos_bighdr.py"), "20", "100")
	time.Sleep(time.Second)
	stop()
	hwm1 := procStatusKB(t, initPid, "VmHWM")
	t.Logf("dos_bighdr.py 20 100: idle VmRSS %d kB, VmHWM after %d kB (+%d kB); client said %q", idle, hwm1, hwm1-idle, lastLine(out))

	out, stop = hostile(t, initPid, 90*time.Second, "", filepath.Join(repro, "dos_av.py"))
	stop()
	hwm2 := procStatusKB(t, initPid, "VmHWM")
	t.Logf("dos_av.py: VmHWM after %d kB (+%d kB above idle); client said %q", hwm2, hwm2-idle, lastLine(out))

	if hwm2-idle > maxRSSGrowthKB {
		t.Errorf("PID 1 grew by %d kB (VmHWM %d kB, idle VmRSS %d kB), more than the %d kB bound", hwm2-idle, hwm2, idle, maxRSSGrowthKB)
	}
	// Still serving root, and still telling nobody why not.
	if out, err := rootCtl(initPid, "status", "dosmemsvc"); err != nil || !strings.HasPrefix(out, "dosmemsvc start/running, process ") {
		t.Errorf("root's initctl after the attack: %q %v\ninit said:\n%s", out, err, stderr.String())
	}
	o, errs, code := runTool(t, []string{"UPSTART_SESSION=unix:abstract=/com/ubuntu/upstart"}, "nsenter", "-t", strconv.Itoa(initPid), "-n", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		filepath.Join(binDir, "initctl"), "--user", "list")
	if code != 1 || o != "" || errs != "initctl: You do not have permission to use this init daemon (uid 65534)\n" {
		t.Errorf("nobody on the private socket after the attack: %q %q %d", o, errs, code)
	}
}

func lastLine(s string) string {
	ls := lines(strings.TrimSpace(s))
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1]
}

// TestHostileFDs: nobody holding 5000 connections (dos_fds.py) may not
// take PID 1's fds: root's initctl answers, a respawning job that logs
// keeps respawning, and the daemon's fds stay below the reserve.
func TestHostileFDs(t *testing.T) {
	repro := hostileSetup(t)
	confdir, logdir := t.TempDir(), t.TempDir()
	writeJob(t, confdir, "dosfdspin", "start on startup\nrespawn\nrespawn limit unlimited\nconsole log\nexec sh -c 'echo tick; sleep 0.3'\n")
	initPid, stderr := startHostileTarget(t, "--confdir", confdir, "--logdir", logdir)
	pidOf := func() string {
		out, _ := rootCtl(initPid, "status", "dosfdspin")
		if p, ok := strings.CutPrefix(strings.TrimSpace(out), "dosfdspin start/running, process "); ok {
			return p
		}
		return ""
	}
	waitFor(t, "spinner to run", func() bool { return pidOf() != "" })
	idleFDs := countFDs(initPid)

	_, stop := hostile(t, initPid, 20*time.Second, "holding", filepath.Join(repro, "dos_fds.py"), "5000", "@/com/ubuntu/upstart", "40")
	defer stop()
	fds := countFDs(initPid)
	t.Logf("dos_fds.py 5000: PID 1 fds %d idle, %d under attack (limit 4096)", idleFDs, fds)

	start := time.Now()
	out, err := rootCtl(initPid, "list")
	t.Logf("root's initctl list under attack: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if err != nil || !strings.Contains(out, "dosfdspin start/") {
		t.Errorf("root's initctl list under attack: %q %v", out, err)
	}
	// The job respawns (a new process, and new output in its log).
	logf := filepath.Join(logdir, "dosfdspin.log")
	size := func() int64 {
		fi, err := os.Stat(logf)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	p0, s0 := pidOf(), size()
	respawned := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if p := pidOf(); p != "" && p != p0 && size() > s0 {
			respawned = true
			break
		}
	}
	if !respawned {
		t.Errorf("spinner did not respawn and log under attack (pid %q, log %d bytes)", p0, size())
	}
	if fds = countFDs(initPid); fds > 4096-fdReserveTest {
		t.Errorf("PID 1 holds %d fds under attack, inside the reserve of %d", fds, fdReserveTest)
	}
	if strings.Contains(stderr.String(), "too many open files") {
		t.Errorf("init ran out of fds:\n%s", stderr.String())
	}
}

// fdReserveTest is control.FDReserve (docs/decisions.md).
const fdReserveTest = 256

// TestHostileBusMemory: over a system bus with the shipped policy, nobody
// may call GetJobByName; with a 7 MiB (and a 0.9 MiB) array of variants
// instead of its string it may not make PID 1 grow past the bound.
func TestHostileBusMemory(t *testing.T) {
	repro := hostileSetup(t)
	needTool(t, "dbus-send")
	busDir := t.TempDir()
	os.Chmod(filepath.Dir(busDir), 0o755)
	busAddr := "unix:path=" + filepath.Join(busDir, "bus")
	confdir := t.TempDir()
	writeJob(t, confdir, "dosbussvc", "start on startup\nexec sleep 3600\n")
	initPid, stderr := startPID1With(t, []string{"prlimit", "--nofile=1024:4096"}, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + busAddr},
		"--confdir", confdir, "--no-log")
	startDBusDaemonIn(t, busDir, "system", "../../conf/dbus/Upstart.conf")
	waitFor(t, "dosbussvc to run", func() bool {
		out, _ := rootCtl(initPid, "status", "dosbussvc")
		return strings.HasPrefix(out, "dosbussvc start/running, process ")
	})
	syscall.Kill(initPid, syscall.SIGUSR1)
	waitFor(t, "init to own com.ubuntu.Upstart", func() bool {
		out, _, _ := runTool(t, nil, "dbus-send", "--bus="+busAddr, "--print-reply", "--dest=org.freedesktop.DBus",
			"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:com.ubuntu.Upstart")
		return strings.Contains(out, "boolean true")
	})
	time.Sleep(500 * time.Millisecond)
	idle := procStatusKB(t, initPid, "VmRSS")
	sock := strings.TrimPrefix(busAddr, "unix:path=")
	for _, c := range []struct{ mb, want string }{{"7", "LimitsExceeded"}, {"0.9", "InvalidArgs"}} {
		out, errs, code := runTool(t, nil, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
			pythonPath, filepath.Join(repro, "dos_bus_av.py"), sock, c.mb)
		hwm := procStatusKB(t, initPid, "VmHWM")
		t.Logf("dos_bus_av.py %s MiB: %q (exit %d %s); PID 1 VmRSS idle %d kB, VmHWM %d kB (+%d kB)", c.mb, strings.TrimSpace(out), code, lastLine(errs), idle, hwm, hwm-idle)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s MiB: reply %q, want %s", c.mb, out, c.want)
		}
		if hwm-idle > maxRSSGrowthKB {
			t.Errorf("PID 1 grew by %d kB, more than the %d kB bound", hwm-idle, maxRSSGrowthKB)
		}
	}
	// Still on the bus and answering.
	out, errs, code := runTool(t, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + busAddr, "UPSTART_SESSION="}, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		filepath.Join(binDir, "initctl"), "status", "dosbussvc")
	if code != 0 || !strings.HasPrefix(out, "dosbussvc start/running") {
		t.Errorf("nobody's initctl status over the bus after: %q %q %d\ninit said:\n%s", out, errs, code, stderr.String())
	}
}
