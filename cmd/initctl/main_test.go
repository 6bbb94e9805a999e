package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/control/controltest"
)

func TestFormatStatus(t *testing.T) {
	cases := []struct {
		inst, goal, state string
		procs             []proc
		want              string
	}{
		{"", "start", "running", []proc{{"main", 3648}}, "test start/running, process 3648"},
		{"beetroot", "start", "running", []proc{{"main", 3648}}, "test (beetroot) start/running, process 3648"},
		{"", "stop", "stopping", nil, "test stop/stopping"},
		{"", "start", "pre-start", []proc{{"pre-start", 1014}}, "test start/pre-start, process 1014"},
		{"", "stop", "post-stop", []proc{{"post-stop", 9764}}, "test stop/post-stop, process 9764"},
		{"", "start", "post-start", []proc{{"post-start", 2137}}, "test start/post-start, (post-start) process 2137"},
		{"", "stop", "pre-stop", []proc{{"pre-stop", 7864}}, "test stop/pre-stop, (pre-stop) process 7864"},
		{"", "start", "post-start", []proc{{"post-start", 2137}, {"main", 3648}}, "test start/post-start, process 3648\n\tpost-start process 2137"},
		{"", "stop", "pre-stop", []proc{{"main", 3648}, {"pre-stop", 7864}}, "test stop/pre-stop, process 3648\n\tpre-stop process 7864"},
		{"", "start", "spawned", []proc{{"main", 3648}}, "test start/spawned, process 3648"},
		{"", "stop", "waiting", nil, "test stop/waiting"},
		// `apparmor load`: the security process, alone in its state.
		{"", "start", "security", []proc{{"security", 2716}}, "test start/security, (security) process 2716"},
		{"", "start", "running", []proc{{"security", 5}, {"post-stop", 4}, {"pre-stop", 3}}, "test start/running, (pre-stop) process 3\n\tpost-stop process 4\n\tsecurity process 5"},
	}
	for _, c := range cases {
		if got := formatStatus("test", c.inst, c.goal, c.state, c.procs); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestConditionString(t *testing.T) {
	rpn := [][]string{{"A"}, {"B", "FOO=BAR"}, {"starting", "C", "x=y"}, {"/OR"}, {"/AND"}}
	if got := conditionString(rpn); got != "(A and (B FOO=BAR or starting C x=y))" {
		t.Errorf("got %q", got)
	}
	if got := conditionString([][]string{{"runlevel", "[2345]"}}); got != "runlevel [2345]" {
		t.Errorf("got %q", got)
	}
	for node, want := range map[string]string{
		"A":                         "A (job:, env:)",
		"starting boo P=Q c=sea":    "starting (job: boo, env: P=Q c=sea)",
		"F hello=world":             "F (job:, env: hello=world)",
		"stopped JOB=foo RESULT=ok": "stopped (job: foo, env: RESULT=ok)",
		"started EXIT=1 JOB=bar":    "started (job: bar, env: EXIT=1)",
		"starting":                  "starting (job:, env:)",
	} {
		if got := enumerateMatch(strings.Fields(node)); got != want {
			t.Errorf("enumerateMatch(%q) = %q, want %q", node, got, want)
		}
	}
}

// harness: a fake backend behind the real control server.
type harness struct {
	fake *controltest.Fake
	srv  *control.Server
	env  map[string]string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	f := controltest.New()
	f.AddJob(api.JobInfo{Name: "test", Usage: "test"})
	f.AddJob(api.JobInfo{Name: "inst", Usage: "inst NAME=x"})
	f.AddJob(api.JobInfo{Name: "idle"})
	f.AddJob(api.JobInfo{Name: "conf", Emits: []string{"conf-ready", "x-*"},
		StartOn: [][]string{{"A"}, {"B", "FOO=BAR"}, {"starting", "C", "x=y"}, {"/OR"}, {"/AND"}},
		StopOn:  [][]string{{"F", "hello=world"}}})
	f.InstanceVar["inst"] = "NAME"
	addr := "unix:path=" + filepath.Join(t.TempDir(), "s")
	l, err := control.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(f, control.Options{Logf: func(string, ...any) {}})
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &harness{fake: f, srv: srv, env: map[string]string{"UPSTART_SESSION": addr}}
}

func (h *harness) run(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := h.env[k]; return v, ok }
	code = run(args, lookup, &o, &e)
	return o.String(), e.String(), code
}

func (h *harness) expect(t *testing.T, args []string, wantOut, wantErr string, wantCode int) {
	t.Helper()
	o, e, c := h.run(args...)
	if o != wantOut || e != wantErr || c != wantCode {
		t.Errorf("%q:\n stdout %q\n stderr %q\n exit %d\nwant\n stdout %q\n stderr %q\n exit %d", args, o, e, c, wantOut, wantErr, wantCode)
	}
}

func a(s ...string) []string { return s }

func TestStartStopStatus(t *testing.T) {
	h := newHarness(t)
	h.expect(t, a("initctl", "status", "test"), "test stop/waiting\n", "", 0)
	h.expect(t, a("initctl", "start", "test"), "test start/running, process 1001\n", "", 0)
	h.expect(t, a("start", "test"), "", "start: Job is already running: test\n", 1)
	h.expect(t, a("/sbin/status", "test"), "test start/running, process 1001\n", "", 0)
	h.expect(t, a("initctl", "status", "nope"), "", "initctl: Unknown job: nope\n", 1)
	h.expect(t, a("initctl", "start", "nope"), "", "initctl: Unknown job: nope\n", 1)
	h.expect(t, a("stop", "test"), "test stop/waiting\n", "", 0)
	h.expect(t, a("stop", "test"), "", "stop: Unknown instance: \n", 1)
	h.expect(t, a("start"), "", "start: missing job name\nTry `start --help' for more information.\n", 1)
	h.expect(t, a("initctl", "start", "-n", "test"), "test start/running, process 1002\n", "", 0)
	h.expect(t, a("initctl", "restart", "test"), "test start/running, process 1003\n", "", 0)
	h.expect(t, a("restart", "idle"), "", "restart: Unknown instance: \n", 1)
	h.expect(t, a("initctl", "-q", "stop", "--no-wait", "test"), "", "", 0)

	// Instances.
	h.expect(t, a("start", "inst", "NAME=beetroot"), "inst (beetroot) start/running, process 1004\n", "", 0)
	h.expect(t, a("status", "inst", "NAME=beetroot"), "inst (beetroot) start/running, process 1004\n", "", 0)
	h.expect(t, a("status", "inst", "NAME=other"), "inst stop/waiting\n", "", 0)
	h.expect(t, a("start", "inst"), "", "start: Unknown parameter: NAME\nUsage: inst NAME=x\n", 1)
	h.expect(t, a("start", "inst", "NAME"), "", "start: Env must be KEY=VALUE pairs\n", 1)
	h.expect(t, a("stop", "inst", "NAME=other"), "", "stop: Unknown instance: other\n", 1)

	want := []string{"Start test  wait", "Stop test  wait", "Start test  nowait", "Restart test  wait", "Stop test  nowait", "Start inst NAME=beetroot wait"}
	got := h.fake.CallLog() // failed attempts included
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("call %q missing from %q", w, got)
		}
	}
}

func TestStatusFormatsThroughDBus(t *testing.T) {
	h := newHarness(t)
	h.fake.SetInstance(api.InstanceInfo{Job: "test", Goal: "start", State: "post-start",
		Processes: []api.Process{{Name: "main", Pid: 3648}, {Name: "post-start", Pid: 2137}}})
	h.expect(t, a("status", "test"), "test start/post-start, process 3648\n\tpost-start process 2137\n", "", 0)
	h.fake.SetInstance(api.InstanceInfo{Job: "test", Goal: "stop", State: "pre-stop",
		Processes: []api.Process{{Name: "pre-stop", Pid: 7864}}})
	h.expect(t, a("status", "test"), "test stop/pre-stop, (pre-stop) process 7864\n", "", 0)
	h.fake.SetInstance(api.InstanceInfo{Job: "inst", Name: "beetroot", Goal: "start", State: "running",
		Processes: []api.Process{{Name: "main", Pid: 3648}}})
	h.expect(t, a("initctl", "list"),
		"test stop/pre-stop, (pre-stop) process 7864\ninst (beetroot) start/running, process 3648\nidle stop/waiting\nconf stop/waiting\n", "", 0)
}

func TestInsideJob(t *testing.T) {
	h := newHarness(t)
	h.fake.SetInstance(api.InstanceInfo{Job: "inst", Name: "x", Goal: "stop", State: "pre-stop",
		Processes: []api.Process{{Name: "main", Pid: 10}, {Name: "pre-stop", Pid: 11}}})
	h.env["UPSTART_JOB"] = "inst"
	h.env["UPSTART_INSTANCE"] = "x"
	h.expect(t, a("start"), "inst (x) start/pre-stop, process 10\n\tpre-stop process 11\n", "", 0)
	h.expect(t, a("stop"), "inst (x) stop/pre-stop, process 10\n\tpre-stop process 11\n", "", 0)
	if got := h.fake.CallLog(); !reflect.DeepEqual(got, []string{"StartInstance inst x nowait", "StopInstance inst x nowait"}) {
		t.Errorf("calls %q", got)
	}
	// Environment commands act on the instance's table, -g on the global one.
	h.expect(t, a("initctl", "get-env", "-g", "TERM"), "linux\n", "", 0)
	h.expect(t, a("initctl", "get-env", "TERM"), "", "initctl: No such variable: TERM\n", 1)
}

func TestEmitAndMisc(t *testing.T) {
	h := newHarness(t)
	h.expect(t, a("initctl", "emit", "hello", "A=b"), "", "", 0)
	h.expect(t, a("initctl", "emit", "-n", "hello"), "", "", 0)
	h.expect(t, a("initctl", "emit"), "", "initctl: missing event name\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "emit", "hello", "Ab"), "", "initctl: Env must be KEY=VALUE pairs\n", 1)
	h.fake.SetEmitHook(func(string, []string, bool) error { return api.Errorf(api.ErrEventFailed, "Event failed") })
	h.expect(t, a("initctl", "emit", "bad"), "", "initctl: Event failed\n", 1)
	h.fake.SetEmitHook(nil)
	h.expect(t, a("initctl", "reload-configuration"), "", "", 0)
	h.expect(t, a("initctl", "version"), "init (upstart 1.13.2)\n", "", 0)
	h.expect(t, a("initctl", "log-priority"), "message\n", "", 0)
	h.expect(t, a("initctl", "log-priority", "debug"), "", "", 0)
	h.expect(t, a("initctl", "log-priority"), "debug\n", "", 0)
	h.expect(t, a("initctl", "log-priority", "loud"), "", "initctl: The log priority given was not recognised\n", 1)
	h.expect(t, a("initctl", "usage", "inst"), "Usage: inst NAME=x\n", "", 0)
	h.expect(t, a("initctl", "usage", "idle"), "Usage: \n", "", 0)
	h.expect(t, a("initctl", "reload", "test"), "", "initctl: Unknown instance: \n", 1)
	h.run("start", "test")
	h.expect(t, a("reload", "test"), "", "", 0)
	h.expect(t, a("initctl", "bogus"), "", "initctl: invalid command: bogus\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "status", "--frob", "x"), "", "initctl: invalid option: --frob\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "-n", "start", "x"), "", "initctl: invalid option: -n\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "--dest=foo", "list"), "", "initctl: --dest given without --system\n", 1)
	h.expect(t, a("initctl", "notify-disk-writeable"), "", "", 0)
}

func TestEnvCommands(t *testing.T) {
	h := newHarness(t)
	h.expect(t, a("initctl", "set-env", "FOO=bar", "EMPTY"), "", "", 0)
	h.expect(t, a("initctl", "set-env", "-r", "FOO=baz"), "", "", 0)
	h.expect(t, a("initctl", "get-env", "FOO"), "bar\n", "", 0)
	h.expect(t, a("initctl", "get-env", "NOPE"), "", "initctl: No such variable: NOPE\n", 1)
	h.expect(t, a("initctl", "list-env"), "EMPTY=\nFOO=bar\nPATH=/usr/bin:/bin\nTERM=linux\n", "", 0)
	h.expect(t, a("initctl", "unset-env", "FOO", "EMPTY"), "", "", 0)
	h.expect(t, a("initctl", "list-env"), "PATH=/usr/bin:/bin\nTERM=linux\n", "", 0)
	h.expect(t, a("initctl", "reset-env"), "", "", 0)
	h.expect(t, a("initctl", "get-env"), "", "initctl: missing variable name\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "unset-env", "-r", "X"), "", "initctl: invalid option: -r\nTry `initctl --help' for more information.\n", 1)
}

func TestShowConfig(t *testing.T) {
	h := newHarness(t)
	h.expect(t, a("initctl", "show-config", "conf"),
		"conf\n  emits conf-ready\n  emits x-*\n  start on (A and (B FOO=BAR or starting C x=y))\n  stop on F hello=world\n", "", 0)
	h.expect(t, a("initctl", "show-config", "-e", "conf"),
		"conf\n  emits conf-ready\n  emits x-*\n  start on A (job:, env:)\n  start on B (job:, env: FOO=BAR)\n  start on starting (job: C, env: x=y)\n  stop on F (job:, env: hello=world)\n", "", 0)
	h.expect(t, a("initctl", "show-config"), "test\ninst\nidle\nconf\n  emits conf-ready\n  emits x-*\n  start on (A and (B FOO=BAR or starting C x=y))\n  stop on F hello=world\n", "", 0)
	h.expect(t, a("initctl", "show-config", "nope"), "", "initctl: Unknown job: nope\n", 1)
}

func TestConnectionSelection(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "UPSTART_SESSION")
	h.expect(t, a("initctl", "--user", "list"), "",
		"initctl: UPSTART_SESSION isn't set in the environment. Unable to locate the Upstart instance.\n", 1)
	h.env["UPSTART_SESSION"] = "unix:path=" + filepath.Join(t.TempDir(), "nobody")
	_, e, c := h.run("initctl", "list")
	if c != 1 || !strings.HasPrefix(e, "initctl: Unable to connect to Upstart: ") {
		t.Errorf("stderr %q exit %d", e, c)
	}
}

func TestSessionBus(t *testing.T) {
	p, err := exec.LookPath("dbus-daemon")
	if err != nil {
		skipOutsideCI(t, "dbus-daemon not installed")
	}
	h := newHarness(t)
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(p, "--session", "--nofork", "--nopidfile", "--address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var bc *control.BusConn
	for i := 0; i < 100; i++ {
		if bc, err = h.srv.ConnectBus(addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	// --session wins over UPSTART_SESSION.
	h.expect(t, a("initctl", "--session", "start", "test"), "test start/running, process 1001\n", "", 0)
	h.expect(t, a("initctl", "--session", "--dest=com.ubuntu.Upstart", "status", "test"), "test start/running, process 1001\n", "", 0)
	_, e, c := h.run("initctl", "--session", "--dest=org.example.Nobody", "status", "test")
	if c != 1 || !strings.HasPrefix(e, "initctl: ") {
		t.Errorf("wrong dest: %q %d", e, c)
	}
}

func TestCheckConfig(t *testing.T) {
	h := newHarness(t)
	h.fake.AddJob(api.JobInfo{Name: "bad",
		StartOn: [][]string{{"started", "nosuch"}, {"x-thing"}, {"/OR"}, {"never"}, {"/AND"}},
		StopOn:  [][]string{{"stopping", "JOB=test"}}})
	h.fake.AddJob(api.JobInfo{Name: "good",
		StartOn: [][]string{{"startup"}, {"conf-ready"}, {"/AND"}, {"stopped", "$JOB"}, {"/OR"}}})
	conf := "conf\n  start on: unknown event A\n  start on: unknown event B\n  start on: unknown job C\n  stop on: unknown event F\n"
	h.expect(t, a("initctl", "check-config"), conf+"bad\n  start on: unknown job nosuch\n  start on: unknown event never\n", "", 1)
	h.expect(t, a("initctl", "check-config", "good"), "", "", 0)
	h.expect(t, a("initctl", "check-config", "bad"), "bad\n  start on: unknown job nosuch\n  start on: unknown event never\n", "", 1)
	h.expect(t, a("initctl", "check-config", "-i", "never,A,B,F", "bad"), "", "", 0)
	h.expect(t, a("initctl", "check-config", "-iA,B,F,never", "--warn"), "conf\n  start on: unknown job C\nbad\n  start on: unknown job nosuch\n", "", 1)
	h.expect(t, a("initctl", "check-config", "nope"), "", "initctl: Invalid job class: nope\n", 1)
	for _, c := range []struct {
		p, n string
		want bool
	}{{"x-*", "x-thing", true}, {"*-device-added", "net-device-added", true}, {"a?c", "abc", true},
		{"[!a]b", "ab", false}, {"[a-c]x", "bx", true}, {"*", "a/b", true}, {"ab", "abc", false}} {
		if got := fnmatch(c.p, c.n); got != c.want {
			t.Errorf("fnmatch(%q, %q) = %v", c.p, c.n, got)
		}
	}
}

func TestListSessions(t *testing.T) {
	h := newHarness(t)
	rt := t.TempDir()
	dir := filepath.Join(rt, "upstart", "sessions")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	os.WriteFile(filepath.Join(dir, strconv.Itoa(me)+".session"), []byte("UPSTART_SESSION=unix:abstract=/com/ubuntu/upstart-session/0/"+strconv.Itoa(me)+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "999999999.session"), []byte("UPSTART_SESSION=unix:abstract=/stale\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "junk.txt"), []byte("x"), 0o600)
	h.env["XDG_RUNTIME_DIR"] = rt
	h.expect(t, a("initctl", "list-sessions"), strconv.Itoa(me)+" unix:abstract=/com/ubuntu/upstart-session/0/"+strconv.Itoa(me)+"\n", "", 0)
	h.env["XDG_RUNTIME_DIR"] = filepath.Join(rt, "nope")
	h.expect(t, a("initctl", "list-sessions"), "", "initctl: Unable to query session directory\n", 1)
}

// skipOutsideCI skips when CI is unset; in CI (which installs everything
// and runs as root) a missing capability fails the test.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: this must run)", why)
	}
	t.Skip(why + "; CI is unset")
}

// listingFake adds GetAllStatus (control.StatusLister) to the fake, built
// from what its Upstart calls answer; perInstance counts those calls.
type listingFake struct {
	*controltest.Fake
	bulk, perInstance int
}

func (f *listingFake) Instances(job string) ([]api.InstanceInfo, error) {
	f.perInstance++
	return f.Fake.Instances(job)
}

func (f *listingFake) AllStatus(members bool) []api.JobStatus {
	f.bulk++
	var out []api.JobStatus
	for _, j := range f.Fake.Jobs() {
		insts, _ := f.Fake.Instances(j.Name)
		out = append(out, api.JobStatus{Name: j.Name, Instances: insts})
	}
	return out
}

// `initctl list` takes one GetAllStatus call where the daemon has it, and
// prints byte for byte what Upstart's calls one by one give (the harness's
// fake has no GetAllStatus, so initctl falls back to them there).
func TestListInOneCall(t *testing.T) {
	h := newHarness(t)
	lf := &listingFake{Fake: h.fake}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bulk")
	l, err := control.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(lf, control.Options{Logf: func(string, ...any) {}})
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	bulk := &harness{fake: h.fake, srv: srv, env: map[string]string{"UPSTART_SESSION": addr}}

	h.fake.SetInstance(api.InstanceInfo{Job: "test", Goal: "stop", State: "pre-stop",
		Processes: []api.Process{{Name: "main", Pid: 10}, {Name: "pre-stop", Pid: 11}, {Name: "reopen", Pid: 12}},
		Members:   []api.Process{{Name: "main", Pid: 10}, {Name: "main", Pid: 13}}})
	for _, name := range []string{"beetroot", "a b\tc", "caf\xe9", "\u00e9t\u00e9"} {
		h.fake.SetInstance(api.InstanceInfo{Job: "inst", Name: name, Goal: "start", State: "running",
			Processes: []api.Process{{Name: "main", Pid: 20}}})
	}
	for _, args := range [][]string{{"initctl", "list"}, {"initctl", "-v", "list"}, {"initctl", "-q", "list"}} {
		want, werr, wcode := h.run(args...)
		lf.perInstance = 0
		got, gerr, gcode := bulk.run(args...)
		if got != want || gerr != werr || gcode != wcode || wcode != 0 {
			t.Errorf("%q: one call gives\n%q %q %d\ncall by call\n%q %q %d", args, got, gerr, gcode, want, werr, wcode)
		}
		if lf.perInstance != 0 {
			t.Errorf("%q: %d GetAllInstances calls besides GetAllStatus", args, lf.perInstance)
		}
	}
	if lf.bulk != 3 {
		t.Errorf("%d GetAllStatus calls for 3 lists", lf.bulk)
	}
	if out, _, _ := h.run("initctl", "-v", "list"); !strings.Contains(out, "\tmain process 13 (member)") || !strings.Contains(out, "inst (caf\ufffd) start/running") {
		t.Errorf("list -v: %q", out)
	}
}
