package control

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control/controltest"
)

func TestEscape(t *testing.T) {
	cases := map[string]string{
		"":             "_",
		"avahi-daemon": "avahi_2ddaemon",
		"net/apache":   "net_2fapache",
		"a_b":          "a_5fb",
		"Abc09":        "Abc09",
		"\xff\x80é":    "_ff_80_c3_a9",
		" ":            "_20",
	}
	for in, want := range cases {
		if got := EscapeElement(in); got != want {
			t.Errorf("EscapeElement(%q) = %q, want %q", in, got, want)
		}
		if back, ok := UnescapeElement(want); !ok || back != in {
			t.Errorf("UnescapeElement(%q) = %q, %v", want, back, ok)
		}
		if !dbus.ObjectPath("/x/" + EscapeElement(in)).IsValid() {
			t.Errorf("invalid path element for %q", in)
		}
	}
	for _, bad := range []string{"", "_4", "_zz", "_41", "a-b", "__"} {
		if _, ok := UnescapeElement(bad); ok {
			t.Errorf("UnescapeElement(%q) accepted", bad)
		}
	}
	if p := dInstancePath("foo", ""); p != "/com/ubuntu/Upstart/jobs/foo/_" {
		t.Errorf("InstancePath = %s", p)
	}
	job, inst, hasInst, ok := SplitPath("/com/ubuntu/Upstart/jobs/net_2fapache/x_2dy")
	if !ok || !hasInst || job != "net/apache" || inst != "x-y" {
		t.Errorf("SplitPath: %q %q %v %v", job, inst, hasInst, ok)
	}
}

// fixture: a fake backend with some jobs, served on a unix:path socket.
type fixture struct {
	fake *controltest.Fake
	srv  *Server
	addr string
	logs chan string
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := controltest.New()
	f.AddJob(api.JobInfo{Name: "foo", Description: "the foo job", Author: "me", Version: "1.0",
		StartOn: [][]string{{"startup"}, {"started", "bar", "X=y"}, {"/AND"}},
		StopOn:  [][]string{{"runlevel", "[!2345]"}},
		Emits:   []string{"foo-ready"}})
	f.AddJob(api.JobInfo{Name: "net/apache", Usage: "net/apache PORT=N"})
	f.InstanceVar["net/apache"] = "PORT"
	f.SetInstance(api.InstanceInfo{Job: "foo", Name: "", Goal: "start", State: "running",
		Processes: []api.Process{{Name: "main", Pid: 3648}, {Name: "post-start", Pid: 2137}}})
	dir := t.TempDir()
	addr := "unix:path=" + filepath.Join(dir, "sock")
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 16)
	if opts.Logf == nil {
		opts.Logf = func(format string, a ...any) {
			select {
			case logs <- format:
			default:
			}
		}
	}
	srv := NewServer(f, opts)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{fake: f, srv: srv, addr: addr, logs: logs}
}

func (fx *fixture) dial(t testing.TB) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Dial(fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call makes a method call without a destination (peer-to-peer).
func pcall(conn *dbus.Conn, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	return conn.Object("", path).Call(method, 0, args...)
}

func errName(err error) string {
	var e dbus.Error
	if errors.As(err, &e) {
		return e.Name
	}
	var pe *dbus.Error
	if errors.As(err, &pe) {
		return pe.Name
	}
	// PeerClient's and BusConn's errors.
	var oe Error
	if errors.As(err, &oe) {
		return oe.Name
	}
	var ope *Error
	if errors.As(err, &ope) {
		return ope.Name
	}
	return ""
}

func wantErr(t *testing.T, c *dbus.Call, name, msg string) {
	t.Helper()
	if c.Err == nil {
		t.Fatalf("no error, want %s", name)
	}
	if got := errName(c.Err); got != name {
		t.Fatalf("error name %q (%v), want %q", got, c.Err, name)
	}
	if msg != "" && c.Err.Error() != msg {
		t.Fatalf("error message %q, want %q", c.Err.Error(), msg)
	}
}

func TestManagerMethods(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)

	var job dbus.ObjectPath
	if err := pcall(conn, ManagerPath, ManagerIface+".GetJobByName", "net/apache").Store(&job); err != nil {
		t.Fatal(err)
	}
	if job != "/com/ubuntu/Upstart/jobs/net_2fapache" {
		t.Errorf("GetJobByName = %s", job)
	}
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetJobByName", "nope"), api.ErrUnknownJob, "Unknown job: nope")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetJobByName", ""), api.ErrInvalidArgs, "Name may not be empty string")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetJobByName", int32(3)), api.ErrInvalidArgs, "")

	var jobs []dbus.ObjectPath
	if err := pcall(conn, ManagerPath, ManagerIface+".GetAllJobs").Store(&jobs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jobs, []dbus.ObjectPath{dJobPath("foo"), dJobPath("net/apache")}) {
		t.Errorf("GetAllJobs = %v", jobs)
	}

	if c := pcall(conn, ManagerPath, ManagerIface+".EmitEvent", "hello", []string{"A=b"}, true); c.Err != nil {
		t.Fatal(c.Err)
	}
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".EmitEvent", "hello", []string{"Ab"}, true), api.ErrInvalidArgs, "Env must be KEY=VALUE pairs")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".EmitEvent", "", []string{}, false), api.ErrInvalidArgs, "Name may not be empty string")
	fx.fake.SetEmitHook(func(string, []string, bool) error { return api.Errorf(api.ErrEventFailed, "Event failed") })
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".EmitEvent", "x", []string{}, true), api.ErrEventFailed, "Event failed")
	fx.fake.SetEmitHook(nil)

	if c := pcall(conn, ManagerPath, ManagerIface+".ReloadConfiguration"); c.Err != nil {
		t.Fatal(c.Err)
	}

	// Environment.
	if c := pcall(conn, ManagerPath, ManagerIface+".SetEnvList", []string{}, []string{"FOO=bar", "EMPTY"}, true); c.Err != nil {
		t.Fatal(c.Err)
	}
	if c := pcall(conn, ManagerPath, ManagerIface+".SetEnv", []string{}, "ONE=1", false); c.Err != nil {
		t.Fatal(c.Err)
	}
	var v string
	if err := pcall(conn, ManagerPath, ManagerIface+".GetEnv", []string{}, "FOO").Store(&v); err != nil || v != "bar" {
		t.Fatalf("GetEnv = %q, %v", v, err)
	}
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetEnv", []string{}, ""), api.ErrInvalidArgs, "Variable may not be empty string")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetEnv", []string{"", ""}, "X"), api.ErrInvalidArgs, "Job may not be empty string")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetEnv", []string{"foo", "zz"}, "X"), api.ErrUnknownJobInstance, "Unknown instance: zz of job foo")
	if c := pcall(conn, ManagerPath, ManagerIface+".UnsetEnvList", []string{}, []string{"ONE"}); c.Err != nil {
		t.Fatal(c.Err)
	}
	if c := pcall(conn, ManagerPath, ManagerIface+".UnsetEnv", []string{}, "EMPTY"); c.Err != nil {
		t.Fatal(c.Err)
	}
	var env []string
	if err := pcall(conn, ManagerPath, ManagerIface+".ListEnv", []string{}).Store(&env); err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/usr/bin:/bin", "TERM=linux", "FOO=bar"}; !reflect.DeepEqual(env, want) {
		t.Errorf("ListEnv = %q, want %q", env, want)
	}
	if c := pcall(conn, ManagerPath, ManagerIface+".ResetEnv", []string{}); c.Err != nil {
		t.Fatal(c.Err)
	}

	if c := pcall(conn, ManagerPath, ManagerIface+".NotifyDiskWriteable"); c.Err != nil {
		t.Fatal(c.Err)
	}
	// Not implemented by the fake: a clear error, no fake success.
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetState"), ErrNotSupported, "")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".Restart"), ErrNotSupported, "")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".EndSession"), ErrNotSupported, "")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".NotifyDBusAddress", "unix:path=/x"), ErrNotSupported, "")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".NoSuchMethod"), "org.freedesktop.DBus.Error.UnknownMethod", "")

	if c := pcall(conn, ManagerPath, "org.freedesktop.DBus.Peer.Ping"); c.Err != nil {
		t.Fatal(c.Err)
	}
	// No interface given: found by member name.
	if err := pcall(conn, ManagerPath, "GetJobByName", "foo").Store(&job); err != nil || job != dJobPath("foo") {
		t.Fatalf("GetJobByName without interface: %v %v", job, err)
	}

	want := []string{
		"Emit hello A=b wait", "Emit x  wait", "ReloadConfiguration",
		"SetEnv  FOO=bar EMPTY replace", "SetEnv  ONE=1 retain", "UnsetEnv  ONE", "UnsetEnv  EMPTY", "ResetEnv ",
	}
	if got := fx.fake.CallLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%q\nwant\n%q", got, want)
	}
}

func TestJobAndInstanceMethods(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	jp := dJobPath("net/apache")

	var inst dbus.ObjectPath
	if err := pcall(conn, jp, JobIface+".Start", []string{"PORT=80"}, true).Store(&inst); err != nil {
		t.Fatal(err)
	}
	if inst != "/com/ubuntu/Upstart/jobs/net_2fapache/80" {
		t.Errorf("Start = %s", inst)
	}
	wantErr(t, pcall(conn, jp, JobIface+".Start", []string{"PORT=80"}, true), api.ErrAlreadyStarted, "Job is already running: net/apache")
	wantErr(t, pcall(conn, jp, JobIface+".Start", []string{"PORT"}, true), api.ErrInvalidArgs, "Env must be KEY=VALUE pairs")
	wantErr(t, pcall(conn, jp, JobIface+".Start", []string{}, true), api.ErrInvalidArgs, "Unknown parameter: PORT\nUsage: net/apache PORT=N")

	if err := pcall(conn, jp, JobIface+".GetInstance", []string{"PORT=80"}).Store(&inst); err != nil || inst != dInstancePath("net/apache", "80") {
		t.Fatalf("GetInstance: %v %v", inst, err)
	}
	wantErr(t, pcall(conn, jp, JobIface+".GetInstance", []string{"PORT=81"}), api.ErrUnknownInstance, "Unknown instance: 81")
	if err := pcall(conn, jp, JobIface+".GetInstanceByName", "80").Store(&inst); err != nil || inst != dInstancePath("net/apache", "80") {
		t.Fatalf("GetInstanceByName: %v %v", inst, err)
	}
	var insts []dbus.ObjectPath
	if err := pcall(conn, jp, JobIface+".GetAllInstances").Store(&insts); err != nil || len(insts) != 1 {
		t.Fatalf("GetAllInstances: %v %v", insts, err)
	}
	if err := pcall(conn, jp, JobIface+".Restart", []string{"PORT=80"}, false).Store(&inst); err != nil {
		t.Fatal(err)
	}
	ip := dInstancePath("net/apache", "80")
	for _, m := range []string{"Stop", "Start", "Restart"} {
		if c := pcall(conn, ip, InstanceIface+"."+m, false); c.Err != nil {
			t.Fatalf("Instance.%s: %v", m, c.Err)
		}
	}
	if c := pcall(conn, ip, InstanceIface+".Reload"); c.Err != nil {
		t.Fatal(c.Err)
	}
	if c := pcall(conn, jp, JobIface+".Stop", []string{"PORT=80"}, true); c.Err != nil {
		t.Fatal(c.Err)
	}
	wantErr(t, pcall(conn, jp, JobIface+".Stop", []string{"PORT=80"}, true), api.ErrUnknownInstance, "Unknown instance: 80")
	// The instance is gone, so is its object.
	// The instance is gone, so is its object: libdbus's answer.
	wantErr(t, pcall(conn, ip, InstanceIface+".Reload"), ErrUnknownMethod,
		"Method \"Reload\" with signature \"\" on interface \"com.ubuntu.Upstart0_6.Instance\" doesn't exist\n")
	wantErr(t, pcall(conn, dJobPath("nope"), JobIface+".Start", []string{}, true), ErrUnknownMethod,
		"Method \"Start\" with signature \"asb\" on interface \"com.ubuntu.Upstart0_6.Job\" doesn't exist\n")

	fx.fake.SetInstance(api.InstanceInfo{Job: "foo", Name: "x", Goal: "start", State: "pre-start",
		Processes: []api.Process{{Name: "pre-start", Pid: 12}}})
	wantErr(t, pcall(conn, dInstancePath("foo", "x"), InstanceIface+".Reload"), api.ErrNotRunning, "Job is not running: foo")

	want := []string{
		"Start net/apache PORT=80 wait", "Start net/apache PORT=80 wait", "Start net/apache  wait",
		"Restart net/apache PORT=80 nowait",
		"StopInstance net/apache 80 nowait", "StartInstance net/apache 80 nowait", "RestartInstance net/apache 80 nowait",
		"Reload net/apache 80", "Stop net/apache PORT=80 wait", "Stop net/apache PORT=80 wait", "Reload foo x",
	}
	if got := fx.fake.CallLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%q\nwant\n%q", got, want)
	}
}

func TestProperties(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)

	get := func(path dbus.ObjectPath, iface, name string) dbus.Variant {
		t.Helper()
		var v dbus.Variant
		if err := pcall(conn, path, PropertiesIface+".Get", iface, name).Store(&v); err != nil {
			t.Fatalf("Get %s.%s: %v", iface, name, err)
		}
		return v
	}
	check := func(v dbus.Variant, sig string, want any) {
		t.Helper()
		if v.Signature().String() != sig {
			t.Errorf("signature %s, want %s", v.Signature(), sig)
		}
		if !reflect.DeepEqual(v.Value(), want) {
			t.Errorf("value %#v, want %#v", v.Value(), want)
		}
	}
	check(get(ManagerPath, ManagerIface, "version"), "s", "init (upstart 1.13.2)")
	check(get(ManagerPath, ManagerIface, "log_priority"), "s", "message")
	jp := dJobPath("foo")
	check(get(jp, JobIface, "name"), "s", "foo")
	check(get(jp, JobIface, "description"), "s", "the foo job")
	check(get(jp, JobIface, "author"), "s", "me")
	check(get(jp, JobIface, "version"), "s", "1.0")
	check(get(jp, JobIface, "usage"), "s", "")
	check(get(jp, JobIface, "start_on"), "aas", [][]string{{"startup"}, {"started", "bar", "X=y"}, {"/AND"}})
	check(get(jp, JobIface, "stop_on"), "aas", [][]string{{"runlevel", "[!2345]"}})
	check(get(jp, JobIface, "emits"), "as", []string{"foo-ready"})
	check(get(dJobPath("net/apache"), JobIface, "start_on"), "aas", [][]string{})
	ip := dInstancePath("foo", "")
	check(get(ip, InstanceIface, "name"), "s", "")
	check(get(ip, InstanceIface, "goal"), "s", "start")
	check(get(ip, InstanceIface, "state"), "s", "running")
	check(get(ip, InstanceIface, "processes"), "a(si)", [][]any{{"main", int32(3648)}, {"post-start", int32(2137)}})

	// Look at the reply body itself: Store into a map would rebuild the
	// variants from the decoded values and lose the struct signature.
	getAll := func(path dbus.ObjectPath, iface string) map[string]dbus.Variant {
		t.Helper()
		c := pcall(conn, path, PropertiesIface+".GetAll", iface)
		if c.Err != nil {
			t.Fatal(c.Err)
		}
		return c.Body[0].(map[string]dbus.Variant)
	}
	all := getAll(ip, InstanceIface)
	if len(all) != 4 || all["processes"].Signature().String() != "a(si)" || all["goal"].Value() != "start" {
		t.Errorf("GetAll instance = %v (%s %#v)", all, all["processes"].Signature(), all["goal"].Value())
	}
	all = getAll(jp, JobIface)
	if len(all) != 8 || all["start_on"].Signature().String() != "aas" {
		t.Errorf("GetAll job = %v", all)
	}
	if all = getAll(ManagerPath, ""); len(all) != 2 {
		t.Errorf("GetAll manager = %v", all)
	}

	if c := pcall(conn, ManagerPath, PropertiesIface+".Set", ManagerIface, "log_priority", dbus.MakeVariant("debug")); c.Err != nil {
		t.Fatal(c.Err)
	}
	check(get(ManagerPath, ManagerIface, "log_priority"), "s", "debug")
	wantErr(t, pcall(conn, ManagerPath, PropertiesIface+".Set", ManagerIface, "log_priority", dbus.MakeVariant("loud")),
		api.ErrInvalidArgs, "The log priority given was not recognised")
	// No setter, no such property: libnih leaves the call to libdbus.
	wantErr(t, pcall(conn, ManagerPath, PropertiesIface+".Set", ManagerIface, "version", dbus.MakeVariant("x")), ErrUnknownMethod,
		"Method \"Set\" with signature \"ssv\" on interface \"org.freedesktop.DBus.Properties\" doesn't exist\n")
	wantErr(t, pcall(conn, ManagerPath, PropertiesIface+".Get", ManagerIface, "nope"), ErrUnknownMethod,
		"Method \"Get\" with signature \"ss\" on interface \"org.freedesktop.DBus.Properties\" doesn't exist\n")
	wantErr(t, pcall(conn, ManagerPath, PropertiesIface+".Set", ManagerIface, "log_priority", dbus.MakeVariant(int32(1))),
		api.ErrInvalidArgs, "Invalid arguments to log_priority property")
	wantErr(t, pcall(conn, ManagerPath, PropertiesIface+".Get", ManagerIface), api.ErrInvalidArgs, "Invalid arguments to Get method")
}

func TestIntrospect(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	var xml string
	if err := pcall(conn, ManagerPath, IntrospectIface+".Introspect").Store(&xml); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<interface name="com.ubuntu.Upstart0_6">`,
		`<method name="EmitEventWithFile">`,
		`<arg name="file" type="h" direction="in"/>`,
		`<signal name="EventEmitted">`,
		`<property name="log_priority" type="s" access="readwrite"/>`,
		`<node name="jobs"/>`,
	} {
		if !strings.Contains(xml, want) {
			t.Errorf("manager introspection lacks %s:\n%s", want, xml)
		}
	}
	if err := pcall(conn, JobsPath, IntrospectIface+".Introspect").Store(&xml); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xml, `<node name="net_2fapache"/>`) {
		t.Errorf("jobs node:\n%s", xml)
	}
	if err := pcall(conn, dJobPath("foo"), IntrospectIface+".Introspect").Store(&xml); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xml, `<property name="start_on" type="aas" access="read"/>`) || !strings.Contains(xml, `<node name="_"/>`) {
		t.Errorf("job node:\n%s", xml)
	}
	if err := pcall(conn, dInstancePath("foo", ""), IntrospectIface+".Introspect").Store(&xml); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xml, `<property name="processes" type="a(si)" access="read"/>`) {
		t.Errorf("instance node:\n%s", xml)
	}
	if err := pcall(conn, "/", IntrospectIface+".Introspect").Store(&xml); err != nil || !strings.Contains(xml, `<node name="com"/>`) {
		t.Errorf("root node: %v\n%s", err, xml)
	}
}

func TestSignals(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	conn2 := fx.dial(t)
	ch := make(chan *dbus.Signal, 32)
	conn.Signal(ch)
	ch2 := make(chan *dbus.Signal, 32)
	conn2.Signal(ch2)
	// Make sure both connections are registered before sending.
	for _, c := range []*dbus.Conn{conn, conn2} {
		if err := pcall(c, ManagerPath, "org.freedesktop.DBus.Peer.Ping").Err; err != nil {
			t.Fatal(err)
		}
	}
	sigs := []api.Signal{
		{Kind: api.JobAdded, Job: "a-b"},
		{Kind: api.JobRemoved, Job: "a-b"},
		{Kind: api.InstanceAdded, Job: "foo", Instance: "i"},
		{Kind: api.InstanceRemoved, Job: "foo", Instance: ""},
		{Kind: api.GoalChanged, Job: "foo", Instance: "i", Value: "stop"},
		{Kind: api.StateChanged, Job: "foo", Instance: "i", Value: "pre-stop"},
		{Kind: api.Failed, Job: "foo", Instance: "", Status: 15 << 8},
		{Kind: api.EventEmitted, Value: "startup", Env: []string{"A=b"}},
		{Kind: api.EventEmitted, Value: "bare"},
		{Kind: api.Restarted},
	}
	want := []struct {
		path dbus.ObjectPath
		name string
		body []any
	}{
		{ManagerPath, ManagerIface + ".JobAdded", []any{dbus.ObjectPath("/com/ubuntu/Upstart/jobs/a_2db")}},
		{ManagerPath, ManagerIface + ".JobRemoved", []any{dbus.ObjectPath("/com/ubuntu/Upstart/jobs/a_2db")}},
		{dJobPath("foo"), JobIface + ".InstanceAdded", []any{dInstancePath("foo", "i")}},
		{dJobPath("foo"), JobIface + ".InstanceRemoved", []any{dInstancePath("foo", "")}},
		{dInstancePath("foo", "i"), InstanceIface + ".GoalChanged", []any{"stop"}},
		{dInstancePath("foo", "i"), InstanceIface + ".StateChanged", []any{"pre-stop"}},
		{dInstancePath("foo", ""), InstanceIface + ".Failed", []any{int32(15 << 8)}},
		{ManagerPath, ManagerIface + ".EventEmitted", []any{"startup", []string{"A=b"}}},
		{ManagerPath, ManagerIface + ".EventEmitted", []any{"bare", []string{}}},
		{ManagerPath, ManagerIface + ".Restarted", nil},
	}
	for _, s := range sigs {
		fx.fake.Send(s)
	}
	for _, c := range []chan *dbus.Signal{ch, ch2} {
		for i, w := range want {
			select {
			case got := <-c:
				if got.Path != w.path || got.Name != w.name || !reflect.DeepEqual(got.Body, w.body) {
					if !(len(got.Body) == 0 && len(w.body) == 0 && got.Path == w.path && got.Name == w.name) {
						t.Errorf("signal %d: got %s %s %#v, want %s %s %#v", i, got.Path, got.Name, got.Body, w.path, w.name, w.body)
					}
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("signal %d (%s) not received", i, w.name)
			}
		}
	}
}

// A blocking call (Start with wait) does not hold up other calls on the
// same connection.
func TestBlockingCallDoesNotBlockConnection(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	gate := make(chan struct{})
	fx.fake.SetGate(gate)
	done := make(chan *dbus.Call, 1)
	conn.Object("", dJobPath("net/apache")).Go(JobIface+".Start", 0, done, []string{"PORT=1"}, true)
	for i := 0; i < 3; i++ {
		var v dbus.Variant
		if err := pcall(conn, ManagerPath, PropertiesIface+".Get", ManagerIface, "version").Store(&v); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case c := <-done:
		t.Fatalf("Start returned before the gate opened: %v", c.Err)
	default:
	}
	close(gate)
	select {
	case c := <-done:
		if c.Err != nil {
			t.Fatal(c.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return")
	}
}

func TestEmitEventWithFile(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	if !conn.SupportsUnixFDs() {
		t.Fatal("client did not negotiate unix fd passing")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("payload")
	w.Close()
	c := pcall(conn, ManagerPath, ManagerIface+".EmitEventWithFile", "with-file", []string{"A=1"}, true, dbus.UnixFD(r.Fd()))
	r.Close()
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	if got := fx.fake.EmittedFile(); got != "payload" {
		t.Errorf("file content %q", got)
	}
	// And the connection still works afterwards.
	if err := pcall(conn, ManagerPath, "org.freedesktop.DBus.Peer.Ping").Err; err != nil {
		t.Fatal(err)
	}
}

func TestPermissionRefusedAtAuth(t *testing.T) {
	fx := newFixture(t, Options{AllowUID: func(uint32) bool { return false }})
	conn, err := dbus.Dial(fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	// The first call is refused with a clear error, and the connection
	// is closed: there is nothing else for it to do.
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".GetAllJobs"), api.ErrPermissionDenied, "You do not have permission to use this init daemon (uid "+strconv.Itoa(os.Geteuid())+")")
	if err := pcall(conn, ManagerPath, IntrospectIface+".Introspect").Err; err == nil {
		t.Error("a second call of a refused peer was answered")
	}
	if len(fx.fake.CallLog()) != 0 {
		t.Errorf("backend called: %q", fx.fake.CallLog())
	}
	select {
	case msg := <-fx.logs:
		if !strings.Contains(msg, "refused") {
			t.Errorf("log %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Error("refusal not logged")
	}
}

func TestPrivilegedMethods(t *testing.T) {
	fx := newFixture(t, Options{Privileged: func(uint32) bool { return false }})
	conn := fx.dial(t)
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".ReloadConfiguration"), api.ErrPermissionDenied, "You do not have permission to reload configuration")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".EmitEvent", "x", []string{}, false), api.ErrPermissionDenied, "")
	wantErr(t, pcall(conn, ManagerPath, ManagerIface+".SetEnvList", []string{}, []string{"A=b"}, true), api.ErrPermissionDenied, "")
	wantErr(t, pcall(conn, ManagerPath, PropertiesIface+".Set", ManagerIface, "log_priority", dbus.MakeVariant("debug")), api.ErrPermissionDenied, "")
	// Reading stays allowed.
	if c := pcall(conn, ManagerPath, ManagerIface+".GetAllJobs"); c.Err != nil {
		t.Fatal(c.Err)
	}
	if len(fx.fake.CallLog()) != 0 {
		t.Errorf("backend called: %q", fx.fake.CallLog())
	}
}

func TestSASLDetails(t *testing.T) {
	fx := newFixture(t, Options{})
	kind, path, _ := parseUnixAddress(fx.addr)
	if kind != "path" {
		t.Fatal(kind)
	}
	c, err := netDial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	exchange := func(send, want string) {
		t.Helper()
		if _, err := c.Write([]byte(send)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, want) {
			t.Fatalf("sent %q, got %q, want %q…", send, got, want)
		}
	}
	exchange("\x00AUTH\r\n", "REJECTED EXTERNAL\r\n")
	exchange("AUTH DBUS_COOKIE_SHA1 abc\r\n", "REJECTED EXTERNAL\r\n")
	exchange("NEGOTIATE_UNIX_FD\r\n", "ERROR")
	exchange("AUTH EXTERNAL\r\n", "DATA\r\n")
	exchange("DATA\r\n", "OK ")
	exchange("NEGOTIATE_UNIX_FD\r\n", "AGREE_UNIX_FD\r\n")
}

func TestListenAbstract(t *testing.T) {
	addr := "unix:abstract=/goupstart/test/" + strings.ReplaceAll(t.Name(), "/", "_") + "/" + time.Now().Format("150405.000000000")
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	f := controltest.New()
	srv := NewServer(f, Options{})
	go srv.Serve(l)
	defer srv.Close()
	conn, err := dbus.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	var v dbus.Variant
	if err := pcall(conn, ManagerPath, PropertiesIface+".Get", ManagerIface, "version").Store(&v); err != nil || v.Value() != api.Version {
		t.Fatalf("%v %v", v, err)
	}
}

// External clients: dbus-send and gdbus against the private socket.
func TestExternalClients(t *testing.T) {
	fx := newFixture(t, Options{})
	if p, err := exec.LookPath("dbus-send"); err == nil {
		out, err := exec.Command(p, "--peer="+fx.addr, "--print-reply", "/com/ubuntu/Upstart",
			"com.ubuntu.Upstart0_6.GetJobByName", "string:net/apache").CombinedOutput()
		if err != nil {
			t.Fatalf("dbus-send: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), `object path "/com/ubuntu/Upstart/jobs/net_2fapache"`) {
			t.Errorf("dbus-send output:\n%s", out)
		}
		out, err = exec.Command(p, "--peer="+fx.addr, "--print-reply", "/com/ubuntu/Upstart",
			"com.ubuntu.Upstart0_6.GetJobByName", "string:nope").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "com.ubuntu.Upstart0_6.Error.UnknownJob") {
			t.Errorf("dbus-send error: %v\n%s", err, out)
		}
	} else {
		t.Log("dbus-send not installed")
	}
	p, err := exec.LookPath("gdbus")
	if err != nil {
		skipOutsideCI(t, "gdbus not installed")
	}
	out, err := exec.Command(p, "introspect", "--address", fx.addr, "--dest", BusName, "--object-path", "/com/ubuntu/Upstart").CombinedOutput()
	if err != nil {
		t.Fatalf("gdbus introspect: %v\n%s", err, out)
	}
	for _, m := range managerSpec.methods {
		if !strings.Contains(string(out), m.name+"(") {
			t.Errorf("gdbus introspection lacks method %s", m.name)
		}
	}
	if !strings.Contains(string(out), "readwrite s log_priority") {
		t.Errorf("gdbus introspection lacks log_priority:\n%s", out)
	}
	out, err = exec.Command(p, "introspect", "--address", fx.addr, "--dest", BusName, "--object-path", string(dJobPath("foo"))).CombinedOutput()
	if err != nil {
		t.Fatalf("gdbus introspect job: %v\n%s", err, out)
	}
	for _, m := range jobSpec.methods {
		if !strings.Contains(string(out), m.name+"(") {
			t.Errorf("gdbus job introspection lacks method %s:\n%s", m.name, out)
		}
	}
	out, err = exec.Command(p, "call", "--address", fx.addr, "--dest", BusName, "--object-path", "/com/ubuntu/Upstart",
		"--method", "com.ubuntu.Upstart0_6.GetAllJobs").CombinedOutput()
	if err != nil {
		t.Fatalf("gdbus call: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "objectpath '/com/ubuntu/Upstart/jobs/foo'") {
		t.Errorf("gdbus call output:\n%s", out)
	}
	out, err = exec.Command(p, "call", "--address", fx.addr, "--dest", BusName, "--object-path", string(dInstancePath("foo", "")),
		"--method", "org.freedesktop.DBus.Properties.Get", "com.ubuntu.Upstart0_6.Instance", "processes").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "[('main', 3648), ('post-start', 2137)]") {
		t.Errorf("gdbus Get processes: %v\n%s", err, out)
	}
}

func netDial(path string) (net.Conn, error) { return net.Dial("unix", path) }

// startBus runs a private dbus-daemon and returns its address.
// busClient is a godbus client of the test bus at addr, authenticated and
// named; it is closed when the test ends.
func busClient(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.Hello(); err != nil {
		t.Fatal(err)
	}
	return conn
}

// serveOnBus starts a test bus and connects fx's server to it (closed when
// the test ends); it returns the bus's address.
func serveOnBus(t *testing.T, fx *fixture) string {
	t.Helper()
	addr := startBus(t)
	bc, err := fx.srv.ConnectBus(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bc.Close() })
	return addr
}

func startBus(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dbus-daemon")
	if err != nil {
		skipOutsideCI(t, "dbus-daemon not installed")
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(p, "--session", "--nofork", "--nopidfile", "--address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := dbus.Dial(addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("dbus-daemon did not come up")
	return ""
}

func TestConnectBus(t *testing.T) {
	fx := newFixture(t, Options{})
	addr := serveOnBus(t, fx)
	if _, err := fx.srv.ConnectBus(addr); err == nil || err.Error() != "Name already taken" {
		t.Errorf("second ConnectBus: %v", err)
	}

	conn := busClient(t, addr)
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(ManagerIface)); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 8)
	conn.Signal(ch)

	obj := conn.Object(BusName, ManagerPath)
	var job dbus.ObjectPath
	if err := obj.Call(ManagerIface+".GetJobByName", 0, "foo").Store(&job); err != nil || job != dJobPath("foo") {
		t.Fatalf("GetJobByName over the bus: %v %v", job, err)
	}
	// Permission-checked method: the caller's uid comes from the bus.
	if c := obj.Call(ManagerIface+".ReloadConfiguration", 0); c.Err != nil {
		t.Fatal(c.Err)
	}
	fx.fake.Send(api.Signal{Kind: api.JobAdded, Job: "new"})
	select {
	case s := <-ch:
		if s.Name != ManagerIface+".JobAdded" || s.Body[0] != dJobPath("new") {
			t.Errorf("signal %v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal over the bus")
	}
}

// The daemon's own bus client: calls to the bus, the bus's errors, calls
// made to it (it serves none), and Done once the bus goes away.
func TestDialBus(t *testing.T) {
	fx := newFixture(t, Options{})
	addr := serveOnBus(t, fx)
	c, err := DialBus(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.Name(), ":") {
		t.Errorf("unique name %q", c.Name())
	}
	call := func(member string, args ...any) ([]any, error) {
		return c.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", member, args...)
	}
	for name, want := range map[string]bool{BusName: true, "org.example.Nobody": false} {
		out, err := call("NameHasOwner", name)
		if err != nil || !reflect.DeepEqual(out, []any{want}) {
			t.Errorf("NameHasOwner %s: %v %v", name, out, err)
		}
	}
	out, err := call("GetConnectionUnixUser", c.Name())
	if err != nil || !reflect.DeepEqual(out, []any{uint32(os.Geteuid())}) {
		t.Errorf("GetConnectionUnixUser: %v %v", out, err)
	}
	// a{ss}, encoded by us.
	if _, err := call("UpdateActivationEnvironment", map[string]string{"GOUPSTART_TEST": "1"}); err != nil {
		t.Errorf("UpdateActivationEnvironment: %v", err)
	}
	_, err = call("GetConnectionUnixUser", ":1.99999")
	if errName(err) != "org.freedesktop.DBus.Error.NameHasNoOwner" {
		t.Errorf("error from the bus: %#v", err)
	}
	// A call to the plain client is refused, not left unanswered.
	conn := busClient(t, addr)
	err = conn.Object(c.Name(), "/x").Call("org.example.X.Y", 0).Err
	if errName(err) != ErrUnknownMethod {
		t.Errorf("call to a plain client: %v", err)
	}
	// The daemon's connection answers Peer.Ping.
	if err := conn.Object(BusName, "/").Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		t.Errorf("Ping: %v", err)
	}
	c.Close()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if _, err := call("NameHasOwner", BusName); err == nil {
		t.Error("a call on a closed connection succeeded")
	}
}

// Signals reach a connection while a call on it blocks, and a call that
// arrives meanwhile is answered.
func TestSignalDuringBlockingCall(t *testing.T) {
	fx := newFixture(t, Options{})
	conn := fx.dial(t)
	ch := make(chan *dbus.Signal, 8)
	conn.Signal(ch)
	gate := make(chan struct{})
	fx.fake.SetGate(gate)
	defer close(gate)
	done := make(chan *dbus.Call, 1)
	conn.Object("", dJobPath("net/apache")).Go(JobIface+".Start", 0, done, []string{"PORT=1"}, true)
	// Let the server start running Start before the signal comes.
	time.Sleep(20 * time.Millisecond)
	fx.fake.Send(api.Signal{Kind: api.JobAdded, Job: "late"})
	select {
	case s := <-ch:
		if s.Name != ManagerIface+".JobAdded" || !reflect.DeepEqual(s.Body, []any{dJobPath("late")}) {
			t.Fatalf("signal %v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal while a call blocks")
	}
	if err := pcall(conn, ManagerPath, ManagerIface+".GetJobByName", "foo").Err; err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-done:
		t.Fatalf("Start returned before the gate opened: %v", c.Err)
	default:
	}
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

// dJobPath and dInstancePath are the paths as godbus takes them.
func dJobPath(job string) dbus.ObjectPath { return dbus.ObjectPath(JobPath(job)) }
func dInstancePath(job, instance string) dbus.ObjectPath {
	return dbus.ObjectPath(InstancePath(job, instance))
}
