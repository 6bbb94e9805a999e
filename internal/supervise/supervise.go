package supervise

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/apparmor"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
)

// How a process is made
//
// Spawn forks with syscall.ForkExec (no os.Process, hence no pidfd to
// release) and always asks for setsid, so every job process leads its own
// session and process group. Two ways to exec:
//
//   - direct: the Go runtime applies everything between fork and exec
//     (stdio, chroot, setgroups/setgid/setuid, chdir, controlling tty). An
//     exec failure comes back synchronously from Spawn. chroot and chdir are
//     checked before forking because the runtime reports only a bare errno.
//   - pre-exec: for umask (other than the daemon's), nice, oom score, limit,
//     and chdir together with setuid/setgid (Upstart changes directory as
//     root; the runtime would do it after dropping privileges), the child
//     execs the daemon's own binary with Options.PreExec plus the encoded
//     settings; RunPreExec applies them in Upstart's order and execs the
//     job's program in the same process. Its failures come back through a
//     close-on-exec pipe (fd 3) and end up in Exit.SpawnErr.
//
// Request.CgroupDir places the child in a cgroup v2 in both modes (the
// fork itself does it); Request.CgroupProcs (cgroup v1 hierarchies) needs
// the pre-exec mode, whose first step writes the process's pid into them.
//
// The program is looked up in the job's PATH (inside its chroot) before the
// fork in both modes, and users and groups are resolved before the fork
// too (from the chroot's /etc/passwd and /etc/group when there is one).
//
// The reaper runs wait4(-1, WNOHANG) on every SIGCHLD. Spawners hold forkMu
// shared from fork until the pid is registered and the reaper holds it
// exclusively around each wait4, so a pid cannot be reaped before it is
// known. An Exit is queued when both the exit status and (pre-exec only)
// the end of the status pipe are known, whichever comes last.

// Options configure a Supervisor.
type Options struct {
	// PreExec is the argv prefix that runs the daemon's own binary in
	// pre-exec mode, normally {"/proc/self/exe", PreExecArg}. It is used
	// only for processes whose settings the Go runtime cannot apply between
	// fork and exec (umask other than the daemon's, nice, oom score,
	// limits, chdir before setuid/setgid). When it is empty such processes
	// fail to spawn.
	PreExec []string

	// Subreaper makes the daemon a child subreaper (PR_SET_CHILD_SUBREAPER)
	// unless it is PID 1, so that orphans of its jobs are reparented to it
	// and reaped.
	Subreaper bool

	// Logf, when set, receives diagnostics (console fallback, unexpected
	// reaper errors).
	Logf func(format string, args ...any)

	// ConsolePath is opened for `console output` and `console owner`;
	// default /dev/console. A Session Init may pass its own standard output,
	// e.g. /proc/self/fd/1. When it cannot be opened, /dev/null is used.
	ConsolePath string

	// DefaultChdir is the working directory of processes whose job has no
	// `chdir` stanza: "/" for the system instance, "" to keep the daemon's
	// working directory (Session Init). A job with `chroot` and no `chdir`
	// always starts in the root of its chroot.
	DefaultChdir string

	// OOMScoreInherited says the daemon's own oom_score_adj is not 0
	// (init --default-oom-score, as the Chromium OS fork sets it): every
	// process inherits it, so an `oom score 0` stanza must be applied too.
	OOMScoreInherited bool

	// InheritUmask makes processes whose job has no `umask` stanza keep the
	// daemon's umask (Session Init). Otherwise they get 022.
	InheritUmask bool

	// LogOutput is the seam for `console log`: it returns the file to use
	// as standard output and error of the process (e.g. the slave side of
	// a pty owned by the logger), nil meaning /dev/null. Spawn closes the
	// returned file once the child has its copy, whether or not the spawn
	// succeeds. When LogOutput is nil, `console log` is the same as
	// `console none`. Standard input is /dev/null either way.
	LogOutput func(r Request) (*os.File, error)

	// SpawnThreads is how many forks SpawnAll runs at once (at most
	// MaxSpawnThreads; 0 or 1: one after the other). While a batch runs,
	// the runtime's GOMAXPROCS is raised to it when lower (a fork holds
	// its thread's P until the child has exec'd) unless KeepProcs is set.
	SpawnThreads int
	// KeepProcs leaves GOMAXPROCS alone (the user set it).
	KeepProcs bool
}

// aaHost is where AppArmor is looked for (tests point it elsewhere).
var aaHost = apparmor.Host

// DefaultUmask is the umask of job processes without a `umask` stanza.
const DefaultUmask = 0o022

// Supervisor spawns job processes, reaps every child of the daemon and
// reports the exits of the processes it spawned.
//
// There may be only one live Supervisor per process: its reaper waits for
// any child. Nothing else in the process may wait for children (no
// os/exec.Cmd.Wait or Run while a Supervisor is live).
type Supervisor struct {
	opts        Options
	exits       chan<- Exit
	devNull     *os.File
	daemonUmask uint32

	// forkMu keeps the reaper from collecting a pid between its fork and
	// its registration: spawners hold it shared, each wait4 exclusively.
	forkMu sync.RWMutex
	// gate is held by HoldReaping: the reaper waits at it before each
	// child it collects.
	gate sync.Mutex

	mu    sync.Mutex
	procs map[int]*proc // spawned and not yet reaped

	logMu sync.Mutex // serialises opts.LogOutput (SpawnAll)

	qmu   sync.Mutex
	queue []Exit
	qwake chan struct{}

	sigc      chan os.Signal
	done      chan struct{}
	wg        sync.WaitGroup // the running reaper and sender
	closeOnce sync.Once

	// Detach and Reattach (handover.go). runMu orders them and Close;
	// pause stops the current reaper and sender; detached refuses forks;
	// unread holds reaped pre-exec processes whose status pipe is still
	// being read.
	runMu    sync.Mutex
	pause    chan struct{}
	detached atomic.Bool
	unread   map[*proc]struct{}
}

// proc is one spawned process until its Exit is sent.
type proc struct {
	pid      int
	waiting  int // reports still due: the exit, and the pre-exec status pipe
	status   syscall.WaitStatus
	spawnErr error
	piped    chan struct{} // pre-exec: closed once the status pipe is read
}

var live atomic.Bool

// New starts a Supervisor that sends an Exit on exits for every process it
// spawns, exactly once per pid. Exits are queued without bound inside the
// Supervisor, so the reaper never waits for the receiver; the receiver
// (the daemon's loop) should nevertheless drain exits promptly.
//
// New marks every descriptor from 3 up close-on-exec, so that nothing the
// daemon inherited (from a shell, or across a stateful re-exec) leaks into
// job processes. A daemon that wants to pass a descriptor across its own
// re-exec clears the flag on it just before that exec.
func New(exits chan<- Exit, opts Options) (*Supervisor, error) {
	if exits == nil {
		return nil, errors.New("supervise: nil exits channel")
	}
	if !live.CompareAndSwap(false, true) {
		return nil, errors.New("supervise: another Supervisor is live in this process")
	}
	if opts.ConsolePath == "" {
		opts.ConsolePath = "/dev/console"
	}
	if len(opts.PreExec) > 0 && !strings.HasPrefix(opts.PreExec[0], "/") {
		live.Store(false)
		return nil, fmt.Errorf("supervise: PreExec program %q is not an absolute path", opts.PreExec[0])
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		live.Store(false)
		return nil, fmt.Errorf("supervise: %w", err)
	}
	if opts.Subreaper && os.Getpid() != 1 && !isSubreaper() {
		// (Setting it walks every descendant, a millisecond with a
		// thousand jobs; after a re-exec it is set already: an exec
		// keeps it.)
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			devNull.Close()
			live.Store(false)
			return nil, fmt.Errorf("supervise: cannot become a subreaper: %w", err)
		}
	}
	s := &Supervisor{
		opts:        opts,
		exits:       exits,
		devNull:     devNull,
		daemonUmask: currentUmask(),
		procs:       make(map[int]*proc),
		qwake:       make(chan struct{}, 1),
		sigc:        make(chan os.Signal, 1),
		done:        make(chan struct{}),
		unread:      make(map[*proc]struct{}),
	}
	closeOnExecInherited()
	signal.Notify(s.sigc, syscall.SIGCHLD)
	s.start()
	return s, nil
}

// Close stops the reaper and the delivery of exits. Exits not yet received
// are dropped; children are no longer reaped. The exits channel is not
// closed.
func (s *Supervisor) Close() {
	s.closeOnce.Do(func() {
		s.runMu.Lock()
		defer s.runMu.Unlock()
		signal.Stop(s.sigc)
		close(s.done)
		s.wg.Wait()
		s.devNull.Close()
		live.Store(false)
	})
}

func (s *Supervisor) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Signal sends sig to the process group of pid. Every job process is a
// session and process group leader (pgid == pid), so this reaches what it
// forked unless that changed its group. A group that no longer exists is
// not an error.
func (s *Supervisor) Signal(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return fmt.Errorf("supervise: refusing to signal process group %d", pid)
	}
	if err := unix.Kill(-pid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("supervise: kill(-%d, %v): %w", pid, sig, err)
	}
	return nil
}

// SignalProcess sends sig to pid only (`reload` signals the main process,
// not its group). A process that no longer exists is not an error.
func (s *Supervisor) SignalProcess(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return fmt.Errorf("supervise: refusing to signal pid %d", pid)
	}
	if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("supervise: kill(%d, %v): %w", pid, sig, err)
	}
	return nil
}

// plan is everything Spawn has worked out before forking.
type plan struct {
	path   string // first argument of execve
	argv   []string
	script []byte
	dir    string // direct mode: working directory
	chroot string // direct mode
	cred   *creds
	pre    *preSpec // non-nil: pre-exec mode
}

func (s *Supervisor) plan(r Request) (*plan, error) {
	pl := &plan{}
	var cmd command
	var job *conf.Job
	if r.Security {
		if r.Job == nil || r.Job.ApparmorLoad == "" {
			return nil, errors.New("supervise: security process without apparmor load")
		}
		// The job never runs unconfined: no AppArmor, no start.
		if err := aaHost.Loadable(); err != nil {
			return nil, &SpawnError{Op: opLoad, Err: err}
		}
		var err error
		if cmd, err = buildCommand(&conf.Process{Command: aaHost.LoadCommand(r.Job.ApparmorLoad)}); err != nil {
			return nil, err
		}
	} else if r.Argv != nil {
		if len(r.Argv) == 0 {
			return nil, &SpawnError{Op: opExec, Err: errors.New("empty command")}
		}
		cmd = command{argv: r.Argv}
	} else {
		job = r.Job
		if job == nil {
			return nil, errors.New("supervise: request without job or argv")
		}
		if r.Type < 0 || r.Type >= conf.NumProcessTypes {
			return nil, fmt.Errorf("supervise: bad process type %d", r.Type)
		}
		proc := job.Process[r.Type]
		if r.Process != nil {
			proc = r.Process
		}
		var err error
		if cmd, err = buildCommand(proc); err != nil {
			return nil, err
		}
	}
	pl.argv, pl.script = cmd.argv, cmd.script

	dir := s.opts.DefaultChdir
	var umask *uint32
	if !s.opts.InheritUmask {
		u := uint32(DefaultUmask)
		umask = &u
	}
	var needPre bool
	var spec preSpec
	if job != nil {
		pl.chroot = job.Chroot
		if job.Chdir != "" {
			dir = job.Chdir
		} else if job.Chroot != "" {
			dir = "/"
		}
		cred, err := resolveCreds(job.Chroot, job.Setuid, job.Setgid)
		if err != nil {
			return nil, err
		}
		pl.cred = cred
		if job.Umask != nil {
			umask = job.Umask
		}
		if job.Nice != nil {
			spec.nice, needPre = job.Nice, true
		}
		if job.OOMScore != nil && (*job.OOMScore != 0 || s.opts.OOMScoreInherited) {
			spec.oom, needPre = job.OOMScore, true
		}
		for _, l := range job.Limits {
			spec.limits = append(spec.limits, rlimit{l.Resource, l.Soft, l.Hard})
			needPre = true
		}
		// Upstart changes directory before it drops privileges; the Go
		// runtime does it after. Keep Upstart's order.
		if cred != nil && job.Chdir != "" && job.Chdir != "/" {
			needPre = true
		}
		// `apparmor switch` confines the main process only, with the
		// name's $VARs expanded from its environment; where AppArmor is
		// not there the process is not started at all.
		if job.ApparmorSwitch != "" && r.Type == conf.Main && r.Process == nil {
			name, err := environ.Expand(job.ApparmorSwitch, r.Env)
			if err != nil {
				return nil, &SpawnError{Op: opSecurity, Err: err}
			}
			if err := aaHost.Enabled(); err != nil {
				return nil, &SpawnError{Op: opSecurity, Err: err}
			}
			spec.apparmor, needPre = name, true
		}
	}
	if umask != nil && *umask != s.daemonUmask {
		spec.umask, needPre = umask, true
	}
	if len(r.CgroupProcs) > 0 {
		spec.cgroupProcs, needPre = r.CgroupProcs, true
	}
	if len(r.PidEnv) > 0 {
		spec.pidEnv, needPre = r.PidEnv, true
	}
	pl.dir = dir
	if pl.chroot != "" {
		if err := checkDir(pl.chroot); err != nil {
			return nil, &SpawnError{Op: opChroot, Err: err}
		}
	}

	path, err := lookPath(pl.chroot, dir, pl.argv[0], envPath(r.Env))
	if err != nil {
		return nil, &SpawnError{Op: opExec, Err: err}
	}
	pl.path = path

	if needPre {
		if len(s.opts.PreExec) == 0 {
			return nil, &SpawnError{Op: opPreExec, Err: errors.New("umask, nice, oom score, limit, chdir with setuid or cgroup v1 need Options.PreExec")}
		}
		spec.chroot, spec.dir, spec.cred = pl.chroot, dir, pl.cred
		spec.path, spec.argv = path, pl.argv
		pl.pre = &spec
		return pl, nil
	}
	// Direct mode: the Go runtime reports only an errno for everything it
	// does in the child, so check what would otherwise be reported as an
	// exec failure.
	if dir != "" && dir != "/" {
		d := dir
		if !strings.HasPrefix(d, "/") && pl.chroot != "" {
			d = "/" + d
		}
		if err := checkDir(inRoot(pl.chroot, d)); err != nil {
			return nil, &SpawnError{Op: opChdir, Err: err}
		}
	}
	return pl, nil
}

func checkDir(name string) error {
	st, err := os.Stat(name)
	if err != nil {
		return unwrapPathErr(err)
	}
	if !st.IsDir() {
		return syscall.ENOTDIR
	}
	return nil
}

// stdio returns the child's standard descriptors per r.Console. Files in
// the returned closers must be closed after the fork.
func (s *Supervisor) stdio(r Request) (fds [3]*os.File, ctty bool, closers []*os.File, err error) {
	null := s.devNull
	fds = [3]*os.File{null, null, null}
	switch r.Console {
	case conf.ConsoleOutput, conf.ConsoleOwner:
		flags := os.O_RDWR | syscall.O_NOCTTY
		if r.Console == conf.ConsoleOwner {
			flags = os.O_RDWR
		}
		f, err := os.OpenFile(s.opts.ConsolePath, flags, 0)
		if err != nil {
			s.logf("unable to open console %s: %v; using %s", s.opts.ConsolePath, err, os.DevNull)
			return fds, false, nil, nil
		}
		closers = append(closers, f)
		fds = [3]*os.File{f, f, f}
		if r.Console == conf.ConsoleOwner {
			_, terr := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
			ctty = terr == nil
		}
	case conf.ConsoleNone:
	default: // ConsoleLog (and ConsoleDefault, which should not reach us)
		if s.opts.LogOutput != nil {
			// SpawnAll calls Spawn from several goroutines; the
			// logger's seam is not made for that.
			s.logMu.Lock()
			f, err := s.opts.LogOutput(r)
			s.logMu.Unlock()
			if err != nil {
				return fds, false, nil, &SpawnError{Op: opLog, Err: err}
			}
			if f != nil {
				closers = append(closers, f)
				fds[1], fds[2] = f, f
			}
		}
	}
	return fds, ctty, closers, nil
}

// Spawn starts one process and returns its pid. Every process is a session
// leader. An error means nothing runs and no Exit will come; otherwise
// exactly one Exit for the pid follows, with SpawnErr set when a failure
// happened after the fork but before the job's program ran.
func (s *Supervisor) Spawn(r Request) (int, error) {
	select {
	case <-s.done:
		return 0, errors.New("supervise: Spawn after Close")
	default:
	}
	if s.detached.Load() {
		return 0, errSpawnDetached
	}
	pl, err := s.plan(r)
	if err != nil {
		return 0, err
	}
	std, ctty, closers, err := s.stdio(r)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()

	files := []uintptr{std[0].Fd(), std[1].Fd(), std[2].Fd()}
	sys := &syscall.SysProcAttr{Setsid: true, Setctty: ctty, Ctty: 0}
	if r.CgroupDir != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, int(r.CgroupDir.Fd())
	}
	attr := &syscall.ProcAttr{Env: r.Env, Sys: sys}
	path, argv := pl.path, pl.argv
	var statusR, statusW *os.File
	if pl.pre != nil {
		if statusR, statusW, err = os.Pipe(); err != nil {
			return 0, &SpawnError{Op: opPreExec, Err: err}
		}
		closers = append(closers, statusW)
		files = append(files, statusW.Fd()) // preExecStatusFd
		path = s.opts.PreExec[0]
		argv = append(append([]string(nil), s.opts.PreExec...), pl.pre.args()...)
	} else {
		attr.Dir = pl.dir
		sys.Chroot = pl.chroot
		if c := pl.cred; c != nil {
			sys.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, Groups: c.groups, NoSetGroups: !c.setGroups}
		}
	}
	var scriptW *os.File
	if pl.script != nil {
		scriptR, w, err := os.Pipe()
		if err != nil {
			if statusR != nil {
				statusR.Close()
			}
			return 0, &SpawnError{Op: opExec, Err: err}
		}
		scriptW = w
		closers = append(closers, scriptR)
		if c := pl.cred; c != nil {
			// The shell opens /proc/self/fd/9 again, which checks the
			// pipe's owner: hand it to the job's user.
			unix.Fchown(int(scriptR.Fd()), int(c.uid), int(c.gid))
		}
		for len(files) <= ScriptFd {
			files = append(files, ^uintptr(0))
		}
		files[ScriptFd] = scriptR.Fd()
	}
	for _, cf := range r.Files {
		if cf.Num < 3 || (cf.Num == ScriptFd && pl.script != nil) {
			if statusR != nil {
				statusR.Close()
			}
			if scriptW != nil {
				scriptW.Close()
			}
			return 0, &SpawnError{Op: opExec, Err: fmt.Errorf("descriptor %d is taken", cf.Num)}
		}
		for len(files) <= cf.Num {
			files = append(files, ^uintptr(0))
		}
		if cf.Num == preExecStatusFd && pl.pre != nil {
			// The job wants the pre-exec step's status descriptor:
			// the status pipe moves past the others and the step is
			// told where (-S, before its other arguments).
			moved := len(files)
			files = append(files, statusW.Fd())
			argv = append(append(append([]string(nil), s.opts.PreExec...), "-S", strconv.Itoa(moved)), argv[len(s.opts.PreExec):]...)
		}
		files[cf.Num] = cf.File.Fd()
	}
	attr.Files = files

	s.forkMu.RLock()
	var pid int
	if s.detached.Load() {
		// Checked again under forkMu (Detach sets it holding forkMu):
		// a pid forked after Detach would be in no snapshot.
		err = errSpawnDetached
	} else {
		pid, err = syscall.ForkExec(path, argv, attr)
	}
	var p *proc
	if err == nil {
		p = &proc{pid: pid, waiting: 1}
		if statusR != nil {
			p.waiting = 2
			p.piped = make(chan struct{})
		}
		s.mu.Lock()
		s.procs[pid] = p
		s.mu.Unlock()
	}
	s.forkMu.RUnlock()
	runtime.KeepAlive(std)
	runtime.KeepAlive(r.CgroupDir)
	runtime.KeepAlive(r.Files)

	if err != nil {
		if statusR != nil {
			statusR.Close()
		}
		if scriptW != nil {
			scriptW.Close()
		}
		if err == errSpawnDetached {
			return 0, err
		}
		if r.CgroupDir != nil && cloneIntoCgroupErr(err) {
			return 0, &SpawnError{Op: opCgroup, Err: err}
		}
		if pl.pre != nil {
			return 0, &SpawnError{Op: opPreExec, Err: err}
		}
		return 0, &SpawnError{Op: opExec, Err: err}
	}
	if scriptW != nil {
		go feedScript(scriptW, pl.script)
	}
	if statusR != nil {
		go s.watchStatus(p, statusR)
	}
	return pid, nil
}

// cloneIntoCgroupErr tells the errors of clone3 with CLONE_INTO_CGROUP
// (a cgroup that has controllers enabled for its children, a descriptor
// that is not a cgroup v2 directory, a kernel without the flag) from those
// of the exec.
func cloneIntoCgroupErr(err error) bool {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case unix.EBUSY, unix.EBADF, unix.EOPNOTSUPP, unix.ENOSYS, unix.E2BIG:
		return true
	}
	return false
}

// feedScript writes a script into the pipe the shell reads as fd 9. The
// write end is non-blocking under the runtime poller, so a shell that never
// reads costs a parked goroutine, not a thread; the write fails once the
// shell is gone.
func feedScript(w *os.File, script []byte) {
	w.Write(script)
	w.Close()
}

// testHookStatusRead, when set, runs before the status pipe of a pre-exec
// process is read (tests use it to let the reaper win the race).
var testHookStatusRead func()

// watchStatus reads the status pipe of a pre-exec process: EOF without data
// means the job's program was executed.
func (s *Supervisor) watchStatus(p *proc, r *os.File) {
	if testHookStatusRead != nil {
		testHookStatusRead()
	}
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	r.Close()
	var spawnErr error
	if len(b) > 0 {
		spawnErr = decodeChildErr(b)
	} else if err != nil {
		s.logf("reading spawn status of pid %d: %v", p.pid, err)
	}
	s.mu.Lock()
	p.spawnErr = spawnErr
	s.doneLocked(p)
	s.mu.Unlock()
	close(p.piped)
}

// doneLocked counts one report for p and queues its Exit after the last.
func (s *Supervisor) doneLocked(p *proc) {
	if p.waiting == 0 {
		return // Detach gave up on the status pipe and reported it
	}
	p.waiting--
	if p.waiting == 0 {
		delete(s.unread, p)
		s.enqueue(Exit{Pid: p.pid, Status: p.status, SpawnErr: p.spawnErr})
	}
}

// start runs the reaper and the sender until Close or Detach.
func (s *Supervisor) start() {
	s.pause = make(chan struct{})
	s.wg.Add(2)
	go s.reaper(s.pause)
	go s.sender(s.pause)
}

func (s *Supervisor) reaper(pause <-chan struct{}) {
	defer s.wg.Done()
	s.reapAll()
	for {
		select {
		case <-s.sigc:
			s.reapAll()
		case <-s.done:
			return
		case <-pause:
			return
		}
	}
}

// reapAll collects every child that has ended. Ours are reported as their
// Exit; orphans we inherited (as PID 1 or subreaper) are reported as
// Orphan exits with the cgroup they died in, read while they are still
// zombies. A spawned process that stopped itself is reported as Stopped.
func (s *Supervisor) reapAll() {
	for {
		s.gate.Lock()
		s.gate.Unlock()
		pid, err := peekChild()
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECHILD, err == nil && pid == 0:
			return
		case err != nil:
			s.logf("waitid: %v", err)
			return
		}
		var ws unix.WaitStatus
		s.forkMu.Lock()
		s.mu.Lock()
		p := s.procs[pid]
		s.mu.Unlock()
		var cg string
		if p == nil {
			cg = zombieCgroup(pid)
		}
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG|unix.WALL|unix.WUNTRACED, nil)
		if got > 0 {
			switch {
			case ws.Stopped():
				if p != nil {
					s.enqueue(Exit{Pid: pid, Stopped: true})
				}
			case ws.Exited() || ws.Signaled():
				if p != nil {
					s.mu.Lock()
					delete(s.procs, pid)
					p.status = syscall.WaitStatus(ws)
					s.doneLocked(p)
					if p.waiting > 0 {
						s.unread[p] = struct{}{}
					}
					s.mu.Unlock()
				} else {
					s.enqueue(Exit{Pid: pid, Status: syscall.WaitStatus(ws), Orphan: true, Cgroup: cg})
				}
			}
		}
		s.forkMu.Unlock()
		if got == 0 || (err != nil && err != unix.EINTR) {
			// Nothing consumed: do not spin on the same report.
			if err != nil {
				s.logf("wait4 %d: %v", pid, err)
			}
			return
		}
	}
}

// HoldReaping keeps the reaper from collecting children until release is
// called. A stop of every job holds it while it sends its kill signals
// (one step of the engine's loop, which cannot take the exits meanwhile
// anyway): the reaping (wait4, whose release_task costs about 15 µs a
// child) then does not take the CPU the signals and the dying processes
// need. Nothing may wait for the reaper while holding it.
func (s *Supervisor) HoldReaping() (release func()) {
	s.gate.Lock()
	return s.gate.Unlock
}

// peekChild returns a child that has exited or stopped, without reaping
// it (0 when there is none).
func peekChild() (int, error) {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WSTOPPED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
	if err != nil {
		return 0, err
	}
	// siginfo_t: si_signo, si_errno, si_code, then (for SIGCHLD) si_pid.
	b := (*[24]byte)(unsafe.Pointer(&info))
	return int(int32(binary.NativeEndian.Uint32(b[16:20]))), nil
}

// zombieCgroup returns the cgroup v2 path a dead process was in.
func zombieCgroup(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	return ""
}

func (s *Supervisor) enqueue(e Exit) {
	s.qmu.Lock()
	s.queue = append(s.queue, e)
	s.qmu.Unlock()
	select {
	case s.qwake <- struct{}{}:
	default:
	}
}

// sender moves queued exits to the exits channel, so that neither the
// reaper nor a status watcher ever waits for the daemon's loop.
func (s *Supervisor) sender(pause <-chan struct{}) {
	defer s.wg.Done()
	for {
		s.qmu.Lock()
		if len(s.queue) == 0 {
			s.queue = nil
			s.qmu.Unlock()
			select {
			case <-s.qwake:
				continue
			case <-s.done:
				return
			case <-pause:
				return
			}
		}
		e := s.queue[0]
		s.queue[0] = Exit{}
		s.queue = s.queue[1:]
		s.qmu.Unlock()
		select {
		case s.exits <- e:
		case <-s.done:
			return
		case <-pause:
			// Not delivered: back to the front, for Detach.
			s.qmu.Lock()
			s.queue = append([]Exit{e}, s.queue...)
			s.qmu.Unlock()
			return
		}
	}
}

// currentUmask reads the daemon's umask without changing it.
func currentUmask() uint32 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(n)
				}
			}
		}
	}
	old := unix.Umask(DefaultUmask)
	unix.Umask(old)
	return uint32(old)
}

// closeOnExecInherited sets close-on-exec on every descriptor from 3 up.
func closeOnExecInherited() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= 3 {
			unix.CloseOnExec(fd)
		}
	}
}

// isSubreaper says whether this process is a child subreaper already.
func isSubreaper() bool {
	var v int32
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0)
	return err == nil && v != 0
}
