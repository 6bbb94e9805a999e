package sysv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier is how the runner tells the init daemon about scripts: Emit
// sends an event (as `initctl emit` does; wait as without --no-wait) and
// JobExists asks whether an Upstart job of that name is defined.
type Notifier interface {
	Emit(name string, env []string, wait bool) error
	JobExists(name string) (bool, error)
}

// Result is the outcome of one step.
type Result struct {
	Step     *Step
	Skipped  string // why the script was not run ("" when it was)
	Err      error  // could not run, failed (exit status), or timed out
	TimedOut bool
	Took     time.Duration
}

// Runner runs the phases of a plan.
type Runner struct {
	Notify Notifier // nil: no events, nothing is treated as replaced
	// StartTimeout and StopTimeout bound one script's run (0: no bound).
	// When one runs out the script's process group gets SIGTERM, then
	// SIGKILL after KillGrace.
	StartTimeout, StopTimeout time.Duration
	KillGrace                 time.Duration
	Parallel                  int      // scripts at once (0: DefaultParallel)
	Env                       []string // the scripts' environment
	EventEnv                  []string // added to every event (RUNLEVEL, PREVLEVEL)
	Out                       io.Writer
	Logf                      func(format string, args ...any)
	// Cgroup, when set, is a cgroup v2 directory under which each script
	// runs in a group of its own (DIR/NAME), so that the daemons it starts
	// do not belong to the job that runs the runner.
	Cgroup string
	// Before is called before a step runs (the command writes sendsigs'
	// omit list there).
	Before func(*Step)
	// Done, when set, is called as each step ends (from the step's own
	// goroutine), so that progress shows while later scripts still run.
	Done func(Result)
	// Direct, when set, is where a script that runs alone (nothing else
	// runs or is ready until it ends) writes, unbuffered, so that its
	// lines show as they come — the last words of halt among them.
	Direct *os.File
	// Console is used by interactive scripts as stdin, stdout and stderr
	// (nil: the runner's own).
	Console *os.File
}

// DefaultParallel bounds how many scripts run at once (startpar's -p is 4
// in Debian's rc; scripts mostly wait, so we allow more).
const DefaultParallel = 16

// outputLimit bounds what is kept of one script's output (the rest is
// counted and reported as dropped).
const outputLimit = 1 << 20

// Run runs the phases in order, each as far in parallel as its
// dependencies allow. A failed or timed-out script does not hold back
// the ones that wait for it (startpar behaves the same).
func (r *Runner) Run(ctx context.Context, phases []Phase) []Result {
	var out []Result
	for i := range phases {
		out = append(out, r.runPhase(ctx, &phases[i])...)
	}
	return out
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

func (r *Runner) runPhase(ctx context.Context, ph *Phase) []Result {
	n := len(ph.Steps)
	results := make([]Result, n)
	waits, next := ph.edges()
	par := r.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	slots := make(chan struct{}, par)
	var excl sync.RWMutex // interactive scripts run alone
	done := make(chan int)
	start := func(i int, alone bool) {
		go func() {
			s := ph.Steps[i]
			slots <- struct{}{}
			if s.Interactive {
				excl.Lock()
			} else {
				excl.RLock()
			}
			if ctx.Err() != nil {
				results[i] = Result{Step: s, Skipped: "interrupted"}
			} else {
				results[i] = r.runStep(ctx, s, alone)
			}
			if r.Done != nil {
				r.Done(results[i])
			}
			if s.Interactive {
				excl.Unlock()
			} else {
				excl.RUnlock()
			}
			<-slots
			done <- i
		}()
	}
	running := 0
	var ready []int
	for i := range waits {
		if waits[i] == 0 {
			ready = append(ready, i)
		}
	}
	for {
		for _, k := range ready {
			start(k, running == 0 && len(ready) == 1)
		}
		running += len(ready)
		if running == 0 {
			break
		}
		i := <-done
		running--
		ready = ready[:0]
		for _, k := range next[i] {
			if waits[k]--; waits[k] == 0 {
				ready = append(ready, k)
			}
		}
	}
	return results
}

// runStep runs one script with its events around it.
func (r *Runner) runStep(ctx context.Context, s *Step, alone bool) Result {
	res := Result{Step: s}
	if r.Before != nil {
		r.Before(s)
	}
	if r.Notify != nil {
		if ok, err := r.Notify.JobExists(s.Name); err != nil {
			r.logf("%s: cannot ask init whether a job replaces it: %v", s.Name, err)
		} else if ok {
			res.Skipped = "replaced by the Upstart job " + s.Name
			return res
		}
	}
	before, after := "starting", "started"
	if s.Action == "stop" {
		before, after = "stopping", "stopped"
	}
	base := append([]string{"JOB=" + s.Name, "INSTANCE=", "SYSV_SCRIPT=" + s.Path, "SYSV_ACTION=" + s.Action}, r.EventEnv...)
	r.emit(before, base, true, s)

	t0 := time.Now()
	status, timedOut, err := r.exec(ctx, s, alone)
	res.Took, res.TimedOut = time.Since(t0), timedOut

	env := base
	switch {
	case err == nil:
		if s.Action == "stop" {
			env = append(env, "RESULT=ok")
		}
	case !errors.Is(err, errExit):
		res.Err = err
		after = "stopped"
		env = append(env, "RESULT=failed", "PROCESS="+s.Action)
	case status.Signaled():
		res.Err = fmt.Errorf("killed by %s", unix.SignalName(status.Signal()))
		if timedOut {
			res.Err = fmt.Errorf("timed out after %s, %w", r.timeout(s), res.Err)
		}
		after = "stopped"
		env = append(env, "RESULT=failed", "PROCESS="+s.Action, "EXIT_SIGNAL="+strings.TrimPrefix(unix.SignalName(status.Signal()), "SIG"))
	case status.Exited():
		res.Err = fmt.Errorf("exit status %d", status.ExitStatus())
		if timedOut {
			res.Err = fmt.Errorf("timed out after %s (then %w)", r.timeout(s), res.Err)
		}
		after = "stopped"
		env = append(env, "RESULT=failed", "PROCESS="+s.Action, "EXIT_STATUS="+strconv.Itoa(status.ExitStatus()))
	}
	r.emit(after, env, false, s)
	return res
}

func (r *Runner) emit(name string, env []string, wait bool, s *Step) {
	if r.Notify == nil {
		return
	}
	if err := r.Notify.Emit(name, env, wait); err != nil {
		r.logf("%s: event %s: %v", s.Name, name, err)
	}
}

func (r *Runner) timeout(s *Step) time.Duration {
	if s.Action == "stop" {
		return r.StopTimeout
	}
	return r.StartTimeout
}

// exec runs the script and waits for it (not for what it leaves behind).
// Its output goes to a memfd rather than a pipe, because a daemon the
// script starts inherits it and would hold a pipe open forever; the
// output is copied out in one piece when the script ends, so parallel
// scripts' lines do not interleave.
func (r *Runner) exec(ctx context.Context, s *Step, alone bool) (syscall.WaitStatus, bool, error) {
	var ws syscall.WaitStatus
	var stdio [3]*os.File
	if s.Interactive {
		con := r.Console
		if con == nil {
			con = os.Stdout
		}
		stdio = [3]*os.File{con, con, con}
	} else if alone && r.Direct != nil {
		stdio[1], stdio[2] = r.Direct, r.Direct
	} else {
		fd, err := unix.MemfdCreate("sysv-"+s.Name, unix.MFD_CLOEXEC)
		if err != nil {
			return ws, false, fmt.Errorf("output buffer: %w", err)
		}
		buf := os.NewFile(uintptr(fd), "sysv-"+s.Name)
		defer func() {
			r.copyOutput(buf, s)
			buf.Close()
		}()
		stdio[1], stdio[2] = buf, buf
	}
	cgfd := -1
	if r.Cgroup != "" {
		if fd, err := r.cgroupFD(s.Name); err != nil {
			r.logf("%s: no cgroup of its own: %v", s.Name, err)
		} else {
			cgfd = fd
			defer unix.Close(fd)
		}
	}
	mk := func(cg int) *exec.Cmd {
		cmd := exec.Command(s.Path, s.Action)
		cmd.Env = r.Env
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if stdio[0] != nil {
			cmd.Stdin = stdio[0]
		}
		cmd.Stdout, cmd.Stderr = stdio[1], stdio[2]
		if cg >= 0 {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cg
		}
		return cmd
	}
	cmd := mk(cgfd)
	if err := cmd.Start(); err != nil {
		if cgfd >= 0 {
			// A cgroup that refuses members must not keep a script from running.
			r.logf("%s: cannot run in cgroup %s: %v", s.Name, filepath.Join(r.Cgroup, s.Name), err)
			cmd = mk(-1)
			err = cmd.Start()
		}
		if err != nil {
			return ws, false, fmt.Errorf("run %s %s: %w", s.Path, s.Action, err)
		}
	}
	timedOut := false
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var timer <-chan time.Time
	if d := r.timeout(s); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	var err error
	pgid := cmd.Process.Pid
wait:
	for {
		select {
		case err = <-waited:
			break wait
		case <-timer:
			timedOut = true
			r.logf("%s %s: no end after %s; sending SIGTERM", s.Name, s.Action, r.timeout(s))
			unix.Kill(-pgid, unix.SIGTERM)
			grace := r.KillGrace
			if grace <= 0 {
				grace = 2 * time.Second
			}
			timer = nil
			go func() {
				time.Sleep(grace)
				unix.Kill(-pgid, unix.SIGKILL)
			}()
		case <-ctx.Done():
			unix.Kill(-pgid, unix.SIGKILL)
			ctx = context.Background()
		}
	}
	if cmd.ProcessState != nil {
		ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	var ee *exec.ExitError
	if err != nil && errors.As(err, &ee) {
		err = errExit
	}
	return ws, timedOut, err
}

// errExit marks a script that ran and ended other than with status 0
// (the wait status says how).
var errExit = errors.New("script failed")

func (r *Runner) copyOutput(buf *os.File, s *Step) {
	if r.Out == nil {
		return
	}
	size, err := buf.Seek(0, io.SeekCurrent)
	if err != nil || size == 0 {
		return
	}
	n := size
	if n > outputLimit {
		n = outputLimit
	}
	b := make([]byte, n)
	if _, err := buf.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	if size > n {
		b = append(b, fmt.Sprintf("\n[%s: %d more bytes of output dropped]\n", s.Name, size-n)...)
	}
	r.Out.Write(b)
	// A daemon the script left running may write on; give the memory back.
	unix.Ftruncate(int(buf.Fd()), 0)
}

func (r *Runner) cgroupFD(name string) (int, error) {
	dir := filepath.Join(r.Cgroup, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return -1, err
	}
	return unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// CgroupBase works out where the scripts' own cgroups go: next to the
// daemon's tree (upstart or upstart-PID) in the cgroup v2 hierarchy the
// calling process is in ("sysv" or "sysv-PID"), or "" when the caller is
// not in such a tree (no cgroup v2, or pid tracking).
func CgroupBase() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	var rel string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			rel = p
		}
	}
	if rel == "" {
		return ""
	}
	mnt := cgroup2Mount()
	if mnt == "" {
		return ""
	}
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	for i, p := range parts {
		if p == "upstart" || strings.HasPrefix(p, "upstart-") {
			name := "sysv" + strings.TrimPrefix(p, "upstart")
			return filepath.Join(append([]string{mnt}, append(parts[:i], name)...)...)
		}
	}
	return ""
}

func cgroup2Mount() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}
