package integration

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// The whole D-Bus API of a real `init --user`, driven by dbus-send and
// gdbus, on its private socket and on a real dbus-daemon (which the
// session instance joins through `initctl notify-dbus-address`).

const (
	upstartManager  = "/com/ubuntu/Upstart"
	upstartIface    = "com.ubuntu.Upstart0_6"
	upstartJob      = "com.ubuntu.Upstart0_6.Job"
	upstartInstance = "com.ubuntu.Upstart0_6.Instance"
	propsIface      = "org.freedesktop.DBus.Properties"
)

// controlJobs are the job files of the API tests.
var controlJobs = map[string]string{
	"svc": `description "a service"
author "someone"
version "1.0"
usage "svc takes no arguments"
emits svc-ready
emits x-*
start on go or (startup and started other)
stop on halt X=y
exec sh -c 'trap "" HUP; exec sleep 3600'
`,
	"inst":  "instance $N\nusage \"inst N=NAME\"\nexec sleep 3600\n",
	"other": "task\nexec true\n",
	"fd":    "start on withfile\ntask\nexec sh -c 'echo fds=$UPSTART_FDS'\n",
}

// endpoint is one way of reaching the daemon.
type endpoint struct {
	name  string
	send  []string // dbus-send options
	gdbus []string // gdbus options
	dial  func() (*dbus.Conn, error)
	dest  string
}

func privateEndpoint(addr string) endpoint {
	return endpoint{
		name:  "private socket",
		send:  []string{"--peer=" + addr},
		gdbus: []string{"--address", addr, "--dest", "com.ubuntu.Upstart"},
		dial: func() (*dbus.Conn, error) {
			c, err := dbus.Dial(addr)
			if err == nil {
				err = c.Auth(nil)
			}
			return c, err
		},
	}
}

func busEndpoint(addr string) endpoint {
	return endpoint{
		name:  "bus",
		send:  []string{"--bus=" + addr, "--dest=com.ubuntu.Upstart"},
		gdbus: []string{"--address", addr, "--dest", "com.ubuntu.Upstart"},
		dest:  "com.ubuntu.Upstart",
		dial: func() (*dbus.Conn, error) {
			c, err := dbus.Dial(addr)
			if err == nil {
				err = c.Auth(nil)
			}
			if err == nil {
				err = c.Hello()
			}
			return c, err
		},
	}
}

// apiCall is one method call, spelled for both tools.
type apiCall struct {
	path, method string
	send         []string // dbus-send arguments
	gdbus        []string // gdbus (GVariant text) arguments
	reply        []string // signature of each reply value ("v:T" for a variant holding T)
	orError      string   // an acceptable error name instead
	wantError    string   // the error name this call must give
	match        string   // regexp the dbus-send output must match
}

func jobPath(j string) string { return upstartManager + "/jobs/" + j }

// apiSequence calls every method of the three interfaces; it leaves the
// jobs as it found them (all stopped), so it can run once per tool and
// endpoint.
func apiSequence(busAddr string) []apiCall {
	m, svc, inst := upstartManager, jobPath("svc"), jobPath("svc")+"/_"
	return []apiCall{
		{path: m, method: upstartIface + ".GetJobByName", send: a("string:svc"), gdbus: a("svc"), reply: a("o"), match: `object path "/com/ubuntu/Upstart/jobs/svc"`},
		{path: m, method: upstartIface + ".GetJobByName", send: a("string:nope"), gdbus: a("nope"), wantError: "com.ubuntu.Upstart0_6.Error.UnknownJob"},
		{path: m, method: upstartIface + ".GetAllJobs", reply: a("ao"), match: `object path "/com/ubuntu/Upstart/jobs/inst"`},
		{path: m, method: upstartIface + ".ReloadConfiguration"},
		{path: m, method: propsIface + ".Get", send: a("string:"+upstartIface, "string:version"), gdbus: a(upstartIface, "version"), reply: a("v:s"), match: `init \(upstart 1\.13\.2\)`},
		{path: m, method: propsIface + ".Set", send: a("string:"+upstartIface, "string:log_priority", "variant:string:info"), gdbus: a(upstartIface, "log_priority", "<'info'>")},
		{path: m, method: propsIface + ".Get", send: a("string:"+upstartIface, "string:log_priority"), gdbus: a(upstartIface, "log_priority"), reply: a("v:s"), match: `"info"`},
		{path: m, method: propsIface + ".Set", send: a("string:"+upstartIface, "string:log_priority", "variant:string:message"), gdbus: a(upstartIface, "log_priority", "<'message'>")},
		{path: m, method: propsIface + ".Set", send: a("string:"+upstartIface, "string:log_priority", "variant:string:loud"), gdbus: a(upstartIface, "log_priority", "<'loud'>"), wantError: "org.freedesktop.DBus.Error.InvalidArgs"},
		{path: m, method: propsIface + ".GetAll", send: a("string:" + upstartIface), gdbus: a(upstartIface), reply: a("a{sv}")},
		{path: m, method: upstartIface + ".SetEnv", send: a("array:string:", "string:FOO=bar", "boolean:true"), gdbus: a("@as []", "FOO=bar", "true")},
		{path: m, method: upstartIface + ".SetEnvList", send: a("array:string:", "array:string:A=1,B=2", "boolean:true"), gdbus: a("@as []", "['A=1', 'B=2']", "true")},
		{path: m, method: upstartIface + ".GetEnv", send: a("array:string:", "string:FOO"), gdbus: a("@as []", "FOO"), reply: a("s"), match: `string "bar"`},
		{path: m, method: upstartIface + ".ListEnv", send: a("array:string:"), gdbus: a("@as []"), reply: a("as"), match: `string "B=2"`},
		{path: m, method: upstartIface + ".UnsetEnv", send: a("array:string:", "string:FOO"), gdbus: a("@as []", "FOO")},
		{path: m, method: upstartIface + ".UnsetEnvList", send: a("array:string:", "array:string:A,B"), gdbus: a("@as []", "['A', 'B']")},
		{path: m, method: upstartIface + ".GetEnv", send: a("array:string:", "string:FOO"), gdbus: a("@as []", "FOO"), wantError: "org.freedesktop.DBus.Error.InvalidArgs"},
		{path: m, method: upstartIface + ".ResetEnv", send: a("array:string:"), gdbus: a("@as []")},
		{path: m, method: upstartIface + ".NotifyDiskWriteable"},
		{path: m, method: upstartIface + ".NotifyDBusAddress", send: a("string:" + busAddr), gdbus: a(busAddr)},
		{path: m, method: upstartIface + ".NotifyCGroupManagerAddress", send: a("string:unix:path=/nonexistent"), gdbus: a("unix:path=/nonexistent"), orError: "org.freedesktop.DBus.Error.NotSupported"},
		{path: m, method: upstartIface + ".GetState", reply: a("s"), orError: "org.freedesktop.DBus.Error.NotSupported"},
		// The event starts svc (start on go), and waits for it.
		{path: m, method: upstartIface + ".EmitEvent", send: a("string:go", "array:string:X=y", "boolean:true"), gdbus: a("go", "['X=y']", "true")},
		{path: m, method: upstartIface + ".EmitEvent", send: a("string:go", "array:string:Xy", "boolean:true"), gdbus: a("go", "['Xy']", "true"), wantError: "org.freedesktop.DBus.Error.InvalidArgs"},

		{path: svc, method: upstartJob + ".GetInstance", send: a("array:string:"), gdbus: a("@as []"), reply: a("o"), match: `"/com/ubuntu/Upstart/jobs/svc/_"`},
		{path: svc, method: upstartJob + ".GetInstanceByName", send: a("string:"), gdbus: a("''"), reply: a("o"), match: `"/com/ubuntu/Upstart/jobs/svc/_"`},
		{path: svc, method: upstartJob + ".GetInstanceByName", send: a("string:x"), gdbus: a("x"), wantError: "com.ubuntu.Upstart0_6.Error.UnknownInstance"},
		{path: svc, method: upstartJob + ".GetAllInstances", reply: a("ao")},
		{path: svc, method: propsIface + ".GetAll", send: a("string:" + upstartJob), gdbus: a(upstartJob), reply: a("a{sv}")},
		{path: svc, method: propsIface + ".Get", send: a("string:"+upstartJob, "string:start_on"), gdbus: a(upstartJob, "start_on"), reply: a("v:aas"),
			match: `(?s)"go".*"startup".*"started"\s+string "other".*"/AND".*"/OR"`},
		{path: svc, method: propsIface + ".Get", send: a("string:"+upstartJob, "string:stop_on"), gdbus: a(upstartJob, "stop_on"), reply: a("v:aas"), match: `(?s)"halt"\s+string "X=y"`},
		{path: svc, method: propsIface + ".Get", send: a("string:"+upstartJob, "string:emits"), gdbus: a(upstartJob, "emits"), reply: a("v:as"), match: `(?s)"svc-ready".*"x-\*"`},
		{path: svc, method: propsIface + ".Get", send: a("string:"+upstartJob, "string:usage"), gdbus: a(upstartJob, "usage"), reply: a("v:s"), match: `"svc takes no arguments"`},
		{path: inst, method: propsIface + ".GetAll", send: a("string:" + upstartInstance), gdbus: a(upstartInstance), reply: a("a{sv}"), match: `(?s)"processes".*struct \{\s+string "main"\s+int32 \d+`},
		{path: inst, method: propsIface + ".Get", send: a("string:"+upstartInstance, "string:processes"), gdbus: a(upstartInstance, "processes"), reply: a("v:a(si)")},
		{path: inst, method: upstartInstance + ".Reload"},
		{path: inst, method: upstartInstance + ".Start", send: a("boolean:true"), gdbus: a("true"), wantError: "com.ubuntu.Upstart0_6.Error.AlreadyStarted"},
		{path: inst, method: upstartInstance + ".Restart", send: a("boolean:true"), gdbus: a("true")},
		{path: inst, method: upstartInstance + ".Stop", send: a("boolean:true"), gdbus: a("true")},
		{path: svc, method: upstartJob + ".Stop", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true"), wantError: "com.ubuntu.Upstart0_6.Error.UnknownInstance"},
		{path: svc, method: upstartJob + ".Start", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true"), reply: a("o"), match: `"/com/ubuntu/Upstart/jobs/svc/_"`},
		{path: svc, method: upstartJob + ".Start", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true"), wantError: "com.ubuntu.Upstart0_6.Error.AlreadyStarted"},
		{path: svc, method: upstartJob + ".Restart", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true"), reply: a("o")},
		{path: svc, method: upstartJob + ".Stop", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true")},

		{path: jobPath("inst"), method: upstartJob + ".Start", send: a("array:string:N=one/two", "boolean:true"), gdbus: a("['N=one/two']", "true"), reply: a("o"), match: `"/com/ubuntu/Upstart/jobs/inst/one_2ftwo"`},
		{path: jobPath("inst"), method: upstartJob + ".Start", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true"), wantError: "org.freedesktop.DBus.Error.InvalidArgs"},
		{path: jobPath("inst") + "/one_2ftwo", method: propsIface + ".Get", send: a("string:"+upstartInstance, "string:name"), gdbus: a(upstartInstance, "name"), reply: a("v:s"), match: `"one/two"`},
		{path: jobPath("inst"), method: upstartJob + ".GetInstance", send: a("array:string:N=one/two"), gdbus: a("['N=one/two']"), reply: a("o")},
		{path: jobPath("inst"), method: upstartJob + ".Stop", send: a("array:string:N=one/two", "boolean:true"), gdbus: a("['N=one/two']", "true")},
		{path: jobPath("other"), method: upstartJob + ".Start", send: a("array:string:", "boolean:true"), gdbus: a("@as []", "true"), reply: a("o")},
	}
}

// runSequence runs every call with one tool on one endpoint.
func runSequence(t *testing.T, ep endpoint, tool string, calls []apiCall) {
	for _, c := range calls {
		var out, errs string
		var code int
		if tool == "dbus-send" {
			args := append(append(append([]string{}, ep.send...), "--print-reply", "--type=method_call", c.path, c.method), c.send...)
			out, errs, code = runTool(t, nil, "dbus-send", args...)
		} else {
			args := append(append([]string{"call"}, ep.gdbus...), "--object-path", c.path, "--method", c.method)
			out, errs, code = runTool(t, nil, "gdbus", append(args, c.gdbus...)...)
		}
		what := tool + " " + ep.name + " " + c.path + " " + c.method + " " + strings.Join(c.send, " ")
		if c.wantError != "" {
			if code == 0 || !strings.Contains(errs, c.wantError) {
				t.Errorf("%s: want error %s, got exit %d\n%s%s", what, c.wantError, code, out, errs)
			}
			continue
		}
		if code != 0 {
			if c.orError != "" && strings.Contains(errs, c.orError) {
				continue
			}
			t.Errorf("%s: exit %d\n%s%s", what, code, out, errs)
			continue
		}
		if tool != "dbus-send" {
			continue
		}
		var got []string
		for _, s := range replySignatures(out) {
			got = append(got, s)
		}
		want := []string(nil)
		for _, r := range c.reply {
			if inner, ok := strings.CutPrefix(r, "v:"); ok {
				r = "v"
				// The variant's content: parse without the variant word.
				_, body, _ := strings.Cut(out, "\n")
				body = strings.Replace(body, "variant", "", 1)
				if s := replySignatures("x\n" + body); len(s) != 1 || s[0] != inner {
					t.Errorf("%s: variant holds %q, want %s\n%s", what, s, inner, out)
				}
			}
			want = append(want, r)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: reply signature %q, want %q\n%s", what, got, want, out)
		}
		if c.match != "" && !regexp.MustCompile(c.match).MatchString(out) {
			t.Errorf("%s: output does not match %s:\n%s", what, c.match, out)
		}
		if c.method == propsIface+".GetAll" {
			for name, sig := range propertyReplyTypes(out) {
				if propertyTypes[name] != sig && !(sig == "a?" && strings.HasPrefix(propertyTypes[name], "a")) {
					t.Errorf("%s: property %s has type %s, Upstart's is %s", what, name, sig, propertyTypes[name])
				}
			}
		}
	}
}

// checkIntrospection compares what gdbus sees of each object with Upstart's
// interface definitions, member by member.
func checkIntrospection(t *testing.T, ep endpoint) {
	objects := map[string]string{
		upstartManager:         upstartIface,
		jobPath("svc"):         upstartJob,
		jobPath("svc") + "/_":  upstartInstance,
		jobPath("inst"):        upstartJob,
		upstartManager + "/..": "",
	}
	// A running instance for the Instance interface.
	if _, errs, code := runTool(t, nil, "dbus-send", append(append([]string{}, ep.send...), "--print-reply", jobPath("svc"),
		upstartJob+".Start", "array:string:", "boolean:true")...); code != 0 {
		t.Fatalf("start svc: %s", errs)
	}
	defer runTool(t, nil, "dbus-send", append(append([]string{}, ep.send...), "--print-reply", jobPath("svc"),
		upstartJob+".Stop", "array:string:", "boolean:true")...)
	for path, iface := range objects {
		if iface == "" {
			continue
		}
		args := append(append([]string{"introspect", "--xml"}, ep.gdbus...), "--object-path", path)
		out, errs, code := runTool(t, nil, "gdbus", args...)
		if code != 0 {
			t.Errorf("gdbus introspect %s on %s: %s", path, ep.name, errs)
			continue
		}
		n := parseIntrospection(t, out)
		have := n.members()
		var missing []string
		for _, m := range upstartInterfaces[iface] {
			if !have[m] {
				missing = append(missing, m)
			}
		}
		// Nothing more of Upstart's interface than Upstart has, either.
		var extra []string
		for m := range have {
			if strings.HasPrefix(m, iface+".") && !strings.Contains(strings.TrimPrefix(m, iface+"."), ".") {
				found := false
				for _, w := range upstartInterfaces[iface] {
					found = found || w == m
				}
				if !found {
					extra = append(extra, m)
				}
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		if len(missing) > 0 || len(extra) > 0 {
			t.Errorf("%s on %s: missing %q, not in Upstart %q\n%s", path, ep.name, missing, extra, out)
		}
		for _, std := range []string{"org.freedesktop.DBus.Properties.Get(ss)->(v)", "org.freedesktop.DBus.Properties.GetAll(s)->(a{sv})",
			"org.freedesktop.DBus.Introspectable.Introspect()->(s)"} {
			if !have[std] {
				t.Errorf("%s on %s lacks %s", path, ep.name, std)
			}
		}
	}
	// The job list is the children of .../jobs.
	out, _, _ := runTool(t, nil, "gdbus", append(append([]string{"introspect", "--xml"}, ep.gdbus...), "--object-path", upstartManager+"/jobs")...)
	var kids []string
	for _, k := range parseIntrospection(t, out).Nodes {
		kids = append(kids, k.Name)
	}
	sort.Strings(kids)
	if !reflect.DeepEqual(kids, []string{"fd", "inst", "other", "svc"}) {
		t.Errorf("children of /com/ubuntu/Upstart/jobs on %s: %q", ep.name, kids)
	}
}

// emitWithFile calls EmitEventWithFile with a pipe (no command-line tool
// can pass a file descriptor) and checks the job it starts saw the fd.
func emitWithFile(t *testing.T, ep endpoint) {
	conn, err := ep.dial()
	if err != nil {
		t.Fatalf("%s: %v", ep.name, err)
	}
	defer conn.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	call := conn.Object(ep.dest, upstartManager).Call(upstartIface+".EmitEventWithFile", 0,
		"withfile", []string{"K=v"}, true, dbus.UnixFD(r.Fd()))
	if call.Err != nil {
		t.Errorf("EmitEventWithFile on %s: %v", ep.name, call.Err)
	}
}

func TestControlAPIWithDBusTools(t *testing.T) {
	needTool(t, "dbus-send")
	needTool(t, "gdbus")
	bus := startDBusDaemon(t, "session")
	s := startSession(t, controlJobs)
	private := privateEndpoint(s.address)
	onBus := busEndpoint(bus.address)

	// The bus is joined when the session is told where it is.
	if out, errs, code := s.ctl("initctl", "notify-dbus-address", bus.address); code != 0 {
		t.Fatalf("notify-dbus-address: %q %q %d", out, errs, code)
	}
	waitFor(t, "com.ubuntu.Upstart on the bus", func() bool {
		out, _, _ := runTool(t, nil, "dbus-send", "--bus="+bus.address, "--print-reply", "--dest=org.freedesktop.DBus",
			"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:com.ubuntu.Upstart")
		return strings.Contains(out, "boolean true")
	})

	calls := apiSequence(bus.address)
	for _, ep := range []endpoint{private, onBus} {
		for _, tool := range []string{"dbus-send", "gdbus"} {
			t.Run(strings.ReplaceAll(ep.name, " ", "-")+"/"+tool, func(t *testing.T) {
				runSequence(t, ep, tool, calls)
			})
		}
		t.Run(strings.ReplaceAll(ep.name, " ", "-")+"/introspect", func(t *testing.T) { checkIntrospection(t, ep) })
		t.Run(strings.ReplaceAll(ep.name, " ", "-")+"/EmitEventWithFile", func(t *testing.T) { emitWithFile(t, ep) })
	}
	// Restart (stateful re-exec) last: either not supported, or the daemon
	// comes back and answers.
	out, errs, code := runTool(t, nil, "dbus-send", "--peer="+s.address, "--print-reply", upstartManager, upstartIface+".Restart")
	if code != 0 && !strings.Contains(errs, "org.freedesktop.DBus.Error.NotSupported") {
		t.Errorf("Restart: %d %s%s", code, out, errs)
	}
	if code == 0 {
		waitFor(t, "the re-executed daemon", func() bool {
			_, _, c := s.ctl("initctl", "version")
			return c == 0
		})
	}
}

// EndSession logs the session out: session-end TYPE=logout, jobs stopped,
// the daemon exits.
func TestControlEndSession(t *testing.T) {
	needTool(t, "gdbus")
	dir := t.TempDir()
	s := startSession(t, map[string]string{
		"svc":    "exec sleep 3600\n",
		"logout": "start on session-end\ntask\nexec sh -c 'echo $TYPE > " + dir + "/type'\n",
	}, "--verbose")
	if _, errs, code := s.ctl("start", "svc"); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code := runTool(t, nil, "gdbus", "call", "--address", s.address, "--dest", "com.ubuntu.Upstart",
		"--object-path", upstartManager, "--method", upstartIface+".EndSession")
	if code != 0 || strings.TrimSpace(out) != "()" {
		t.Fatalf("EndSession: %q %q %d", out, errs, code)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("daemon still running after EndSession:\n%s", s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "Quiesce logout sequence took") {
		t.Errorf("daemon log:\n%s", s.stderr.String())
	}
	if _, err := os.Stat(s.rt + "/upstart/sessions"); err == nil {
		if ents, _ := os.ReadDir(s.rt + "/upstart/sessions"); len(ents) != 0 {
			t.Errorf("session file left behind: %v", ents)
		}
	}
	if data, err := os.ReadFile(dir + "/type"); err != nil || strings.TrimSpace(string(data)) != "logout" {
		t.Errorf("session-end TYPE=%q, want logout", data)
	}
}
