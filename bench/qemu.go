package main

// The QEMU boot scenarios (group "qemu", full mode only): a Debian 12 tree
// booted by Debian's sysvinit and by ours, and the Chromium OS example
// graph booted by ours. The boots themselves are done by the scripts next
// to the system tests (test/system/debian-bench, chromeos-bench), which
// interleave the systems and print one BOOT line per boot; this file runs
// them, reads those lines and reports the figures like the other groups.
// Times are printed, never asserted.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// qemuScenario is one figure read from a BOOT line's field.
type qemuScenario struct {
	key, field string // scenario key; the BOOT line's field
	script     string // which script's BOOT lines (a qemuRun's name)
	goal       float64
	what       string
}

// qemuRun is one invocation of a script: the wall-clock boots, and the
// same under QEMU's -icount, where the guest's clock counts executed
// instructions (2 ns each) so that a busy host does not move the
// figures (on this shared machine wall-clock boots of the same tree
// ranged from 32 s to 167 s).
type qemuRun struct{ name, script, icount string }

var qemuRuns = []qemuRun{
	{"debian-bench", "debian-bench", ""},
	{"debian-bench/icount", "debian-bench", "1"},
	{"chromeos-bench", "chromeos-bench", ""},
	{"chromeos-bench/icount", "chromeos-bench", "1"},
}

var qemuScenarios = []qemuScenario{
	{"debian-boot", "boot", "debian-bench", 0.5, "exec of /sbin/init → sshd listening"},
	{"debian-shutdown", "shutdown", "debian-bench", 1, "`shutdown -h now` → the kernel's power-down"},
	{"debian-boot/icount", "boot", "debian-bench/icount", 0.5, "the same, guest time under -icount shift=1"},
	{"debian-shutdown/icount", "shutdown", "debian-bench/icount", 1, "the same, guest time under -icount shift=1"},
	{"chromeos-system-services", "services", "chromeos-bench", 0, "exec of /sbin/init → `started system-services`"},
	{"chromeos-settled", "settled", "chromeos-bench", 0, "exec of /sbin/init → a settled `initctl list`"},
	{"chromeos-initctl-list", "list", "chromeos-bench", 0, "one `initctl list` of the settled graph"},
	{"chromeos-system-services/icount", "services", "chromeos-bench/icount", 0, "the same, guest time under -icount shift=1"},
	{"chromeos-settled/icount", "settled", "chromeos-bench/icount", 0, "the same, guest time under -icount shift=1"},
	{"chromeos-initctl-list/icount", "list", "chromeos-bench/icount", 0, "the same, guest time under -icount shift=1"},
}

// qemuSystems are the columns: ours and Debian's own init.
var qemuSystems = []string{"ours", "sysvinit"}

// bootLine is one parsed BOOT line.
type bootLine struct {
	sys    string
	ok     bool
	fields map[string]float64
	raw    string
}

// parseBootLine reads "BOOT system=S run=R k=1.23s … result=poweroff|failed …".
func parseBootLine(l string) (bootLine, bool) {
	if !strings.HasPrefix(l, "BOOT ") {
		return bootLine{}, false
	}
	b := bootLine{fields: map[string]float64{}, raw: l}
	for _, f := range strings.Fields(l[5:]) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "system":
			b.sys = v
		case "result":
			b.ok = v == "poweroff"
		default:
			if x, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64); err == nil {
				b.fields[k] = x
			}
		}
	}
	return b, b.sys != ""
}

// qemuSkip says why the QEMU scenarios (or the Debian ones) cannot run
// here, "" when they can.
func qemuSkip(debian bool) string {
	for _, bin := range []string{"qemu-system-x86_64", "cpio", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed (apt-get install qemu-system-x86 cpio busybox-static)"
		}
	}
	if !debian {
		if _, err := exec.LookPath("busybox"); err != nil {
			return "busybox is not installed (apt-get install busybox-static)"
		}
		return ""
	}
	if os.Geteuid() != 0 {
		return "needs root (mmdebstrap --mode=root builds the Debian tree)"
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "mmdebstrap is not installed (apt-get install mmdebstrap)"
	}
	return ""
}

// repoRoot is the module's directory (the scripts are under it).
func repoRoot() (string, error) {
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	m := strings.TrimSpace(string(mod))
	if err != nil || m == "" || m == os.DevNull {
		return "", fmt.Errorf("cannot find the module (run from the repository): %v", err)
	}
	return filepath.Dir(m), nil
}

// runBootScript runs one of the scripts and feeds its BOOT lines to add.
func runBootScript(dir string, q qemuRun, runs int, add func(bootLine)) error {
	script := q.script
	cmd := exec.Command(filepath.Join(dir, "test/system", script), strconv.Itoa(runs))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ICOUNT="+q.icount)
	cmd.Stderr = os.Stderr // progress and where the console logs are
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := sc.Text()
		if b, ok := parseBootLine(l); ok {
			infof("  %s", l)
			add(b)
		}
	}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return fmt.Errorf("%s cannot run here (exit 3; see its message above)", script)
		}
		return fmt.Errorf("%s: %w", script, err)
	}
	return nil
}

// runQEMU runs the boot scenarios and prints their section.
func runQEMU(c config, w io.Writer) *results {
	res := newResults()
	for _, q := range qemuScenarios {
		res.declare(scenario{key: q.key, base: q.key, unit: "s", lowerBetter: true, goal: q.goal, note: q.what})
	}
	setAll := func(script, why string) {
		for _, q := range qemuScenarios {
			if q.script == script {
				for _, s := range qemuSystems {
					res.setStatus(q.key, s, why)
				}
			}
		}
	}
	dir, err := repoRoot()
	if err != nil {
		for _, q := range qemuRuns {
			setAll(q.name, "skipped: "+err.Error())
		}
	}
	for _, q := range qemuRuns {
		script := q.name
		if err != nil {
			break
		}
		if why := qemuSkip(q.script == "debian-bench"); why != "" {
			infof("qemu %s: skipped: %s", script, why)
			setAll(script, "skipped: "+why)
			continue
		}
		infof("qemu: %s, %d boots per system (minutes each under TCG)", script, c.runs)
		if q.script == "chromeos-bench" {
			for _, sc := range qemuScenarios {
				if sc.script == script {
					res.setStatus(sc.key, "sysvinit", "n/a (our graph)")
				}
			}
		}
		e := runBootScript(dir, q, c.runs, func(b bootLine) {
			for _, q := range qemuScenarios {
				if q.script != script {
					continue
				}
				if !b.ok {
					res.failed(q.key, b.sys)
					res.setStatus(q.key, b.sys, "failed: "+b.raw)
					continue
				}
				if v, ok := b.fields[q.field]; ok {
					res.add(q.key, b.sys, v)
				}
			}
		})
		if e != nil {
			infof("qemu %s: %v", script, e)
			setAll(script, "failed: "+e.Error())
		}
	}
	printQEMU(w, res)
	return res
}

// printQEMU prints the section: a table with the ratio to sysvinit and
// the goal, then BENCH and RATIO lines.
func printQEMU(w io.Writer, res *results) {
	fmt.Fprintf(w, "## QEMU boots (TCG, 1 vCPU; median (min–max) in seconds; ratios ours/sysvinit of the medians; /icount: guest time under -icount shift=1, not moved by the host's load)\n\n")
	fmt.Fprintf(w, "| scenario | measures | ours | sysvinit | ours/sysvinit | goal | met |\n|---|---|---|---|---|---|---|\n")
	for _, sc := range res.scenarios {
		r := res.ratio(sc.key, "sysvinit")
		met := "—"
		if sc.goal != 0 && !math.IsNaN(r) {
			met = yesNo(r <= sc.goal)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", sc.key, sc.note, mdEscape(res.cell(sc.key, "ours")),
			mdEscape(res.cell(sc.key, "sysvinit")), fmtNum(r), goalText(sc.goal, true), met)
	}
	fmt.Fprintln(w)
	res.machine(w, qemuSystems, []string{"sysvinit"})
	fmt.Fprintln(w)
}

// qemuNotRun prints the section when the group is not run, so that every
// scenario name still appears.
func qemuNotRun(w io.Writer, why string) {
	res := newResults()
	for _, q := range qemuScenarios {
		res.declare(scenario{key: q.key, base: q.key, unit: "s", lowerBetter: true, goal: q.goal, note: q.what})
		for _, s := range qemuSystems {
			res.setStatus(q.key, s, why)
		}
	}
	printQEMU(w, res)
}
