package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reforkScript is a daemon that re-forks on SIGHUP, as nginx and sshd
// do on an upgrade: a new generation starts (its own worker, then its pid
// in the pid file), and the old master exits once the pid file names the
// new one, leaving its worker behind (as an old worker finishes its
// requests). The worker of generation G runs `sleep 206G`, the master
// waits in `sleep 207G`.
const reforkScript = `pidfile=$1
gen=${2:-1}
trap 'hup=1; kill $s 2>/dev/null' HUP
sleep 206$gen &
echo $$ >"$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
while [ -z "$hup" ]; do
  sleep 207$gen & s=$!
  [ -z "$hup" ] || kill $s
  wait $s
done
[ -z "$s" ] || wait $s
sh "$0" "$pidfile" $((gen+1)) &
n=$!
while [ "$(cat "$pidfile")" != "$n" ]; do sleep 0.02; done
exit 0
`

// statusPid is the main pid `status JOB` shows, 0 if none.
func statusPid(s *session, job string) int {
	out, _, _ := s.ctl("status", job)
	if !strings.HasPrefix(out, job+" start/running, process ") {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(out, job+" start/running, process ")))
	return p
}

func readPid(t *testing.T, path string) int {
	b, _ := os.ReadFile(path)
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// waitForDiag is waitFor with what diag says on a timeout.
func waitForDiag(t *testing.T, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, diag())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// psTree lists the sleeps and shells of the test, for a failure message.
func psTree() string {
	var b strings.Builder
	for _, p := range processes() {
		if strings.HasPrefix(p.cmdline, "sleep 20") || strings.Contains(p.cmdline, "refork.sh") {
			fmt.Fprintf(&b, "%d ppid %d %s %q\n", p.pid, p.ppid, p.state, p.cmdline)
		}
	}
	return b.String()
}

// findProc is the pid of the live process with this command line, 0 if
// none.
func findProc(cmd string) int {
	for _, p := range processes() {
		if p.cmdline == cmd && p.state != "Z" {
			return p.pid
		}
	}
	return 0
}

// A service whose main process re-forks is followed, not stopped: with
// `pid file`, the pid it names; without, the oldest process left (here
// the old generation's worker, then, once that ends, the new master). A
// pid file naming a foreign process is refused and logged once. A
// stateful re-exec keeps the followed leader. Stop kills the new leader
// and everything left. With cgroups and with pid
// tracking.
func TestReforkingDaemonFollowed(t *testing.T) {
	for _, mode := range []struct{ name, arg string }{{"cgroups", ""}, {"pids", "--no-cgroups"}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			script := filepath.Join(dir, "refork.sh")
			os.WriteFile(script, []byte(reforkScript), 0o755)
			pf := filepath.Join(dir, "named.pid")
			liar := filepath.Join(dir, "liar.pid")
			args := []string{"--verbose"}
			if mode.arg != "" {
				args = append(args, mode.arg)
			}
			s := startSession(t, map[string]string{
				"named":  fmt.Sprintf("pid file %s\nexec sh %s %s\n", pf, script, pf),
				"oldest": fmt.Sprintf("exec sh %s %s/oldest.pid\n", script, dir),
				"liar":   fmt.Sprintf("pid file %s\nexec sh %s %s/liar-own.pid\n", liar, script, dir),
			}, args...)
			if mode.arg == "" && !strings.Contains(s.stderr.String(), "Process tracking: cgroups") {
				if os.Geteuid() == 0 && os.Getenv("CI") != "" {
					t.Fatalf("no cgroup tracking as root in CI:\n%s", s.stderr.String())
				}
				t.Skipf("no cgroup tracking here: %s", s.stderr.String())
			}

			// With a pid file: two upgrades, each followed to the pid
			// the file names (the old worker is older, but not named).
			if _, errs, code := s.ctl("start", "named"); code != 0 {
				t.Fatalf("start: %s", errs)
			}
			first := statusPid(s, "named")
			waitFor(t, "the first pid file", func() bool { return readPid(t, pf) == first })
			for gen := 2; gen <= 4; gen++ {
				if gen == 4 {
					// The followed leader is the main process of the
					// re-exec document; the next image follows on.
					want := statusPid(s, "named")
					restartDaemon(t, s)
					if p := statusPid(s, "named"); p != want {
						t.Fatalf("after the re-exec main is %d, want %d", p, want)
					}
				}
				old := statusPid(s, "named")
				if _, errs, code := s.ctl("reload", "named"); code != 0 {
					t.Fatalf("reload: %s", errs)
				}
				waitFor(t, "the old master to exit", func() bool { return gone(old) })
				var now int
				waitFor(t, fmt.Sprintf("status to show generation %d", gen), func() bool {
					now = statusPid(s, "named")
					return now != 0 && now != old
				})
				if now != readPid(t, pf) || cmdline(now) != fmt.Sprintf("sh %s %s %d", script, pf, gen) {
					t.Fatalf("generation %d: main %d (%q), pid file %d", gen, now, cmdline(now), readPid(t, pf))
				}
				if findProc(fmt.Sprintf("sleep 206%d", gen-1)) == 0 {
					t.Errorf("generation %d's worker was killed\n%s%s", gen-1, psTree(), s.stderr.String())
				}
			}
			if !strings.Contains(s.stderr.String(), "(its pid file): following it") {
				t.Errorf("no follow in the log:\n%s", s.stderr.String())
			}

			// Without: the oldest process left is the old worker; when
			// it ends, the new master.
			if _, errs, code := s.ctl("start", "oldest"); code != 0 {
				t.Fatalf("start: %s", errs)
			}
			old := statusPid(s, "oldest")
			waitFor(t, "its pid file", func() bool { return readPid(t, dir+"/oldest.pid") == old })
			s.ctl("reload", "oldest")
			waitFor(t, "the old master to exit", func() bool { return gone(old) })
			worker := 0
			waitFor(t, "the old worker to lead", func() bool {
				worker = statusPid(s, "oldest")
				return worker != 0 && cmdline(worker) == "sleep 2061"
			})
			syscall.Kill(worker, syscall.SIGTERM)
			waitForDiag(t, "the new master to lead", func() bool {
				p := statusPid(s, "oldest")
				return p != 0 && cmdline(p) == fmt.Sprintf("sh %s %s/oldest.pid 2", script, dir)
			}, func() string {
				out, _, _ := s.ctl("initctl", "-v", "status", "oldest")
				return out + psTree() + s.stderr.String()
			})

			// A pid file naming a foreign process: refused, logged once,
			// the oldest followed instead.
			os.WriteFile(liar, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
			if _, errs, code := s.ctl("start", "liar"); code != 0 {
				t.Fatalf("start: %s", errs)
			}
			old = statusPid(s, "liar")
			waitFor(t, "its pid file", func() bool { return readPid(t, dir+"/liar-own.pid") == old })
			s.ctl("reload", "liar")
			waitFor(t, "the follow", func() bool { p := statusPid(s, "liar"); return p != 0 && p != old })
			if p := statusPid(s, "liar"); p == os.Getpid() {
				t.Fatalf("followed the foreign pid %d", p)
			}
			want := fmt.Sprintf("liar pid file %s names process %d, which is not a process of the job's main group: ignored", liar, os.Getpid())
			if n := strings.Count(s.stderr.String(), want); n != 1 {
				t.Errorf("refusal logged %d times, want once:\n%s", n, s.stderr.String())
			}

			// Stop: the followed leader and everything left go.
			for _, job := range []string{"named", "oldest", "liar"} {
				if out, errs, code := s.ctl("stop", job); code != 0 || out != job+" stop/waiting\n" {
					t.Fatalf("stop %s: %q %q", job, out, errs)
				}
			}
			for _, p := range processes() {
				if p.state != "Z" && (strings.Contains(p.cmdline, script) || strings.HasPrefix(p.cmdline, "sleep 206") || strings.HasPrefix(p.cmdline, "sleep 207")) {
					t.Errorf("left running after stop: %+v", p)
				}
			}
		})
	}
}

// Respawn: a crash of the main process that leaves a process in its
// group is followed (the group is not empty); the crash of that one,
// with nothing left, respawns the job.
func TestReforkCrashRespawns(t *testing.T) {
	s := startSession(t, map[string]string{
		"crashy": "respawn\nexec sh -c 'sleep 1076 & exec sleep 1075'\n",
	}, "--verbose")
	if _, errs, code := s.ctl("start", "crashy"); code != 0 {
		t.Fatal(errs)
	}
	first := statusPid(s, "crashy")
	waitFor(t, "the main process to exec", func() bool { return cmdline(first) == "sleep 1075" })
	waitFor(t, "its child", func() bool { return findProc("sleep 1076") != 0 })
	syscall.Kill(first, syscall.SIGSEGV)
	var child int
	waitFor(t, "the child to lead", func() bool {
		child = statusPid(s, "crashy")
		return child != 0 && child != first
	})
	if cmdline(child) != "sleep 1076" || strings.Contains(s.stderr.String(), "respawning") {
		t.Fatalf("main %d (%q) after the crash; log:\n%s", child, cmdline(child), s.stderr.String())
	}
	syscall.Kill(child, syscall.SIGSEGV)
	waitFor(t, "the respawn", func() bool {
		p := statusPid(s, "crashy")
		return p != 0 && p != child && cmdline(p) == "sleep 1075"
	})
	if !strings.Contains(s.stderr.String(), "crashy main process ended, respawning") {
		t.Errorf("no respawn in the log:\n%s", s.stderr.String())
	}
	s.ctl("stop", "crashy")
}

// nginx's binary upgrade: USR2 (our `reload signal`) makes the master
// start a new master, which writes the pid file (the old one's is renamed
// .oldbin); QUIT ends the old master. The job follows the new master
// through its pid file and keeps serving; stop stops the new one.
func TestNginxBinaryUpgrade(t *testing.T) {
	const nginx = "/usr/sbin/nginx"
	if _, err := os.Stat(nginx); err != nil {
		needTool(t, "nginx")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pf := filepath.Join(dir, "nginx.pid")
	var temps strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "  %s_temp_path %s/%s;\n", k, dir, k)
	}
	cfg := fmt.Sprintf(`pid %s;
error_log %s/error.log;
worker_processes 2;
events { worker_connections 32; }
http {
  access_log off;
%s  server {
    listen 127.0.0.1:%d;
    location / { return 200 "served by $pid\n"; }
  }
}
`, pf, dir, temps.String(), port)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(cfg), 0o644)
	s := startSession(t, map[string]string{
		"nginx": fmt.Sprintf("expect fork\npid file %s\nreload signal USR2\nexec %s -p %s/ -e %s/error.log -c %s/nginx.conf\n",
			pf, nginx, dir, dir, dir),
	}, "--verbose")
	get := func() string {
		c := http.Client{Timeout: 2 * time.Second}
		r, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return ""
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	if _, errs, code := s.ctl("start", "nginx"); code != 0 {
		b, _ := os.ReadFile(dir + "/error.log")
		t.Fatalf("start: %s\n%s\n%s", errs, b, s.stderr.String())
	}
	old := statusPid(s, "nginx")
	waitFor(t, "nginx's pid file", func() bool { return readPid(t, pf) == old })
	waitFor(t, "nginx to serve", func() bool { return get() != "" })
	if _, errs, code := s.ctl("reload", "nginx"); code != 0 {
		t.Fatalf("reload: %s", errs)
	}
	var next int
	waitFor(t, "the new master's pid file", func() bool {
		next = readPid(t, pf)
		return next != 0 && next != old && readPid(t, pf+".oldbin") == old
	})
	if p := statusPid(s, "nginx"); p != old {
		t.Fatalf("status shows %d before the old master quit, want %d", p, old)
	}
	syscall.Kill(old, syscall.SIGQUIT)
	waitFor(t, "the old master to go", func() bool { return gone(old) })
	waitFor(t, "status to show the new master", func() bool { return statusPid(s, "nginx") == next })
	if out, _, _ := s.ctl("status", "nginx"); out != fmt.Sprintf("nginx start/running, process %d\n", next) {
		t.Fatalf("status %q", out)
	}
	waitFor(t, "the new master's workers to serve", func() bool {
		b := get()
		if b == "" {
			return false
		}
		w, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(b, "served by ")))
		pp := 0
		for _, p := range processes() {
			if p.pid == w {
				pp = p.ppid
			}
		}
		return pp == next
	})
	if !strings.Contains(s.stderr.String(), fmt.Sprintf("nginx main process (%d) handed over to process %d (its pid file)", old, next)) {
		t.Errorf("no follow in the log:\n%s", s.stderr.String())
	}
	if out, errs, code := s.ctl("stop", "nginx"); code != 0 || out != "nginx stop/waiting\n" {
		t.Fatalf("stop: %q %q", out, errs)
	}
	waitFor(t, "nginx to go", func() bool { return gone(next) })
	for _, p := range processes() {
		if strings.HasPrefix(p.cmdline, "nginx: ") && p.state != "Z" && (p.ppid == next || p.pid == next) {
			t.Errorf("left running: %+v", p)
		}
	}
}

// As PID 1 of a PID namespace (cgroups as the system instance has them):
// the re-forked daemon is followed through its pid file, and stop leaves
// nothing of it.
func TestPID1ReforkFollowed(t *testing.T) {
	needRoot(t, "a PID namespace")
	needTool(t, "unshare")
	needTool(t, "nsenter")
	dir := t.TempDir()
	script := filepath.Join(dir, "refork.sh")
	os.WriteFile(script, []byte(reforkScript), 0o755)
	pf := filepath.Join(dir, "pid1.pid")
	confdir := t.TempDir()
	writeJob(t, confdir, "zzrefork", fmt.Sprintf("start on startup\npid file %s\nexec sh %s %s\n", pf, script, pf))
	initPid, stderr := startPID1(t, nil, "--confdir", confdir, "--no-log", "--verbose")
	ctl := func(args ...string) string {
		out, _, _ := runTool(t, nil, "nsenter", append([]string{"-t", strconv.Itoa(initPid), "-n", filepath.Join(binDir, "initctl")}, args...)...)
		return out
	}
	// Pids here are the namespace's: compare status with the pid file.
	nsPid := func() int {
		out := ctl("status", "zzrefork")
		p, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(out, "zzrefork start/running, process ")))
		return p
	}
	var first int
	waitFor(t, "the job and its pid file", func() bool {
		first = nsPid()
		return first != 0 && readPid(t, pf) == first
	})
	ctl("reload", "zzrefork")
	waitForDiag(t, "status to show the new master", func() bool {
		p := nsPid()
		return p != 0 && p != first && p == readPid(t, pf)
	}, func() string { return ctl("status", "zzrefork") + psTree() + stderr.String() })
	if out := ctl("stop", "zzrefork"); out != "zzrefork stop/waiting\n" {
		t.Fatalf("stop: %q\n%s", out, stderr.String())
	}
	for _, p := range processes() {
		if p.state != "Z" && strings.Contains(p.cmdline, script) {
			t.Errorf("left running after stop: %+v", p)
		}
	}
}
