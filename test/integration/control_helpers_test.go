package integration

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of the control tests: a private dbus-daemon, running the D-Bus
// command-line tools, and reading the types they report.

// busDaemon is a dbus-daemon started by a test.
type busDaemon struct {
	address string
	cmd     *exec.Cmd
	dir     string
}

// startDBusDaemon runs a dbus-daemon of the given type ("session": anyone
// may do anything; "system": default-deny like Debian's system bus, plus
// the policy files in include) on a private unix socket.
func startDBusDaemon(t testing.TB, typ string, include ...string) *busDaemon {
	t.Helper()
	return startDBusDaemonIn(t, t.TempDir(), typ, include...)
}

// startDBusDaemonIn is startDBusDaemon with the socket DIR/bus.
func startDBusDaemonIn(t testing.TB, dir, typ string, include ...string) *busDaemon {
	t.Helper()
	p, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dbus-daemon not installed (Debian package dbus)")
		}
		t.Skip("dbus-daemon not installed (Debian package dbus)")
	}
	// Reachable by unprivileged test clients too.
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "bus")
	policy := `<policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>`
	if typ == "system" {
		policy = `<policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>`
	}
	var inc strings.Builder
	for _, f := range include {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&inc, "  <include>%s</include>\n", abs)
	}
	config := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>%s</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  %s
%s</busconfig>
`, typ, sock, policy, inc.String())
	cfg := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &busDaemon{address: "unix:path=" + sock, dir: dir}
	b.cmd = exec.Command(p, "--config-file="+cfg, "--nofork", "--nopidfile", "--nosyslog")
	stderr := newSyncBuffer()
	b.cmd.Stderr = stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			os.Chmod(sock, 0o777)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dbus-daemon did not come up:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return b
}

func (b *busDaemon) stop() {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
	}
}

// runTool runs a program with extra environment and returns stdout,
// stderr and the exit code.
func runTool(t testing.TB, env []string, prog string, args ...string) (string, string, int) {
	t.Helper()
	if !strings.Contains(prog, "/") {
		if p, err := exec.LookPath(prog); err == nil {
			prog = p
		} else if _, err := os.Stat(filepath.Join(binDir, prog)); err == nil {
			prog = filepath.Join(binDir, prog)
		}
	}
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %q did not finish", prog, args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return out.String(), errb.String(), code
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
}

// replySignatures reads the output of `dbus-send --print-reply` and
// returns the D-Bus signature of each value in the reply, as far as the
// printed values tell (an empty array's element type is unknown: "a?").
func replySignatures(out string) []string {
	_, body, ok := strings.Cut(out, "\n")
	if !ok {
		return nil
	}
	p := &sigParser{s: body}
	var sigs []string
	for {
		p.space()
		if p.eof() {
			return sigs
		}
		sig, ok := p.value()
		if !ok {
			return append(sigs, "!"+p.s[p.i:])
		}
		sigs = append(sigs, sig)
	}
}

type sigParser struct {
	s string
	i int
}

func (p *sigParser) eof() bool { return p.i >= len(p.s) }

func (p *sigParser) space() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *sigParser) word(w string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// skipScalar skips a printed scalar: a quoted string or a bare token.
func (p *sigParser) skipScalar() {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		end := strings.Index(p.s[p.i+1:], "\"\n")
		if end < 0 {
			p.i = len(p.s)
			return
		}
		p.i += end + 2
		return
	}
	for p.i < len(p.s) && !strings.ContainsRune(" \t\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *sigParser) value() (string, bool) {
	scalars := []struct{ word, sig string }{
		{"string", "s"}, {"object path", "o"}, {"int32", "i"}, {"uint32", "u"},
		{"boolean", "b"}, {"int64", "x"}, {"uint64", "t"}, {"double", "d"},
		{"byte", "y"}, {"int16", "n"}, {"uint16", "q"}, {"signature", "g"},
		{"file descriptor", "h"},
	}
	switch {
	case p.word("variant"):
		if _, ok := p.value(); !ok {
			return "", false
		}
		return "v", true
	case p.word("array ["):
		elem := ""
		for {
			if p.word("]") {
				if elem == "" {
					elem = "?"
				}
				return "a" + elem, true
			}
			s, ok := p.value()
			if !ok {
				return "", false
			}
			if elem == "" {
				elem = s
			}
		}
	case p.word("struct {"):
		var b strings.Builder
		for !p.word("}") {
			s, ok := p.value()
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		return "(" + b.String() + ")", true
	case p.word("dict entry("):
		var b strings.Builder
		for !p.word(")") {
			s, ok := p.value()
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		return "{" + b.String() + "}", true
	}
	for _, sc := range scalars {
		if p.word(sc.word + " ") {
			p.skipScalar()
			return sc.sig, true
		}
	}
	return "", false
}

// Introspection data, as the tools see it.
type introNode struct {
	Interfaces []struct {
		Name    string `xml:"name,attr"`
		Methods []struct {
			Name string `xml:"name,attr"`
			Args []struct {
				Type      string `xml:"type,attr"`
				Direction string `xml:"direction,attr"`
			} `xml:"arg"`
		} `xml:"method"`
		Signals []struct {
			Name string `xml:"name,attr"`
			Args []struct {
				Type string `xml:"type,attr"`
			} `xml:"arg"`
		} `xml:"signal"`
		Properties []struct {
			Name   string `xml:"name,attr"`
			Type   string `xml:"type,attr"`
			Access string `xml:"access,attr"`
		} `xml:"property"`
	} `xml:"interface"`
	Nodes []struct {
		Name string `xml:"name,attr"`
	} `xml:"node"`
}

// members flattens introspection data to "iface.Method(in)->(out)",
// "iface.Signal!(args)" and "iface.prop:type:access" strings.
func (n *introNode) members() map[string]bool {
	out := map[string]bool{}
	for _, i := range n.Interfaces {
		for _, m := range i.Methods {
			var in, o string
			for _, a := range m.Args {
				if a.Direction == "out" {
					o += a.Type
				} else {
					in += a.Type
				}
			}
			out[i.Name+"."+m.Name+"("+in+")->("+o+")"] = true
		}
		for _, s := range i.Signals {
			var args string
			for _, a := range s.Args {
				args += a.Type
			}
			out[i.Name+"."+s.Name+"!("+args+")"] = true
		}
		for _, p := range i.Properties {
			out[i.Name+"."+p.Name+":"+p.Type+":"+p.Access] = true
		}
	}
	return out
}

func parseIntrospection(t *testing.T, data string) *introNode {
	t.Helper()
	var n introNode
	if err := xml.Unmarshal([]byte(data), &n); err != nil {
		t.Fatalf("introspection XML: %v\n%s", err, data)
	}
	return &n
}

// upstartInterfaces is Upstart 1.13's interface definition
// (com.ubuntu.Upstart.xml, .Job.xml, .Instance.xml), member by member.
var upstartInterfaces = map[string][]string{
	"com.ubuntu.Upstart0_6": {
		"com.ubuntu.Upstart0_6.ReloadConfiguration()->()",
		"com.ubuntu.Upstart0_6.GetJobByName(s)->(o)",
		"com.ubuntu.Upstart0_6.GetAllJobs()->(ao)",
		"com.ubuntu.Upstart0_6.GetState()->(s)",
		"com.ubuntu.Upstart0_6.Restart()->()",
		"com.ubuntu.Upstart0_6.GetEnv(ass)->(s)",
		"com.ubuntu.Upstart0_6.SetEnv(assb)->()",
		"com.ubuntu.Upstart0_6.SetEnvList(asasb)->()",
		"com.ubuntu.Upstart0_6.UnsetEnv(ass)->()",
		"com.ubuntu.Upstart0_6.UnsetEnvList(asas)->()",
		"com.ubuntu.Upstart0_6.ListEnv(as)->(as)",
		"com.ubuntu.Upstart0_6.ResetEnv(as)->()",
		"com.ubuntu.Upstart0_6.EmitEvent(sasb)->()",
		"com.ubuntu.Upstart0_6.EmitEventWithFile(sasbh)->()",
		"com.ubuntu.Upstart0_6.NotifyDiskWriteable()->()",
		"com.ubuntu.Upstart0_6.NotifyDBusAddress(s)->()",
		"com.ubuntu.Upstart0_6.NotifyCGroupManagerAddress(s)->()",
		"com.ubuntu.Upstart0_6.EndSession()->()",
		"com.ubuntu.Upstart0_6.JobAdded!(o)",
		"com.ubuntu.Upstart0_6.JobRemoved!(o)",
		"com.ubuntu.Upstart0_6.EventEmitted!(sas)",
		"com.ubuntu.Upstart0_6.Restarted!()",
		"com.ubuntu.Upstart0_6.version:s:read",
		"com.ubuntu.Upstart0_6.log_priority:s:readwrite",
	},
	"com.ubuntu.Upstart0_6.Job": {
		"com.ubuntu.Upstart0_6.Job.GetInstance(as)->(o)",
		"com.ubuntu.Upstart0_6.Job.GetInstanceByName(s)->(o)",
		"com.ubuntu.Upstart0_6.Job.GetAllInstances()->(ao)",
		"com.ubuntu.Upstart0_6.Job.Start(asb)->(o)",
		"com.ubuntu.Upstart0_6.Job.Stop(asb)->()",
		"com.ubuntu.Upstart0_6.Job.Restart(asb)->(o)",
		"com.ubuntu.Upstart0_6.Job.InstanceAdded!(o)",
		"com.ubuntu.Upstart0_6.Job.InstanceRemoved!(o)",
		"com.ubuntu.Upstart0_6.Job.name:s:read",
		"com.ubuntu.Upstart0_6.Job.description:s:read",
		"com.ubuntu.Upstart0_6.Job.author:s:read",
		"com.ubuntu.Upstart0_6.Job.version:s:read",
		"com.ubuntu.Upstart0_6.Job.usage:s:read",
		"com.ubuntu.Upstart0_6.Job.start_on:aas:read",
		"com.ubuntu.Upstart0_6.Job.stop_on:aas:read",
		"com.ubuntu.Upstart0_6.Job.emits:as:read",
	},
	"com.ubuntu.Upstart0_6.Instance": {
		"com.ubuntu.Upstart0_6.Instance.Start(b)->()",
		"com.ubuntu.Upstart0_6.Instance.Stop(b)->()",
		"com.ubuntu.Upstart0_6.Instance.Restart(b)->()",
		"com.ubuntu.Upstart0_6.Instance.Reload()->()",
		"com.ubuntu.Upstart0_6.Instance.GoalChanged!(s)",
		"com.ubuntu.Upstart0_6.Instance.StateChanged!(s)",
		"com.ubuntu.Upstart0_6.Instance.Failed!(i)",
		"com.ubuntu.Upstart0_6.Instance.name:s:read",
		"com.ubuntu.Upstart0_6.Instance.goal:s:read",
		"com.ubuntu.Upstart0_6.Instance.state:s:read",
		"com.ubuntu.Upstart0_6.Instance.processes:a(si):read",
	},
}

// propertyTypes are the property signatures of Upstart's interfaces.
var propertyTypes = map[string]string{
	"version": "s", "log_priority": "s",
	"name": "s", "description": "s", "author": "s", "usage": "s",
	"start_on": "aas", "stop_on": "aas", "emits": "as",
	"goal": "s", "state": "s", "processes": "a(si)",
}

// propertyReplyTypes reads `dbus-send --print-reply` output of
// Properties.GetAll and returns each property's value signature.
func propertyReplyTypes(out string) map[string]string {
	_, body, _ := strings.Cut(out, "\n")
	p := &sigParser{s: body}
	types := map[string]string{}
	if !p.word("array [") {
		return nil
	}
	for !p.word("]") {
		if !p.word("dict entry(") || !p.word("string ") {
			return nil
		}
		p.space()
		start := p.i
		p.skipScalar()
		name := strings.Trim(strings.TrimSpace(p.s[start:p.i]), `"`)
		if !p.word("variant") {
			return nil
		}
		sig, ok := p.value()
		if !ok || !p.word(")") {
			return nil
		}
		types[name] = sig
	}
	return types
}

func a(s ...string) []string { return s }
