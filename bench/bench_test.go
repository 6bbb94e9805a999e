package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the logging scenario's writer, as
// the bench binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == writerArg {
		writerMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == floorArg {
		floorMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == nsrootArg {
		nsrootMain(os.Args[2:])
		return
	}
	os.Exit(m.Run())
}

// scenarioNames are the names CI expects in the output, whatever ran.
var scenarioNames = []string{
	"cold-start", "respawn", "memory-rss", "memory-pss", "stop-all",
	"logging-throughput", "logging-lost", "emit-initctl", "emit-dbus", "load-jobs", "reexec", "initctl-list", "initctl-status",
}

func TestLineRoundTrip(t *testing.T) {
	b := make([]byte, lineLen)
	for _, seq := range []int64{0, 1, 25, 26, 999999} {
		makeLine(b, seq)
		got, ok := parseLine(bytes.TrimRight(b, "\n"))
		if !ok || got != seq {
			t.Fatalf("line %d: parsed %d %v from %q", seq, got, ok, b)
		}
	}
	makeLine(b, 7)
	b[50] = 'z'
	if _, ok := parseLine(bytes.TrimRight(b, "\n")); ok {
		t.Fatal("a damaged line parsed")
	}
}

func TestMarker(t *testing.T) {
	m := marker{prefix: "0.0012340001"}
	cmd := []byte(strings.Join(m.sleepArgv(42), "\x00") + "\x00")
	if i := m.serviceIndex(cmd); i != 42 {
		t.Fatalf("index %d", i)
	}
	other := marker{prefix: "0.0012340002"}
	if i := other.serviceIndex(cmd); i != -1 {
		t.Fatalf("other run's marker matched: %d", i)
	}
	if i := m.serviceIndex([]byte("/bin/sh\x00./run\x00")); i != -1 {
		t.Fatalf("shell matched: %d", i)
	}
}

// TestQuickReduced runs the whole command in a reduced --quick form
// (N = 10, one run, one kill, 5 MB logged) with whatever systems are
// installed, and checks that every scenario is reported and nothing is left
// running. It checks the harness, not the figures: a system that fails is
// reported in the output and does not fail the test.
func TestQuickReduced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs supervisors for about 20 s")
	}
	c, err := parseFlags([]string{"--quick", "--runs", "1", "--n", "10", "--kills", "1",
		"--log-mb", "5", "--emits", "10", "--load-jobs", "100", "--no-install"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	t0 := time.Now()
	status := run(c, &out)
	t.Logf("took %v\n%s", time.Since(t0).Round(time.Millisecond), out.String())
	if status != 0 {
		t.Errorf("exit status %d", status)
	}
	for _, name := range scenarioNames {
		if !strings.Contains(out.String(), "scenario="+name) {
			t.Errorf("scenario %s missing from the output", name)
		}
	}
	if n := strings.Count(out.String(), "\nGOAL row="); n != len(goalRows(c)) {
		t.Errorf("%d GOAL lines, %d goal rows", n, len(goalRows(c)))
	}
	if !strings.Contains(out.String(), "leftover processes at exit: 0") {
		t.Errorf("leftover processes")
	}
	for _, row := range []string{"cold-start/N=10 system=floor", "stop-all/N=10 system=floor", "respawn/N=10 system=floor",
		"logging-throughput system=floor", "logging-throughput/console-log-pipe system=floor"} {
		if !strings.Contains(out.String(), "BENCH scenario="+row+" unit=") || strings.Contains(out.String(), "BENCH scenario="+row+" unit=ms status=") {
			t.Errorf("no figure for %s", row)
		}
	}
	if left := findOurs("", []string{benchPrefix, writerTag}); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// goalFixture is a full-mode configuration with figures for some systems.
func goalFixture(t *testing.T, quick bool) (config, *results, *results) {
	t.Helper()
	args := []string{"--no-install"}
	if quick {
		args = append(args, "--quick")
	}
	c, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	res := newResults()
	declareScenarios(res, c)
	add := func(key, sys string, v ...float64) {
		if _, ok := res.byKey[key]; !ok {
			return // not declared in this mode
		}
		for _, x := range v {
			res.add(key, sys, x)
		}
	}
	for _, sys := range c.systems {
		if sys == "upstart" {
			for _, sc := range res.scenarios {
				res.setStatus(sc.key, sys, "skipped: not packaged: Debian 12 has no upstart package")
			}
		}
	}
	// memory: ours 7.7, finit 1.1 MiB (N=100); ours 5, finit 6 (N=1000)
	add("memory-pss/N=100", "ours", 7.7, 7.6, 7.8)
	add("memory-pss/N=100", "finit", 1.1, 1.1, 1.2)
	add("memory-pss/N=100", "s6", 13)
	add("memory-pss/N=1000", "ours", 5, 5, 5)
	add("memory-pss/N=1000", "finit", 6, 6, 6)
	// cold start N=100: best peer finit 200 (s6 300), floor 70: ours 100 → 0.5× and 1.43×
	add("cold-start/N=100", "ours", 100, 90, 120)
	add("cold-start/N=100", "finit", 200)
	add("cold-start/N=100", "s6", 300)
	add("cold-start/N=100", "floor", 70)
	// respawn: best peer runit 2, ours 1.5 → 0.75×
	add("respawn/N=100", "ours", 1.5)
	add("respawn/N=100", "runit", 2)
	add("respawn/N=100", "finit", 2.5)
	// stop-all N=100: ours 10, finit 10 → 1×
	add("stop-all/N=100", "ours", 10)
	add("stop-all/N=100", "finit", 10)
	// logging: pty ours 95, floor 100 → 0.95; pipe ours 400 vs best 300 but 10 bytes lost once
	add(logKey("throughput"), "ours", 95)
	add(logKey("throughput"), "floor", 100)
	add(logKey("throughput")+pipeSuffix, "ours", 400, 400)
	add(logKey("throughput")+pipeSuffix, "supervisord", 300)
	add(logKey("throughput")+pipeSuffix, "s6", 100)
	add(logKey("lost")+pipeSuffix, "ours", 0, 10)
	// emits: lean 34 000/s (3.0×), godbus 10 000/s (0.88×)
	add("emit-dbus", "ours", 34000)
	add("emit-dbus-godbus", "ours", 10000)
	k := reexecKeys(c.loadJobs)
	add(k[0], "ours", 25)   // re-exec 25 ms: missed
	add(k[1], "ours", 8)    // list 8 ms: met
	add(k[3], "ours", 0, 0) // no file reads per list
	add(k[4], "ours", 0, 2) // a file read per status in one run
	var q *results
	if !quick {
		q = newResults()
		for _, s := range qemuScenarios {
			q.declare(scenario{key: s.key, unit: "s", lowerBetter: true})
		}
		q.add("chromeos-system-services", "ours", 12.5)
		q.setStatus("chromeos-settled", "ours", "failed: BOOT system=ours run=1 result=failed")
		q.failed("chromeos-settled", "ours")
	}
	return c, res, q
}

// TestGoalRows checks the goal table's verdicts on made-up figures: each
// comparison (named peer, best peer, floor, Upstart's quoted rate, an
// absolute bound, a count that must be 0, bytes lost) and the rows that
// cannot be measured.
func TestGoalRows(t *testing.T) {
	c, res, q := goalFixture(t, false)
	peers := []string{"upstart", "finit", "s6", "runit", "supervisord"}
	want := map[string]struct {
		against string
		ratio   float64
		met     string
	}{
		"supervisor PSS, N=100":                              {"finit", 7.7 / 1.1, "no"},
		"supervisor PSS, N=1000":                             {"finit", 5.0 / 6, "yes"},
		"cold start, N=100/best":                             {"best peer: finit", 0.5, "yes"},
		"cold start, N=100/floor":                            {"floor", 100.0 / 70, "yes"},
		"cold start, N=1000/best":                            {"best peer", math.NaN(), "not-measured"},
		"respawn after SIGKILL (N=100)":                      {"best peer: runit", 0.75, "no"},
		"stop-all, N=100":                                    {"best peer: finit", 1, "no"},
		"stop-all, N=1000":                                   {"best peer", math.NaN(), "not-measured"},
		"log throughput, `console log` (pty)":                {"floor", 0.95, "yes"},
		"log throughput, `console log pipe`, 0 bytes lost":   {"best peer: supervisord", 4.0 / 3, "no"},
		"D-Bus emit (wait) on one connection, lean client":   {"Upstart 1.13 (issue 14)", 34000.0 / 11330, "yes"},
		"D-Bus emit (wait) on one connection, godbus client": {"Upstart 1.13 (issue 14)", 10000.0 / 11330, "no"},
		"stateful re-exec, 1000 running jobs":                {"the bound", 25.0 / 20, "no"},
		"`initctl list`, 1000 running jobs":                  {"the bound", 8.0 / 20, "yes"},
	}
	seen := map[string]bool{}
	for _, row := range goalRows(c) {
		o := evalGoal(row, res, q, peers, goalNotRun(c, row))
		name := row.label
		if row.key == "cold-start/N=100" || row.key == "cold-start/N=1000" {
			name += map[against]string{vsBest: "/best", vsFloor: "/floor"}[row.kind]
		}
		switch {
		case strings.Contains(row.key, "initctl-list/1000/file-reads"):
			if o.metMachine != "yes" || !math.IsNaN(o.ratio) {
				t.Errorf("list file reads: met %s ratio %v, want yes and no ratio", o.metMachine, o.ratio)
			}
		case strings.Contains(row.key, "initctl-status/1000/file-reads"):
			if o.metMachine != "no" {
				t.Errorf("status file reads (2 in one run): met %s, want no", o.metMachine)
			}
		case row.key == "chromeos-system-services":
			if o.metMachine != "none" || !strings.HasPrefix(o.ours, "12.50 s") {
				t.Errorf("chromeos services: %+v", o)
			}
		case row.key == "chromeos-settled":
			if !strings.Contains(o.ours, "failed: BOOT") || o.metMachine != "none" {
				t.Errorf("chromeos settled: %+v", o)
			}
		}
		w, ok := want[name]
		if !ok {
			continue
		}
		seen[name] = true
		if o.with != w.against || o.metMachine != w.met || (math.IsNaN(w.ratio) != math.IsNaN(o.ratio)) ||
			(!math.IsNaN(w.ratio) && math.Abs(o.ratio-w.ratio) > 1e-9) {
			t.Errorf("%s: against %q ratio %v met %s; want %q %v %s", name, o.with, o.ratio, o.metMachine, w.against, w.ratio, w.met)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("no goal row %q", name)
		}
	}
	// finit cannot run: the memory rows are not measured, and say why.
	res2 := newResults()
	declareScenarios(res2, c)
	res2.add("memory-pss/N=100", "ours", 7)
	res2.setStatus("memory-pss/N=100", "finit", "skipped: needs root")
	o := evalGoal(goalRows(c)[0], res2, nil, peers, "")
	if o.metMachine != "not-measured" || o.theirs != "finit: skipped: needs root" {
		t.Errorf("finit skipped: %+v", o)
	}
}

// TestGoalTable checks that the printed table has every goal row of issue
// 14, in full and in quick mode, says why a row is not measured, and
// lists the systems that did not run with the reason.
func TestGoalTable(t *testing.T) {
	for _, quick := range []bool{false, true} {
		c, res, q := goalFixture(t, quick)
		var b bytes.Buffer
		met, missed, unmeasured := printGoals(&b, c, res, q, []string{"upstart", "finit", "s6", "runit", "supervisord"},
			map[string]string{"upstart": "not packaged: Debian 12 has no upstart package"})
		out := b.String()
		for _, label := range []string{"supervisor PSS, N=100 ", "supervisor PSS, N=1000", "cold start, N=100 ", "cold start, N=1000",
			"respawn after SIGKILL", "stop-all, N=100 ", "stop-all, N=1000", "`initctl list`, 1000 running jobs",
			"`initctl list` from records", "`initctl status` from records", "stateful re-exec, 1000 running jobs",
			"`console log` (pty)", "`console log pipe`, 0 bytes lost", "lean client", "godbus client",
			"`started system-services` (wall)", "settled list (wall)", "- upstart: not packaged: Debian 12 has no upstart package"} {
			if !strings.Contains(out, label) {
				t.Errorf("quick=%v: no %q in\n%s", quick, label, out)
			}
		}
		if n := strings.Count(out, "\nGOAL row="); n != len(goalRows(c)) || n != 21 {
			t.Errorf("quick=%v: %d GOAL lines, %d rows", quick, n, len(goalRows(c)))
		}
		if quick {
			for _, why := range []string{"not run (quick mode: N=[100] only)", "not run (quick mode: no QEMU boots)"} {
				if !strings.Contains(out, why) {
					t.Errorf("quick: no %q in\n%s", why, out)
				}
			}
		}
		if met+missed+unmeasured == 0 || !strings.Contains(out, fmt.Sprintf("goals met: %d, missed: %d, not measured in this run: %d", met, missed, unmeasured)) {
			t.Errorf("quick=%v: summary line wrong (%d %d %d)\n%s", quick, met, missed, unmeasured, out)
		}
	}
}

func TestCountTracedFileIO(t *testing.T) {
	trace := `101 openat(AT_FDCWD</>, "/sys/fs/cgroup/x/cgroup.procs", O_RDONLY|O_CLOEXEC) = 7</sys/fs/cgroup/x/cgroup.procs>
101 read(7</sys/fs/cgroup/x/cgroup.procs>, "123\n", 512) = 4
102 read(5<socket:[4711]>, "l\1\0\1", 4096) = 16
102 read(3<anon_inode:inotify>,  <unfinished ...>
103 read(9</proc/42/stat>, <unfinished ...>
103 <... read resumed>"42 (x)", 512) = 6
104 read(4<pipe:[99]>, "", 1) = 0
105 recvmsg(6<socket:[4712]>, {msg_name=NULL, msg_namelen=0}, 0) = 40
`
	n, sock, err := countTracedFileIO(bufio.NewScanner(strings.NewReader(trace)))
	if err != nil || n != 3 || sock != 2 {
		t.Fatalf("counted %d files, %d sockets (%v), want 3 (an open and two file reads) and 2", n, sock, err)
	}
}

// TestCountFileIO is the positive control of the records rows: a shell
// that reads a file for each request on a socket shows file reads per
// call, and the socket reads are seen.
func TestCountFileIO(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("strace is not installed (.ci/run installs it)")
		}
		t.Skip("strace is not installed")
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer ours.Close()
	cmd := exec.Command("sh", "-c", `while read l; do read x < /etc/hostname; echo ok; done`)
	cmd.Stdin = theirs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	r := bufio.NewReader(stdout)
	call := func() error {
		if _, err := ours.Write([]byte("x\n")); err != nil {
			return err
		}
		_, err := r.ReadString('\n')
		return err
	}
	n, err := countFileIO(t.TempDir(), cmd.Process.Pid, 3, call)
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("%g file opens+reads per call, want at least an open and a read of /etc/hostname", n)
	}
	t.Logf("%g file opens+reads per call", n)
}

func TestNoQEMUFlag(t *testing.T) {
	c, err := parseFlags([]string{"--no-qemu"})
	if err != nil {
		t.Fatal(err)
	}
	if c.quick || c.groups["qemu"] || !c.groups["lifecycle"] || !c.groups["logging"] || !c.groups["ours"] || len(c.ns) != 2 || c.runs != 5 {
		t.Fatalf("--no-qemu: %+v", c)
	}
	row := goalRows(c)[len(goalRows(c))-1]
	if why := goalNotRun(c, row); why != "not run (--scenarios / --no-qemu)" {
		t.Fatalf("QEMU row without the group: %q", why)
	}
	if got := timingText(map[string]time.Duration{"qemu": 90 * time.Second, "setup": time.Second}); got != "setup 1.0 s, qemu 90.0 s" {
		t.Fatalf("timing line %q", got)
	}
}
