package main

// The supervisors under test. Each one gets its own directory, a generated
// configuration with the services, and is started as a child of the bench.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// service is one supervised program.
type service struct {
	name   string
	argv   []string
	logged bool // output goes through the supervisor's logger into logDir
	pipe   bool // ours: `console log pipe` rather than the pty of `console log`
}

// instance is a running supervisor.
type instance struct {
	sys     string
	dir     string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the root process has been reaped
	stopSig syscall.Signal
	logDir  string // where logged services' output ends up
	env     []string
	// onCleanup, when set, runs after the root process is killed (the
	// confinement's cgroup removal).
	onCleanup func()
}

func (in *instance) pid() int { return in.cmd.Process.Pid }

// exited reports whether the root process has exited.
func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// stopAll asks the supervisor to stop every service (and exit).
func (in *instance) stopAll() error { return in.cmd.Process.Signal(in.stopSig) }

// kill ends the root process and waits for it (at most 2 s).
func (in *instance) kill() {
	if in.exited() {
		return
	}
	in.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-in.done:
	case <-time.After(2 * time.Second):
	}
}

// supervisorOutput is the tail of what the supervisor printed, for errors.
func (in *instance) supervisorOutput() string {
	b, _ := os.ReadFile(filepath.Join(in.dir, "supervisor.out"))
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

// system is a supervisor implementation.
type system interface {
	name() string
	// check returns why the system cannot run here, or nil.
	check() error
	// start writes the configuration for svcs under dir and starts the
	// supervisor; logging selects the configuration with a logger.
	start(dir string, svcs []service, logging bool) (*instance, error)
}

// launch starts argv with output to dir/supervisor.out.
func launch(sys, dir string, argv, env []string, stopSig syscall.Signal) (*instance, error) {
	out, err := os.Create(filepath.Join(dir, "supervisor.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in := &instance{sys: sys, dir: dir, cmd: cmd, done: make(chan struct{}), stopSig: stopSig, env: env}
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(in.done) }()
	return in, nil
}

// baseEnv is the environment given to every supervisor.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C"}
	if !strings.Contains(os.Getenv("PATH"), "/usr/bin") {
		env[0] = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	}
	return append(env, extra...)
}

func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}#~") || a == "" {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func writeExec(path, text string) error { return os.WriteFile(path, []byte(text), 0o755) }

// runScript is the `run` file of s6 and runit: a shell that execs the service.
func runScript(argv []string) string { return "#!/bin/sh\nexec " + shellQuote(argv) + "\n" }

// ---- ours ----------------------------------------------------------------

type ours struct {
	bin string // directory with init and initctl
	err error  // build failure
}

func (o *ours) name() string { return "ours" }
func (o *ours) check() error { return o.err }

func (o *ours) start(dir string, svcs []service, logging bool) (*instance, error) {
	conf := filepath.Join(dir, "conf")
	for _, d := range []string{conf, filepath.Join(dir, "run"), filepath.Join(dir, "cache"), filepath.Join(dir, "config")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	for _, s := range svcs {
		text := "start on startup\n"
		if s.logged && s.pipe {
			text += "console log pipe\n"
		} else if s.logged {
			text += "console log\n"
		} else {
			text += "respawn\n"
		}
		// The program by its absolute path, as finit's stanza has it
		// (finit.go): neither searches PATH at each spawn (the bench's
		// PATH has 13 entries before /usr/bin here).
		argv := append([]string(nil), s.argv...)
		if p, err := exec.LookPath(argv[0]); err == nil {
			argv[0] = p
		}
		text += "exec " + shellQuote(argv) + "\n"
		if err := os.WriteFile(filepath.Join(conf, s.name+".conf"), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	argv := []string{filepath.Join(o.bin, "init"), "--user", "--confdir", conf}
	if !logging {
		argv = append(argv, "--no-log")
	}
	env := baseEnv("XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CONFIG_DIRS="+filepath.Join(dir, "config"))
	in, err := launch("ours", dir, argv, env, syscall.SIGTERM)
	if in != nil {
		in.logDir = filepath.Join(dir, "cache", "upstart")
	}
	return in, err
}

// session waits for the session file of in and returns UPSTART_SESSION's value.
func (o *ours) session(in *instance, timeout time.Duration) (string, error) {
	p := filepath.Join(in.dir, "run", "upstart", "sessions", fmt.Sprintf("%d.session", in.pid()))
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(p); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "UPSTART_SESSION="); ok && v != "" {
					return strings.TrimSpace(v), nil
				}
			}
		}
		if in.exited() {
			return "", fmt.Errorf("init exited: %s", in.supervisorOutput())
		}
		time.Sleep(time.Millisecond)
	}
	return "", fmt.Errorf("no session file %s after %v", p, timeout)
}

// initctl runs initctl against in.
func (o *ours) initctl(addr string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(o.bin, "initctl"), args...)
	cmd.Env = baseEnv("UPSTART_SESSION=" + addr)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ---- s6 ------------------------------------------------------------------

type s6 struct{}

func (s6) name() string { return "s6" }
func (s6) check() error { return needBins("s6-svscan", "s6-supervise", "s6-log") }

func (s6) start(dir string, svcs []service, logging bool) (*instance, error) {
	scan := filepath.Join(dir, "scan")
	logs := filepath.Join(dir, "logs")
	for _, s := range svcs {
		sd := filepath.Join(scan, s.name)
		if err := os.MkdirAll(sd, 0o755); err != nil {
			return nil, err
		}
		// s6-supervise restarts a dead service at once only when it had
		// been *ready* for more than a second, else it waits a second; a
		// service without readiness notification is never ready. So each
		// one says it is ready when it is exec'd (notification-fd 3), which
		// is what the other systems assume of a service.
		if err := writeExec(filepath.Join(sd, "run"), "#!/bin/sh\necho >&3\nexec "+shellQuote(s.argv)+" 3>&-\n"); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(sd, "notification-fd"), []byte("3\n"), 0o644); err != nil {
			return nil, err
		}
		if s.logged {
			os.MkdirAll(filepath.Join(sd, "log"), 0o755)
			os.MkdirAll(logs, 0o755)
			// No rotation within 100 MB, no timestamps: bytes in = bytes out.
			script := "#!/bin/sh\nexec s6-log n20 s200000000 " + filepath.Join(logs, s.name) + "\n"
			if err := writeExec(filepath.Join(sd, "log", "run"), script); err != nil {
				return nil, err
			}
		}
	}
	// -c: s6-svscan supervises at most 500 service directories by default.
	maxSvc := 2*len(svcs) + 16
	if maxSvc < 500 {
		maxSvc = 500
	}
	in, err := launch("s6", dir, []string{"s6-svscan", "-c", strconv.Itoa(maxSvc), scan}, baseEnv(), syscall.SIGTERM)
	if in != nil {
		in.logDir = logs
	}
	return in, err
}

// ---- runit ---------------------------------------------------------------

type runit struct{}

func (runit) name() string { return "runit" }
func (runit) check() error { return needBins("runsvdir", "runsv", "svlogd") }

func (runit) start(dir string, svcs []service, logging bool) (*instance, error) {
	sv := filepath.Join(dir, "sv")
	logs := filepath.Join(dir, "logs")
	for _, s := range svcs {
		sd := filepath.Join(sv, s.name)
		if err := os.MkdirAll(sd, 0o755); err != nil {
			return nil, err
		}
		if err := writeExec(filepath.Join(sd, "run"), runScript(s.argv)); err != nil {
			return nil, err
		}
		if s.logged {
			ld := filepath.Join(logs, s.name)
			os.MkdirAll(filepath.Join(sd, "log"), 0o755)
			os.MkdirAll(ld, 0o755)
			// s0: never rotate; svlogd splits lines longer than 1000 bytes only.
			os.WriteFile(filepath.Join(ld, "config"), []byte("s0\nn0\n"), 0o644)
			if err := writeExec(filepath.Join(sd, "log", "run"), "#!/bin/sh\nexec svlogd "+ld+"\n"); err != nil {
				return nil, err
			}
		}
	}
	// runsvdir does not start a service directory whose mtime is the
	// current second until the next one (it cannot tell whether it is
	// complete); a system's service directories are not created the moment
	// it boots, so date them 10 s back, as they would be.
	if err := backdate(sv, 10*time.Second); err != nil {
		return nil, err
	}
	// SIGHUP: runsvdir sends TERM to every runsv (which stops its service) and exits.
	in, err := launch("runit", dir, []string{"runsvdir", sv}, baseEnv(), syscall.SIGHUP)
	if in != nil {
		in.logDir = logs
	}
	return in, err
}

// ---- supervisord ----------------------------------------------------------

type supervisord struct{}

func (supervisord) name() string { return "supervisord" }
func (supervisord) check() error { return needBins("supervisord") }

func (supervisord) start(dir string, svcs []service, logging bool) (*instance, error) {
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	var b strings.Builder
	fmt.Fprintf(&b, "[supervisord]\nnodaemon=true\nlogfile=%s\npidfile=%s\nchildlogdir=%s\nminfds=8192\nminprocs=200\n",
		filepath.Join(dir, "supervisord.log"), filepath.Join(dir, "supervisord.pid"), dir)
	if os.Geteuid() == 0 {
		b.WriteString("user=root\n")
	}
	for _, s := range svcs {
		fmt.Fprintf(&b, "\n[program:%s]\ncommand=%s\nautostart=true\nautorestart=true\n", s.name, shellQuote(s.argv))
		if s.logged {
			fmt.Fprintf(&b, "redirect_stderr=true\nstdout_logfile=%s\nstdout_logfile_maxbytes=0\nstdout_logfile_backups=0\n",
				filepath.Join(logs, s.name+".log"))
		} else {
			b.WriteString("stdout_logfile=NONE\nstderr_logfile=NONE\n")
		}
	}
	// One group for all programs: supervisord stops its groups one after
	// the other, each once the last one's processes are reaped (a round of
	// its 1 s event loop each), but every program of a group at once.
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = s.name
	}
	fmt.Fprintf(&b, "\n[group:bench]\nprograms=%s\n", strings.Join(names, ","))
	conf := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	in, err := launch("supervisord", dir, []string{"supervisord", "-n", "-c", conf}, baseEnv(), syscall.SIGTERM)
	if in != nil {
		in.logDir = logs
	}
	return in, err
}

// ---- Upstart itself --------------------------------------------------------

// upstart is Upstart 1.13 itself, listed so the output says why it is absent.
type upstart struct{}

func (upstart) name() string { return "upstart" }
func (upstart) check() error {
	return errors.New("not packaged: Debian 12 has no upstart package")
}
func (upstart) start(string, []service, bool) (*instance, error) { return nil, upstart{}.check() }

// backdate sets the mtime of dir and of everything below it to d ago.
func backdate(dir string, d time.Duration) error {
	t := time.Now().Add(-d)
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, t, t)
	})
}

func needBins(names ...string) error {
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not installed: %s", strings.Join(missing, ", "))
	}
	return nil
}
