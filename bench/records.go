package main

// Whether `initctl status` and `initctl list` are answered from the
// daemon's own records (issue 14): the daemon's file opens and reads of
// files (not sockets, pipes or inotify) during the calls, counted with
// strace on every thread of the daemon. The count is taken after the
// timed calls, in calls of its own, because strace slows every system
// call it sees.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// errNoStrace marks a count that cannot be taken here.
var errNoStrace = errors.New("not measured: strace is not installed (apt-get install strace)")

// traceLine matches the start of a traced call (not a "<... resumed>"
// line): "PID name(" and the first argument.
var traceLine = regexp.MustCompile(`^\d+\s+(open|openat|openat2|read|pread64|readv|preadv|preadv2|recvmsg|recvfrom|recvmmsg)\((.*)`)

// countFileIO returns the opens and file reads per call that the process
// pid (every thread) made while call ran reps times.
func countFileIO(dir string, pid, reps int, call func() error) (float64, error) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return 0, errNoStrace
	}
	out := filepath.Join(dir, fmt.Sprintf("strace-%d.txt", time.Now().UnixNano()))
	cmd := exec.Command(strace, "-f", "-qq", "-y", "-p", fmt.Sprint(pid), "-o", out,
		"-e", "trace=open,openat,openat2,read,pread64,readv,preadv,preadv2,recvmsg,recvfrom,recvmmsg")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGINT) // strace detaches on SIGINT
		cmd.Wait()
	}
	if err := waitTraced(pid, 10*time.Second); err != nil {
		stop()
		return 0, fmt.Errorf("strace: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	for k := 0; k < reps; k++ {
		if err := call(); err != nil {
			stop()
			return 0, err
		}
	}
	stop()
	defer os.Remove(out)
	f, err := os.Open(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, sock, err := countTracedFileIO(bufio.NewScanner(f))
	if err != nil {
		return 0, err
	}
	if sock < reps {
		// The daemon reads each request from its socket: a trace without
		// those saw nothing, and its 0 would mean nothing.
		return 0, fmt.Errorf("strace saw %d socket reads for %d calls: the trace missed the daemon's work", sock, reps)
	}
	return float64(n) / float64(reps), nil
}

// countTracedFileIO counts, in strace -y output, the open calls and the
// reads of an fd that names a path (sockets, pipes and anon inodes such
// as inotify and eventfd are not files), and the reads of sockets.
func countTracedFileIO(sc *bufio.Scanner) (files, sockets int, err error) {
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if strings.HasPrefix(m[1], "open") {
			n++
			continue
		}
		if strings.HasPrefix(m[1], "recv") {
			sockets++
			continue
		}
		// read(7</sys/fs/cgroup/…/cgroup.procs>, …)
		if i := strings.IndexByte(m[2], '<'); i >= 0 && i+1 < len(m[2]) && m[2][i+1] == '/' {
			n++
		} else if strings.HasPrefix(m[2][i+1:], "socket:") {
			sockets++
		}
	}
	return n, sockets, sc.Err()
}

// waitTraced waits until every thread of pid has a tracer.
func waitTraced(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		all := len(tasks) > 0
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
			if err != nil || !strings.Contains(string(b), "\nTracerPid:") || strings.Contains(string(b), "\nTracerPid:\t0\n") {
				all = false
				break
			}
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every thread of %d traced after %v", pid, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reexecResult is what runReexec measures with n running jobs.
type reexecResult struct {
	reexecMs float64 // the Restart request until the new image answers
	listMs   float64 // one `initctl list`, exec to exit (median)
	statusMs float64 // one `initctl status JOB`, exec to exit (median)
	// The daemon's file opens and reads per call (-1: not measured, with
	// the reason in recordsErr).
	listFileIO, statusFileIO float64
	recordsErr               error
}

// recordsFigures times `initctl status job` and counts the daemon's file
// I/O per `initctl list` and per `initctl status job`. A missing strace
// is recorded in res, not returned: the timings still count.
func recordsFigures(o *ours, dir, addr string, pid int, job string, res *reexecResult) error {
	var st []float64
	for k := 0; k < listReps; k++ {
		t0 := time.Now()
		out, err := o.initctl(addr, "status", job)
		st = append(st, ms(time.Since(t0)))
		if err != nil || !strings.HasPrefix(out, job+" start/running") {
			return fmt.Errorf("initctl status %s: %v: %q", job, err, out)
		}
	}
	res.statusMs = median(st)
	res.listFileIO, res.statusFileIO = -1, -1
	call := func(args ...string) func() error {
		return func() error {
			if out, err := o.initctl(addr, args...); err != nil {
				return fmt.Errorf("initctl %s: %v: %s", args[0], err, out)
			}
			return nil
		}
	}
	v, err := countFileIO(dir, pid, listReps, call("list"))
	if err != nil {
		res.recordsErr = err
		return nil
	}
	res.listFileIO = v
	if v, err = countFileIO(dir, pid, listReps, call("status", job)); err != nil {
		res.recordsErr = err
		return nil
	}
	res.statusFileIO = v
	return nil
}
