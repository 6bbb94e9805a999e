package integration

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// The D-Bus error answers of a real `init --user`, checked against the
// table in docs/dbus-errors.md (issue 12 item 1), on the private socket
// and on a bus; and every initctl command's answer to its error cases.

// errorRow is one row of the table.
type errorRow struct{ name, msg string }

// readErrorTable parses the table of docs/dbus-errors.md.
func readErrorTable(t *testing.T) map[string]errorRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "dbus-errors.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]errorRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cols) != 5 {
			t.Fatalf("docs/dbus-errors.md: bad row %q", line)
		}
		unquote := func(s string) string {
			s = strings.TrimSpace(s)
			return strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(s, "`"), "`"), `\n`, "\n")
		}
		rows[unquote(cols[0])] = errorRow{unquote(cols[3]), unquote(cols[4])}
	}
	if len(rows) == 0 {
		t.Fatal("docs/dbus-errors.md: no table rows")
	}
	return rows
}

var errorJobs = map[string]string{
	"svc":      "exec sh -c 'trap \"\" HUP; exec sleep 3600'\n",
	"inst":     "instance $N\nusage \"inst N=NAME\"\nexec sleep 3600\n",
	"slowstop": "exec sleep 3600\npost-stop exec sleep 2\n",
	"prestart": "pre-start exec sleep 3\nexec sleep 3600\n",
	"failing":  "start on failev\ntask\nexec false\n",
}

// callErr is the D-Bus error of a call (name, message), or empty strings.
func callErr(c *dbus.Call) (string, string) {
	if c.Err == nil {
		return "", ""
	}
	var e dbus.Error
	if errors.As(c.Err, &e) {
		msg := ""
		if len(e.Body) > 0 {
			msg, _ = e.Body[0].(string)
		}
		return e.Name, msg
	}
	return "?", c.Err.Error()
}

// errorCases makes every call of the table's session cases on conn (dest
// "" for the private socket) and returns what each answered.
func errorCases(t *testing.T, conn *dbus.Conn, dest string) map[string]*dbus.Call {
	t.Helper()
	got := map[string]*dbus.Call{}
	mgr := conn.Object(dest, upstartManager)
	obj := func(p string) dbus.BusObject { return conn.Object(dest, dbus.ObjectPath(upstartManager+"/jobs/"+p)) }
	ok := func(what string, c *dbus.Call) {
		t.Helper()
		if c.Err != nil {
			t.Fatalf("%s: %v", what, c.Err)
		}
	}
	path := func(what string, c *dbus.Call) dbus.ObjectPath {
		t.Helper()
		var p dbus.ObjectPath
		if err := c.Store(&p); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return p
	}
	got["get-job-empty"] = mgr.Call(upstartIface+".GetJobByName", 0, "")
	got["get-job-unknown"] = mgr.Call(upstartIface+".GetJobByName", 0, "nope")
	got["emit-empty"] = mgr.Call(upstartIface+".EmitEvent", 0, "", []string{}, false)
	got["emit-bad-env"] = mgr.Call(upstartIface+".EmitEvent", 0, "ev", []string{"FOO"}, false)
	got["emit-failed"] = mgr.Call(upstartIface+".EmitEvent", 0, "failev", []string{}, true)
	got["get-env-empty"] = mgr.Call(upstartIface+".GetEnv", 0, []string{}, "")
	got["get-env-unset"] = mgr.Call(upstartIface+".GetEnv", 0, []string{}, "NOPE_VAR")
	got["get-env-job-empty"] = mgr.Call(upstartIface+".GetEnv", 0, []string{""}, "X")
	got["get-env-unknown-job"] = mgr.Call(upstartIface+".GetEnv", 0, []string{"nope", ""}, "X")
	got["get-env-unknown-instance"] = mgr.Call(upstartIface+".GetEnv", 0, []string{"inst", "zz"}, "X")
	got["log-priority-bad"] = mgr.Call(propsIface+".Set", 0, upstartIface, "log_priority", dbus.MakeVariant("loud"))
	got["log-priority-type"] = mgr.Call(propsIface+".Set", 0, upstartIface, "log_priority", dbus.MakeVariant(int32(1)))
	got["prop-unknown"] = mgr.Call(propsIface+".Get", 0, upstartIface, "nope")
	got["prop-read-only"] = mgr.Call(propsIface+".Set", 0, upstartIface, "version", dbus.MakeVariant("x"))
	got["bad-signature"] = mgr.Call(upstartIface+".GetJobByName", 0, int32(1))
	got["introspect-args"] = mgr.Call("org.freedesktop.DBus.Introspectable.Introspect", 0, "x")
	got["unknown-method"] = mgr.Call(upstartIface+".Frobnicate", 0)
	got["unknown-interface"] = mgr.Call("org.example.Nope.GetAllJobs", 0)
	got["no-interface"] = mgr.Call("Frobnicate", 0)
	got["unknown-object"] = obj("nope").Call(upstartJob+".Start", 0, []string{}, true)

	// What Upstart's initctl stop does: Stop(wait), then read the
	// instance's properties; the instance is gone by then.
	ok("start svc", obj("svc").Call(upstartJob+".Start", 0, []string{}, true))
	ip := path("GetInstance svc", obj("svc").Call(upstartJob+".GetInstance", 0, []string{}))
	got["instance-start-already"] = conn.Object(dest, ip).Call(upstartInstance+".Start", 0, false)
	got["start-already"] = obj("svc").Call(upstartJob+".Start", 0, []string{}, true)
	ok("stop svc", obj("svc").Call(upstartJob+".Stop", 0, []string{}, true))
	got["gone-instance"] = conn.Object(dest, ip).Call(propsIface+".GetAll", 0, upstartInstance)

	got["get-instance-unknown"] = obj("svc").Call(upstartJob+".GetInstance", 0, []string{})
	got["get-instance-bad-env"] = obj("svc").Call(upstartJob+".GetInstance", 0, []string{"FOO"})
	got["get-instance-expand"] = obj("inst").Call(upstartJob+".GetInstance", 0, []string{})
	got["get-instance-by-name"] = obj("inst").Call(upstartJob+".GetInstanceByName", 0, "zz")
	ok("start inst", obj("inst").Call(upstartJob+".Start", 0, []string{"N=a"}, true))
	got["start-already-instance"] = obj("inst").Call(upstartJob+".Start", 0, []string{"N=a"}, true)
	ok("stop inst", obj("inst").Call(upstartJob+".Stop", 0, []string{"N=a"}, true))
	got["start-bad-env"] = obj("svc").Call(upstartJob+".Start", 0, []string{"FOO"}, true)
	got["start-failed"] = obj("failing").Call(upstartJob+".Start", 0, []string{}, true)
	got["stop-unknown"] = obj("svc").Call(upstartJob+".Stop", 0, []string{}, true)
	got["restart-unknown"] = obj("svc").Call(upstartJob+".Restart", 0, []string{}, true)

	ok("start slowstop", obj("slowstop").Call(upstartJob+".Start", 0, []string{}, true))
	sp := path("GetInstance slowstop", obj("slowstop").Call(upstartJob+".GetInstance", 0, []string{}))
	ok("stop slowstop", obj("slowstop").Call(upstartJob+".Stop", 0, []string{}, false))
	got["stop-already"] = obj("slowstop").Call(upstartJob+".Stop", 0, []string{}, false)
	got["restart-stopping"] = obj("slowstop").Call(upstartJob+".Restart", 0, []string{}, true)
	got["instance-stop-already"] = conn.Object(dest, sp).Call(upstartInstance+".Stop", 0, false)
	got["instance-restart-stopping"] = conn.Object(dest, sp).Call(upstartInstance+".Restart", 0, false)

	ok("start prestart", obj("prestart").Call(upstartJob+".Start", 0, []string{}, false))
	pp := path("GetInstance prestart", obj("prestart").Call(upstartJob+".GetInstance", 0, []string{}))
	got["reload-not-running"] = conn.Object(dest, pp).Call(upstartInstance+".Reload", 0)
	ok("stop prestart", obj("prestart").Call(upstartJob+".Stop", 0, []string{}, false))

	// Let slowstop finish before the next round.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := obj("slowstop").Call(upstartJob+".GetInstance", 0, []string{})
		if c.Err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return got
}

func TestDBusErrorTable(t *testing.T) {
	rows := readErrorTable(t)
	s := startSession(t, errorJobs)
	endpoints := []endpoint{privateEndpoint(s.address)}
	if _, err := os.Stat("/usr/bin/dbus-daemon"); err == nil || os.Getenv("CI") != "" {
		bus := startDBusDaemon(t, "session")
		if out, errs, code := s.ctl("initctl", "notify-dbus-address", bus.address); code != 0 {
			t.Fatalf("notify-dbus-address: %q %q %d", out, errs, code)
		}
		ep := busEndpoint(bus.address)
		waitFor(t, "com.ubuntu.Upstart on the bus", func() bool {
			c, err := ep.dial()
			if err != nil {
				return false
			}
			defer c.Close()
			var has bool
			c.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "com.ubuntu.Upstart").Store(&has)
			return has
		})
		endpoints = append(endpoints, ep)
	} else {
		t.Log("no dbus-daemon: checking the private socket only")
	}
	for _, ep := range endpoints {
		t.Run(strings.ReplaceAll(ep.name, " ", "-"), func(t *testing.T) {
			conn, err := ep.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got := errorCases(t, conn, ep.dest)
			var ids []string
			for id := range got {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				want, ok := rows[id]
				if !ok {
					t.Errorf("%s: not in docs/dbus-errors.md", id)
					continue
				}
				name, msg := callErr(got[id])
				if name != want.name || msg != want.msg {
					t.Errorf("%s: got %s %q, want %s %q", id, name, msg, want.name, want.msg)
				}
			}
			for id := range rows {
				if _, ok := got[id]; !ok && !strings.HasPrefix(id, "pid1-") && !strings.HasPrefix(id, "denied-") {
					t.Errorf("%s: in the table but not checked", id)
				}
			}
		})
	}
}

// TestInitctlErrors runs every initctl command that talks to the daemon,
// in a case that succeeds and, where it has one, a case that fails; a
// failure prints the table's message after "initctl: " and exits 1.
func TestInitctlErrors(t *testing.T) {
	rows := readErrorTable(t)
	s := startSession(t, errorJobs)
	type run struct {
		args   []string
		code   int
		stdout string // exact, when code is 0 and it is set
		errID  string // the table row whose message initctl prints
	}
	runs := []run{
		{args: a("start", "svc"), stdout: "svc start/running, process "},
		{args: a("start", "svc"), code: 1, errID: "start-already"},
		{args: a("status", "svc"), stdout: "svc start/running, process "},
		{args: a("reload", "svc")},
		{args: a("restart", "svc"), stdout: "svc start/running, process "},
		// Upstart's initctl stop reads the gone instance and prints
		// stop/waiting; ours does the same.
		{args: a("stop", "svc"), stdout: "svc stop/waiting\n"},
		{args: a("stop", "svc"), code: 1, errID: "stop-unknown"},
		{args: a("restart", "svc"), code: 1, errID: "restart-unknown"},
		{args: a("reload", "svc"), code: 1, errID: "get-instance-unknown"},
		{args: a("status", "svc"), stdout: "svc stop/waiting\n"},
		{args: a("status", "nope"), code: 1, errID: "get-job-unknown"},
		{args: a("start", "nope"), code: 1, errID: "get-job-unknown"},
		{args: a("start", "svc", "FOO"), code: 1, errID: "start-bad-env"},
		{args: a("start", "inst"), code: 1, errID: "get-instance-expand"},
		{args: a("status", "inst"), code: 1, errID: "get-instance-expand"},
		{args: a("start", "failing"), code: 1, errID: "start-failed"},
		{args: a("emit", "failev"), code: 1, errID: "emit-failed"},
		{args: a("emit", "ev", "FOO"), code: 1, errID: "emit-bad-env"},
		{args: a("get-env", "-g", "NOPE_VAR"), code: 1, errID: "get-env-unset"},
		{args: a("log-priority", "loud"), code: 1, errID: "log-priority-bad"},
		{args: a("log-priority"), stdout: "message\n"},
		{args: a("usage", "inst"), stdout: "Usage: inst N=NAME\n"},
		{args: a("usage", "nope"), code: 1, errID: "get-job-unknown"},
		{args: a("list")},
		{args: a("version"), stdout: "init (upstart 1.13.2)\n"},
		{args: a("reload-configuration")},
		{args: a("set-env", "-g", "A=1")},
		{args: a("get-env", "-g", "A"), stdout: "1\n"},
		{args: a("unset-env", "-g", "A")},
		{args: a("list-env", "-g")},
		{args: a("reset-env", "-g")},
		{args: a("notify-disk-writeable")},
		{args: a("show-config", "svc")},
		{args: a("check-config", "-i", "failev")},
	}
	for _, r := range runs {
		out, errs, code := s.ctl("initctl", r.args...)
		what := strings.Join(r.args, " ")
		if code != r.code {
			t.Errorf("initctl %s: exit %d, want %d\n%s%s", what, code, r.code, out, errs)
			continue
		}
		if r.errID != "" {
			want := "initctl: " + rows[r.errID].msg + "\n"
			if rows[r.errID].msg == "" {
				t.Fatalf("no table row %s", r.errID)
			}
			if errs != want {
				t.Errorf("initctl %s: stderr %q, want %q", what, errs, want)
			}
		}
		if r.stdout != "" && !strings.HasPrefix(out, r.stdout) {
			t.Errorf("initctl %s: stdout %q, want %q…", what, out, r.stdout)
		}
	}
}
