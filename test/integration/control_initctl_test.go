package integration

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `init --session` serves only the session bus (reference §5.1: the
// testing mode of Upstart, no private socket); our `initctl --session`
// drives it there, and plain `initctl` drives a session instance on its
// private socket.
func TestControlInitctlOverSessionBus(t *testing.T) {
	bus := startDBusDaemon(t, "session")
	confdir := t.TempDir()
	writeJob(t, confdir, "svc", "exec sleep 3600\n")
	writeJob(t, confdir, "inst", "instance $N\nexec sleep 3600\n")
	cmd := exec.Command(filepath.Join(binDir, "init"), "--session", "--confdir", confdir, "--no-startup-event")
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus.address, "UPSTART_SESSION=")
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	env := []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.address, "UPSTART_SESSION="}
	ctl := func(args ...string) (string, string, int) {
		return runTool(t, env, filepath.Join(binDir, "initctl"), append([]string{"--session"}, args...)...)
	}
	waitFor(t, "init on the session bus", func() bool { _, _, c := ctl("version"); return c == 0 })
	if out, errs, c := ctl("start", "svc"); c != 0 || !regexp.MustCompile(`^svc start/running, process \d+\n$`).MatchString(out) {
		t.Fatalf("start: %q %q %d", out, errs, c)
	}
	if out, _, c := ctl("start", "inst", "N=a"); c != 0 || !strings.HasPrefix(out, "inst (a) start/running, process ") {
		t.Fatalf("start inst: %q %d", out, c)
	}
	out, _, c := ctl("list")
	if c != 0 || !regexp.MustCompile(`(?m)^svc start/running, process \d+$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^inst \(a\) start/running, process \d+$`).MatchString(out) {
		t.Fatalf("list: %q", out)
	}
	if out, _, c := ctl("--dest=com.ubuntu.Upstart", "status", "svc"); c != 0 || !strings.HasPrefix(out, "svc start/running") {
		t.Fatalf("status --dest: %q %d", out, c)
	}
	if out, errs, c := ctl("stop", "svc"); c != 0 || out != "svc stop/waiting\n" {
		t.Fatalf("stop: %q %q %d", out, errs, c)
	}
	if _, errs, c := ctl("stop", "svc"); c != 1 || errs != "initctl: Unknown instance: \n" {
		t.Fatalf("second stop: %q %d", errs, c)
	}
	// No private socket in this mode.
	if strings.Contains(stderr.String(), "unable to listen") {
		t.Errorf("daemon: %s", stderr.String())
	}
	// A daemon already on a bus ignores notify-dbus-address.
	if _, errs, c := ctl("notify-dbus-address", "unix:path=/nonexistent"); c != 0 {
		t.Errorf("notify-dbus-address: %q", errs)
	}
}

// A session instance joins the bus it is told about; then initctl
// --session reaches it there, and signals flow on both transports.
func TestControlSessionJoinsBus(t *testing.T) {
	bus := startDBusDaemon(t, "session")
	s := startSession(t, map[string]string{"svc": "exec sleep 3600\n"})
	// Before: nothing owns the name.
	env := []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.address, "UPSTART_SESSION="}
	if _, _, c := runTool(t, env, filepath.Join(binDir, "initctl"), "--session", "version"); c == 0 {
		t.Fatal("initctl --session reached a daemon before notify-dbus-address")
	}
	if _, errs, c := s.ctl("initctl", "notify-dbus-address", bus.address); c != 0 {
		t.Fatal(errs)
	}
	if out, errs, c := runTool(t, env, filepath.Join(binDir, "initctl"), "--session", "start", "svc"); c != 0 || !strings.HasPrefix(out, "svc start/running, process ") {
		t.Fatalf("start over the bus: %q %q", out, errs)
	}
	// Plain initctl (UPSTART_SESSION) uses the private socket.
	if out, _, c := s.ctl("initctl", "status", "svc"); c != 0 || !strings.HasPrefix(out, "svc start/running, process ") {
		t.Fatalf("status over the private socket: %q", out)
	}
	// Global set-env reaches the bus's activation environment too.
	if _, errs, c := s.ctl("initctl", "set-env", "GREETING=hello"); c != 0 {
		t.Fatal(errs)
	}
	if out, _, c := s.ctl("initctl", "get-env", "GREETING"); c != 0 || out != "hello\n" {
		t.Fatalf("get-env: %q", out)
	}
}

// monitor starts `initctl monitor` and returns its output lines as they come.
func monitor(t *testing.T, env []string, args ...string) (*exec.Cmd, chan string) {
	t.Helper()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"monitor"}, args...)
	}
	cmd := exec.Command(filepath.Join(binDir, "initctl"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, lines
}

func nextLine(t *testing.T, lines chan string, re string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("monitor ended before a line matching %s", re)
			}
			if regexp.MustCompile(re).MatchString(l) {
				return l
			}
		case <-timeout:
			t.Fatalf("no monitor line matching %s", re)
		}
	}
}

// `initctl monitor` prints upstart-monitor's console format: a header,
// then "TIME<TAB>EVENT KEY='VALUE'..." per event until interrupted.
func TestControlMonitor(t *testing.T) {
	bus := startDBusDaemon(t, "session")
	s := startSession(t, map[string]string{"svc": "exec sleep 3600\n"})
	s.ctl("initctl", "notify-dbus-address", bus.address)

	for _, tc := range []struct {
		name, dest string
		env, args  []string
	}{
		{"private socket", "D-Bus session socket", []string{"UPSTART_SESSION=" + s.address}, nil},
		{"session bus", "D-Bus session bus", []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.address, "UPSTART_SESSION="}, []string{"--session"}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			cmd, lines := monitor(t, tc.env, tc.args...)
			header := []string{"# Upstart Event Monitor (console mode)", "#", "# Connected to " + tc.dest, "#", "# Columns: time, event and environment", ""}
			for _, h := range header {
				if l := <-lines; l != h {
					t.Fatalf("header line %q, want %q", l, h)
				}
			}
			time.Sleep(100 * time.Millisecond) // the match rule is in place
			if _, errs, c := s.ctl("initctl", "emit", "hello", "A=b c", "EMPTY="); c != 0 {
				t.Fatal(errs)
			}
			l := nextLine(t, lines, `hello`)
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\thello A='b c' EMPTY=''$`).MatchString(l) {
				t.Errorf("event line %q", l)
			}
			s.ctl("start", "svc")
			nextLine(t, lines, `\tstarting JOB='svc' INSTANCE=''$`)
			nextLine(t, lines, `\tstarted JOB='svc' INSTANCE=''$`)
			s.ctl("stop", "svc")
			if l := nextLine(t, lines, `\tstopped JOB='svc'`); !strings.Contains(l, " RESULT='ok'") {
				t.Errorf("stopped: %q", l)
			}
			// Interrupted: exits cleanly.
			cmd.Process.Signal(syscall.SIGINT)
			for range lines {
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("monitor after SIGINT: %v", err)
			}
		})
	}
	// A separator of one's own.
	_, lines := monitor(t, []string{"UPSTART_SESSION=" + s.address}, "monitor", "-s", " | ")
	time.Sleep(100 * time.Millisecond)
	s.ctl("initctl", "emit", "sep")
	if l := nextLine(t, lines, `sep$`); !strings.HasSuffix(l, " | sep") {
		t.Errorf("separator: %q", l)
	}
}

// initctl2dot draws a real daemon's jobs; dot renders the result.
func TestControlInitctl2dot(t *testing.T) {
	s := startSession(t, map[string]string{
		"mountall": "emits local-filesystems\nemits *-device-added\nstart on startup\nexec true\n",
		"net":      "emits net-device-added\nstart on local-filesystems and started udev\nstop on stopping udev\nexec true\n",
		"udev":     "start on startup\nexec true\n",
		"late":     "start on starting net or runlevel [2345]\nstop on $WHAT\nexec true\n",
	})
	dir := t.TempDir()
	out := filepath.Join(dir, "upstart.dot")
	cmd := exec.Command(filepath.Join(binDir, "initctl2dot"), "-o", out)
	cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initctl2dot: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	dotText := string(data)
	for _, want := range []string{
		`"job:net":start -> "job:udev":job [color="blue"];`,
		`"job:net":start -> "event:local-filesystems" [color="blue"];`,
		`"job:net":stop -> "job:udev":job [color="red"];`,
		`"job:mountall":job -> "event:local-filesystems" [color="green"];`,
		`"job:mountall":job -> "event:net-device-added" [color="green"];`, // glob *-device-added
		`"job:late":start -> "job:net":job [color="blue"];`,
		`"job:late":stop -> "event:late:$WHAT" [color="red"];`,
		`"event:*-device-added" [label="*-device-added", shape=diamond, style=dotted`,
		`for session '` + s.address + `'`,
	} {
		if !strings.Contains(dotText, want) {
			t.Errorf("dot output lacks %s:\n%s", want, dotText)
		}
	}
	// Restricted, from a file, to stdout, in other colours.
	sc, _, _ := s.ctl("initctl", "show-config", "-e")
	in := filepath.Join(dir, "show-config.txt")
	os.WriteFile(in, []byte(sc), 0o644)
	o, errs, c := runTool(t, nil, filepath.Join(binDir, "initctl2dot"), "-f", in, "-o", "-", "-r", "late", "--color-start-on=orange", "--color-bg=black")
	if c != 0 || !strings.Contains(o, `"job:late":start -> "job:net":job [color="orange"];`) || strings.Contains(o, `"job:mountall":start`) ||
		!strings.Contains(o, `bgcolor="black"`) || !strings.Contains(o, "(subset, from file data)") {
		t.Errorf("restricted: %q %d\n%s", errs, c, o)
	}
	if _, errs, c := runTool(t, nil, filepath.Join(binDir, "initctl2dot"), "-f", in, "-r", "nope", "-o", "-"); c != 1 || errs != "initctl2dot: unknown job nope\n" {
		t.Errorf("unknown job: %q %d", errs, c)
	}
	if _, err := exec.LookPath("dot"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dot (graphviz) not installed")
		}
		t.Skip("dot (graphviz) not installed: not rendering")
	}
	for _, src := range []string{dotText, o} {
		render := exec.Command("dot", "-Tsvg")
		render.Stdin = strings.NewReader(src)
		var svg, rerr bytes.Buffer
		render.Stdout, render.Stderr = &svg, &rerr
		if err := render.Run(); err != nil || rerr.Len() > 0 {
			t.Fatalf("dot: %v %s", err, rerr.String())
		}
		if !strings.Contains(svg.String(), "<svg") || !strings.Contains(svg.String(), "late") {
			t.Errorf("svg:\n%.300s", svg.String())
		}
	}
}
