package main

// Collecting figures and printing them: a markdown table for people and
// `BENCH …` / `RATIO …` lines for programs.

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// scenario describes one figure.
type scenario struct {
	key         string // e.g. "cold-start/N=100"
	base        string // e.g. "cold-start" (what CI greps for)
	unit        string
	lowerBetter bool
	goal        float64 // wanted ratio ours/best peer (0: no goal)
	floorGoal   float64 // wanted ratio ours/floor (0: no goal)
	oursOnly    bool
	note        string
	// A figure measured elsewhere that ours is held to (Upstart's, which
	// cannot run here): its name, value and the wanted ratio ours/ref.
	refName      string
	ref, refGoal float64
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return
}

// results collects values and statuses per scenario and system.
type results struct {
	scenarios []*scenario
	byKey     map[string]*scenario
	values    map[string]map[string][]float64 // scenario key → system → values
	status    map[string]map[string]string    // scenario key → system → why no value
	fails     map[string]map[string]int       // scenario key → system → failed runs
}

func newResults() *results {
	return &results{byKey: map[string]*scenario{}, values: map[string]map[string][]float64{},
		status: map[string]map[string]string{}, fails: map[string]map[string]int{}}
}

// failed counts one failed run of sys in the scenario key.
func (r *results) failed(key, sys string) {
	if r.fails[key] == nil {
		r.fails[key] = map[string]int{}
	}
	r.fails[key][sys]++
}

func (r *results) declare(s scenario) {
	if _, ok := r.byKey[s.key]; ok {
		return
	}
	sc := s
	r.scenarios = append(r.scenarios, &sc)
	r.byKey[s.key] = &sc
	r.values[s.key] = map[string][]float64{}
	r.status[s.key] = map[string]string{}
}

func (r *results) add(key, sys string, v float64) {
	r.values[key][sys] = append(r.values[key][sys], v)
}

// setStatus records why sys has no (or fewer) values; the first reason stays.
func (r *results) setStatus(key, sys, why string) {
	if _, ok := r.status[key][sys]; !ok {
		r.status[key][sys] = why
	}
}

func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case x == 0:
		return "0"
	case math.Abs(x) >= 1000:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.1f", x)
	case math.Abs(x) >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

// cell is "median (min–max)" or the status.
func (r *results) cell(key, sys string) string {
	v := r.values[key][sys]
	if len(v) == 0 {
		if st, ok := r.status[key][sys]; ok {
			return st
		}
		return "—"
	}
	lo, hi := minMax(v)
	c := fmt.Sprintf("%s (%s–%s)", fmtNum(median(v)), fmtNum(lo), fmtNum(hi))
	if f := r.fails[key][sys]; f > 0 {
		c += fmt.Sprintf(" [%d of %d runs failed]", f, f+len(v))
	}
	return c
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "…"
	}
	return s
}

// floorSys is the name of the reference rows' system.
const floorSys = "floor"

// ratio is median(ours)/median(peer), NaN when either is missing.
func (r *results) ratio(key, peer string) float64 {
	o, p := r.values[key]["ours"], r.values[key][peer]
	if len(o) == 0 || len(p) == 0 {
		return math.NaN()
	}
	mp := median(p)
	if mp == 0 {
		return math.NaN()
	}
	return median(o) / mp
}

// best is the best peer for key.
func (r *results) best(key string, peers []string) (string, bool) {
	sc := r.byKey[key]
	bestSys, bestV, ok := "", 0.0, false
	for _, p := range peers {
		v := r.values[key][p]
		if len(v) == 0 {
			continue
		}
		m := median(v)
		if !ok || (sc.lowerBetter && m < bestV) || (!sc.lowerBetter && m > bestV) {
			bestSys, bestV, ok = p, m, true
		}
	}
	return bestSys, ok
}

// markdown prints the results table and the ratio table.
func (r *results) markdown(w io.Writer, systems, peers []string) {
	fmt.Fprintf(w, "| scenario | unit | better | %s |\n", strings.Join(systems, " | "))
	fmt.Fprintf(w, "|---|---|---|%s\n", strings.Repeat("---|", len(systems)))
	for _, sc := range r.scenarios {
		better := "higher"
		if sc.lowerBetter {
			better = "lower"
		}
		cells := make([]string, len(systems))
		for i, s := range systems {
			if sc.oursOnly && s != "ours" {
				cells[i] = "n/a"
				continue
			}
			cells[i] = mdEscape(r.cell(sc.key, s))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", sc.key, sc.unit, better, strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| scenario | %s | best peer | goal (ours/best) | ours/floor | goal (ours/floor) | met |\n", strings.Join(prefixAll("ours/", peers), " | "))
	fmt.Fprintf(w, "|---|%s---|---|---|---|---|\n", strings.Repeat("---|", len(peers)))
	for _, sc := range r.scenarios {
		if sc.oursOnly {
			continue
		}
		cells := make([]string, len(peers))
		for i, p := range peers {
			cells[i] = fmtNum(r.ratio(sc.key, p))
		}
		bestName := "—"
		var checks []goalCheck
		if b, ok := r.best(sc.key, peers); ok {
			bestName = b
			checks = append(checks, goalCheck{sc.goal, r.ratio(sc.key, b)})
		} else {
			checks = append(checks, goalCheck{sc.goal, math.NaN()})
		}
		rf := r.ratio(sc.key, floorSys)
		checks = append(checks, goalCheck{sc.floorGoal, rf})
		met := "—"
		for _, c := range checks {
			if c.goal == 0 {
				continue
			}
			if math.IsNaN(c.ratio) {
				met = "—"
				break
			}
			ok := c.ratio <= c.goal
			if !sc.lowerBetter {
				ok = c.ratio >= c.goal
			}
			if met == "—" || met == "yes" {
				met = yesNo(ok)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", sc.key, strings.Join(cells, " | "), bestName,
			goalText(sc.goal, sc.lowerBetter), fmtNum(rf), goalText(sc.floorGoal, sc.lowerBetter), met)
	}
}

// refMarkdown prints ours against the reference figures (goals of issue
// 14 set against Upstart's own measured rates).
func (r *results) refMarkdown(w io.Writer) {
	var rows []*scenario
	for _, sc := range r.scenarios {
		if sc.ref > 0 {
			rows = append(rows, sc)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| scenario | ours | reference (not run here) | ours/reference | goal | met |\n|---|---|---|---|---|---|\n")
	for _, sc := range rows {
		x := r.refRatio(sc)
		met := "—"
		if !math.IsNaN(x) && sc.refGoal > 0 {
			met = yesNo(x >= sc.refGoal)
			if sc.lowerBetter {
				met = yesNo(x <= sc.refGoal)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s %s | %s | %s | %s |\n", sc.key, fmtNum(median(r.values[sc.key]["ours"])),
			sc.refName, fmtNum(sc.ref), fmtNum(x), goalText(sc.refGoal, sc.lowerBetter), met)
	}
}

func (r *results) refRatio(sc *scenario) float64 {
	v := r.values[sc.key]["ours"]
	if len(v) == 0 || sc.ref == 0 {
		return math.NaN()
	}
	return median(v) / sc.ref
}

type goalCheck struct{ goal, ratio float64 }

func goalText(goal float64, lowerBetter bool) string {
	switch {
	case goal == 0:
		return "—"
	case lowerBetter:
		return "≤ " + fmtNum(goal)
	default:
		return "≥ " + fmtNum(goal)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func prefixAll(p string, s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = p + x
	}
	return out
}

// machine prints one BENCH line per scenario and system, and RATIO lines.
func (r *results) machine(w io.Writer, systems, peers []string) {
	for _, sc := range r.scenarios {
		for _, s := range systems {
			if sc.oursOnly && s != "ours" {
				continue
			}
			v := r.values[sc.key][s]
			if len(v) == 0 {
				st := r.status[sc.key][s]
				if st == "" {
					st = "no result"
				}
				fmt.Fprintf(w, "BENCH scenario=%s system=%s unit=%s status=%q\n", sc.key, s, sc.unit, st)
				continue
			}
			lo, hi := minMax(v)
			failed := ""
			if f := r.fails[sc.key][s]; f > 0 {
				failed = fmt.Sprintf(" failed=%d status=%q", f, r.status[sc.key][s])
			}
			fmt.Fprintf(w, "BENCH scenario=%s system=%s unit=%s median=%g min=%g max=%g runs=%d%s\n",
				sc.key, s, sc.unit, round4(median(v)), round4(lo), round4(hi), len(v), failed)
		}
		if x := r.refRatio(sc); !math.IsNaN(x) {
			fmt.Fprintf(w, "RATIO scenario=%s ours/%s=%g\n", sc.key, strings.ReplaceAll(sc.refName, " ", "-"), round4(x))
		}
		if sc.oursOnly {
			continue
		}
		for _, p := range append(peers, floorSys) {
			if x := r.ratio(sc.key, p); !math.IsNaN(x) {
				fmt.Fprintf(w, "RATIO scenario=%s ours/%s=%g\n", sc.key, p, round4(x))
			}
		}
	}
}

func round4(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	p := math.Pow(10, 4-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}
