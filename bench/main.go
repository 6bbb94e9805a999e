// Command bench measures goupstart against its peers (s6, runit,
// supervisord; Upstart itself when it can be had) on the same machine in the
// same run, interleaving the systems run by run (A B C A B C …), and prints
// a markdown table and machine-readable lines.
//
//	go run ./bench            # full: N = 100 and 1000, 5 runs, 50 kills, 100 MB logged, QEMU boots
//	go run ./bench --quick    # N = 100, 3 runs, 3 kills per run, 25 MB logged (CI; no QEMU)
//
// Every scenario name appears in the output (BENCH lines) even when a system
// is skipped or fails, with the reason.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var keepDirs bool

func infof(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }
func warnf(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: warning: "+format+"\n", a...) }

// config is what one bench invocation does.
type config struct {
	quick     bool
	runs      int
	ns        []int
	kills     int
	logMB     int
	emits     int
	loadJobs  int
	systems   []string
	groups    map[string]bool
	noInstall bool
	oursBin   string
	noQEMU    bool
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	var ns, systems, groups string
	fs.BoolVar(&c.quick, "quick", false, "CI mode: N=100, 3 runs, 3 kills per run, 25 MB logged (under 2 minutes on 2 cores)")
	fs.IntVar(&c.runs, "runs", 0, "runs per system and scenario (default 5, quick 3)")
	fs.StringVar(&ns, "n", "", "comma-separated service counts (default 100,1000; quick 100)")
	fs.IntVar(&c.kills, "kills", 0, "SIGKILLs per respawn run, each of a different service, one at a time (default 50; quick 3)")
	fs.IntVar(&c.logMB, "log-mb", 0, "MB written through each logger (default 100; quick 25)")
	fs.IntVar(&c.emits, "emits", 0, "`initctl emit` calls per run (default 200; quick 100); D-Bus emits are 10x")
	fs.IntVar(&c.loadJobs, "load-jobs", 1000, "job files for the load-jobs figure, and running jobs for the reexec figure")
	fs.StringVar(&systems, "systems", "", "systems to compare (floor, floor-cgroup: the reference rows, not peers) (default ours,upstart,finit,s6,runit,supervisord,floor,floor-cgroup; quick: all but floor-cgroup)")
	fs.StringVar(&groups, "scenarios", "", "scenario groups: lifecycle (cold start, memory, respawn, stop-all), logging, ours (ours-only figures), qemu (boots under QEMU; root) (default all; quick: all but qemu)")
	fs.BoolVar(&c.noInstall, "no-install", false, "never apt-get install missing peers")
	fs.BoolVar(&c.noQEMU, "no-qemu", false, "full mode without the qemu group (its 30 boots took 39 minutes on the shared 2-core machine); the same as --scenarios lifecycle,logging,ours")
	fs.StringVar(&c.oursBin, "ours-bin", "", "directory with our init and initctl (default: build ./cmd/... into a temp dir)")
	fs.DurationVar(&killSpacing, "kill-spacing", 0, "next kill after this long even if the replacement has not appeared yet (0: one kill at a time)")
	fs.BoolVar(&keepDirs, "keep", false, "keep each run's directory (for debugging)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if c.quick {
				*v = quick
			}
		}
	}
	def(&c.runs, 5, 3)
	def(&c.kills, 50, 3)
	def(&c.emits, 200, 100)
	def(&c.logMB, 100, 25)
	if ns == "" {
		ns = "100,1000"
		if c.quick {
			ns = "100"
		}
	}
	for _, s := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || n > 99999 {
			return c, fmt.Errorf("bad -n value %q", s)
		}
		c.ns = append(c.ns, n)
	}
	if groups == "" {
		groups = "lifecycle,logging,ours,qemu"
		if c.quick || c.noQEMU {
			groups = "lifecycle,logging,ours"
		}
	}
	if systems == "" {
		// floor-cgroup is context for the cold-start rows, in no goal:
		// quick mode (CI, under 2 minutes) leaves it out.
		systems = "ours,upstart,finit,s6,runit,supervisord,floor,floor-cgroup"
		if c.quick {
			systems = "ours,upstart,finit,s6,runit,supervisord,floor"
		}
	}
	c.systems = strings.Split(systems, ",")
	c.groups = map[string]bool{}
	for _, g := range strings.Split(groups, ",") {
		c.groups[strings.TrimSpace(g)] = true
	}
	return c, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == writerArg {
		writerMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == floorArg {
		floorMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == nsrootArg {
		nsrootMain(os.Args[2:])
		return
	}
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	os.Exit(run(c, os.Stdout))
}

// run does the whole benchmark and returns the exit status.
func run(c config, w io.Writer) int {
	start := time.Now()
	root, err := os.MkdirTemp("", "upstart-bench-")
	if err != nil {
		infof("%v", err)
		return 1
	}
	root, _ = filepath.EvalSymlinks(root)
	needles := []string{root, benchPrefix, writerTag}
	finalSweep := func() []string {
		var out []string
		for _, p := range findOurs(root, needles) {
			out = append(out, describe(p))
		}
		sweep(root, needles)
		removeConfinedCgroups()
		if !keepDirs {
			os.RemoveAll(root)
		}
		return out
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		infof("%v: killing everything the bench started", s)
		finalSweep()
		os.Exit(130)
	}()

	o := &ours{bin: c.oursBin}
	all := map[string]system{"ours": o, "upstart": upstart{}, "s6": s6{}, "runit": runit{}, "supervisord": supervisord{}, "finit": finit{}, "floor": floor{}, floorCgroupSys: floorCgroup{}}
	var systems []system
	for _, name := range c.systems {
		s, ok := all[strings.TrimSpace(name)]
		if !ok {
			infof("unknown system %q", name)
			return 2
		}
		systems = append(systems, s)
	}
	if o.bin == "" {
		o.bin = filepath.Join(root, "bin")
		o.err = buildOurs(o.bin)
	}
	installPeers(systems, c.noInstall)

	res := newResults()
	declareScenarios(res, c)

	var names, peerNames []string
	var active []system
	skipped := map[string]string{}
	for _, s := range systems {
		names = append(names, s.name())
		if s.name() != "ours" && s.name() != "floor" && s.name() != floorCgroupSys {
			peerNames = append(peerNames, s.name())
		}
		if err := s.check(); err != nil {
			for _, sc := range res.scenarios {
				if !sc.oursOnly || s.name() == "ours" {
					res.setStatus(sc.key, s.name(), "skipped: "+err.Error())
				}
			}
			infof("%s: skipped: %v", s.name(), err)
			skipped[s.name()] = err.Error()
			continue
		}
		active = append(active, s)
	}

	fmt.Fprintf(w, "# goupstart benchmarks against the peers\n\n")
	fmt.Fprintf(w, "%s\n\n", machineLine(c))
	fmt.Fprintf(w, "systems: %s\n\n", systemsLine(systems))

	// failed[system][group] stops retrying a group that failed
	// maxFailures times (or is not implemented): one failure on a shared,
	// noisy machine (a cold start of 1000 services past its deadline) must
	// not drop a peer from the remaining rounds. Every failed run is counted
	// next to the figures of the runs that worked.
	const maxFailures = 2
	failures := map[string]map[string]int{}
	failed := map[string]map[string]bool{}
	fail := func(sys, group string, keys []string, err error) {
		if failed[sys] == nil {
			failed[sys], failures[sys] = map[string]bool{}, map[string]int{}
		}
		failures[sys][group]++
		why := "failed: " + err.Error()
		if isNotImplemented(err) || errors.Is(err, errNotMeasured) {
			why = err.Error()
		}
		if isNotImplemented(err) || errors.Is(err, errNotMeasured) || failures[sys][group] >= maxFailures {
			failed[sys][group] = true
		}
		for _, k := range keys {
			res.setStatus(k, sys, why)
			res.failed(k, sys)
		}
		infof("%s %s: %s", sys, group, why)
	}

	// spent is the wall-clock time of each group, for the timing line.
	spent := map[string]time.Duration{"setup": time.Since(start)}
	tg := time.Now()
	lap := func(group string) {
		if c.groups[group] {
			spent[group] += time.Since(tg)
		}
		tg = time.Now()
	}
	for round := 1; round <= c.runs; round++ {
		infof("round %d of %d (%.0f s so far)", round, c.runs, time.Since(start).Seconds())
		tg = time.Now()
		if c.groups["lifecycle"] {
			for ni, n := range c.ns {
				kills := 0
				if ni == 0 {
					kills = c.kills
				}
				group := "lifecycle/N=" + strconv.Itoa(n)
				keys := lifecycleKeys(n, kills > 0, c.ns[0])
				for _, s := range active {
					if failed[s.name()][group] {
						continue
					}
					r, err := runLifecycle(s, root, n, kills)
					if err != nil {
						fail(s.name(), group, keys, err)
						continue
					}
					nn := "/N=" + strconv.Itoa(n)
					res.add("cold-start"+nn, s.name(), r.coldMs)
					res.add("memory-rss"+nn, s.name(), float64(r.rssKB)/1024)
					res.add("memory-pss"+nn, s.name(), float64(r.pssKB)/1024)
					res.add("stop-all"+nn, s.name(), r.stopMs)
					if kills > 0 {
						res.add(respawnKey(n), s.name(), r.respawnMs)
					}
					infof("  %-11s N=%-5d cold %8.1f ms  stop %8.1f ms  rss %7.1f MiB  pss %7.1f MiB (%d procs)  respawn %s",
						s.name(), n, r.coldMs, r.stopMs, float64(r.rssKB)/1024, float64(r.pssKB)/1024, r.procs, respawnText(r))
				}
			}
		}
		lap("lifecycle")
		if c.groups["logging"] {
			// Ours twice: `console log` (a pty, the default) and `console
			// log pipe`; each peer's run counts for both rows.
			keys := []string{logKey("throughput"), logKey("lost"), logKey("throughput") + pipeSuffix, logKey("lost") + pipeSuffix}
			for _, s := range active {
				if failed[s.name()]["logging"] {
					continue
				}
				// Ours and the floor log both ways (pty and pipe); a
				// peer's one logger counts for both rows.
				both := s.name() == "ours" || s.name() == "floor"
				variants := []bool{false}
				if both {
					variants = []bool{false, true}
				}
				for _, pipe := range variants {
					r, err := runLogging(s, root, int64(c.logMB)*1000*1000, pipe)
					k := keys // a peer's run counts for both rows
					if both && pipe {
						k = keys[2:]
					} else if both {
						k = keys[:2]
					}
					if err != nil {
						fail(s.name(), "logging", k, err)
						continue
					}
					for _, suffix := range []string{"", pipeSuffix} {
						if both && (suffix == pipeSuffix) != pipe {
							continue
						}
						res.add(logKey("throughput")+suffix, s.name(), r.mbps)
						res.add(logKey("lost")+suffix, s.name(), float64(r.lostBytes))
					}
					how := ""
					if pipe {
						how = " (console log pipe)"
					}
					infof("  %-11s logging %6.1f MB/s, %d bytes lost, %d garbled lines%s", s.name(), r.mbps, r.lostBytes, r.garbled, how)
				}
			}
		}
		lap("logging")
		if c.groups["ours"] && o.check() == nil && !failed["ours"]["ours-only"] {
			r := runOursOnly(o, root, c.emits, c.loadJobs)
			put := func(key, errKey string, v float64) {
				if err := r.errs[errKey]; err != nil {
					res.setStatus(key, "ours", "failed: "+err.Error())
					return
				}
				if r.errs["emit"] != nil && strings.HasPrefix(key, "emit") {
					res.setStatus(key, "ours", "failed: "+r.errs["emit"].Error())
					return
				}
				res.add(key, "ours", v)
			}
			put("emit-initctl", "emit-initctl", r.emitInitctl)
			put("emit-dbus", "emit-dbus", r.emitDBus)
			put("emit-dbus-godbus", "emit-dbus-godbus", r.emitGodbus)
			put("emit-dbus/daemon-cpu", "emit-dbus", r.leanCPU.daemon)
			put("emit-dbus-godbus/daemon-cpu", "emit-dbus-godbus", r.godbusCPU.daemon)
			put("emit-dbus-godbus/client-cpu", "emit-dbus-godbus", r.godbusCPU.client)
			put(fmt.Sprintf("load-jobs/%d", c.loadJobs), "load-jobs", r.load1000Ms)
			put("load-jobs/0", "load-jobs-0", r.load0Ms)
			keys := reexecKeys(c.loadJobs)
			if rr, err := runReexec(o, root, c.loadJobs); err != nil {
				for _, k := range keys {
					res.setStatus(k, "ours", "failed: "+err.Error())
				}
			} else {
				res.add(keys[0], "ours", rr.reexecMs)
				res.add(keys[1], "ours", rr.listMs)
				res.add(keys[2], "ours", rr.statusMs)
				for i, v := range []float64{rr.listFileIO, rr.statusFileIO} {
					if rr.recordsErr != nil {
						res.setStatus(keys[3+i], "ours", rr.recordsErr.Error())
					} else {
						res.add(keys[3+i], "ours", v)
					}
				}
				infof("  ours-only: stateful re-exec with %d running jobs %.1f ms; initctl list %.1f ms, status %.1f ms; daemon's file opens+reads per list %g, per status %g %v",
					c.loadJobs, rr.reexecMs, rr.listMs, rr.statusMs, rr.listFileIO, rr.statusFileIO, errText(map[string]error{"records": rr.recordsErr}))
			}
			infof("  ours-only: initctl emit %.0f/s, D-Bus emit %.0f/s (godbus client %.0f/s), load %d jobs %.1f ms (0 jobs %.1f ms) %v",
				r.emitInitctl, r.emitDBus, r.emitGodbus, c.loadJobs, r.load1000Ms, r.load0Ms, errText(r.errs))
			infof("  ours-only: CPU per D-Bus emit: lean client: daemon %.1f µs, client %.1f µs; godbus client: daemon %.1f µs, client %.1f µs",
				r.leanCPU.daemon, r.leanCPU.client, r.godbusCPU.daemon, r.godbusCPU.client)
		}
		lap("ours")
	}

	fmt.Fprintf(w, "## Results (median (min–max) over runs; ratios are ours/peer of the medians)\n\n")
	res.markdown(w, names, peerNames)
	res.refMarkdown(w)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "## Machine-readable\n\n")
	res.machine(w, names, peerNames)
	fmt.Fprintln(w)

	var qres *results
	tg = time.Now()
	if c.groups["qemu"] {
		qres = runQEMU(c, w)
		lap("qemu")
	} else {
		why := "not run (--scenarios / --no-qemu)"
		if c.quick {
			why = "not run (quick mode: no QEMU boots)"
		}
		qemuNotRun(w, why)
	}

	printGoals(w, c, res, qres, peerNames, skipped)

	left := finalSweep()
	status := 0
	if len(left) > 0 {
		fmt.Fprintf(w, "leftover processes at exit: %d (killed): %s\n", len(left), strings.Join(left, "; "))
		status = 1
	} else {
		fmt.Fprintf(w, "leftover processes at exit: 0 (process scan of /proc)\n")
	}
	fmt.Fprintf(w, "total time: %.1f s (%s)\n", time.Since(start).Seconds(), timingText(spent))
	return status
}

// timingText is the time each group took, in a fixed order.
func timingText(spent map[string]time.Duration) string {
	var parts []string
	for _, g := range []string{"setup", "lifecycle", "logging", "ours", "qemu"} {
		if d, ok := spent[g]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f s", g, d.Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

func respawnKey(n int) string { return "respawn/N=" + strconv.Itoa(n) }

// reexecKeys are the scenarios runReexec fills with jobs running jobs:
// the re-exec, `initctl list` and `initctl status` times, and the
// daemon's file I/O per list and per status.
func reexecKeys(jobs int) []string {
	j := strconv.Itoa(jobs)
	return []string{"reexec/" + j, "initctl-list/" + j, "initctl-status/" + j, "initctl-list/" + j + "/file-reads", "initctl-status/" + j + "/file-reads"}
}
func logKey(what string) string { return "logging-" + what }

// pipeSuffix marks the logging rows where ours is `console log pipe`.
const pipeSuffix = "/console-log-pipe"

func lifecycleKeys(n int, respawn bool, firstN int) []string {
	nn := "/N=" + strconv.Itoa(n)
	keys := []string{"cold-start" + nn, "memory-rss" + nn, "memory-pss" + nn, "stop-all" + nn}
	if respawn {
		keys = append(keys, respawnKey(n))
	}
	return keys
}

// declareScenarios fixes the order of the table and makes every scenario
// appear even when nothing ran.
func declareScenarios(res *results, c config) {
	// Goals are issue 14's: ratios of ours to the best peer and to the
	// floor (the reference rows).
	for i, n := range c.ns {
		nn := "/N=" + strconv.Itoa(n)
		res.declare(scenario{key: "cold-start" + nn, base: "cold-start", unit: "ms", lowerBetter: true, goal: 0.7, floorGoal: 1.5})
		if i == 0 {
			res.declare(scenario{key: respawnKey(n), base: "respawn", unit: "ms", lowerBetter: true, goal: 0.5})
		}
		res.declare(scenario{key: "memory-rss" + nn, base: "memory-rss", unit: "MiB", lowerBetter: true})
		res.declare(scenario{key: "memory-pss" + nn, base: "memory-pss", unit: "MiB", lowerBetter: true, goal: 1})
		res.declare(scenario{key: "stop-all" + nn, base: "stop-all", unit: "ms", lowerBetter: true, goal: 0.7})
	}
	// `console log` (a pty) is held to the bare pty read, `console log
	// pipe` to the best peer's logger.
	res.declare(scenario{key: logKey("throughput"), base: "logging", unit: "MB/s", floorGoal: 0.9})
	res.declare(scenario{key: logKey("lost"), base: "logging", unit: "bytes", lowerBetter: true})
	res.declare(scenario{key: logKey("throughput") + pipeSuffix, base: "logging", unit: "MB/s", goal: 1})
	res.declare(scenario{key: logKey("lost") + pipeSuffix, base: "logging", unit: "bytes", lowerBetter: true})
	res.declare(scenario{key: "emit-initctl", base: "emit-initctl", unit: "events/s", oursOnly: true})
	// Issue 14 wants 3× Upstart's rate from the lean client and at least
	// that from godbus (whose own cost per call is most of it).
	res.declare(scenario{key: "emit-dbus", base: "emit-dbus", unit: "events/s", oursOnly: true, refName: "upstart (issue 14)", ref: upstartEmits, refGoal: 3})
	res.declare(scenario{key: "emit-dbus-godbus", base: "emit-dbus", unit: "events/s", oursOnly: true, refName: "upstart (issue 14)", ref: upstartEmits, refGoal: 1})
	res.declare(scenario{key: "emit-dbus/daemon-cpu", base: "emit-dbus", unit: "µs/event", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: "emit-dbus-godbus/daemon-cpu", base: "emit-dbus", unit: "µs/event", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: "emit-dbus-godbus/client-cpu", base: "emit-dbus", unit: "µs/event", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: fmt.Sprintf("load-jobs/%d", c.loadJobs), base: "load-jobs", unit: "ms", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: "load-jobs/0", base: "load-jobs", unit: "ms", lowerBetter: true, oursOnly: true})
	k := reexecKeys(c.loadJobs)
	res.declare(scenario{key: k[0], base: "reexec", unit: "ms", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: k[1], base: "initctl-list", unit: "ms", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: k[2], base: "initctl-status", unit: "ms", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: k[3], base: "initctl-list", unit: "file opens+reads per call", lowerBetter: true, oursOnly: true})
	res.declare(scenario{key: k[4], base: "initctl-status", unit: "file opens+reads per call", lowerBetter: true, oursOnly: true})
	for _, g := range []string{"lifecycle", "logging", "ours"} {
		if c.groups[g] {
			continue
		}
		for _, sc := range res.scenarios {
			if scenarioGroup(sc) == g {
				for _, s := range c.systems {
					res.setStatus(sc.key, s, "not run (--scenarios)")
				}
			}
		}
	}
}

func scenarioGroup(sc *scenario) string {
	switch {
	case sc.oursOnly:
		return "ours"
	case sc.base == "logging":
		return "logging"
	}
	return "lifecycle"
}

func isNotImplemented(err error) bool {
	return err != nil && strings.Contains(err.Error(), errNotImplemented.Error())
}

func respawnText(r lifecycleResult) string {
	if r.kills == 0 {
		return "—"
	}
	lo, hi := minMax(r.respawnAllMs)
	return fmt.Sprintf("median %.2f ms (%.2f–%.2f, %d kills)", r.respawnMs, lo, hi, r.kills)
}

func errText(m map[string]error) string {
	if len(m) == 0 {
		return ""
	}
	var s []string
	for k, v := range m {
		if v != nil {
			s = append(s, k+": "+v.Error())
		}
	}
	if len(s) == 0 {
		return ""
	}
	return "errors: " + strings.Join(s, "; ")
}

// buildOurs builds ./cmd/... of the module into dir the way
// scripts/install.sh does (CGO_ENABLED=0, -trimpath): the binaries that
// are installed are the ones measured (with cgo, os/user and net link libc
// and the daemon costs about 0.3 MiB more PSS).
func buildOurs(dir string) error {
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(mod)) == "" || strings.TrimSpace(string(mod)) == os.DevNull {
		return fmt.Errorf("cannot find the module (run from the repository): %v", err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+"/", "./cmd/...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build failed: %v: %s", err, tail(string(out), 300))
	}
	for _, b := range []string{"init", "initctl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("build produced no %s", b)
		}
	}
	return nil
}

func machineLine(c config) string {
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	mode := "full"
	if c.quick {
		mode = "quick"
	}
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("machine: %d CPUs (%s), kernel %s, %s, uid %d; mode %s: runs %d, N %v, %d kills, %d MB logged, %d emits",
		runtime.NumCPU(), model, strings.TrimSpace(string(rel)), runtime.Version(), os.Geteuid(), mode, c.runs, c.ns, c.kills, c.logMB, c.emits)
}

func systemsLine(systems []system) string {
	var parts []string
	for _, s := range systems {
		desc := s.name()
		if pkg, ok := peerPackages[s.name()]; ok {
			desc += " (Debian " + pkg + " " + packageVersion(pkg) + ")"
		}
		if err := s.check(); err != nil {
			desc += ": skipped: " + err.Error()
		}
		parts = append(parts, desc)
	}
	return strings.Join(parts, "; ")
}
