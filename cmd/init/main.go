// Command init is the event-based init daemon: PID 1 of a machine or
// container, or a per-user session instance with --user.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cgroup"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/ready"
	"github.com/goupstart/upstart/internal/state"
	"github.com/goupstart/upstart/internal/supervise"
)

// signals is set up before main runs: Go's default action for SIGTERM,
// SIGHUP and friends is to exit, and PID 1 exiting panics the kernel.
var signals chan os.Signal

func init() {
	if len(os.Args) > 1 && os.Args[1] == supervise.PreExecArg {
		return
	}
	signals = make(chan os.Signal, 64)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1,
		syscall.SIGUSR2, syscall.SIGPWR, syscall.SIGWINCH, syscall.SIGQUIT, syscall.SIGPIPE,
		syscall.SIGALRM, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGVTALRM,
		syscall.SIGPROF, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGIO,
		sigHalt, sigPowerOff, sigReboot)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == supervise.PreExecArg {
		supervise.RunPreExec(os.Args[2:]) // never returns
	}
	// One goroutine owns all state, so a second P buys little parallelism
	// but costs a thread wake-up (and idle spinning) at every hand-off
	// between a connection, the loop and the reaper: EmitEvent with wait
	// runs at about twice the rate with one P (docs/decisions.md). An
	// explicit GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fatal(err)
	}
	applyBusEnv(o)
	if o.help {
		printUsage()
		return
	}
	if o.version {
		fmt.Println(api.Version)
		return
	}
	d := &daemon{o: o, pid1: os.Getpid() == 1, exe: executable()}
	if os.Getenv("UPSTART_WRITE_STATEFILE") != "" {
		o.writeStateFile = true
	}
	startTrimmer()
	if err := d.run(); err != nil {
		fatal(err)
	}
}

// stateHeapLimit bounds the heap while the collector is paused for the
// restore after a re-exec: past it the collector runs as usual (a
// document of a thousand jobs needs about 10 MiB).
const stateHeapLimit = 256 << 20

// resumeGC ends the pause of the collector for the restore (a no-op
// without one).
var resumeGC = func() {}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "init: %v\n", err)
	if os.Getpid() == 1 {
		// PID 1 may not exit: say why and stay.
		for {
			time.Sleep(time.Hour)
		}
	}
	os.Exit(1)
}

type daemon struct {
	o       *options
	pid1    bool
	level   slog.LevelVar
	log     *slog.Logger
	logh    *lineHandler
	e       *engine.Engine
	sup     *supervise.Supervisor
	dirs    []string
	exe     string // what a re-exec executes
	address string
	exits   chan supervise.Exit
	srv     *control.Server
	// listener is the private socket being served (nil: none; loop only
	// once the loop runs).
	listener *net.UnixListener
	// inotify is the cgroup manager's inotify descriptor passed across a
	// re-exec (nil: none); setupTracking takes it.
	inotify *os.File
	// inherited is the private socket found open after a re-exec whose
	// state was refused (reexec.go).
	inherited *os.File
	session   string // session file, removed at exit
	done      chan struct{}
	bus       *busLink                       // bus.go
	cgroups   atomic.Pointer[cgroup.Manager] // cgroups.go; nil: pid tracking
	// late: the tracking of a daemon that started without a hierarchy,
	// or re-executed (cgroups.go); nil otherwise.
	late  *lateTracking
	ready *ready.Manager // ready.go
	// cgroupName is the name of PID 1's cgroup tree when it is not the
	// default (passed on at a re-exec).
	cgroupName string
}

func (d *daemon) run() error {
	o := d.o
	d.level.Set(priorities[o.priority])
	d.logh = newLineHandler(os.Stderr, &d.level)
	d.log = slog.New(d.logh)
	for _, u := range o.unimplemented {
		d.log.Warn(fmt.Sprintf("Option %s is not implemented by this init daemon; ignored", u))
	}
	user := o.user || o.session
	if !user {
		if os.Geteuid() != 0 {
			return fmt.Errorf("Need to be root")
		}
		if !d.pid1 {
			// `init 2` from a shell works like `telinit 2`, as in Upstart.
			if tel := telinitPath(); tel != "" {
				syscall.Exec(tel, append([]string{"telinit"}, os.Args[1:]...), os.Environ())
			}
			return fmt.Errorf("Not being executed as init")
		}
		if !o.restart {
			d.bootSetup()
		}
	}
	d.setDaemonLog() // boot.go
	env := d.globalEnv()
	var err error
	d.dirs, err = d.confDirs()
	if err != nil {
		return err
	}
	if user {
		d.address = fmt.Sprintf("unix:abstract=/com/ubuntu/upstart-session/%d/%d", os.Getuid(), os.Getpid())
		env = environ.Set(env, "UPSTART_SESSION="+d.address)
	} else {
		d.address = "unix:abstract=/com/ubuntu/upstart"
	}
	var doc *state.Document // the previous image's, after a re-exec
	if o.stateFD >= 0 {
		// The document is read, the engine rebuilt and the job files
		// read again with the collector paused (up to stateHeapLimit of
		// heap): what they allocate mostly stays, and collecting
		// meanwhile only delays the first answer (docs/decisions.md).
		if os.Getenv("GOMAXPROCS") == "" && runtime.NumCPU() > 1 {
			// A second P until the job files are read again: the loop
			// answers meanwhile (see below).
			runtime.GOMAXPROCS(2)
		}
		gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(stateHeapLimit)
		resumeGC = func() {
			debug.SetGCPercent(gc)
			debug.SetMemoryLimit(limit)
		}
		doc = d.readState(o.stateFD)
		if doc != nil && doc.Daemon.CgroupInotifyFD > 2 {
			d.inotify = os.NewFile(uintptr(doc.Daemon.CgroupInotifyFD), "inotify")
		}
	}

	exits := make(chan supervise.Exit, 1024)
	d.exits = exits
	sopts := supervise.Options{
		PreExec:   []string{"/proc/self/exe", supervise.PreExecArg},
		Subreaper: !d.pid1,
		Logf:      func(f string, a ...any) { d.log.Warn(fmt.Sprintf(f, a...)) },
	}
	configureSupervisor(&sopts, d)
	// Forks of a cold start on every CPU (supervise.SpawnAll): the one P
	// of the loop is widened for the batch only, unless the user chose
	// GOMAXPROCS.
	sopts.SpawnThreads = min(runtime.NumCPU(), supervise.MaxSpawnThreads)
	if os.Getenv("GOMAXPROCS") != "" {
		sopts.SpawnThreads, sopts.KeepProcs = runtime.GOMAXPROCS(0), true
	}
	if o.defaultOOM != nil {
		// As the Chromium OS fork: the daemon takes the default score
		// itself and every process inherits it; a job's own `oom
		// score` stanza is applied over it.
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*o.defaultOOM)+"\n"), 0); err != nil {
			d.log.Warn(fmt.Sprintf("Unable to set default oom score: %v", err))
		}
		sopts.OOMScoreInherited = true
	}
	defer d.setupLogging(&sopts)() // logging.go
	d.restoreLogger(doc)
	d.sup, err = supervise.New(exits, sopts)
	if err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	eopts := engine.Options{
		Spawner: d.sup, Log: d.log, Env: env, InitEnv: os.Environ(),
		DefaultConsole: o.defaultConsole, Session: user, Recover: d.pid1,
		ImportDefaultDeny: o.importDeny, StripInitKeys: o.stripInitKeys,
		PidFiles: supervise.PidFiles{},
	}
	if o.noLog {
		eopts.DefaultConsole = conf.ConsoleNone
	}
	tracking := d.setupTracking(&eopts) // cgroups.go
	d.log.Log(context.Background(), priorities["message"], "Process tracking: "+tracking)
	d.setupEventLog(&eopts) // logging.go
	d.setupReadiness(&eopts)
	d.e = engine.New(eopts)
	d.ready.Deliver = func(n engine.Notice) { d.e.Post(func() { d.e.HandleNotice(n) }) }
	d.e.SetClock(engine.RealClock{Engine: d.e})
	backend := &engine.Backend{
		E:            d.e,
		ReloadConfig: d.reload,
		LogPriorityFn: func() string {
			return priorityName(d.level.Level())
		},
		SetLogPriorityFn: func(p string) error {
			l, ok := priorities[p]
			if !ok {
				return api.Errorf(api.ErrInvalidArgs, "The log priority given was not recognised")
			}
			d.level.Set(l)
			return nil
		},
	}

	d.done = make(chan struct{})
	// The loop must run before anything posts to it. After a re-exec it
	// takes no exit before the jobs are restored: the new reaper may have
	// collected the end of a process the old image spawned, which only
	// the restored state can place.
	if doc != nil {
		early, returned := make(chan struct{}), make(chan struct{})
		go func() { d.e.Run(nil, early); close(returned) }()
		d.restoreEngine(doc)
		close(early)
		<-returned
	}
	go d.e.Run(exits, d.done)
	d.restoreReadiness(doc) // ready.go
	if doc == nil {
		d.call(d.reload)
	}

	srv := d.controlServer(backend, control.Options{Session: user,
		Logf: func(f string, a ...any) { d.log.Debug(fmt.Sprintf(f, a...)) }})
	d.srv = srv
	defer srv.Close()
	if !o.session {
		l, err := d.restoredListener(doc)
		if err != nil {
			d.log.Error(err.Error())
		}
		if l == nil {
			nl, err := control.Listen(d.address)
			switch {
			case err == nil:
				l = nl.(*net.UnixListener)
			case d.pid1 || o.restart:
				// PID 1, or a session after a re-exec (its jobs run on):
				// never give up, and never go headless for good.
				d.log.Error(fmt.Sprintf("Unable to listen for private connections, retrying: %v", err))
				go d.listenLater()
			default:
				return fmt.Errorf("unable to listen for private connections: %w", err)
			}
		}
		if l != nil {
			d.listener = l
			go srv.Serve(l)
		}
	}
	d.bus.start()
	if doc != nil && doc.Daemon.BusAddress != "" && !o.noDBus {
		go d.bus.notify(doc.Daemon.BusAddress)
	}
	if o.user {
		if err := d.writeSessionFile(); err != nil {
			d.log.Warn(fmt.Sprintf("unable to write session file: %v", err))
		}
		defer d.removeSessionFile()
	}
	// The configuration watcher (closed at the end by whoever made it).
	watchers := make(chan *conf.Watcher, 1)
	defer func() {
		select {
		case w := <-watchers:
			if w != nil {
				w.Close()
			}
		default:
		}
	}()
	newWatcher := func() *conf.Watcher {
		w, err := conf.NewWatcher(d.dirs)
		if err != nil {
			d.log.Warn(fmt.Sprintf("Unable to watch configuration directories: %v", err))
			w = nil
		}
		watchers <- w
		return w
	}
	var w *conf.Watcher
	if doc == nil {
		w = newWatcher()
	}
	go func() {
		w := w
		if doc != nil {
			// After a re-exec the restored jobs keep the definitions
			// they had and answer at once; the job files are read
			// again now, off the loop (reading a thousand takes longer
			// than the rest of the restart), and applied on it. The
			// watcher is set up first (it walks every directory: off
			// the answers' path too), and its changes are applied
			// after: none is lost or undone. Then the cgroup tree is
			// watched again (an Empty that comes meanwhile is not lost:
			// Adopt looks after it has watched). All at a low CPU
			// priority, so that the first answers do not wait for them.
			lowPriority(func() {
				w = newWatcher()
				d.reloadOffLoop()
				d.adoptCgroups() // cgroups.go
			})
		}
		// The collector resumes (it starts a collection at once) and
		// the second P goes once the restart's work is done.
		resumeGC()
		if o.stateFD >= 0 && os.Getenv("GOMAXPROCS") == "" {
			runtime.GOMAXPROCS(1)
		}
		if w == nil {
			return
		}
		for range w.C {
			d.confChanged(w.Changes())
		}
	}()
	if !o.noStartupEvent && !o.restart {
		name := o.startupEvent
		d.e.Post(func() {
			if err := d.e.Emit(name, nil, nil, nil); err != nil {
				d.log.Error(err.Error())
			}
		})
	}
	if doc != nil {
		d.e.Post(d.e.Restarted)
	}
	d.handleSignals()
	return nil
}

// serveListener serves the private socket again from a duplicate of it
// (after a re-exec that failed).
func (d *daemon) serveListener(f *os.File) {
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		d.log.Error(fmt.Sprintf("Unable to serve the private socket again: %v", err))
		return
	}
	d.listener = l.(*net.UnixListener)
	go d.srv.Serve(l)
}

// listenLater binds the private socket once it can (every second), and
// serves it.
func (d *daemon) listenLater() {
	for {
		time.Sleep(time.Second)
		nl, err := control.Listen(d.address)
		if err != nil {
			continue
		}
		d.call(func() { d.listener = nl.(*net.UnixListener) })
		d.log.Info("Listening for private connections")
		d.srv.Serve(nl)
		return
	}
}

// executable is the path a re-exec runs: the binary's path as invoked
// (after an upgrade, the new binary there), else the running one.
func executable() string {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/proc/self/exe"
}

// telinitPath finds telinit: beside this binary, else in /sbin, else on
// PATH ("" if nowhere).
func telinitPath() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "telinit")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/sbin/telinit"); err == nil {
		return "/sbin/telinit"
	}
	if p, err := exec.LookPath("telinit"); err == nil {
		return p
	}
	return ""
}

// call runs f on the loop and waits for it.
func (d *daemon) call(f func()) {
	done := make(chan struct{})
	d.e.Post(func() { f(); close(done) })
	<-done
}

// reload re-reads every job file (on the loop). Broken files are reported
// with FILE:LINE and define no job; the others load.
func (d *daemon) reload() {
	jobs, errs := conf.Load(d.dirs)
	for _, err := range errs {
		d.log.Error(err.Error())
	}
	d.e.SetJobs(jobs)
}

// catchUpNice is the nice value of the thread that catches up after a
// re-exec: below the daemon's other threads, not so low that a busy
// machine starves it (a nice 10 thread gets about a tenth of what a
// nice 0 one gets).
const catchUpNice = 10

// lowPriority runs f on an OS thread of its own at nice catchUpNice, and
// waits for it. The thread ends with f: it stays locked, so the runtime
// discards it rather than reuse it (a thread may lower its priority but
// not, unprivileged, raise it again), and the threads the runtime starts
// meanwhile come from its template thread, not this one.
func lowPriority(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), catchUpNice)
		f()
	}()
	<-done
}

// reloadOffLoop re-reads every job file off the loop and applies them on
// it (as reload).
func (d *daemon) reloadOffLoop() {
	jobs, errs := conf.Load(d.dirs)
	for _, err := range errs {
		d.log.Error(err.Error())
	}
	d.call(func() { d.e.SetJobs(jobs) })
}

// confChanged applies a batch of changes the configuration watcher saw:
// the changed job files are re-read here, off the loop, and only their
// jobs are updated on it. A changed directory, or a watcher that lost
// track, reloads everything. It returns when the loop has applied them
// (changes that come meanwhile make the next batch).
func (d *daemon) confChanged(files, dirs []string, all bool) {
	var jobs map[string]*conf.Job
	ok := false
	if !all {
		var errs []error
		jobs, ok, errs = conf.Reread(d.dirs, files, dirs)
		for _, err := range errs {
			d.log.Error(err.Error())
		}
	}
	if !ok {
		d.log.Debug("Configuration changed: reloading every job file")
		d.call(d.reload)
		return
	}
	if len(jobs) == 0 {
		return
	}
	d.log.Debug(fmt.Sprintf("Configuration changed: re-read %d job(s)", len(jobs)))
	d.call(func() { d.e.UpdateJobs(jobs) })
}

func (d *daemon) globalEnv() []string {
	if d.o.user && !d.o.noInheritEnv {
		if d.o.jobPath != "" {
			return environ.Set(os.Environ(), "PATH="+d.o.jobPath)
		}
		return os.Environ()
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin"
	if !d.pid1 {
		if p := os.Getenv("PATH"); p != "" {
			path = p
		}
	}
	if d.o.jobPath != "" {
		path = d.o.jobPath
	}
	env := []string{"PATH=" + path}
	if t := os.Getenv("TERM"); t != "" {
		env = append(env, "TERM="+t)
	}
	return env
}

// confDirs lists the configuration directories in priority order.
func (d *daemon) confDirs() ([]string, error) {
	o := d.o
	dirs := append([]string(nil), o.prependDirs...)
	switch {
	case len(o.confdirs) > 0:
		dirs = append(dirs, o.confdirs...)
	case o.user:
		home, _ := os.UserHomeDir()
		cfg := os.Getenv("XDG_CONFIG_HOME")
		if cfg == "" {
			cfg = filepath.Join(home, ".config")
		}
		own := filepath.Join(cfg, "upstart")
		os.MkdirAll(own, 0o755)
		dirs = append(dirs, own, filepath.Join(home, ".init"))
		xdg := os.Getenv("XDG_CONFIG_DIRS")
		if xdg == "" {
			xdg = "/etc/xdg"
		}
		for _, p := range filepath.SplitList(xdg) {
			if filepath.IsAbs(p) {
				dirs = append(dirs, filepath.Join(p, "upstart"))
			}
		}
		if os.Getenv("UPSTART_NO_SYSTEM_USERCONFDIR") == "" {
			dirs = append(dirs, "/usr/share/upstart/sessions")
		}
	default:
		dir := "/etc/init"
		if v := os.Getenv("UPSTART_CONFDIR"); v != "" {
			dir = v
		}
		dirs = append(dirs, dir)
	}
	return append(dirs, o.appendDirs...), nil
}

func (d *daemon) sessionDir() string {
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		return ""
	}
	return filepath.Join(rt, "upstart", "sessions")
}

func (d *daemon) writeSessionFile() error {
	dir := d.sessionDir()
	if dir == "" {
		return fmt.Errorf("XDG_RUNTIME_DIR is not set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d.session = filepath.Join(dir, strconv.Itoa(os.Getpid())+".session")
	return os.WriteFile(d.session, []byte("UPSTART_SESSION="+d.address+"\n"), 0o600)
}

func (d *daemon) removeSessionFile() {
	if d.session != "" {
		os.Remove(d.session)
	}
}
