// Command sysv-rc runs the System V init scripts of a runlevel change, in
// the order their LSB headers (or insserv's .depend files) give and in
// parallel as far as that order allows, telling the init daemon about
// each script through the control API: `starting`/`started` around a
// start, `stopping`/`stopped` around a stop, with JOB=<script name> — so a
// job can `start on started ssh` — and SYSV_SCRIPT, SYSV_ACTION,
// RUNLEVEL, PREVLEVEL. A script that an Upstart job of the same name
// replaces is not run. It is what conf/debian/rc.conf and rcS.conf run.
//
//	sysv-rc [options] [RUNLEVEL [PREVLEVEL]]   (default: $RUNLEVEL, $PREVLEVEL)
//
// Exit status: 0 when every script ran and succeeded, 1 when some failed
// or timed out (all were still run), 2 on bad usage or when nothing could
// be run (unknown runlevel, no /etc/init.d, no /etc/rcN.d).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/sysv"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options are the command line's.
type options struct {
	root         string
	order        string
	debianRC     bool
	stopTimeout  time.Duration
	startTimeout time.Duration
	parallel     int
	noEvents     bool
	stopStarted  bool
	dryRun       bool
	quiet        bool
	cgroup       string
	omitDir      string
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("sysv-rc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.root, "root", "/", "the system's root directory (scripts are still run by their paths under it)")
	fs.StringVar(&o.order, "order", "auto", "where the order comes from: lsb (the scripts' headers), insserv (/etc/init.d/.depend.*), auto (insserv's files where they list every script, else the headers)")
	fs.BoolVar(&o.debianRC, "debian-rc", false, "run Debian's /etc/init.d/rc RUNLEVEL instead (no events, no parallel order of ours)")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 30*time.Second, "a stop script still running after this is killed (0: never)")
	fs.DurationVar(&o.startTimeout, "start-timeout", 0, "a start script still running after this is killed (0: never)")
	fs.IntVar(&o.parallel, "parallel", sysv.DefaultParallel, "scripts run at once at most")
	fs.BoolVar(&o.noEvents, "no-events", false, "do not talk to init (no events; no script is treated as replaced)")
	fs.BoolVar(&o.stopStarted, "stop-started", false, "going to 0 or 6, also stop what the previous runlevel started that has no K link (Debian leaves those to sendsigs)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan (phases, steps, what each waits for) and run nothing")
	fs.BoolVar(&o.quiet, "quiet", false, "report failures only, not every script")
	fs.StringVar(&o.cgroup, "cgroup", "auto", "cgroup v2 directory for the scripts' own groups: auto (next to init's tree), none, or a path")
	fs.StringVar(&o.omitDir, "sendsigs-omit", "/run/sendsigs.omit.d", "where to list, before sendsigs runs, the pids that killall5 must spare")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: sysv-rc [options] [RUNLEVEL [PREVLEVEL]]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level, prev := getenv("RUNLEVEL"), getenv("PREVLEVEL")
	switch fs.NArg() {
	case 0:
	case 1:
		level = fs.Arg(0)
	case 2:
		level, prev = fs.Arg(0), fs.Arg(1)
	default:
		fs.Usage()
		return 2
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "sysv-rc: "+format+"\n", a...) }
	if level == "" {
		logf("no runlevel given (argument or $RUNLEVEL)")
		return 2
	}
	if _, ok := sysv.NormLevel(level); !ok {
		logf("unknown runlevel %q (want 0-6 or S)", level)
		return 2
	}
	if prev == "" {
		prev = "N"
	}
	if o.debianRC {
		return debianRC(o, level, prev, getenv, stdout, stderr, logf)
	}

	phases, warns, err := sysv.Plan(sysv.Config{Root: o.root, Runlevel: level, Prevlevel: prev, Order: o.order, StopStarted: o.stopStarted})
	for _, w := range warns {
		logf("warning: %s", w)
	}
	if err != nil {
		logf("runlevel %s: %v", level, err)
		return 2
	}
	if o.dryRun {
		printPlan(stdout, phases)
		return 0
	}

	env := scriptEnv(os.Environ(), level, prev)
	r := &sysv.Runner{
		StartTimeout: o.startTimeout,
		StopTimeout:  o.stopTimeout,
		Parallel:     o.parallel,
		Env:          env,
		EventEnv:     []string{"RUNLEVEL=" + level, "PREVLEVEL=" + prev},
		Out:          stdout,
		Logf:         logf,
	}
	if f, ok := stdout.(*os.File); ok {
		r.Direct = f
	}
	switch o.cgroup {
	case "none", "":
	case "auto":
		r.Cgroup = sysv.CgroupBase()
	default:
		r.Cgroup = o.cgroup
	}
	var ic *initClient
	if !o.noEvents {
		ic, err = dialInit(getenv)
		if err != nil {
			logf("warning: %v; running the scripts without events", err)
		} else {
			defer ic.close()
			r.Notify = ic
		}
	}
	r.Before = func(s *sysv.Step) {
		if s.Name == "sendsigs" && s.Action == "stop" {
			if err := writeOmit(o.omitDir, ic); err != nil {
				logf("warning: %v", err)
			}
		}
	}
	// SIGTERM (init stopping the job: a new runlevel came first) kills
	// the scripts still running and starts no more. The shutdown's
	// sendsigs spares us through the omit list; SIGHUP (a console
	// hang-up) must not end a runlevel change half done.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var mu sync.Mutex
	failed := 0
	t0 := time.Now()
	// Each line says when the script started (from the runner's start)
	// and how long it took, so the run's critical path can be read off
	// a console log.
	at := func(res sysv.Result) string {
		return fmt.Sprintf("%.2fs, started at +%.2fs", res.Took.Seconds(), (time.Since(t0) - res.Took).Seconds())
	}
	r.Done = func(res sysv.Result) {
		mu.Lock()
		defer mu.Unlock()
		s := res.Step
		switch {
		case res.Skipped != "":
			if !o.quiet {
				logf("%s %s: skipped, %s", s.Action, s.Name, res.Skipped)
			}
		case res.Err != nil:
			failed++
			logf("%s %s: FAILED, %v (%s)", s.Action, s.Name, res.Err, at(res))
		default:
			if !o.quiet {
				logf("%s %s: ok (%s)", s.Action, s.Name, at(res))
			}
		}
	}
	results := r.Run(ctx, phases)
	if !o.quiet {
		logf("runlevel %s (from %s): %d scripts in %.2fs, %d failed", level, prev, len(results), time.Since(t0).Seconds(), failed)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// scriptEnv is the environment init scripts get: ours without the
// variables that tie a process to the Upstart job running us (a daemon
// that carried them would be counted as the rc job's and killed when it
// ends), with RUNLEVEL and PREVLEVEL as Debian's rc exports them.
func scriptEnv(env []string, level, prev string) []string {
	var out []string
	hasPath := false
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "UPSTART_") && k != "UPSTART_SESSION":
			continue
		case k == "RUNLEVEL" || k == "PREVLEVEL" || k == "previous" || k == "runlevel":
			continue
		case k == "PATH":
			hasPath = true
		}
		out = append(out, kv)
	}
	if !hasPath {
		out = append(out, "PATH=/sbin:/usr/sbin:/bin:/usr/bin")
	}
	return append(out, "RUNLEVEL="+level, "PREVLEVEL="+prev, "runlevel="+level, "previous="+prev)
}

// debianRC hands the runlevel to Debian's own /etc/init.d/rc.
func debianRC(o options, level, prev string, getenv func(string) string, stdout, stderr io.Writer, logf func(string, ...any)) int {
	rc := filepath.Join(o.root, "etc", "init.d", "rc")
	st, err := os.Stat(sysv.InRoot(o.root, rc))
	if err != nil || st.Mode()&0o111 == 0 {
		if err == nil {
			err = errors.New("not executable")
		}
		logf("runlevel %s: cannot run Debian's rc script %s: %v (install sysv-rc, or use the runner without --debian-rc)", level, rc, err)
		return 2
	}
	if o.dryRun {
		fmt.Fprintf(stdout, "%s %s\n", rc, level)
		return 0
	}
	attr := &os.ProcAttr{Env: scriptEnv(os.Environ(), level, prev), Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	p, err := os.StartProcess(rc, []string{rc, level}, attr)
	if err != nil {
		logf("runlevel %s: %v", level, err)
		return 2
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGTERM)
	st2, err := p.Wait()
	if err != nil {
		logf("runlevel %s: %v", level, err)
		return 2
	}
	if !st2.Success() {
		logf("runlevel %s: %s %s: %v", level, rc, level, st2)
		return 1
	}
	return 0
}

func printPlan(w io.Writer, phases []sysv.Phase) {
	for pi, ph := range phases {
		fmt.Fprintf(w, "phase %d (order: %s)\n", pi+1, ph.Order)
		idx := make([]int, len(ph.Steps))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return ph.Steps[idx[a]].Name < ph.Steps[idx[b]].Name })
		for _, i := range idx {
			s := ph.Steps[i]
			extra := ""
			if s.Interactive {
				extra = " (interactive)"
			}
			fmt.Fprintf(w, "  %s %s%s after: %s\n", s.Action, s.Name, extra, strings.Join(ph.After(i), " "))
		}
	}
}

// writeOmit lists in DIR/goupstart the pids sendsigs (killall5) must
// spare: this runner and its ancestors (the rc job's processes) and every
// process of every Upstart job. Upstart jobs are stopped by init itself
// (their `stop on runlevel [06]`, or init's own stop of everything at the
// end); if killall5 killed them, the respawning ones would come back in
// the middle of the shutdown.
func writeOmit(dir string, ic *initClient) error {
	pids := map[int]bool{}
	for p := os.Getpid(); p > 1; {
		pids[p] = true
		pp, err := parentOf(p)
		if err != nil {
			break
		}
		p = pp
	}
	var qerr error
	if ic != nil {
		jp, err := ic.jobPids()
		if err != nil {
			qerr = fmt.Errorf("Upstart jobs' processes not spared by sendsigs: %w", err)
		}
		for _, p := range jp {
			pids[p] = true
		}
	}
	var b strings.Builder
	keys := make([]int, 0, len(pids))
	for p := range pids {
		keys = append(keys, p)
	}
	sort.Ints(keys)
	for _, p := range keys {
		fmt.Fprintln(&b, p)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sendsigs omit list: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "goupstart"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("sendsigs omit list: %w", err)
	}
	return qerr
}

func parentOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, errors.New("bad stat")
	}
	return strconv.Atoi(f[1])
}
