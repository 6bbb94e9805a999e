package main

// The scenarios. One "lifecycle" run of a supervisor yields cold start,
// memory, respawn latency and stop-all for one N; logging and the ours-only
// figures have their own runs.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/control"
)

// lifecycleResult holds one run's figures.
type lifecycleResult struct {
	coldMs, stopMs    float64
	rssKB, pssKB      int64
	procs             int
	respawnMs         float64 // median of the kills of this run (0: not measured)
	kills             int
	respawnAllMs      []float64
	stopExitedCleanly bool
}

// pollWait is the pause between two /proc scans: at least 1 ms and at least
// as long as the last scan took, so the scanner never takes more than half
// of one CPU away from the supervisor being measured.
func pollWait(scan time.Duration) time.Duration {
	if scan < time.Millisecond {
		return time.Millisecond
	}
	return scan
}

// runLifecycle starts sys with n sleep services, measures, and always kills
// everything before returning.
func runLifecycle(sys system, root string, n, kills int) (res lifecycleResult, err error) {
	dir, err := os.MkdirTemp(root, sys.name()+"-n"+strconv.Itoa(n)+"-")
	if err != nil {
		return res, err
	}
	m := newMarker()
	svcs := m.sleepServices(n)
	in, err := sys.start(dir, svcs, false)
	if err != nil {
		return res, err
	}
	defer cleanupRun(in, dir, m.prefix)

	r := newProcReader()
	// Cold start: from starting the supervisor until every service process
	// exists in /proc.
	// supervisord needs about 15 ms per service on an idle machine; a busy
	// one (shared VM, eight benches at once) has taken 4-5 times as long.
	deadline := in.started.Add(10*time.Second + time.Duration(n)*100*time.Millisecond)
	for {
		t := time.Now()
		found := r.scanMarked(m)
		now := time.Now()
		if len(found) == n {
			res.coldMs = ms(now.Sub(in.started))
			break
		}
		if now.After(deadline) {
			return res, fmt.Errorf("cold start: %d of %d service processes after %v; supervisor says: %s",
				len(found), n, now.Sub(in.started).Round(time.Millisecond), in.supervisorOutput())
		}
		if in.exited() {
			return res, fmt.Errorf("supervisor exited during cold start: %s", in.supervisorOutput())
		}
		time.Sleep(pollWait(now.Sub(t)))
	}

	// Let every service be older than 1 s (s6-supervise and runsv delay a
	// restart of a service that ran less than 1 s) and memory settle.
	settle := 1200*time.Millisecond + time.Duration(n)*time.Millisecond
	time.Sleep(settle)
	res.rssKB, res.pssKB, res.procs = supervisorMemory(in.pid(), m)

	if kills > 0 {
		if kills > n {
			kills = n
		}
		lat, err := respawnKillsTimed(r, m, n, kills)
		if err != nil {
			return res, fmt.Errorf("respawn: %v; supervisor says: %s", err, in.supervisorOutput())
		}
		res.respawnAllMs = lat
		res.kills = kills
		res.respawnMs = median(lat)
		// Let the replacements become "up" (supervisord's startsecs, runsv's
		// 1 s rule) so stop-all finds every system in the same state.
		time.Sleep(1200 * time.Millisecond)
	}

	// Stop-all: from asking the supervisor to stop until no service process is left.
	t0 := time.Now()
	if err := in.stopAll(); err != nil {
		return res, fmt.Errorf("stop-all: %v", err)
	}
	deadline = t0.Add(30 * time.Second)
	for {
		t := time.Now()
		left := r.countMarked(m)
		now := time.Now()
		if left == 0 {
			res.stopMs = ms(now.Sub(t0))
			break
		}
		if now.After(deadline) {
			return res, fmt.Errorf("stop-all: %d service processes still there after 30 s", left)
		}
		time.Sleep(pollWait(now.Sub(t)))
	}
	select {
	case <-in.done:
		res.stopExitedCleanly = true
	case <-time.After(10 * time.Second):
	}
	return res, nil
}

// killSpacing, when not 0, bounds the wait before the next kill: the next
// kill then comes after the replacement appeared or after killSpacing,
// whichever is first (faster, but overlapping restarts change some peers'
// figures: supervisord wakes up earlier). 0: strictly one kill at a time.
var killSpacing time.Duration

// respawnKillsTimed times the respawns by the kernel's exec events where
// it can (respawnKillsExec), else by scanning /proc (respawnKills).
func respawnKillsTimed(r *procReader, m marker, n, kills int) ([]float64, error) {
	c, err := openProcConn()
	if err != nil {
		respawnMethodOnce.Do(func() { warnf("respawn timed by scanning /proc (%v): the figures include the scan", err) })
		return respawnKills(r, m, n, kills)
	}
	defer c.close()
	return respawnKillsExec(c, r, m, n, kills)
}

var respawnMethodOnce sync.Once

// execSettle is how long after the replacement's exec event the bench
// goes on reading events: a service started through a script (s6's and
// runit's `run`) is two execs in one process, and its command line may
// already be the service's when the first exec's event is read; a later
// exec of the same process replaces the time.
const execSettle = 10 * time.Millisecond

// respawnKillsExec SIGKILLs kills different services (each once, spread
// over the n, one at a time) and returns, per kill, the time (ms) from the
// kill to the exec of the service's program in its replacement, by the
// kernel's clock (the exec event of the process connector). The bench
// waits in the kernel meanwhile, taking no CPU from the supervisor.
func respawnKillsExec(c *procConn, r *procReader, m marker, n, kills int) ([]float64, error) {
	current := r.scanMarked(m)
	out := make([]float64, 0, kills)
	for k := 0; k < kills; k++ {
		i := k * n / kills
		old := current[i]
		if old <= 0 {
			return out, fmt.Errorf("service %d has no process before kill %d", i, k+1)
		}
		t0 := monoNow()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			return out, fmt.Errorf("kill %d: %v", old, err)
		}
		found, at := 0, int64(0)
		deadline := time.Now().Add(5 * time.Second)
		for {
			ev, ok, err := c.next(deadline)
			if errors.Is(err, errEventsLost) {
				// The replacement's event may be among the lost ones: look
				// for it in /proc; the time it is seen there is later than
				// its exec (an overestimate, flattering no one but the peers).
				if found == 0 {
					lostEvents.Add(1)
					found, at = scanReplacement(r, m, i, old, deadline)
					deadline = time.Now().Add(execSettle)
				}
				continue
			}
			if err != nil {
				return out, fmt.Errorf("process events: %v", err)
			}
			if !ok {
				break
			}
			if ev.ns < t0 {
				continue
			}
			if ev.pid == found {
				at = ev.ns // a later exec of the same process
				continue
			}
			if found == 0 && m.serviceIndex(r.read(ev.pid, "cmdline")) == i {
				found, at = ev.pid, ev.ns
				deadline = time.Now().Add(execSettle)
			}
		}
		if found == 0 {
			return out, fmt.Errorf("no replacement within 5 s for service %d", i)
		}
		out = append(out, float64(at-t0)/1e6)
		current[i] = found
	}
	return out, nil
}

// lostEvents counts the kills timed by scanReplacement.
var lostEvents atomic.Int64

// scanReplacement looks in /proc for a process of service i other than
// old until deadline, and returns it with the time it was seen.
func scanReplacement(r *procReader, m marker, i, old int, deadline time.Time) (int, int64) {
	for time.Now().Before(deadline) {
		for _, p := range r.pids() {
			if p != old && m.serviceIndex(r.read(p, "cmdline")) == i {
				return p, monoNow()
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	return 0, 0
}

// respawnKills SIGKILLs kills different services (each once, spread over
// the n) and returns, per kill, the time (ms) until a replacement process
// of that service exists in /proc.
func respawnKills(r *procReader, m marker, n, kills int) ([]float64, error) {
	type pending struct {
		old int
		t0  time.Time
	}
	current := r.scanMarked(m)
	// known: pids that cannot be a replacement (present before, or resolved).
	known := map[int]bool{}
	for _, p := range r.pids() {
		known[p] = true
	}
	out := make([]float64, 0, kills)
	waiting := map[int]pending{}
	check := func() {
		for _, p := range r.pids() {
			if known[p] {
				continue
			}
			i := m.serviceIndex(r.read(p, "cmdline"))
			if pd, ok := waiting[i]; ok {
				out = append(out, ms(time.Since(pd.t0)))
				delete(waiting, i)
				known[p] = true
			}
		}
	}
	for k := 0; k < kills; k++ {
		i := k * n / kills
		old := current[i]
		if old <= 0 {
			return out, fmt.Errorf("service %d has no process before kill %d", i, k+1)
		}
		delete(known, old) // the replacement may get the same pid
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			return out, fmt.Errorf("kill %d: %v", old, err)
		}
		// Wait for the killed process to be gone from /proc (reaped) or a
		// zombie before looking for its replacement under the same pid.
		waiting[i] = pending{old: old, t0: time.Now()}
		for time.Since(waiting[i].t0) < time.Second {
			st := r.read(old, "stat")
			if st == nil || bytes.Contains(st, []byte(") Z")) || m.serviceIndex(r.read(old, "cmdline")) != i {
				break
			}
			time.Sleep(20 * time.Microsecond)
		}
		last := time.Now()
		for len(waiting) > 0 && (killSpacing == 0 || time.Since(last) < killSpacing) && time.Since(last) < 5*time.Second {
			check()
			if len(waiting) > 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(waiting) > 0 && time.Now().Before(deadline) {
		check()
		time.Sleep(200 * time.Microsecond)
	}
	if len(waiting) > 0 {
		var ids []string
		for i := range waiting {
			ids = append(ids, strconv.Itoa(i))
		}
		return out, fmt.Errorf("no replacement within 5 s for service(s) %s", strings.Join(ids, ","))
	}
	return out, nil
}

// cleanupRun kills the supervisor and everything that belongs to the run.
func cleanupRun(in *instance, dir, prefix string) {
	in.kill()
	if in.onCleanup != nil {
		in.onCleanup()
	}
	if left := sweep(dir, []string{dir, prefix}); len(left) > 0 {
		for _, p := range left {
			warnf("run %s: process %s survived the sweep", dir, describe(p))
		}
	}
	if !keepDirs {
		os.RemoveAll(dir)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ---- logging ---------------------------------------------------------------

const (
	lineLen   = 100
	writerArg = "__bench_writer"
)

// writerTag is in the command line of every writer of this bench process.
var writerTag = "bench-writer-" + benchPrefix

var errNotImplemented = errors.New("not yet implemented")

// errNotMeasured marks a scenario a system is deliberately not run in.
var errNotMeasured = errors.New("not measured")

// logStall is how long the logs may stop growing before what has not
// arrived is counted as lost.
const logStall = 10 * time.Second

// loggingResult is one logging run.
type loggingResult struct {
	mbps      float64
	lostBytes int64
	garbled   int
}

// runLogging has one service write totalBytes of numbered lines to stdout
// through sys's logger and checks what arrived. pipe (ours only) logs
// through `console log pipe`.
func runLogging(sys system, root string, totalBytes int64, pipe bool) (res loggingResult, err error) {
	dir, err := os.MkdirTemp(root, sys.name()+"-log-")
	if err != nil {
		return res, err
	}
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	fifo := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return res, err
	}
	lines := totalBytes / lineLen
	svc := service{name: "writer", logged: true, pipe: pipe,
		argv: []string{self, writerArg, fifo, strconv.FormatInt(lines, 10), writerTag}}
	in, err := sys.start(dir, []service{svc}, true)
	if err != nil {
		return res, err
	}
	defer cleanupRun(in, dir, writerTag)

	// The writer prints a probe line, then waits on the fifo. The probe must
	// reach a log file: this is also how we detect that `console log` works.
	probeDeadline := time.Now().Add(5 * time.Second)
	for logBytes(in.logDir) == 0 {
		if time.Now().After(probeDeadline) {
			if sys.name() == "ours" {
				return res, fmt.Errorf("%w: `console log` wrote no $XDG_CACHE_HOME/upstart/writer.log within 5 s", errNotImplemented)
			}
			return res, fmt.Errorf("no output reached the logger's files within 5 s: %s", in.supervisorOutput())
		}
		if in.exited() {
			return res, fmt.Errorf("supervisor exited: %s", in.supervisorOutput())
		}
		time.Sleep(5 * time.Millisecond)
	}
	base := logBytes(in.logDir)

	// Start the writer: opening the fifo for writing releases it.
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			f = nil
		}
		opened <- f
	}()
	var t0 time.Time
	select {
	case f := <-opened:
		t0 = time.Now()
		if f == nil {
			return res, errors.New("cannot open the writer's fifo")
		}
		f.Close()
	case <-time.After(5 * time.Second):
		// Unblock the goroutine.
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer f.Close()
		}
		return res, errors.New("writer never opened its fifo")
	}

	// Through a pty (ours's `console log`, the floor's pty row) every
	// "\n" arrives as "\r\n": the logs are complete one byte per line
	// later. (Counting only totalBytes ended the run at 99% and verified
	// the logs while the last 1% was still being written: now and then
	// 0.3–0.9 MB "lost" and the line being written "damaged".)
	want := base + totalBytes
	if !pipe && (sys.name() == "ours" || sys.name() == "floor") {
		want += lines
	}
	last, lastGrowth := base, t0
	var t1 time.Time
	hardDeadline := t0.Add(300 * time.Second)
	for {
		time.Sleep(2 * time.Millisecond)
		now := time.Now()
		n := logBytes(in.logDir)
		if n != last {
			last, lastGrowth = n, now
		}
		if n >= want {
			t1 = now
			break
		}
		// Bytes are counted lost only after the logs have not grown for
		// logStall: on a machine shared with other work a logger (or the
		// writer) can be off the CPU for seconds, and a shorter wait
		// counted such a pause, and the line being written, as lost.
		if now.Sub(lastGrowth) > logStall || now.After(hardDeadline) {
			t1 = lastGrowth
			infof("  %s: logs stopped growing at %d of %d bytes", sys.name(), last-base, totalBytes)
			break
		}
	}
	if t1.Sub(t0) <= 0 {
		return res, errors.New("no output arrived")
	}
	got, garbled, err := verifyLogs(in.logDir, lines)
	if err != nil {
		return res, err
	}
	res.garbled = garbled
	res.lostBytes = (lines - got) * lineLen
	res.mbps = float64(totalBytes) / 1e6 / t1.Sub(t0).Seconds()
	return res, nil
}

// logFiles lists the files a logger writes into dir (recursively).
func logFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "lock", "state", "config":
			return nil
		}
		out = append(out, p)
		return nil
	})
	return out
}

func logBytes(dir string) int64 {
	var n int64
	for _, p := range logFiles(dir) {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}

// verifyLogs counts the distinct intact numbered lines in dir.
func verifyLogs(dir string, lines int64) (got int64, garbled int, err error) {
	seen := make([]bool, lines)
	files := logFiles(dir)
	sort.Strings(files)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return 0, 0, err
		}
		br := bufio.NewReaderSize(f, 1<<20)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				line = bytes.TrimRight(line, "\r\n")
				if seq, ok := parseLine(line); ok && seq < lines {
					if !seen[seq] {
						seen[seq] = true
						got++
					}
				} else if !bytes.HasPrefix(line, []byte("probe ")) && len(line) > 0 {
					garbled++
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return got, garbled, nil
}

// makeLine writes line seq (lineLen bytes with the newline) into b. It
// must cost the writer far less than a logger's work per line (fmt here
// held the writer to about 500 MB/s, the speed of the fastest loggers).
func makeLine(b []byte, seq int64) {
	b[0] = 'L'
	v := seq
	for j := 11; j >= 1; j-- {
		b[j] = byte('0' + v%10)
		v /= 10
	}
	b[12] = ' '
	c := byte('a' + seq%26)
	for j := 13; j < lineLen-1; j++ {
		b[j] = c
	}
	b[lineLen-1] = '\n'
}

func parseLine(l []byte) (int64, bool) {
	if len(l) != lineLen-1 || l[0] != 'L' || l[12] != ' ' {
		return 0, false
	}
	seq, err := strconv.ParseInt(string(l[1:12]), 10, 64)
	if err != nil {
		return 0, false
	}
	c := byte('a' + seq%26)
	for _, x := range l[13:] {
		if x != c {
			return 0, false
		}
	}
	return seq, true
}

// writerMain is the logging scenario's service: a probe line, wait for the
// fifo to open, write the lines, then stay alive (so nobody restarts it).
func writerMain(args []string) {
	if len(args) < 2 {
		os.Exit(2)
	}
	lines, _ := strconv.ParseInt(args[1], 10, 64)
	if !ownSession(args) {
		return
	}
	os.Stdout.WriteString("probe " + writerTag + "\n")
	f, err := os.Open(args[0])
	if err != nil {
		os.Exit(3)
	}
	f.Close()
	buf := make([]byte, 0, 64*1024)
	line := make([]byte, lineLen)
	for seq := int64(0); seq < lines; seq++ {
		makeLine(line, seq)
		buf = append(buf, line...)
		if len(buf)+lineLen > cap(buf) || seq == lines-1 {
			if _, err := os.Stdout.Write(buf); err != nil {
				os.Exit(4)
			}
			buf = buf[:0]
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}

// ownSession puts the writer in a session of its own under every system,
// as ours (like Upstart), s6 and runit start services; the floor and
// supervisord do not. On this machine the kernel schedules each session as
// a group (autogroup), and under load a writer in its own session wrote
// through the same logger at about 40% of the rate it had in its
// supervisor's session (the logger package in one process, 8 interleaved
// pairs of 30 MB at load 28: medians 246 against 640 MB/s). Without this
// the pipe row compared sessions, not loggers. A process group leader
// (supervisord makes each child one) may not start a session: it runs the
// writer again as a child that does, and waits; false means this process
// is that parent and is done.
func ownSession(args []string) bool {
	if sid, err := unix.Getsid(0); err == nil && sid == os.Getpid() {
		return true
	}
	if _, err := unix.Setsid(); err == nil {
		return true
	}
	self, err := os.Executable()
	if err != nil {
		return true
	}
	cmd := exec.Command(self, append([]string{writerArg}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		os.Exit(5)
	}
	return false
}

// ---- ours only ---------------------------------------------------------------

// oursOnly holds one run of the figures no peer has.
type oursOnly struct {
	emitInitctl float64 // events/s through `initctl emit` (one process per event)
	emitDBus    float64 // events/s over one persistent D-Bus connection (lean client)
	emitGodbus  float64 // the same with godbus as the client
	// CPU time per event of the daemon and of the client (this process),
	// in µs, for the lean and the godbus client: what bounds each rate.
	leanCPU, godbusCPU emitCPU
	load1000Ms         float64 // exec until `initctl list` shows all 1000 jobs
	load0Ms            float64 // same with no job file
	errs               map[string]error
}

// runOursOnly measures the ours-only figures with emits events per method.
func runOursOnly(o *ours, root string, emits, jobs int) oursOnly {
	res := oursOnly{errs: map[string]error{}}
	func() {
		dir, err := os.MkdirTemp(root, "ours-emit-")
		if err != nil {
			res.errs["emit"] = err
			return
		}
		m := newMarker()
		svcs := m.sleepServices(100)
		in, err := o.start(dir, svcs, false)
		if err != nil {
			res.errs["emit"] = err
			return
		}
		defer cleanupRun(in, dir, m.prefix)
		addr, err := o.session(in, 10*time.Second)
		if err != nil {
			res.errs["emit"] = err
			return
		}
		t0 := time.Now()
		for k := 0; k < emits; k++ {
			if out, err := o.initctl(addr, "emit", fmt.Sprintf("bench-ev%d", k%10)); err != nil {
				res.errs["emit-initctl"] = fmt.Errorf("initctl emit: %v: %s", err, strings.TrimSpace(out))
				break
			}
		}
		if res.errs["emit-initctl"] == nil {
			res.emitInitctl = float64(emits) / time.Since(t0).Seconds()
		}
		n := emits * emitsPerInitctl
		if rate, cpu, err := emitLean(addr, in.pid(), n); err != nil {
			res.errs["emit-dbus"] = err
		} else {
			res.emitDBus, res.leanCPU = rate, cpu
		}
		if rate, cpu, err := emitOverDBus(addr, in.pid(), n); err != nil {
			res.errs["emit-dbus-godbus"] = err
		} else {
			res.emitGodbus, res.godbusCPU = rate, cpu
		}
	}()
	for _, count := range []int{jobs, 0} {
		v, err := loadJobs(o, root, count)
		key := "load-jobs"
		if count == 0 {
			key = "load-jobs-0"
		}
		if err != nil {
			res.errs[key] = err
			continue
		}
		if count == 0 {
			res.load0Ms = v
		} else {
			res.load1000Ms = v
		}
	}
	return res
}

// D-Bus emits per `initctl emit` of a run: each client makes this many
// calls, timed, after emitWarmup untimed ones (the first calls of a
// connection fault in both sides' buffers and code). With 200 emits (full)
// a timed window is 5000 calls, a few tenths of a second: long enough that
// one stall of a noisy machine does not decide the median.
const (
	emitsPerInitctl = 25
	emitWarmup      = 200
)

// emitCPU is CPU time per event, in µs.
type emitCPU struct{ daemon, client float64 }

// cpuMeter reads the CPU time (user + system) of the daemon and of this
// process between two points.
type cpuMeter struct {
	pid            int
	daemon, client time.Duration
}

func startCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.daemon, m.client = procCPU(pid), selfCPU()
	return m
}

func (m *cpuMeter) perEvent(n int) emitCPU {
	d, c := procCPU(m.pid)-m.daemon, selfCPU()-m.client
	return emitCPU{daemon: float64(d.Microseconds()) / float64(n), client: float64(c.Microseconds()) / float64(n)}
}

// procCPU is the utime + stime of pid (all its threads), from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which may hold spaces: the 12th and
	// 13th of those are utime and stime, in clock ticks (100 Hz on Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// emitLean calls EmitEvent (wait=true) n times over one peer connection
// with a client that costs less than the daemon per call
// (control.PeerClient), as a C client of libdbus would.
func emitLean(addr string, daemon, n int) (float64, emitCPU, error) {
	pc, err := control.DialPeer(addr)
	if err != nil {
		return 0, emitCPU{}, err
	}
	defer pc.Close()
	names := eventNames()
	call := func(k int) error { return pc.EmitEvent(names[k%len(names)], nil, true) }
	return timeEmits(call, daemon, n)
}

// emitOverDBus calls EmitEvent (wait=true) n times over one peer connection
// with godbus as the client, written as a careful user would: one
// connection, authenticated once (EXTERNAL; no Hello, there is no bus),
// one BusObject reused for every call, no introspection, the
// arguments' values built once. What is left per call is godbus's own
// work: encoding by reflection, a goroutine hand-off for the reply, and
// reading each incoming message (the reply and the EventEmitted signal
// every connection gets, as from Upstart) in three reads.
func emitOverDBus(addr string, daemon, n int) (float64, emitCPU, error) {
	conn, err := dbus.Dial(addr)
	if err != nil {
		return 0, emitCPU{}, err
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return 0, emitCPU{}, err
	}
	obj := conn.Object("", control.ManagerPath)
	names, env := eventNames(), []string{}
	call := func(k int) error {
		return obj.Call(control.ManagerIface+".EmitEvent", 0, names[k%len(names)], env, true).Err
	}
	return timeEmits(call, daemon, n)
}

func eventNames() []string {
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("bench-ev%d", i)
	}
	return names
}

// timeEmits makes emitWarmup calls, then times n.
func timeEmits(call func(k int) error, daemon, n int) (float64, emitCPU, error) {
	for k := 0; k < emitWarmup; k++ {
		if err := call(k); err != nil {
			return 0, emitCPU{}, fmt.Errorf("EmitEvent: %v", err)
		}
	}
	cpu := startCPUMeter(daemon)
	t0 := time.Now()
	for k := 0; k < n; k++ {
		if err := call(k); err != nil {
			return 0, emitCPU{}, fmt.Errorf("EmitEvent: %v", err)
		}
	}
	return float64(n) / time.Since(t0).Seconds(), cpu.perEvent(n), nil
}

// loadJobs starts ours with count job files (none starts) and returns the
// time from exec until `initctl list` shows all of them.
func loadJobs(o *ours, root string, count int) (float64, error) {
	dir, err := os.MkdirTemp(root, "ours-load-")
	if err != nil {
		return 0, err
	}
	m := newMarker()
	conf := filepath.Join(dir, "conf")
	os.MkdirAll(conf, 0o700)
	for i := 0; i < count; i++ {
		text := fmt.Sprintf("description \"bench job %d\"\nstart on bench-never-%d\nrespawn\nexec %s\n", i, i, shellQuote(m.sleepArgv(i)))
		if err := os.WriteFile(filepath.Join(conf, fmt.Sprintf("job%05d.conf", i)), []byte(text), 0o644); err != nil {
			return 0, err
		}
	}
	// no service: start() would write more files; launch directly.
	for _, d := range []string{filepath.Join(dir, "run"), filepath.Join(dir, "cache"), filepath.Join(dir, "config")} {
		os.MkdirAll(d, 0o700)
	}
	env := baseEnv("XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CONFIG_DIRS="+filepath.Join(dir, "config"))
	in, err := launch("ours", dir, []string{filepath.Join(o.bin, "init"), "--user", "--no-log", "--no-startup-event", "--confdir", conf}, env, syscall.SIGTERM)
	if err != nil {
		return 0, err
	}
	defer cleanupRun(in, dir, m.prefix)
	addr, err := o.session(in, 20*time.Second)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := o.initctl(addr, "list")
		if err == nil && countLines(out) >= count {
			return ms(time.Since(in.started)), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("initctl list shows %d of %d jobs after 30 s (err %v)", countLines(out), count, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// listReps is how many `initctl list` runs give the list figure.
const listReps = 5

func countLines(s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	return n
}

// runReexec starts ours with n services, waits until every service process
// exists, asks for a stateful re-exec (D-Bus Restart over the private
// socket) and returns the time until the new image answers a call about
// its jobs (GetAllJobs); then
// it checks that nothing was lost: every job and pid in `initctl list` is
// the same, and every service process is still there. Before the re-exec
// it also times `initctl list` (exec to exit, over the private socket)
// with the n jobs running: listMs is the median of listReps runs.
func runReexec(o *ours, root string, n int) (res reexecResult, err error) {
	dir, err := os.MkdirTemp(root, "ours-reexec-")
	if err != nil {
		return res, err
	}
	m := newMarker()
	svcs := m.sleepServices(n)
	in, err := o.start(dir, svcs, false)
	if err != nil {
		return res, err
	}
	defer cleanupRun(in, dir, m.prefix)
	addr, err := o.session(in, 20*time.Second)
	if err != nil {
		return res, err
	}
	r := newProcReader()
	deadline := time.Now().Add(10*time.Second + time.Duration(n)*60*time.Millisecond)
	for len(r.scanMarked(m)) < n {
		if time.Now().After(deadline) || in.exited() {
			return res, fmt.Errorf("only %d of %d services started: %s", len(r.scanMarked(m)), n, in.supervisorOutput())
		}
		time.Sleep(10 * time.Millisecond)
	}
	before, err := o.initctl(addr, "list")
	if err != nil {
		return res, fmt.Errorf("initctl list: %v: %s", err, before)
	}
	var lists []float64
	for k := 0; k < listReps; k++ {
		t0 := time.Now()
		out, err := o.initctl(addr, "list")
		lists = append(lists, ms(time.Since(t0)))
		if err != nil || countLines(out) != countLines(before) {
			return res, fmt.Errorf("initctl list: %v: %d lines, %d before", err, countLines(out), countLines(before))
		}
	}
	sort.Float64s(lists)
	res.listMs = lists[len(lists)/2]
	if err := recordsFigures(o, dir, addr, in.pid(), svcs[n/2].name, &res); err != nil {
		return res, err
	}
	pc, err := control.DialPeer(addr)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	pc.Call(control.ManagerPath, control.ManagerIface, "Restart") // the connection may drop first
	pc.Close()
	cmdline := fmt.Sprintf("/proc/%d/cmdline", in.pid())
	var took time.Duration
	for {
		if b, _ := os.ReadFile(cmdline); bytes.Contains(b, []byte("\x00--restart\x00")) {
			if pc, err := control.DialPeer(addr); err == nil {
				// A call the engine answers (not the version, which
				// the control server knows by itself): the new image
				// answers when its jobs are restored.
				err = pc.Call(control.ManagerPath, control.ManagerIface, "GetAllJobs")
				pc.Close()
				if err == nil {
					took = time.Since(t0)
					break
				}
			}
		}
		if time.Since(t0) > 20*time.Second || in.exited() {
			return res, fmt.Errorf("no answer from the new image within 20 s: %s", in.supervisorOutput())
		}
		time.Sleep(200 * time.Microsecond)
	}
	after, err := o.initctl(addr, "list")
	if err != nil || after != before {
		return res, fmt.Errorf("initctl list changed across the re-exec (%v): %d lines before, %d after", err, countLines(before), countLines(after))
	}
	if got := len(r.scanMarked(m)); got != n {
		return res, fmt.Errorf("%d of %d service processes left after the re-exec", got, n)
	}
	res.reexecMs = ms(took)
	return res, nil
}
