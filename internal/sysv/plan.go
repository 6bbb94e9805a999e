package sysv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Step is one run of one script: `/etc/init.d/NAME start|stop`.
type Step struct {
	Name        string // file name in /etc/init.d
	Path        string // what is executed
	Action      string // "start" or "stop"
	Seq         int    // the link's sequence number (S20 → 20)
	Header      Header
	Interactive bool
	after       []int // indexes (in the phase) of steps this one waits for
}

// Phase is a set of steps run together, in dependency order; phases run
// one after the other (Debian's rc: all K links, then all S links).
type Phase struct {
	Steps []*Step
	Order string // "lsb" or the insserv file used
}

// After returns the names of the steps a step waits for (for tests and
// the dry run).
func (p *Phase) After(i int) []string {
	var out []string
	for _, j := range p.Steps[i].after {
		out = append(out, p.Steps[j].Name)
	}
	sort.Strings(out)
	return out
}

// Config says what to plan.
type Config struct {
	Root      string // the system's root ("/"; a fake tree in tests)
	Runlevel  string // 0-6 or S
	Prevlevel string // 0-6, S, or N (unknown, e.g. at boot)
	// Order: "lsb" (our own reading of the headers), "insserv" (the
	// .depend files; an error when one is missing or incomplete), or
	// "auto" (the .depend file where it covers every script of the
	// phase, else the headers).
	Order string
	// StopStarted also stops, when going to 0 or 6, the scripts the
	// previous runlevel started that have no K link there (Debian ships
	// none for ssh or cron and leaves them to sendsigs).
	StopStarted bool
}

var linkRE = regexp.MustCompile(`^([SK])([0-9][0-9])(.+)$`)

// ErrUnknownRunlevel is returned for a runlevel that is not 0-6 or S.
var ErrUnknownRunlevel = errors.New("unknown runlevel")

// NormLevel returns the canonical form of a runlevel ("s" → "S") and
// whether it is one.
func NormLevel(l string) (string, bool) {
	if l == "s" {
		l = "S"
	}
	return l, len(l) == 1 && strings.Contains("0123456S", l)
}

type link struct {
	kind byte
	seq  int
	name string
	path string
}

// readLinks lists the S and K links of /etc/rcL.d, sorted as the shell
// glob would (by link name).
func readLinks(root, level string) ([]link, error) {
	dir := filepath.Join(root, "etc", "rc"+level+".d")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("runlevel %s: %w", level, err)
	}
	var out []link
	for _, e := range ents {
		m := linkRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		seq, _ := strconv.Atoi(m[2])
		out = append(out, link{kind: m[1][0], seq: seq, name: m[3], path: filepath.Join(dir, e.Name())})
	}
	return out, nil
}

func linkNames(ls []link, kind byte) map[string]bool {
	m := map[string]bool{}
	for _, l := range ls {
		if l.kind == kind {
			m[l.name] = true
		}
	}
	return m
}

// Plan works out the steps of a runlevel change as Debian's /etc/init.d/rc
// does: the K links of the new level (skipping those the previous level
// had stopped already), then its S links (skipping those the previous
// level had started already; in 0 and 6 S links are run with "stop").
// Each phase is ordered by dependencies. Warnings (bad headers, cycles)
// do not stop the plan; they are returned for the log.
func Plan(cfg Config) ([]Phase, []string, error) {
	level, ok := NormLevel(cfg.Runlevel)
	if !ok {
		return nil, nil, fmt.Errorf("%w %q (want 0-6 or S)", ErrUnknownRunlevel, cfg.Runlevel)
	}
	switch cfg.Order {
	case "", "auto", "lsb", "insserv":
	default:
		return nil, nil, fmt.Errorf("unknown order source %q (want lsb, insserv or auto)", cfg.Order)
	}
	prev, ok := NormLevel(cfg.Prevlevel)
	if !ok {
		prev = "N"
	}
	root := cfg.Root
	if root == "" {
		root = "/"
	}
	initd := filepath.Join(root, "etc", "init.d")
	if _, err := os.Stat(initd); err != nil {
		return nil, nil, fmt.Errorf("init scripts: %w", err)
	}
	links, err := readLinks(root, level)
	if err != nil {
		return nil, nil, err
	}
	var prevLinks []link
	if prev != "N" {
		if prevLinks, err = readLinks(root, prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	prevS, prevK := linkNames(prevLinks, 'S'), linkNames(prevLinks, 'K')
	halting := level == "0" || level == "6"

	var warns []string
	mk := func(l link, action string) *Step {
		p := filepath.Join(initd, l.name)
		if _, err := os.Stat(InRoot(root, p)); err != nil {
			p = l.path // a link whose script is elsewhere
		}
		st, err := os.Stat(InRoot(root, p))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			// Debian's rc skips what it cannot execute (a removed package's
			// dangling link, a disabled script).
			return nil
		}
		s := &Step{Name: l.name, Path: p, Action: action, Seq: l.seq}
		if f, err := os.Open(InRoot(root, p)); err == nil {
			s.Header, err = ParseHeader(f, p)
			f.Close()
			if err != nil {
				warns = append(warns, err.Error())
			}
		}
		s.Interactive = s.Header.Interactive
		return s
	}
	var stops, starts []*Step
	inStop := map[string]bool{}
	for _, l := range links {
		if l.kind != 'K' {
			continue
		}
		if !halting && prev != "N" && prevK[l.name] {
			continue // stopped in the previous runlevel already
		}
		if s := mk(l, "stop"); s != nil {
			stops = append(stops, s)
			inStop[l.name] = true
		}
	}
	sHere := linkNames(links, 'S')
	if halting && cfg.StopStarted {
		for _, l := range prevLinks {
			if l.kind == 'S' && !inStop[l.name] && !sHere[l.name] {
				if s := mk(l, "stop"); s != nil {
					stops = append(stops, s)
					inStop[l.name] = true
				}
			}
		}
	}
	for _, l := range links {
		if l.kind != 'S' {
			continue
		}
		if !halting && prev != "N" && prevS[l.name] && !prevK[l.name] {
			continue // running since the previous runlevel
		}
		action := "start"
		if halting {
			action = "stop"
		}
		if s := mk(l, action); s != nil {
			starts = append(starts, s)
		}
	}

	facs := NewFacilities()
	for _, p := range append([]string{filepath.Join(root, "etc", "insserv.conf")}, globSorted(filepath.Join(root, "etc", "insserv.conf.d", "*"))...) {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if err := facs.Parse(f, p); err != nil {
			warns = append(warns, err.Error())
		}
		f.Close()
	}
	var phases []Phase
	for _, steps := range [][]*Step{stops, starts} {
		if len(steps) == 0 {
			continue
		}
		for _, s := range steps {
			if facs.Interactive(s.Name) {
				s.Interactive = true
			}
		}
		depend := ".depend.start"
		switch {
		case steps[0].Action == "stop":
			depend = ".depend.stop"
		case level == "S":
			depend = ".depend.boot"
		}
		ph := Phase{Steps: steps}
		w, err := order(&ph, cfg.Order, filepath.Join(initd, depend), facs)
		if err != nil {
			return nil, warns, err
		}
		warns = append(warns, w...)
		phases = append(phases, ph)
	}
	return phases, warns, nil
}

// InRoot follows a path's symbolic links inside root: an absolute target
// (Debian's /etc/init.d/rc -> /lib/init/rc) means root's /lib, not the
// caller's, when root is not "/". At most 8 links are followed.
func InRoot(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	for i := 0; i < 8; i++ {
		t, err := os.Readlink(p)
		if err != nil {
			return p
		}
		if filepath.IsAbs(t) {
			p = filepath.Join(root, t)
		} else {
			p = filepath.Join(filepath.Dir(p), t)
		}
	}
	return p
}

func globSorted(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	sort.Strings(m)
	return m
}

// order fills in the steps' dependencies from the chosen source.
func order(ph *Phase, mode, dependPath string, facs *Facilities) ([]string, error) {
	if mode == "" {
		mode = "auto"
	}
	switch mode {
	case "lsb":
	case "insserv", "auto":
		d, err := readDepend(dependPath)
		if err == nil {
			missing := coverage(ph, d)
			if missing == "" {
				ph.Order = dependPath
				orderByDepend(ph, d)
				return breakCycles(ph), nil
			}
			err = fmt.Errorf("%s does not list %s (run insserv)", dependPath, missing)
		}
		if mode == "insserv" {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown order source %q (want lsb, insserv or auto)", mode)
	}
	ph.Order = "lsb"
	orderByHeaders(ph, facs)
	return breakCycles(ph), nil
}

func readDepend(p string) (*DependFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseDepend(f, p)
}

func coverage(ph *Phase, d *DependFile) string {
	known := map[string]bool{}
	for _, t := range d.Targets {
		known[t] = true
	}
	for _, s := range ph.Steps {
		if !known[s.Name] {
			return s.Name
		}
	}
	return ""
}

func orderByDepend(ph *Phase, d *DependFile) {
	idx := map[string]int{}
	for i, s := range ph.Steps {
		idx[s.Name] = i
	}
	for _, n := range d.Interactive {
		if i, ok := idx[n]; ok {
			ph.Steps[i].Interactive = true
		}
	}
	for i, s := range ph.Steps {
		for _, dep := range d.After[s.Name] {
			if j, ok := idx[dep]; ok && j != i {
				s.after = appendUniq(s.after, j)
			}
		}
	}
}

// orderByHeaders turns the LSB headers into "waits for" edges between
// the steps of a phase. Names a step depends on that are not in the phase
// are running already, or absent; neither is waited for.
//
// start: Required-Start and Should-Start come first; X-Start-Before names
// what comes after; $all means after every step not itself on $all.
// stop:  Required-Stop and Should-Stop name what must still run while
// this script stops (they stop after it); X-Stop-After names what stops
// first; $all means before every other step.
// A script without a header keeps its place by link number.
func orderByHeaders(ph *Phase, facs *Facilities) {
	provides := map[string][]int{}
	for i, s := range ph.Steps {
		names := append([]string{s.Name, strings.TrimSuffix(s.Name, ".sh")}, s.Header.Provides...)
		for _, n := range names {
			provides[n] = appendUniq(provides[n], i)
		}
	}
	resolve := func(words []string) (idx []int, all bool) {
		for _, w := range words {
			if w == "$all" {
				all = true
				continue
			}
			for _, n := range facs.Expand(w) {
				for _, j := range provides[n] {
					idx = appendUniq(idx, j)
				}
			}
		}
		return idx, all
	}
	edge := func(from, to int) { // "to" waits for "from"
		if from != to {
			ph.Steps[to].after = appendUniq(ph.Steps[to].after, from)
		}
	}
	allOf := make([]bool, len(ph.Steps))
	for i, s := range ph.Steps {
		h := s.Header
		if !h.Found {
			continue
		}
		if s.Action == "start" {
			before, all := resolve(append(append([]string(nil), h.RequiredStart...), h.ShouldStart...))
			for _, j := range before {
				edge(j, i)
			}
			later, _ := resolve(h.StartBefore)
			for _, j := range later {
				edge(i, j)
			}
			allOf[i] = all
		} else {
			later, all := resolve(append(append([]string(nil), h.RequiredStop...), h.ShouldStop...))
			for _, j := range later {
				edge(i, j)
			}
			before, _ := resolve(h.StopAfter)
			for _, j := range before {
				edge(j, i)
			}
			allOf[i] = all
		}
	}
	for i, s := range ph.Steps {
		if allOf[i] {
			for j := range ph.Steps {
				if allOf[j] {
					continue
				}
				if s.Action == "start" {
					edge(j, i)
				} else {
					edge(i, j)
				}
			}
		}
		if !s.Header.Found {
			for j, o := range ph.Steps {
				switch {
				case o.Seq < s.Seq:
					edge(j, i)
				case o.Seq > s.Seq:
					edge(i, j)
				}
			}
		}
	}
}

// breakCycles makes the graph acyclic: while some steps wait for each
// other in a circle, the one with the lowest link number (then name)
// stops waiting for the others in it, and a warning says so.
func breakCycles(ph *Phase) []string {
	var warns []string
	for {
		cyc := remaining(ph)
		if len(cyc) == 0 {
			return warns
		}
		sort.Slice(cyc, func(a, b int) bool {
			sa, sb := ph.Steps[cyc[a]], ph.Steps[cyc[b]]
			if sa.Seq != sb.Seq {
				return sa.Seq < sb.Seq
			}
			return sa.Name < sb.Name
		})
		// The first (by link number) step that is on a loop itself, not
		// merely waiting behind one, stops waiting for the steps that wait
		// for it.
		var first *Step
		var names []string
		for _, i := range cyc {
			var keep []int
			var loop []string
			for _, j := range ph.Steps[i].after {
				if reaches(ph, j, i) {
					loop = append(loop, ph.Steps[j].Name)
				} else {
					keep = append(keep, j)
				}
			}
			if len(loop) > 0 {
				first, names = ph.Steps[i], loop
				first.after = keep
				break
			}
		}
		if first == nil { // cannot happen: a leftover always includes a loop
			return append(warns, "dependency loop not found")
		}
		warns = append(warns, fmt.Sprintf("dependency loop (%s): %s waits for %s, which wait for it; %s no longer waits for them", first.Action, first.Name, strings.Join(names, ", "), first.Name))
	}
}

// reaches reports whether step from waits (directly or not) for step to.
func reaches(ph *Phase, from, to int) bool {
	seen := map[int]bool{}
	stack := []int{from}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i == to {
			return true
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		stack = append(stack, ph.Steps[i].after...)
	}
	return false
}

// edges returns, per step, how many steps it waits for and which steps
// wait for it.
func (ph *Phase) edges() (waits []int, next [][]int) {
	waits = make([]int, len(ph.Steps))
	next = make([][]int, len(ph.Steps))
	for i, s := range ph.Steps {
		waits[i] = len(s.after)
		for _, j := range s.after {
			next[j] = append(next[j], i)
		}
	}
	return waits, next
}

// remaining runs Kahn's algorithm and returns the steps left over (those
// in or behind a cycle), nil when the graph is acyclic.
func remaining(ph *Phase) []int {
	waits, next := ph.edges()
	var ready []int
	for i := range waits {
		if waits[i] == 0 {
			ready = append(ready, i)
		}
	}
	done := 0
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		done++
		for _, k := range next[i] {
			if waits[k]--; waits[k] == 0 {
				ready = append(ready, k)
			}
		}
	}
	if done == len(ph.Steps) {
		return nil
	}
	var left []int
	for i := range waits {
		if waits[i] > 0 {
			left = append(left, i)
		}
	}
	return left
}

func appendUniq(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
