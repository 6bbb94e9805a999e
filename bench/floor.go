package main

// The floor: the least a supervisor can do on this machine, as reference
// rows (issue 14). A Go process started from the bench binary itself
// fork/execs every service, reaps, restarts a service the moment it exits
// and, on SIGTERM, sends TERM to every service and exits once all are
// reaped. It keeps nothing but a pid → service map. Its loggers are the
// physical limits: a bare read loop on a pipe grown to 1 MiB (faster than
// `cat > file`, whose 64 KiB pipe and 128 KiB reads ours outruns) and a
// bare drain of a pty master (default line discipline, as ours has), each
// into a file.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const floorArg = "__floor"

type floor struct{}

func (floor) name() string { return "floor" }
func (floor) check() error { return nil }

type floorService struct {
	Argv   []string
	Logged bool
	Pipe   bool
	Log    string
	path   string // Argv[0] looked up in PATH
}

// drainOut is the floor's pty reader: the least work per byte that we
// know of, and the same strategy and buffer size as ours (readSize in
// internal/logger) so that ours/floor is our overhead. A pty hands over at
// most its line discipline's 4 KiB per read; the reader waits in the
// poller until output is there, then reads until the pty has no more
// (EAGAIN) or the 64 KiB buffer is full, and writes that in one write. A
// loop writing each read as it comes (copyOut) was 10–30% slower here
// than ours, so it was no floor.
func drainOut(f, r *os.File, size int) {
	defer r.Close()
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, size)
	for {
		n := 0
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			for n < len(buf) {
				m, e := unix.Read(int(fd), buf[n:])
				if e == unix.EINTR {
					continue
				}
				if e == unix.EAGAIN {
					break
				}
				if e != nil || m == 0 {
					rerr = e
					if rerr == nil {
						rerr = io.EOF
					}
					break
				}
				n += m
			}
			return n > 0 || rerr != nil // nothing yet: wait in the poller
		})
		if n > 0 {
			f.Write(buf[:n])
		}
		if err != nil || rerr != nil {
			return
		}
	}
}

// openPTY opens a pty as ours does: the master non-blocking (in the
// runtime's poller), the slave with the kernel's default termios.
// (creack/pty's Open leaves the master in blocking mode.)
func openPTY() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, err
	}
	sfd, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, err
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), os.NewFile(uintptr(sfd), "pty-slave"), nil
}

// copyOut writes what r gives to f until r ends (a bare read loop).
func copyOut(f, r *os.File, size int) {
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			f.Write(buf[:n])
		}
		if err != nil {
			r.Close()
			return
		}
	}
}

// floorCgroup is the floor doing what ours does per service beyond a
// fork/exec: a cgroup v2 directory of its own per service, the process
// cloned straight into it (CLONE_INTO_CGROUP), and a session of its own
// (setsid), as Upstart's processes are session leaders. Its cold start
// and stop are the least a supervisor with per-service cgroups can do
// here; the plain floor is the least any supervisor can do.
type floorCgroup struct{}

const floorCgroupSys = "floor-cgroup"

func (floorCgroup) name() string { return floorCgroupSys }
func (floorCgroup) check() error {
	if cgroup2Root() == "" {
		return errors.New("no cgroup v2 hierarchy mounted")
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (cgroup directories)")
	}
	return nil
}

func (floorCgroup) start(dir string, svcs []service, logging bool) (*instance, error) {
	if logging {
		return nil, fmt.Errorf("%w: floor-cgroup is a lifecycle reference (its loggers are the floor's)", errNotMeasured)
	}
	return startFloor(floorCgroupSys, dir, svcs, true)
}

func (floor) start(dir string, svcs []service, logging bool) (*instance, error) {
	return startFloor("floor", dir, svcs, false)
}

func startFloor(name, dir string, svcs []service, cgroups bool) (*instance, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	var fs []floorService
	for _, s := range svcs {
		fs = append(fs, floorService{Argv: s.argv, Logged: s.logged, Pipe: s.pipe, Log: filepath.Join(logs, s.name+".log")})
	}
	b, err := json.Marshal(fs)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "floor.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		return nil, err
	}
	argv := []string{self, floorArg, conf}
	cg := ""
	if cgroups {
		cg = filepath.Join(cgroup2Root(), fmt.Sprintf("bench-floor-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9))
		argv = append(argv, cg)
	}
	in, err := launch(name, dir, argv, baseEnv(), syscall.SIGTERM)
	if in != nil {
		in.logDir = logs
		if cg != "" {
			// A floor that was killed leaves its (empty) groups.
			in.onCleanup = func() {
				ents, _ := os.ReadDir(cg)
				for _, e := range ents {
					if e.IsDir() {
						os.Remove(filepath.Join(cg, e.Name()))
					}
				}
				os.Remove(cg)
			}
		}
	}
	return in, err
}

// floorMain is the floor supervisor's process.
func floorMain(args []string) {
	if len(args) != 1 && len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bench __floor CONFIG [CGROUP-DIR]")
		os.Exit(2)
	}
	// With CGROUP-DIR: one cgroup per service below it, each process
	// cloned into its service's group and made a session leader.
	cgRoot := ""
	if len(args) == 2 {
		cgRoot = args[1]
		if err := os.Mkdir(cgRoot, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var svcs []floorService
	if err := json.Unmarshal(b, &svcs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Each program looked up in PATH once (all services run the same
	// one): the least a supervisor can do.
	paths := map[string]string{}
	for k := range svcs {
		name := svcs[k].Argv[0]
		if _, ok := paths[name]; !ok {
			if paths[name], err = exec.LookPath(name); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		svcs[k].path = paths[name]
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pids := map[int]int{} // pid → index in svcs
	var pidsMu sync.Mutex // the first spawns run on several threads
	spawn := func(k int) {
		s := svcs[k]
		stdio := []*os.File{devnull, devnull, devnull}
		// Every service a session leader, as ours (Upstart's) are: with
		// autogroup scheduling (this machine's kernel)
		// each session is a scheduling group of its own, so services
		// that shared the floor's session got a smaller share of a
		// loaded machine than the others' services. (The logging rows'
		// writer makes its own session.)
		attr := &syscall.SysProcAttr{Setsid: !s.Logged}
		var closeAfter []*os.File
		if cgRoot != "" {
			d := filepath.Join(cgRoot, "s"+strconv.Itoa(k))
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			defer unix.Close(fd)
			attr.UseCgroupFD, attr.CgroupFD, attr.Setsid = true, fd, true
		}
		if s.Logged {
			f, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			if s.Pipe {
				r, w, err := os.Pipe()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				// The most a reader can get from a pipe: 1 MiB in the
				// pipe (as ours grows it to), 1 MiB reads.
				unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, 1<<20)
				go copyOut(f, r, 1<<20)
				stdio[1], stdio[2] = w, w
				closeAfter = append(closeAfter, w)
			} else {
				master, tty, err := openPTY()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				go drainOut(f, master, 64<<10)
				stdio[0], stdio[1], stdio[2] = tty, tty, tty
				attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
				closeAfter = append(closeAfter, tty)
			}
		}
		p, err := os.StartProcess(s.path, s.Argv, &os.ProcAttr{Files: stdio, Sys: attr})
		for _, f := range closeAfter {
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		pidsMu.Lock()
		pids[p.Pid] = k
		pidsMu.Unlock()
		p.Release()
	}
	// The first spawns on every CPU at once, as ours does (a fork waits
	// for its child's exec, so one thread after another leaves a CPU
	// idle): the least any supervisor can do here is no longer one
	// fork/exec after another. Restarts are one at a time, in the reaper.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), len(svcs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1)) - 1; k < len(svcs); k = int(next.Add(1)) - 1 {
				spawn(k)
			}
		}()
	}
	wg.Wait()
	stopping := false
	for sig := range sigs {
		if sig == syscall.SIGTERM && !stopping {
			stopping = true
			for pid := range pids {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			k, ok := pids[pid]
			if !ok {
				continue // a cat
			}
			delete(pids, pid)
			if !stopping {
				spawn(k)
			}
		}
		if stopping && len(pids) == 0 {
			if cgRoot != "" {
				for k := range svcs {
					os.Remove(filepath.Join(cgRoot, "s"+strconv.Itoa(k)))
				}
				os.Remove(cgRoot)
			}
			os.Exit(0)
		}
	}
}
