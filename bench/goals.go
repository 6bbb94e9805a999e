package main

// The goal table: every row of issue 14's goal table, in one place at the
// end of a run, each with ours's figure, what it is compared with, the
// ratio, the goal and whether it is met. A row whose figure was not
// measured in this run says why (quick mode, --scenarios, a system that
// cannot run here) instead of disappearing.

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// against says what ours is held to in a goal row.
type against int

const (
	vsPeer  against = iota // one named peer (finit for memory)
	vsBest                 // the best peer that ran, in the same run
	vsFloor                // the floor (the reference rows)
	vsRef                  // a figure issue 14 quotes (Upstart's: it cannot run here)
	vsBound                // an absolute bound in the scenario's unit
	vsNone                 // reported; issue 14 sets no figure
)

// goalRow is one row of the goal table.
type goalRow struct {
	label       string
	key         string // scenario key in the results
	qemu        bool   // the key is in the QEMU section's results
	kind        against
	peer        string  // vsPeer: the peer's name
	refName     string  // vsRef: where the figure comes from
	ref         float64 // vsRef: the figure
	bound       float64 // the goal: a ratio, or (vsBound) a figure in unit
	lowerBetter bool
	// lostKey, when set, is a scenario whose every run of ours must be 0
	// for the row to be met (bytes lost by the logger).
	lostKey string
	// zero: the goal is that every run of ours measured 0 (file reads per
	// call); no ratio.
	zero bool
}

// goalRows are issue 14's goal rows for this configuration.
func goalRows(c config) []goalRow {
	var rows []goalRow
	nn := func(n int) string { return "/N=" + strconv.Itoa(n) }
	want := []int{100, 1000}
	for _, n := range want {
		rows = append(rows, goalRow{label: fmt.Sprintf("supervisor PSS, N=%d", n), key: "memory-pss" + nn(n),
			kind: vsPeer, peer: "finit", bound: 1, lowerBetter: true})
	}
	for _, n := range want {
		rows = append(rows,
			goalRow{label: fmt.Sprintf("cold start, N=%d", n), key: "cold-start" + nn(n), kind: vsBest, bound: 0.7, lowerBetter: true},
			goalRow{label: fmt.Sprintf("cold start, N=%d", n), key: "cold-start" + nn(n), kind: vsFloor, bound: 1.5, lowerBetter: true})
	}
	respawnN := 100
	if len(c.ns) > 0 {
		respawnN = c.ns[0]
	}
	rows = append(rows, goalRow{label: fmt.Sprintf("respawn after SIGKILL (N=%d)", respawnN), key: respawnKey(respawnN),
		kind: vsBest, bound: 0.5, lowerBetter: true})
	for _, n := range want {
		rows = append(rows, goalRow{label: fmt.Sprintf("stop-all, N=%d", n), key: "stop-all" + nn(n), kind: vsBest, bound: 0.7, lowerBetter: true})
	}
	j := c.loadJobs
	rows = append(rows,
		goalRow{label: fmt.Sprintf("`initctl list`, %d running jobs", j), key: fmt.Sprintf("initctl-list/%d", j), kind: vsBound, bound: 20, lowerBetter: true},
		goalRow{label: fmt.Sprintf("`initctl list` from records: daemon's file opens+reads per call (%d jobs)", j),
			key: fmt.Sprintf("initctl-list/%d/file-reads", j), kind: vsBound, zero: true, lowerBetter: true},
		goalRow{label: fmt.Sprintf("`initctl status` from records: daemon's file opens+reads per call (%d jobs)", j),
			key: fmt.Sprintf("initctl-status/%d/file-reads", j), kind: vsBound, zero: true, lowerBetter: true},
		goalRow{label: fmt.Sprintf("stateful re-exec, %d running jobs", j), key: fmt.Sprintf("reexec/%d", j), kind: vsBound, bound: 20, lowerBetter: true},
		goalRow{label: "log throughput, `console log` (pty)", key: logKey("throughput"), kind: vsFloor, bound: 0.9},
		goalRow{label: "log throughput, `console log pipe`, 0 bytes lost", key: logKey("throughput") + pipeSuffix, kind: vsBest, bound: 1,
			lostKey: logKey("lost") + pipeSuffix},
		goalRow{label: "D-Bus emit (wait) on one connection, lean client", key: "emit-dbus", kind: vsRef, refName: "Upstart 1.13 (issue 14)", ref: upstartEmits, bound: 3},
		goalRow{label: "D-Bus emit (wait) on one connection, godbus client", key: "emit-dbus-godbus", kind: vsRef, refName: "Upstart 1.13 (issue 14)", ref: upstartEmits, bound: 1},
		goalRow{label: "Chromium OS graph under QEMU: exec of init → `started system-services` (wall)", key: "chromeos-system-services", qemu: true, kind: vsNone, lowerBetter: true},
		goalRow{label: "the same, guest time (-icount)", key: "chromeos-system-services/icount", qemu: true, kind: vsNone, lowerBetter: true},
		goalRow{label: "Chromium OS graph under QEMU: exec of init → settled list (wall)", key: "chromeos-settled", qemu: true, kind: vsNone, lowerBetter: true},
		goalRow{label: "the same, guest time (-icount)", key: "chromeos-settled/icount", qemu: true, kind: vsNone, lowerBetter: true},
	)
	return rows
}

// upstartEmits is Upstart 1.13's EmitEvent(wait=true) rate on one
// connection as issue 14 gives it (it cannot run here).
const upstartEmits = 11330

// goalOutcome is one evaluated row.
type goalOutcome struct {
	row        goalRow
	ours       string  // figure cell
	with       string  // what it is compared with
	theirs     string  // their figure
	ratio      float64 // NaN when none
	goal       string
	met        string // "yes", "**no**", "—" (no goal), "not measured"
	metMachine string // yes, no, none, not-measured
}

// evalGoal evaluates row against the results (res: lifecycle, logging and
// ours-only; qres: the QEMU section's, nil when it did not run), with
// peers the names of the peers that can be compared (not ours, not the
// floors).
func evalGoal(row goalRow, res, qres *results, peers []string, notRun string) goalOutcome {
	out := goalOutcome{row: row, ratio: math.NaN(), with: "—", theirs: "—", goal: "—", met: "—", metMachine: "none"}
	r := res
	if row.qemu {
		r = qres
	}
	sc := (*scenario)(nil)
	if r != nil {
		sc = r.byKey[row.key]
	}
	unit := ""
	if sc != nil {
		unit = sc.unit
	}
	withUnit := func(s string) string {
		if unit == "" || s == "—" {
			return s
		}
		return s + " " + unit
	}
	var oursV []float64
	if sc != nil {
		oursV = r.values[row.key]["ours"]
	}
	switch row.kind {
	case vsBound:
		if row.zero {
			out.goal = "0 per call"
			out.with = "none (a count)"
		} else {
			out.goal = goalText(row.bound, row.lowerBetter) + " " + unit
			out.with = "the bound"
			out.theirs = withUnit(fmtNum(row.bound))
		}
	case vsNone:
		out.goal = "none set (reported)"
	case vsRef:
		out.goal = goalText(row.bound, row.lowerBetter) + "×"
		out.theirs = withUnit(fmtNum(row.ref))
	default:
		out.goal = goalText(row.bound, row.lowerBetter) + "×"
	}
	if len(oursV) == 0 {
		why := notRun
		if sc != nil {
			if st, ok := r.status[row.key]["ours"]; ok {
				why = st
			}
		}
		if why == "" {
			why = "no result"
		}
		out.ours = why
		out.met, out.metMachine = "not measured", "not-measured"
		if row.kind == vsNone {
			out.met, out.metMachine = "—", "none"
		}
		out.with = describeAgainst(row)
		return out
	}
	lo, hi := minMax(oursV)
	m := median(oursV)
	out.ours = fmt.Sprintf("%s (%s–%s)", withUnit(fmtNum(m)), fmtNum(lo), fmtNum(hi))
	if row.lostKey != "" {
		lost := r.values[row.lostKey]["ours"]
		_, maxLost := minMax(lost)
		if len(lost) == 0 {
			out.ours += "; bytes lost: not measured"
		} else {
			out.ours += fmt.Sprintf("; bytes lost: %s max", fmtNum(maxLost))
		}
	}
	if f := r.fails[row.key]["ours"]; f > 0 {
		out.ours += fmt.Sprintf(" [%d of %d runs failed]", f, f+len(oursV))
	}
	other, otherName, otherWhy := math.NaN(), "", ""
	switch row.kind {
	case vsPeer:
		otherName = row.peer
		if v := r.values[row.key][row.peer]; len(v) > 0 {
			other = median(v)
		} else {
			otherWhy = statusOr(r, row.key, row.peer, "not in this run's systems")
		}
	case vsBest:
		if b, ok := r.best(row.key, peers); ok {
			otherName, other = b, median(r.values[row.key][b])
			otherName = "best peer: " + b
		} else {
			otherName, otherWhy = "best peer", "no peer measured"
		}
	case vsFloor:
		otherName = floorSys
		if v := r.values[row.key][floorSys]; len(v) > 0 {
			other = median(v)
		} else {
			otherWhy = statusOr(r, row.key, floorSys, "not in this run's systems")
		}
	case vsRef:
		otherName, other = row.refName, row.ref
	case vsBound:
		if row.zero {
			out.met, out.metMachine = metOf(hi == 0)
			return out
		}
		other = row.bound
	case vsNone:
		return out
	}
	if row.kind != vsBound {
		out.with = otherName
	}
	if math.IsNaN(other) {
		out.theirs = otherWhy
		out.met, out.metMachine = "not measured", "not-measured"
		return out
	}
	out.theirs = withUnit(fmtNum(other))
	if other != 0 {
		out.ratio = m / other
	}
	ok := false
	switch {
	case math.IsNaN(out.ratio):
		out.met, out.metMachine = "not measured", "not-measured"
		return out
	case row.kind == vsBound && row.lowerBetter:
		ok = m <= row.bound
	case row.kind == vsBound:
		ok = m >= row.bound
	case row.lowerBetter:
		ok = out.ratio <= row.bound
	default:
		ok = out.ratio >= row.bound
	}
	if row.lostKey != "" {
		lost := r.values[row.lostKey]["ours"]
		_, maxLost := minMax(lost)
		ok = ok && len(lost) > 0 && maxLost == 0
	}
	out.met, out.metMachine = metOf(ok)
	return out
}

func metOf(ok bool) (string, string) {
	if ok {
		return "yes", "yes"
	}
	return "**no**", "no"
}

func statusOr(r *results, key, sys, def string) string {
	if st, ok := r.status[key][sys]; ok {
		return sys + ": " + st
	}
	return sys + ": " + def
}

// describeAgainst names what a row not measured would have been compared
// with.
func describeAgainst(row goalRow) string {
	switch row.kind {
	case vsPeer:
		return row.peer
	case vsBest:
		return "best peer"
	case vsFloor:
		return floorSys
	case vsRef:
		return row.refName
	case vsBound:
		if row.zero {
			return "none (a count)"
		}
		return "the bound"
	}
	return "—"
}

// printGoals prints the goal table and a GOAL line per row. skipped maps
// the systems that could not run to why; notRun says why a row of a group
// that did not run has no figure.
func printGoals(w io.Writer, c config, res, qres *results, peers []string, skipped map[string]string) (met, missed, unmeasured int) {
	fmt.Fprintf(w, "## Goals of issue 14 (this run; ratios are ours/theirs of the medians)\n\n")
	fmt.Fprintf(w, "| # | goal row | ours: median (min–max) | compared with | their figure | ratio | goal | met |\n|---|---|---|---|---|---|---|---|\n")
	var outs []goalOutcome
	for i, row := range goalRows(c) {
		o := evalGoal(row, res, qres, peers, goalNotRun(c, row))
		outs = append(outs, o)
		ratio := fmtNum(o.ratio)
		if !math.IsNaN(o.ratio) && row.kind != vsBound {
			ratio += "×"
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", i+1, mdEscape(row.label), mdEscape(o.ours), mdEscape(o.with),
			mdEscape(o.theirs), ratio, o.goal, o.met)
		switch o.metMachine {
		case "yes":
			met++
		case "no":
			missed++
		case "not-measured":
			unmeasured++
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "goals met: %d, missed: %d, not measured in this run: %d\n\n", met, missed, unmeasured)
	if len(skipped) > 0 {
		var names []string
		for n := range skipped {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "Systems that did not run (their slot stays in every table):\n\n")
		for _, n := range names {
			fmt.Fprintf(w, "- %s: %s\n", n, skipped[n])
		}
		fmt.Fprintln(w)
	}
	for i, o := range outs {
		fmt.Fprintf(w, "GOAL row=%d scenario=%s against=%q ratio=%g met=%s\n", i+1, o.row.key, strings.TrimPrefix(o.with, "best peer: "),
			round4(o.ratio), o.metMachine)
	}
	fmt.Fprintln(w)
	return
}

// goalNotRun says why a row's group did not run in this configuration, ""
// when it did.
func goalNotRun(c config, row goalRow) string {
	if row.qemu {
		if !c.groups["qemu"] {
			if c.quick {
				return "not run (quick mode: no QEMU boots)"
			}
			return "not run (--scenarios / --no-qemu)"
		}
		return ""
	}
	for _, n := range []int{100, 1000} {
		if strings.HasSuffix(row.key, "/N="+strconv.Itoa(n)) && !containsInt(c.ns, n) {
			if c.quick {
				return fmt.Sprintf("not run (quick mode: N=%v only)", c.ns)
			}
			return fmt.Sprintf("not run (-n %v)", c.ns)
		}
	}
	return ""
}

func containsInt(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
