package integration

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/state"
)

// restartDaemon asks the daemon to re-execute itself (D-Bus Restart on the
// private socket) and waits until the new image answers.
func restartDaemon(t *testing.T, s *session) {
	t.Helper()
	conn := dialPrivate(t, s.address)
	before := strings.Count(s.stderr.String(), "Re-executing")
	call := conn.Object("", upstartManager).Call(upstartIface+".Restart", 0)
	conn.Close()
	if call.Err != nil && !reexecCut(call.Err) {
		t.Fatalf("Restart: %v", call.Err)
	}
	waitFor(t, "the re-exec", func() bool { return strings.Count(s.stderr.String(), "Re-executing") > before })
	waitFor(t, "the new image to answer", func() bool {
		_, _, code := s.ctl("initctl", "version")
		return code == 0
	})
}

// reexecCut reports whether a call's error is the end of its connection,
// which a re-exec causes before or while the reply is written ("use of
// closed network connection", or EOF when the daemon's side went first).
func reexecCut(err error) bool {
	return strings.Contains(err.Error(), "closed") || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF")
}

var listPid = regexp.MustCompile(`process (\d+)`)

// A stateful re-exec of a session instance in the middle of things: the
// daemon keeps its pid, every job keeps its processes and state, a job's
// output loses no line, a start blocked in pre-start completes, a service
// still respawns and an instance still stops.
func TestReexec(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, map[string]string{
		"svc":    "respawn\nexec sleep 3600\n",
		"inst":   "instance $N\nexec sleep 3601\n",
		"talker": "script\ni=0\nwhile true; do echo line $i; i=$((i+1)); sleep 0.01; done\nend script\n",
		"blk":    "start on go\npre-start exec sh -c 'while [ ! -e " + dir + "/release ]; do sleep 0.02; done'\nexec sleep 3602\n",
		"after":  "start on started blk\ntask\nexec true\n",
	}, "--verbose")
	for _, args := range [][]string{{"start", "svc"}, {"start", "inst", "N=1"}, {"start", "inst", "N=2"}, {"start", "talker"}} {
		s.mustCtl(args...)
	}
	s.mustCtl("emit", "--no-wait", "go")
	waitFor(t, "blk in pre-start", func() bool {
		out, _, _ := s.ctl("initctl", "status", "blk")
		return strings.HasPrefix(out, "blk start/pre-start")
	})
	talkerLog := filepath.Join(s.logDir(), "talker.log")
	logLines := func() int {
		b, _ := os.ReadFile(talkerLog)
		return strings.Count(string(b), "\n")
	}
	waitFor(t, "the talker's log to grow", func() bool { return logLines() >= 5 })
	listBefore := s.mustCtl("list")
	daemonPid := s.cmd.Process.Pid

	restartDaemon(t, s)
	atReexec := logLines()

	if s.cmd.ProcessState != nil {
		t.Fatalf("the daemon exited: %v", s.cmd.ProcessState)
	}
	if listAfter := jobLines(s.mustCtl("list")); listAfter != jobLines(listBefore) {
		t.Fatalf("initctl list changed across the re-exec:\nbefore\n%s\nafter\n%s\ndaemon said:\n%s", listBefore, listAfter, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "Re-executing") || s.cmd.Process.Pid != daemonPid {
		t.Fatal("no re-exec seen")
	}

	// The blocked start completes, and what waited on it follows.
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
	waitFor(t, "blk running", func() bool {
		out, _, _ := s.ctl("initctl", "status", "blk")
		return strings.HasPrefix(out, "blk start/running")
	})
	waitFor(t, "after (start on started blk) to run", func() bool {
		return strings.Contains(s.stderr.String(), "after main process") && strings.Contains(s.stderr.String(), "exited normally")
	})

	// The service respawns when killed; an instance stops.
	out := s.mustCtl("status", "svc")
	m := listPid.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("svc status %q", out)
	}
	old, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "svc to respawn", func() bool {
		out, _, _ := s.ctl("initctl", "status", "svc")
		m := listPid.FindStringSubmatch(out)
		return strings.HasPrefix(out, "svc start/running") && m != nil && m[1] != strconv.Itoa(old)
	})
	out = s.mustCtl("status", "inst", "N=1")
	m = listPid.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("inst status %q", out)
	}
	s.mustCtl("stop", "inst", "N=1")
	waitFor(t, "inst (1)'s process to end", func() bool { _, err := os.Stat("/proc/" + m[1]); return err != nil })

	// The talker's log has every line, in order, from before, across and
	// after the re-exec.
	// Lines written after the re-exec, however slow the machine is.
	waitFor(t, "the talker's log to grow after the re-exec", func() bool { return logLines() >= atReexec+10 })
	s.mustCtl("stop", "talker")
	log := readLog(t, talkerLog)
	lines := strings.Split(strings.TrimSuffix(log, "\r\n"), "\r\n")
	if len(lines) < atReexec+10 {
		t.Fatalf("talker.log has %d lines, %d at the re-exec", len(lines), atReexec)
	}
	for k, l := range lines {
		if l != fmt.Sprintf("line %d", k) {
			t.Fatalf("talker.log line %d is %q (lines %d in all): output was lost or damaged", k+1, l, len(lines))
		}
	}
}

// A re-exec from an image of an older version, which writes its state as
// JSON (formats 1 to 3): the new image reads it and keeps every job, its
// processes and its output. The "older image" is this one, with the
// document it passes turned into JSON on the way (a script stands in for
// the binary, and the test binary does the conversion).
func TestReexecFromJSONState(t *testing.T) {
	bin := t.TempDir()
	data, err := os.ReadFile(filepath.Join(binDir, "init"))
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(bin, "init.real")
	if err := os.WriteFile(real, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	writeJob(t, s.confdir, "talker", "script\ni=0\nwhile true; do echo line $i; i=$((i+1)); sleep 0.01; done\nend script\n")
	writeJob(t, s.confdir, "svc", "respawn\nexec sleep 3600\n")
	path := filepath.Join(bin, "init")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	s.initPath = path
	s.start("--verbose")
	s.mustCtl("start", "talker")
	s.mustCtl("start", "svc")
	listBefore := jobLines(s.mustCtl("list"))
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	script := `#!/bin/bash
prev=; for a; do [ "$prev" = --state-fd ] && fd=$a; prev=$a; done
` + toJSONEnv + `=1 ` + self + ` <&$fd >` + bin + `/state.json || exit 1
eval "exec $fd<` + bin + `/state.json"
exec ` + real + ` "$@"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	restartDaemon(t, s)
	if b, err := os.ReadFile(filepath.Join(bin, "state.json")); err != nil || !strings.Contains(string(b), `"version":3`) {
		t.Fatalf("the document was not passed as JSON: %v %.100s", err, b)
	}
	if strings.Contains(s.stderr.String(), "Unable to read the state") {
		t.Fatalf("state refused:\n%s", s.stderr.String())
	}
	if listAfter := jobLines(s.mustCtl("list")); listAfter != listBefore {
		t.Fatalf("initctl list changed across the re-exec:\nbefore\n%s\nafter\n%s\ndaemon said:\n%s", listBefore, listAfter, s.stderr.String())
	}
	// The restored service is still supervised: killed, it respawns.
	m := listPid.FindStringSubmatch(s.mustCtl("status", "svc"))
	if m == nil {
		t.Fatal("svc has no process")
	}
	old, _ := strconv.Atoi(m[1])
	syscall.Kill(old, syscall.SIGKILL)
	waitFor(t, "svc to respawn", func() bool {
		out, _, _ := s.ctl("initctl", "status", "svc")
		m := listPid.FindStringSubmatch(out)
		return strings.HasPrefix(out, "svc start/running") && m != nil && m[1] != strconv.Itoa(old)
	})
	// The talker's pty was handed over: its log goes on, in order.
	talkerLog := filepath.Join(s.logDir(), "talker.log")
	atReexec := strings.Count(readLog(t, talkerLog), "\n")
	waitFor(t, "the talker's log to grow after the re-exec", func() bool {
		b, _ := os.ReadFile(talkerLog)
		return strings.Count(string(b), "\n") >= atReexec+10
	})
	s.mustCtl("stop", "talker")
	lines := strings.Split(strings.TrimSuffix(readLog(t, talkerLog), "\r\n"), "\r\n")
	for k, l := range lines {
		if l != fmt.Sprintf("line %d", k) {
			t.Fatalf("talker.log line %d is %q of %d: output lost", k+1, l, len(lines))
		}
	}
}

// toJSONEnv makes the test binary a filter (see TestMain): the state
// document on its input, as JSON on its output.
const toJSONEnv = "UPSTART_TEST_STATE_TO_JSON"

func stateToJSON() {
	b, err := io.ReadAll(os.Stdin)
	if err == nil {
		var d *state.Document
		if d, err = state.Decode(b); err == nil {
			if b, err = state.EncodeJSON(d); err == nil {
				_, err = os.Stdout.Write(b)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "state to JSON:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A second re-exec right after the first, and the state a re-exec passes
// is what GetState reports.
func TestReexecTwiceAndGetState(t *testing.T) {
	s := startSession(t, map[string]string{"svc": "exec sleep 3600\n"})
	s.mustCtl("start", "svc")
	listBefore := s.mustCtl("list")
	restartDaemon(t, s)
	restartDaemon(t, s)
	if listAfter := s.mustCtl("list"); listAfter != listBefore {
		t.Fatalf("initctl list changed:\n%s\n%s", listBefore, listAfter)
	}
	conn := dialPrivate(t, s.address)
	var st string
	if err := conn.Object("", upstartManager).Call(upstartIface+".GetState", 0).Store(&st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st, fmt.Sprintf(`"version":%d`, state.JSONVersion)) || !strings.Contains(st, `"name":"svc"`) || !strings.Contains(st, `"state":"running"`) {
		t.Fatalf("GetState: %.400s", st)
	}
}

// jobLines drops the indented lines of initctl list: the other processes
// of a job, which come and go here (sleeps in loops).
func jobLines(list string) string {
	var out []string
	for _, l := range strings.Split(list, "\n") {
		if !strings.HasPrefix(l, "\t") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// PID 1 of a PID namespace re-executes itself on SIGTERM, as Upstart's
// PID 1 does (telinit u): it stays PID 1, its jobs keep their processes,
// and a service killed afterwards still respawns.
func TestPID1Reexec(t *testing.T) {
	needRoot(t, "a PID namespace")
	dir := t.TempDir()
	writeJob(t, dir, "svc", "start on startup\nrespawn\nexec sleep 3600\n")
	writeJob(t, dir, "other", "start on startup\nexec sleep 3601\n")
	initPid, stderr := startPID1(t, nil, "--confdir", dir, "--no-log")
	initctl := func(args ...string) string {
		out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(initPid), "-n",
			filepath.Join(binDir, "initctl")}, args...)...).CombinedOutput()
		if err != nil {
			return "error: " + err.Error() + ": " + string(out)
		}
		return string(out)
	}
	var before string
	waitFor(t, "both jobs running", func() bool {
		before = initctl("list")
		return strings.Contains(before, "svc start/running, process ") && strings.Contains(before, "other start/running, process ")
	})
	if err := syscall.Kill(initPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "init to re-execute itself", func() bool {
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", initPid))
		return strings.Contains(string(cl), "\x00--restart\x00")
	})
	var after string
	waitFor(t, "the new image to answer", func() bool {
		after = initctl("list")
		return !strings.HasPrefix(after, "error")
	})
	if after != before {
		t.Fatalf("initctl list changed across the re-exec:\n%s\n%s\ninit said:\n%s", before, after, stderr.String())
	}
	m := listPid.FindStringSubmatch(strings.SplitN(after[strings.Index(after, "svc "):], "\n", 2)[0])
	old, _ := strconv.Atoi(m[1])
	// The pid is the namespace's: kill from inside it.
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(initPid), "-p", "kill", "-KILL", m[1]).CombinedOutput(); err != nil {
		t.Fatalf("kill %d in the namespace: %v %s", old, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := initctl("status", "svc")
		m := listPid.FindStringSubmatch(out)
		if strings.HasPrefix(out, "svc start/running") && m != nil && m[1] != strconv.Itoa(old) {
			break
		}
		if time.Now().After(deadline) {
			time.Sleep(100 * time.Millisecond)
			t.Fatalf("svc did not respawn: %q\ninit said:\n%s", out, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if !strings.Contains(stderr.String(), "Re-executing") {
		t.Errorf("no re-exec in the log:\n%s", stderr.String())
	}
}

// A re-exec whose exec fails (the binary is gone) changes nothing: the
// daemon says so and carries on with its jobs, its log readers and its
// private socket.
func TestReexecExecFails(t *testing.T) {
	bin := t.TempDir()
	data, err := os.ReadFile(filepath.Join(binDir, "init"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "init"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	writeJob(t, s.confdir, "talker", "script\ni=0\nwhile true; do echo line $i; i=$((i+1)); sleep 0.01; done\nend script\n")
	writeJob(t, s.confdir, "svc", "respawn\nexec sleep 3600\n")
	s.initPath = filepath.Join(bin, "init")
	s.start("--log-events")
	s.mustCtl("start", "talker")
	s.mustCtl("start", "svc")
	listBefore := jobLines(s.mustCtl("list"))
	os.Remove(filepath.Join(bin, "init"))

	conn := dialPrivate(t, s.address)
	conn.Object("", upstartManager).Call(upstartIface+".Restart", 0)
	conn.Close()
	waitFor(t, "the failure to be reported", func() bool { return strings.Contains(s.stderr.String(), "Failed to re-execute") })
	waitFor(t, "the daemon to answer again", func() bool {
		_, _, code := s.ctl("initctl", "version")
		return code == 0
	})
	if got := jobLines(s.mustCtl("list")); got != listBefore {
		t.Fatalf("list changed:\n%s\n%s", listBefore, got)
	}
	// Still supervising: the service respawns, and the talker's log goes on
	// without a gap.
	out := s.mustCtl("status", "svc")
	m := listPid.FindStringSubmatch(out)
	old, _ := strconv.Atoi(m[1])
	syscall.Kill(old, syscall.SIGKILL)
	waitFor(t, "svc to respawn", func() bool {
		out, _, _ := s.ctl("initctl", "status", "svc")
		m := listPid.FindStringSubmatch(out)
		return strings.HasPrefix(out, "svc start/running") && m != nil && m[1] != strconv.Itoa(old)
	})
	time.Sleep(200 * time.Millisecond)
	s.mustCtl("stop", "talker")
	log := readLog(t, filepath.Join(s.logDir(), "talker.log"))
	lines := strings.Split(strings.TrimSuffix(log, "\r\n"), "\r\n")
	for k, l := range lines {
		if l != fmt.Sprintf("line %d", k) {
			t.Fatalf("talker.log line %d is %q of %d: output lost", k+1, l, len(lines))
		}
	}
	// The event log was reopened: events after the failure are in it.
	s.mustCtl("emit", "after-the-failure")
	waitLog(t, filepath.Join(s.logDir(), "events.log"), "the event emitted after the failure", func(s string) bool {
		return strings.Contains(s, "after-the-failure")
	})
}

// State that cannot be read (here: a newer format) is written to
// upstart.state in the log directory, mode 0400, and the daemon starts
// without it.
func TestReexecBadState(t *testing.T) {
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	writeJob(t, s.confdir, "svc", "exec sleep 3600\n")
	f, err := os.CreateTemp(t.TempDir(), "state")
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"version":99,"engine":{"classes":[]}}`
	f.WriteString(bad)
	f.Seek(0, 0)
	s.extraFiles = []*os.File{f}
	s.start("--restart", "--state-fd", "3")
	if out := s.mustCtl("list"); out != "svc stop/waiting\n" {
		t.Fatalf("list: %q", out)
	}
	p := filepath.Join(s.logDir(), "upstart.state")
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Fatalf("upstart.state: %v %v", st, err)
	}
	if b, _ := os.ReadFile(p); string(b) != bad {
		t.Fatalf("upstart.state holds %q", b)
	}
	if !strings.Contains(s.stderr.String(), "newer version") {
		t.Fatalf("no error about the state:\n%s", s.stderr.String())
	}
}

// Nothing of a session outlives it: a pre-start that never ends (a stop
// waits for it) is killed when the session shuts down.
func TestSessionEndKillsLeftovers(t *testing.T) {
	s := startSession(t, map[string]string{"stuck": "kill timeout 1\npre-start exec sleep 1234\nexec sleep 1235\n"})
	s.mustCtl("start", "--no-wait", "stuck")
	var pid int
	waitFor(t, "the pre-start", func() bool {
		for _, p := range processes() {
			if p.cmdline == "sleep 1234" && p.ppid == s.cmd.Process.Pid {
				pid = p.pid
				return true
			}
		}
		return false
	})
	s.stop()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the pre-start (pid %d) outlived its session:\n%s", pid, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "job stuck failed to stop") {
		t.Errorf("no warning about the job:\n%s", s.stderr.String())
	}
}

// A `start on` of 12 000 operands passes a re-exec of PID 1: the state is
// read (conditions are written flat; nested, the document passed Go's
// decoder's depth limit and the new image came up without state and,
// with the old socket still bound, without a control socket).
func TestPID1ReexecLongCondition(t *testing.T) {
	needRoot(t, "a PID namespace")
	dir := t.TempDir()
	var cond strings.Builder
	for k := 0; k < 12000; k++ {
		if k > 0 {
			cond.WriteString(" or ")
		}
		fmt.Fprintf(&cond, "ev%d", k)
	}
	writeJob(t, dir, "long", "start on "+cond.String()+"\nexec sleep 3603\n")
	writeJob(t, dir, "svc", "start on startup\nexec sleep 3604\n")
	initPid, stderr := startPID1(t, nil, "--confdir", dir, "--no-log")
	var before string
	waitFor(t, "svc running", func() bool {
		before = pid1Initctl(initPid, "list")
		return strings.Contains(before, "svc start/running, process ")
	})
	sigtermReexec(t, initPid, stderr)
	var after string
	waitFor(t, "the new image to answer", func() bool {
		after = pid1Initctl(initPid, "list")
		return !strings.HasPrefix(after, "error")
	})
	if after != before {
		t.Fatalf("initctl list changed across the re-exec:\n%s\n%s\ninit said:\n%s", before, after, stderr.String())
	}
	// The condition still works after the re-exec.
	if out := pid1Initctl(initPid, "emit", "ev11999"); strings.HasPrefix(out, "error") {
		t.Fatal(out)
	}
	waitFor(t, "long to start on its last operand", func() bool {
		return strings.HasPrefix(pid1Initctl(initPid, "status", "long"), "long start/running")
	})
	if strings.Contains(stderr.String(), "Unable to read the state") {
		t.Fatalf("state refused:\n%s", stderr.String())
	}
}

// A downgrade: the state's format is newer than the binary reads. The
// daemon says so, keeps the document in upstart.state, and carries on
// without state but with its control socket (the old one, reused) and
// without any descriptor the refused document named (a pty here).
// Before, the stale socket made the fresh bind fail and PID 1 headless.
func TestPID1ReexecNewerState(t *testing.T) {
	needRoot(t, "a PID namespace")
	dir, logDir, bin := t.TempDir(), t.TempDir(), t.TempDir()
	real := filepath.Join(bin, "init.real")
	data, err := os.ReadFile(filepath.Join(binDir, "init"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(bin, "init")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	writeJob(t, dir, "talker", "start on startup\nconsole log\nexec sh -c 'while :; do echo hi; sleep 0.2; done'\n")
	initPid, stderr := startPID1At(t, path, nil, "--confdir", dir, "--logdir", logDir)
	waitFor(t, "talker running", func() bool {
		return strings.Contains(pid1Initctl(initPid, "list"), "talker start/running, process ")
	})
	// What gets executed now stands for a newer binary that wrote the
	// document: it rewrites the format number, then runs this binary.
	os.Remove(path)
	script := `#!/bin/bash
prev=; for a; do [ "$prev" = --state-fd ] && fd=$a; prev=$a; done
{ printf '\0GUSc'; tail -c +6; } <&$fd >` + bin + `/doctored
eval "exec $fd<` + bin + `/doctored"
exec ` + real + ` "$@"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sigtermReexec(t, initPid, stderr)
	deadline := time.Now().Add(10 * time.Second)
	for strings.HasPrefix(pid1Initctl(initPid, "version"), "error") {
		if time.Now().After(deadline) {
			t.Fatalf("the new image does not answer:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its output comes through a pipe: it may lag behind its answers.
	waitFor(t, "word of the refused state", func() bool { return strings.Contains(stderr.String(), "newer version") })
	if out := pid1Initctl(initPid, "list"); !strings.Contains(out, "talker stop/waiting") {
		t.Fatalf("list after a stateless re-exec:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(logDir, "upstart.state"))
	if err != nil || !strings.HasPrefix(string(b), "\x00GUSc") { // format 99 (0x63)
		t.Fatalf("upstart.state: %v %q", err, b[:min(len(b), 16)])
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", initPid))
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", initPid, e.Name())); strings.Contains(l, "ptmx") {
			t.Errorf("fd %s (%s) of the refused state is still open", e.Name(), l)
		}
	}
}

// Processes that end while a re-exec is under way: the exits collected
// after the reaper stopped are handled by the next image, which spawns
// what they lead to (the old one failed those jobs with "Spawn after
// Detach"). 100 jobs with a pre-start start, and the daemon re-executes
// while their pre-starts end; 20 times; every main process must run.
func TestReexecDuringStarts(t *testing.T) {
	const jobs, rounds = 100, 20
	dir := t.TempDir()
	defs := map[string]string{}
	for k := 0; k < jobs; k++ {
		defs[fmt.Sprintf("j%02d", k)] = "start on go\ntask\npre-start exec true\nexec touch " + dir + "/${UPSTART_JOB}-$R\n"
	}
	s := startSession(t, defs, "--no-log", "--verbose")
	for r := 0; r < rounds; r++ {
		conn := dialPrivate(t, s.address)
		before := strings.Count(s.stderr.String(), "Re-executing")
		mgr := conn.Object("", upstartManager)
		if err := mgr.Call(upstartIface+".EmitEvent", 0, "go", []string{fmt.Sprintf("R=%d", r)}, false).Err; err != nil {
			t.Fatal(err)
		}
		// Let some pre-starts run (the spawns take a while), then re-exec
		// while the rest start and end.
		time.Sleep(time.Duration(r%4) * 10 * time.Millisecond)
		call := mgr.Call(upstartIface+".Restart", 0)
		conn.Close()
		if call.Err != nil && !reexecCut(call.Err) {
			t.Fatalf("Restart: %v", call.Err)
		}
		waitFor(t, "the re-exec", func() bool { return strings.Count(s.stderr.String(), "Re-executing") > before })
		waitFor(t, fmt.Sprintf("round %d's main processes", r), func() bool {
			m, _ := filepath.Glob(fmt.Sprintf("%s/j*-%d", dir, r))
			return len(m) == jobs || strings.Contains(s.stderr.String(), "Failed to spawn")
		})
		if strings.Contains(s.stderr.String(), "Failed to spawn") {
			t.Fatalf("round %d: a spawn failed:\n%s", r, s.stderr.String())
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, _, code := s.ctl("initctl", "list")
			if code == 0 && strings.Count(out, "stop/waiting") == jobs {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: tasks still not ended:\n%s\ndaemon said:\n%s", r, out, s.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := strings.Count(s.stderr.String(), "Re-executing"); n != rounds {
		t.Fatalf("%d re-execs for %d rounds", n, rounds)
	}
	t.Logf("%d of %d re-execs passed on exits reaped after the reaper stopped", strings.Count(s.stderr.String(), "exits reaped by the previous image"), rounds)
}
