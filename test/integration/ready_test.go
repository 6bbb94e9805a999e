package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// needProgram skips when a program the test runs is missing, except in
// CI, which installs it (.ci/run).
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		needCap(t, "needs "+name, err)
	}
	return p
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// envOf reads a variable of a process's environment.
func envOf(pid int, key string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	for _, kv := range strings.Split(string(b), "\x00") {
		if strings.HasPrefix(kv, key+"=") {
			return kv[len(key)+1:]
		}
	}
	return ""
}

// startBackground runs `start JOB` without waiting; the result comes on
// the channel.
func (s *session) startBackground(job string) chan string {
	ch := make(chan string, 1)
	go func() {
		cmd := exec.Command(filepath.Join(binDir, "start"), job)
		cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
		out, err := cmd.CombinedOutput()
		ch <- fmt.Sprintf("%s%v", out, err)
	}()
	return ch
}

func (s *session) waitStatus(job, prefix string) string {
	s.t.Helper()
	var out string
	waitFor(s.t, job+" "+prefix, func() bool {
		out, _, _ = s.ctl("status", job)
		return strings.HasPrefix(out, job+" "+prefix)
	})
	return out
}

// hasLog waits (10 s at most) for the daemon's log to contain want: its
// output reaches the test through a pipe, after the reply to a command.
func (s *session) hasLog(want string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), want) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func sendNotify(t *testing.T, addr string, msg []byte) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrUnix{Name: addr}); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
}

// expect notify with systemd-notify: the job stays start/spawned (and
// `start` waits) until READY=1; initctl -v status shows what is awaited
// and the last STATUS. Messages from outside the instance, 64 KiB of
// garbage and a MAINPID of a foreign process change nothing and are
// logged once each.
func TestExpectNotifySystemdNotify(t *testing.T) {
	needProgram(t, "systemd-notify")
	dir := t.TempDir()
	go1 := filepath.Join(dir, "go")
	s := startSession(t, map[string]string{
		"svc": "expect notify\nexpect timeout 20\nscript\n" +
			"  systemd-notify --status='warming up'\n" +
			"  while [ ! -e " + go1 + " ]; do sleep 0.02; done\n" +
			"  systemd-notify MAINPID=1\n" +
			"  systemd-notify --ready --status=serving\n" +
			"  exec sleep 1010\nend script\n",
	}, "--verbose")
	res := s.startBackground("svc")
	out := s.waitStatus("svc", "start/spawned")
	main := mainPid(t, out)
	waitFor(t, "the first STATUS", func() bool {
		v, _, _ := s.ctl("initctl", "-v", "status", "svc")
		return strings.Contains(v, "\tstatus: warming up\n")
	})
	v, _, _ := s.ctl("initctl", "-v", "status", "svc")
	if !strings.Contains(v, "\tawaiting: notify (ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=notify)\n") {
		t.Errorf("-v status: %q", v)
	}
	if plain, _, _ := s.ctl("status", "svc"); strings.Contains(plain, "awaiting") || strings.Contains(plain, "status:") {
		t.Errorf("plain status shows readiness: %q", plain)
	}
	addr := envOf(main, "NOTIFY_SOCKET")
	if !strings.HasPrefix(addr, "@") {
		t.Fatalf("NOTIFY_SOCKET %q", addr)
	}
	// The test is no process of the instance.
	sendNotify(t, addr, []byte("READY=1"))
	sendNotify(t, addr, []byte("READY=1\nSTATUS=forged"))
	sendNotify(t, addr, make([]byte, 64<<10))
	sendNotify(t, addr, []byte("\xff\xfe garbage"))
	time.Sleep(200 * time.Millisecond)
	select {
	case r := <-res:
		t.Fatalf("start returned before READY=1: %s", r)
	default:
	}
	s.waitStatus("svc", "start/spawned")
	os.WriteFile(go1, nil, 0o644)
	if r := <-res; !strings.HasPrefix(r, "svc start/running, process "+strconv.Itoa(main)) {
		t.Fatalf("start: %s", r)
	}
	v, _, _ = s.ctl("initctl", "-v", "status", "svc")
	if !strings.Contains(v, "\tstatus: serving\n") || strings.Contains(v, "awaiting") || strings.Contains(v, "forged") {
		t.Errorf("-v status after ready: %q", v)
	}
	s.hasLog("svc: MAINPID=1 is not a process of the instance: ignored")
	s.hasLog("is ready (expect notify)")
	log := s.stderr.String()
	if n := strings.Count(log, "which is not a process of the instance: ignored"); n != 1 {
		t.Errorf("foreign messages logged %d times:\n%s", n, log)
	}
	if n := strings.Count(log, "longer than 4096 bytes: ignored (further bad messages are not logged)"); n != 1 {
		t.Errorf("64 KiB message logged %d times:\n%s", n, log)
	}
	if !strings.Contains(log, "svc: MAINPID=1 is not a process of the instance: ignored") {
		t.Errorf("foreign MAINPID not logged:\n%s", log)
	}
	if !strings.Contains(log, "svc main process ("+strconv.Itoa(main)+") is ready (expect notify)") {
		t.Errorf("no ready line:\n%s", log)
	}
	s.ctl("stop", "svc")
}

// Debian's sshd -D tells READY=1 when NOTIFY_SOCKET is set: `start`
// returns once it accepts connections.
func TestExpectNotifySshd(t *testing.T) {
	needRoot(t, "sshd")
	sshd := needProgram(t, "/usr/sbin/sshd")
	keygen := needProgram(t, "ssh-keygen")
	dir := t.TempDir()
	key := filepath.Join(dir, "host_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	os.MkdirAll("/run/sshd", 0o755)
	port := freePort(t)
	s := startSession(t, map[string]string{
		"sshd": fmt.Sprintf("expect notify\nexpect timeout 20\nexec %s -D -e -f /dev/null -h %s -p %d -o ListenAddress=127.0.0.1 -o PidFile=none\n", sshd, key, port),
	}, "--verbose")
	out, errs, code := s.ctl("start", "sshd")
	if code != 0 {
		t.Fatalf("start sshd: %q %q\n%s", out, errs, s.stderr.String())
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		t.Fatalf("sshd not accepting when start returned: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil || string(buf) != "SSH-" {
		t.Errorf("banner %q %v", buf, err)
	}
	c.Close()
	if !s.hasLog("is ready (expect notify)") {
		t.Errorf("no ready line:\n%s", s.stderr.String())
	}
	s.ctl("stop", "sshd")
}

// expect fd N with an s6 daemon: s6-ipcserver -1 writes its readiness
// newline to its standard output, here the notification descriptor.
func TestExpectFdS6(t *testing.T) {
	srv := needProgram(t, "s6-ipcserver")
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	s := startSession(t, map[string]string{
		"s6": fmt.Sprintf("expect fd 5\nexpect timeout 20\nexec sh -c 'exec %s -1 %s cat 1>&5'\n", srv, sock),
		// Descriptor 3 with a setting that needs the pre-exec step.
		"s6three": fmt.Sprintf("expect fd 3\nexpect timeout 20\nlimit nofile 1024 1024\nexec sh -c 'exec %s -1 %s cat 1>&3'\n", srv, sock+"3"),
		// A process that never writes the newline fails after the timeout.
		"mute": "expect fd 4\nexpect timeout 1\nkill timeout 1\nexec sleep 1011\n",
	}, "--verbose")
	out, errs, code := s.ctl("start", "s6")
	if code != 0 {
		t.Fatalf("start: %q %q\n%s", out, errs, s.stderr.String())
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("s6-ipcserver not listening when start returned: %v", err)
	}
	c.Close()
	if !s.hasLog("is ready (expect fd 5)") {
		t.Errorf("log:\n%s", s.stderr.String())
	}
	if out, errs, code := s.ctl("start", "s6three"); code != 0 {
		t.Fatalf("start s6three: %q %q\n%s", out, errs, s.stderr.String())
	}
	if c, err := net.Dial("unix", sock+"3"); err != nil {
		t.Errorf("s6three not listening when start returned: %v", err)
	} else {
		c.Close()
	}
	_, errs, code = s.ctl("start", "mute")
	if code != 1 || errs != "start: Job failed to start\n" {
		t.Fatalf("mute start: %q %d", errs, code)
	}
	if !s.hasLog("mute main process not ready after 1s (expect fd 4): start failed") {
		t.Errorf("no timeout line naming what was awaited:\n%s", s.stderr.String())
	}
	s.ctl("stop", "s6")
}

// expect socket with python3 -m http.server: when start returns, the
// first request is answered.
func TestExpectSocketHTTPServer(t *testing.T) {
	py := needProgram(t, "python3")
	port := freePort(t)
	s := startSession(t, map[string]string{
		"web": fmt.Sprintf("expect socket tcp 127.0.0.1:$PORT\nenv PORT=%d\nexpect timeout 20\nchdir %s\nexec %s -m http.server $PORT --bind 127.0.0.1\n", port, t.TempDir(), py),
	})
	out, errs, code := s.ctl("start", "web")
	if code != 0 {
		t.Fatalf("start: %q %q\n%s", out, errs, s.stderr.String())
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("first request after start: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	s.ctl("stop", "web")
}

// expect file and expect event (with $VAR from the job's environment,
// the event emitted by the job itself).
func TestExpectFileAndEvent(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ready")
	s := startSession(t, map[string]string{
		"f":  "expect file " + flag + "\nexpect timeout 20\nexec sh -c 'sleep 0.3; touch " + flag + "; exec sleep 1012'\n",
		"ev": "env PORT=5432\nenv CTL=" + filepath.Join(binDir, "initctl") + "\nexpect event listening PORT=$PORT\nexpect timeout 20\nexec sh -c 'sleep 0.2; $CTL emit --no-wait listening PORT=80; $CTL emit --no-wait listening PORT=$PORT; exec sleep 1013'\n",
	}, "--verbose")
	start := time.Now()
	if out, errs, code := s.ctl("start", "f"); code != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("start f: %q %q (after %v)", out, errs, time.Since(start))
	}
	if _, err := os.Stat(flag); err != nil {
		t.Fatal("start returned before the file existed")
	}
	res := s.startBackground("ev")
	if r := <-res; !strings.HasPrefix(r, "ev start/running") {
		t.Fatalf("start ev: %s\n%s", r, s.stderr.String())
	}
	if !s.hasLog("is ready (expect event listening PORT=$PORT)") {
		t.Errorf("log:\n%s", s.stderr.String())
	}
	s.ctl("stop", "f")
	s.ctl("stop", "ev")
}

// watchdog: a job that stops sending WATCHDOG=1 is killed with ABRT and
// respawned; it got WATCHDOG_USEC and its own pid in WATCHDOG_PID.
func TestWatchdogRespawns(t *testing.T) {
	needProgram(t, "systemd-notify")
	s := startSession(t, map[string]string{
		"dog": "expect notify\nwatchdog 1\nrespawn\nscript\n  systemd-notify --ready\n  systemd-notify WATCHDOG=1\n  exec sleep 1014\nend script\n",
	})
	out, errs, code := s.ctl("start", "dog")
	if code != 0 {
		t.Fatalf("start: %q %q", out, errs)
	}
	main := mainPid(t, out)
	if envOf(main, "WATCHDOG_USEC") != "1000000" || envOf(main, "WATCHDOG_PID") != strconv.Itoa(main) {
		t.Errorf("env: WATCHDOG_USEC=%q WATCHDOG_PID=%q (main %d)", envOf(main, "WATCHDOG_USEC"), envOf(main, "WATCHDOG_PID"), main)
	}
	waitFor(t, "a respawn", func() bool {
		out, _, _ := s.ctl("status", "dog")
		return strings.HasPrefix(out, "dog start/running, process ") && mainPid(t, out) != main
	})
	if !s.hasLog(fmt.Sprintf("dog main process (%d) failed its watchdog: no WATCHDOG=1 within 1s; sending ABRT", main)) {
		t.Errorf("log:\n%s", s.stderr.String())
	}
	s.ctl("stop", "dog")
}

// An instance waiting for readiness across a stateful re-exec is still
// waiting after it, on the same notify socket, with its STATUS; READY=1
// then makes it running and the start completes.
func TestReadyAcrossReexec(t *testing.T) {
	needProgram(t, "systemd-notify")
	dir := t.TempDir()
	go1 := filepath.Join(dir, "go")
	s := startSession(t, map[string]string{
		"slow": "expect notify\nexpect timeout 60\nscript\n  systemd-notify --status=migrating\n" +
			"  while [ ! -e " + go1 + " ]; do sleep 0.02; done\n  systemd-notify --ready\n  exec sleep 1015\nend script\n",
		"fwait": "expect file " + filepath.Join(dir, "f") + "\nexpect timeout 60\nexec sleep 1017\n",
	})
	s.startBackground("fwait")
	s.waitStatus("fwait", "start/spawned")
	s.startBackground("slow")
	main := mainPid(t, s.waitStatus("slow", "start/spawned"))
	waitFor(t, "STATUS", func() bool {
		v, _, _ := s.ctl("initctl", "-v", "status", "slow")
		return strings.Contains(v, "status: migrating")
	})
	sock := envOf(main, "NOTIFY_SOCKET")
	restartDaemon(t, s)
	v, _, _ := s.ctl("initctl", "-v", "status", "slow")
	if !strings.HasPrefix(v, "slow start/spawned, process "+strconv.Itoa(main)) || !strings.Contains(v, "status: migrating") || !strings.Contains(v, "awaiting: notify") {
		t.Fatalf("after re-exec: %q", v)
	}
	os.WriteFile(go1, nil, 0o644)
	s.waitStatus("slow", "start/running")
	s.waitStatus("fwait", "start/spawned")
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	s.waitStatus("fwait", "start/running")
	if envOf(main, "NOTIFY_SOCKET") != sock {
		t.Errorf("socket changed")
	}
	s.ctl("stop", "slow")
}

// expect dbus NAME on a session instance: the job is ready once NAME has
// an owner on the session's bus (a real dbus-daemon; the name is taken by
// the test's own connection when the job asks for it).
func TestExpectDBusName(t *testing.T) {
	bus := startDBusDaemon(t, "session")
	dir := t.TempDir()
	asked := filepath.Join(dir, "asked")
	s := startSession(t, map[string]string{
		"named": "expect dbus org.goupstart.ReadyTest\nexpect timeout 20\nexec sh -c 'touch " + asked + "; exec sleep 1016'\n",
	}, "--verbose")
	if out, errs, code := s.ctl("initctl", "notify-dbus-address", bus.address); code != 0 {
		t.Fatalf("notify-dbus-address: %q %q", out, errs)
	}
	res := s.startBackground("named")
	waitFor(t, "the job to ask", func() bool { _, err := os.Stat(asked); return err == nil })
	time.Sleep(100 * time.Millisecond)
	s.waitStatus("named", "start/spawned")
	conn, err := dbus.Connect(bus.address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if r, err := conn.RequestName("org.goupstart.ReadyTest", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	if r := <-res; !strings.HasPrefix(r, "named start/running") {
		t.Fatalf("start: %s\n%s", r, s.stderr.String())
	}
	if !s.hasLog("is ready (expect dbus org.goupstart.ReadyTest)") {
		t.Errorf("log:\n%s", s.stderr.String())
	}
	s.ctl("stop", "named")
}
