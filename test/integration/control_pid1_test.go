package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The system instance (PID 1 of a PID namespace): its private socket
// serves root only, it refuses the environment commands, and it joins the
// system bus on SIGUSR1, where Upstart's policy file lets everybody look
// and only root act.
func TestControlSystemInstancePermissions(t *testing.T) {
	needRoot(t, "a PID namespace")
	needTool(t, "unshare")
	needTool(t, "nsenter")
	needTool(t, "setpriv")
	needTool(t, "dbus-send")
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		needTool(t, "dbus-daemon")
	}
	// The unprivileged client must be able to run our binaries.
	os.Chmod(binDir, 0o755)
	busDir := t.TempDir()
	os.Chmod(filepath.Dir(busDir), 0o755)
	os.Chmod(busDir, 0o755)
	busAddr := "unix:path=" + filepath.Join(busDir, "bus")

	confdir := t.TempDir()
	writeJob(t, confdir, "svc", "start on startup\nexec sleep 3600\n")
	initPid, stderr := startPID1(t, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + busAddr},
		"--confdir", confdir, "--no-log", "--verbose")
	nsenter := []string{"-t", strconv.Itoa(initPid), "-n"}
	asNobody := []string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}
	initctl := filepath.Join(binDir, "initctl")
	inNS := func(env []string, args ...string) (string, string, int) {
		return runTool(t, env, "nsenter", append(append([]string{}, nsenter...), args...)...)
	}
	waitFor(t, "svc to run", func() bool {
		out, _, _ := inNS(nil, initctl, "status", "svc")
		return strings.HasPrefix(out, "svc start/running, process ")
	})

	// Private socket: root is served, nobody is refused with a clear error.
	out, errs, code := inNS([]string{"UPSTART_SESSION=unix:abstract=/com/ubuntu/upstart"},
		append(asNobody, initctl, "--user", "list")...)
	if code != 1 || out != "" || errs != "initctl: You do not have permission to use this init daemon (uid 65534)\n" {
		t.Errorf("nobody on the private socket: %q %q %d", out, errs, code)
	}

	// The environment commands are refused on the system instance.
	for _, args := range [][]string{{"set-env", "FOO=bar"}, {"unset-env", "PATH"}, {"reset-env"}} {
		out, errs, code := inNS(nil, append([]string{initctl}, args...)...)
		if code != 1 || out != "" || errs != "initctl: Not permissible to modify PID 1 job environment\n" {
			t.Errorf("%v: %q %q %d", args, out, errs, code)
		}
	}
	if out, errs, code := inNS(nil, initctl, "get-env", "PATH"); code != 0 || out == "" {
		t.Errorf("get-env: %q %q %d", out, errs, code)
	}
	// notify-dbus-address is for session instances.
	if _, errs, code := inNS(nil, initctl, "notify-dbus-address", busAddr); code != 1 || !strings.Contains(errs, "Not permissible") {
		t.Errorf("notify-dbus-address on PID 1: %q %d", errs, code)
	}

	// No bus yet: unprivileged initctl (which uses the system bus) fails.
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + busAddr, "UPSTART_SESSION="}
	if _, errs, code := runTool(t, env, asNobody[0], append(asNobody[1:], initctl, "list")...); code != 1 || !strings.HasPrefix(errs, "initctl: Unable to connect to system bus") {
		t.Errorf("no bus: %q %d", errs, code)
	}
	// The bus appears; SIGUSR1 makes init join it.
	startDBusDaemonIn(t, busDir, "system", "../../conf/dbus/Upstart.conf")
	syscall.Kill(initPid, syscall.SIGUSR1)
	waitFor(t, "init to own com.ubuntu.Upstart", func() bool {
		out, _, _ := runTool(t, nil, "dbus-send", "--bus="+busAddr, "--print-reply", "--dest=org.freedesktop.DBus",
			"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:com.ubuntu.Upstart")
		return strings.Contains(out, "boolean true")
	})
	nobody := func(args ...string) (string, string, int) {
		return runTool(t, env, asNobody[0], append(asNobody[1:], args...)...)
	}
	// Everybody may look.
	if out, errs, code := nobody(initctl, "list"); code != 0 || !strings.Contains(out, "svc start/running, process ") {
		t.Errorf("nobody: list: %q %q %d", out, errs, code)
	}
	if out, errs, code := nobody(initctl, "status", "svc"); code != 0 || !strings.HasPrefix(out, "svc start/running, process ") {
		t.Errorf("nobody: status: %q %q %d", out, errs, code)
	}
	if out, errs, code := nobody(initctl, "version"); code != 0 || out != "init (upstart 1.13.2)\n" {
		t.Errorf("nobody: version: %q %q %d", out, errs, code)
	}
	if out, errs, code := nobody("gdbus", "introspect", "--address", busAddr, "--dest", "com.ubuntu.Upstart", "--object-path", "/com/ubuntu/Upstart/jobs/svc"); code != 0 || !strings.Contains(out, "Start(") {
		t.Errorf("nobody: introspect: %q %q %d", out, errs, code)
	}
	// ... and nothing else.
	for _, args := range [][]string{{"stop", "svc"}, {"start", "svc"}, {"emit", "foo"}, {"log-priority", "debug"}, {"reload-configuration"}, {"get-env", "PATH"}} {
		out, errs, code := nobody(append([]string{initctl}, args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errs, "initctl: Rejected send message") {
			t.Errorf("nobody: %v: %q %q %d", args, out, errs, code)
		}
	}
	// Nobody may not take the name either.
	if _, errs, code := nobody("dbus-send", "--bus="+busAddr, "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus.RequestName", "string:com.ubuntu.Upstart", "uint32:4"); code == 0 || !strings.Contains(errs, "AccessDenied") {
		t.Errorf("nobody: RequestName: %q %d", errs, code)
	}
	// Root may do everything over the bus.
	if out, errs, code := runTool(t, env, initctl, "--system", "stop", "svc"); code != 0 || out != "svc stop/waiting\n" {
		t.Errorf("root over the bus: stop: %q %q %d", out, errs, code)
	}
	if _, errs, code := runTool(t, env, initctl, "--system", "emit", "hello"); code != 0 {
		t.Errorf("root over the bus: emit: %q", errs)
	}
	if !strings.Contains(stderr.String(), "Connected to D-Bus system bus") {
		t.Errorf("init log:\n%s", stderr.String())
	}
}
