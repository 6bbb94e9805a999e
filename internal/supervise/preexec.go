package supervise

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/apparmor"
)

// PreExecArg is the marker argument that puts the daemon's binary into
// pre-exec mode. cmd/init's main must start with
//
//	if len(os.Args) > 1 && os.Args[1] == supervise.PreExecArg {
//		supervise.RunPreExec(os.Args[2:]) // never returns
//	}
//
// before it does anything else (no flag parsing, no signal handling, no
// goroutines), and the daemon passes
// Options.PreExec = []string{"/proc/self/exe", supervise.PreExecArg}.
const PreExecArg = "--pre-exec"

// preExecStatusFd is where the pre-exec process finds the close-on-exec
// status pipe: nothing is written to it when the job's program is executed
// (EOF), an encoded SpawnError otherwise. A job that wants descriptor 3
// itself (`expect fd 3`) gets it, and the pipe is elsewhere (-S N).
const preExecStatusFd = 3

// statusFd is where this pre-exec process's status pipe is.
var statusFd = preExecStatusFd

// preSpec is what the pre-exec process applies before executing the job's
// program, in this order: cgroup v1 hierarchies joined, then (Upstart's
// order) the AppArmor profile for the exec, resource limits, umask, nice,
// oom score, chroot, chdir, supplementary groups, gid, uid, exec. The
// profile is set while /proc is still in view (before a chroot) and with
// the daemon's privileges. Limits and a
// negative nice are set while still root, the directory is changed before
// privileges are dropped.
type preSpec struct {
	cgroupProcs []string // cgroup v1 cgroup.procs files to join, first of all
	apparmor    string   // `apparmor switch`: the profile the exec enters
	limits      []rlimit
	umask       *uint32
	nice        *int
	oom         *int
	chroot      string
	dir         string
	cred        *creds
	path        string   // program to execute, as seen after chroot/chdir
	argv        []string // its argv
	pidEnv      []string // variables set to the process's pid before the exec
}

type rlimit struct {
	res       int
	soft, hrd uint64
}

// args encodes s as the arguments following PreExecArg. The job's settings
// travel on the command line of the pre-exec process only; its environment
// is exactly the job's.
func (s *preSpec) args() []string {
	a := make([]string, 0, 16+len(s.argv))
	for _, p := range s.cgroupProcs {
		a = append(a, "-c", p)
	}
	if s.apparmor != "" {
		a = append(a, "-A", s.apparmor)
	}
	for _, l := range s.limits {
		a = append(a, "-l", fmt.Sprintf("%d:%d:%d", l.res, l.soft, l.hrd))
	}
	if s.umask != nil {
		a = append(a, "-m", strconv.FormatUint(uint64(*s.umask), 8))
	}
	if s.nice != nil {
		a = append(a, "-n", strconv.Itoa(*s.nice))
	}
	if s.oom != nil {
		a = append(a, "-o", strconv.Itoa(*s.oom))
	}
	if s.chroot != "" {
		a = append(a, "-r", s.chroot)
	}
	if s.dir != "" {
		a = append(a, "-d", s.dir)
	}
	if c := s.cred; c != nil {
		if c.setGroups {
			gs := make([]string, len(c.groups))
			for i, g := range c.groups {
				gs[i] = strconv.FormatUint(uint64(g), 10)
			}
			a = append(a, "-G", strings.Join(gs, ","))
		}
		a = append(a, "-g", strconv.FormatUint(uint64(c.gid), 10))
		a = append(a, "-u", strconv.FormatUint(uint64(c.uid), 10))
	}
	for _, v := range s.pidEnv {
		a = append(a, "-P", v)
	}
	a = append(a, "--", s.path)
	return append(a, s.argv...)
}

func parsePreSpec(args []string) (*preSpec, error) {
	s := &preSpec{}
	num := func(v string, bits int) (int64, error) { return strconv.ParseInt(v, 10, bits) }
	for i := 0; i < len(args); i++ {
		opt := args[i]
		if opt == "--" {
			if i+2 > len(args) {
				return nil, errors.New("missing program")
			}
			s.path, s.argv = args[i+1], args[i+2:]
			return s, nil
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("option %s needs a value", opt)
		}
		i++
		v := args[i]
		switch opt {
		case "-c":
			s.cgroupProcs = append(s.cgroupProcs, v)
		case "-A":
			s.apparmor = v
		case "-l":
			f := strings.Split(v, ":")
			if len(f) != 3 {
				return nil, fmt.Errorf("bad limit %q", v)
			}
			res, err1 := strconv.Atoi(f[0])
			soft, err2 := strconv.ParseUint(f[1], 10, 64)
			hard, err3 := strconv.ParseUint(f[2], 10, 64)
			if err := errors.Join(err1, err2, err3); err != nil {
				return nil, err
			}
			s.limits = append(s.limits, rlimit{res, soft, hard})
		case "-m":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return nil, err
			}
			u := uint32(m)
			s.umask = &u
		case "-n", "-o":
			n, err := num(v, 32)
			if err != nil {
				return nil, err
			}
			x := int(n)
			if opt == "-n" {
				s.nice = &x
			} else {
				s.oom = &x
			}
		case "-P":
			s.pidEnv = append(s.pidEnv, v)
		case "-r":
			s.chroot = v
		case "-d":
			s.dir = v
		case "-G", "-g", "-u":
			if s.cred == nil {
				s.cred = &creds{}
			}
			switch opt {
			case "-G":
				s.cred.setGroups = true
				s.cred.groups = nil
				for _, g := range strings.Split(v, ",") {
					if g == "" {
						continue
					}
					n, err := strconv.ParseUint(g, 10, 32)
					if err != nil {
						return nil, err
					}
					s.cred.groups = append(s.cred.groups, uint32(n))
				}
			case "-g", "-u":
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return nil, err
				}
				if opt == "-g" {
					s.cred.gid = uint32(n)
				} else {
					s.cred.uid = uint32(n)
				}
			}
		default:
			return nil, fmt.Errorf("unknown option %q", opt)
		}
	}
	return nil, errors.New("missing program")
}

// RunPreExec is the whole of pre-exec mode; args are the arguments after
// PreExecArg. It runs in a process that Spawn has started as a session
// leader with its standard descriptors (and fd 9 for a script) in place,
// applies the job's settings to itself and executes the job's program, so
// the job keeps the pid Spawn returned. It never returns: a failure is
// written to the status pipe (fd 3, close-on-exec) and the process exits
// with status 255; the Supervisor turns that report into Exit.SpawnErr.
func RunPreExec(args []string) {
	// Thread attributes (nice, credentials) are per thread on Linux and
	// execve keeps those of the calling thread: do everything on one.
	runtime.LockOSThread()
	if len(args) >= 2 && args[0] == "-S" {
		if n, err := strconv.Atoi(args[1]); err == nil {
			statusFd = n
		}
		args = args[2:]
	}
	unix.CloseOnExec(statusFd)

	spec, err := parsePreSpec(args)
	if err != nil {
		preExecFail(opPreExec, err)
	}
	if op, err := spec.apply(); err != nil {
		preExecFail(op, err)
	}
	for _, v := range spec.pidEnv {
		os.Setenv(v, strconv.Itoa(os.Getpid()))
	}
	err = unix.Exec(spec.path, spec.argv, os.Environ())
	preExecFail(opExec, err)
}

func preExecFail(op string, err error) {
	unix.Write(statusFd, encodeChildErr(op, err))
	os.Exit(255)
}

// apply sets everything but the exec, on the calling (locked) thread.
func (s *preSpec) apply() (string, error) {
	// Join the cgroup v1 hierarchies while still root and before a
	// chroot hides /sys; every thread of the process moves.
	for _, p := range s.cgroupProcs {
		if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return opCgroup, unwrapPathErr(err)
		}
	}
	if s.apparmor != "" {
		// The thread that execs is this one (RunPreExec locked it).
		if err := apparmor.SwitchOnExec(s.apparmor); err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) && errno == syscall.ENOENT {
				return opSecurity, fmt.Errorf("profile %q is not loaded", s.apparmor)
			}
			return opSecurity, fmt.Errorf("profile %q: %v", s.apparmor, unwrapPathErr(err))
		}
	}
	for _, l := range s.limits {
		if err := unix.Setrlimit(l.res, &unix.Rlimit{Cur: l.soft, Max: l.hrd}); err != nil {
			return opRlimit, err
		}
	}
	if s.umask != nil {
		unix.Umask(int(*s.umask))
	}
	if s.nice != nil {
		// who 0 is the calling thread, the one that will exec.
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, *s.nice); err != nil {
			return opNice, err
		}
	}
	if s.oom != nil {
		if err := setOOMScore(*s.oom); err != nil {
			return opOOM, err
		}
	}
	if s.chroot != "" {
		if err := unix.Chroot(s.chroot); err != nil {
			return opChroot, err
		}
		if s.dir == "" {
			s.dir = "/"
		}
	}
	if s.dir != "" {
		if err := unix.Chdir(s.dir); err != nil {
			return opChdir, err
		}
	}
	if c := s.cred; c != nil {
		// The syscall package changes the credentials of every thread
		// of the process (as glibc does), on any architecture.
		if c.setGroups {
			gs := make([]int, len(c.groups))
			for i, g := range c.groups {
				gs[i] = int(g)
			}
			if err := syscall.Setgroups(gs); err != nil {
				return opSetgroups, err
			}
		}
		if err := syscall.Setgid(int(c.gid)); err != nil {
			return opSetgid, err
		}
		if err := syscall.Setuid(int(c.uid)); err != nil {
			return opSetuid, err
		}
	}
	return "", nil
}

// setOOMScore writes /proc/self/oom_score_adj, or the old oom_adj scale
// when the kernel has no oom_score_adj (as Upstart does).
func setOOMScore(score int) error {
	err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(score)+"\n"), 0)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return unwrapPathErr(err)
	}
	adj := score * 15 / 1000
	if score < 0 {
		adj = score * 17 / 1000
	}
	return unwrapPathErr(os.WriteFile("/proc/self/oom_adj", []byte(strconv.Itoa(adj)+"\n"), 0))
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
