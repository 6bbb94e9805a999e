package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
)

// The `cgroup` stanza
//
// Upstart 1.13 wrote `cgroup CONTROLLER [NAME] [KEY VALUE]` through
// cgmanager into cgroup v1 files. Here every stanza applies to the
// instance's own cgroup (upstart/JOB/INSTANCE, shared by all its process
// types, as Upstart's upstart/JOB-INSTANCE was). KEY may be written with
// or without the controller's prefix ("limit_in_bytes" is
// "memory.limit_in_bytes").
//
// NAME is the group the processes join and the settings apply to. Empty,
// "$UPSTART_CGROUP" or "${UPSTART_CGROUP}" (the default) is the
// instance's own group. Any other NAME is expanded with the process's
// environment (plus UPSTART_CGROUP, which stands for the instance's group
// and may only begin the name) and names a group below the instance's:
// each '/'-separated component becomes a directory "@" + Escape(component)
// (the '@', which Escape never writes, tells a named group from a PROCESS
// directory), and the processes live in PROCESS directories below the
// last one:
//
//	upstart/JOB/INSTANCE/@db/@pgsql/PROCESS   for NAME "db/pgsql"
//
// So a named group is always the instance's own: two instances with the
// same literal NAME get a group each (Upstart's cgmanager shared one
// group at the hierarchy's root; see docs/decisions.md). Empty components
// and a leading '/' are dropped; "." and ".." are refused; at most
// MaxNameDepth components. cgroup v2 is one hierarchy, where a process is
// in one group: every stanza of a controller in v2 must name the same
// group (a stanza without NAME names the instance's); a controller only
// mounted as v1 has its own hierarchy, so its NAME is its own.
//
// Where the controller is available in cgroup v2, it is enabled in
// cgroup.subtree_control of each ancestor down to JOB and the setting is
// mapped:
//
//	memory.limit_in_bytes          memory.max ("-1" → "max"; K/M/G/T/P/E suffixes)
//	memory.memsw.limit_in_bytes    memory.swap.max = memsw − limit_in_bytes (v1 counts
//	                               memory plus swap, v2 swap alone; needs limit_in_bytes)
//	memory.soft_limit_in_bytes     refused: no v2 equivalent (use memory.high or memory.low)
//	pids.max                       pids.max ("-1" → "max")
//	cpu.shares                     cpu.weight = shares·100/1024 (1..10000)
//	cpu.cfs_quota_us/_period_us    cpu.max "QUOTA PERIOD" (quota −1 → max; period 100000)
//	cpu.rt_*                       refused (realtime groups do not exist in v2)
//	cpuset.cpus, cpuset.mems       the same files
//	blkio.weight                   io.weight = weight·100/500 (1..10000)
//	blkio.weight_device            io.weight "MAJ:MIN W" the same way
//	blkio.throttle.read_bps_device io.max "MAJ:MIN rbps=N" (write_bps → wbps,
//	                               read_iops → riops, write_iops → wiops)
//	hugetlb.SIZE.limit_in_bytes    hugetlb.SIZE.max
//	cpuacct, freezer, perf_event   accepted without a key (v2 always accounts cpu,
//	                               freezes with cgroup.freeze); any key refused
//	net_cls, net_prio, devices     refused (no v2 controller; use v1 if mounted)
//
// The v2 files themselves (memory.max, memory.high, memory.low,
// memory.min, memory.swap.max, cpu.weight, cpu.max, io.max, pids.max, ...)
// are accepted as they are.
//
// Where the controller is mounted only as cgroup v1 (a hybrid system),
// upstart/JOB/INSTANCE/PROCESS is made in that hierarchy, the setting is
// written to INSTANCE there, and each process joins PROCESS itself before
// its program runs (Group.V1Procs, supervise.Request.CgroupProcs). v1 keys
// are written as they are (the file must exist); the v2 spellings are
// mapped back (memory.max → memory.limit_in_bytes, memory.swap.max →
// memory.memsw.limit_in_bytes = max + swap, cpu.weight → cpu.shares,
// cpu.max → cpu.cfs_quota_us and cpu.cfs_period_us, io.weight →
// blkio.weight), other v2-only settings (memory.high, ...) are refused.
//
// A controller in neither hierarchy is refused. Every refusal is an error
// that quotes the stanza; nothing is silently ignored.

// Limits is what a job's `cgroup` stanzas come to on this system.
type Limits struct {
	v2Ctrls []string             // to enable down to the settings' group
	v2      []setting            // written to INSTANCE (or the named group) in v2
	v2Sub   []string             // the named group's directories below INSTANCE in v2
	v1Ctrls []string             // v1 controllers the processes join
	v1      map[string][]setting // by v1 controller, written to INSTANCE (or its named group) there
	v1Sub   map[string][]string  // by v1 controller, the named group's directories
	desc    []string             // for String
}

// MaxNameDepth bounds the components of a named group (NAME "a/b/c" has
// three): each is a directory level, and a deeper name has no use here.
const MaxNameDepth = 8

// nameMark stands for $UPSTART_CGROUP while a NAME is expanded: it cannot
// be in an environment value (NUL), so it is found again after expansion.
const nameMark = "\x00UPSTART_CGROUP\x00"

// namedPath expands a stanza's NAME and returns the directories of the
// named group below INSTANCE; nil for the instance's own group.
func namedPath(name string, env []string) ([]string, error) {
	if name == "" {
		return nil, nil
	}
	full := environ.Set(slices.Clone(env), "UPSTART_CGROUP="+nameMark)
	s, err := environ.Expand(name, full)
	if err != nil {
		return nil, err
	}
	s, _ = strings.CutPrefix(s, nameMark)
	if strings.Contains(s, "\x00") {
		return nil, errors.New("$UPSTART_CGROUP can only begin the name")
	}
	var out []string
	for _, c := range strings.Split(s, "/") {
		switch c {
		case "":
			continue
		case ".", "..":
			return nil, fmt.Errorf("bad group name %q (%q component)", s, c)
		}
		d := "@" + Escape(c)
		if len(d) > MaxComponent {
			return nil, fmt.Errorf("group name component too long (%d bytes)", len(c))
		}
		out = append(out, d)
	}
	if len(out) > MaxNameDepth {
		return nil, fmt.Errorf("group name %q has %d components, at most %d", s, len(out), MaxNameDepth)
	}
	return out, nil
}

// where names the group the settings go to, for String.
func where(sub []string) string {
	if len(sub) == 0 {
		return "upstart/JOB/INSTANCE"
	}
	return "upstart/JOB/INSTANCE/" + strings.Join(sub, "/")
}

type setting struct {
	file, value string
	stanza      string // for errors
}

// String describes the plan, one file per line.
func (l *Limits) String() string { return strings.Join(l.desc, "\n") }

func (l *Limits) fingerprint() string {
	var b strings.Builder
	b.WriteString(strings.Join(l.v2Ctrls, ","))
	fmt.Fprintf(&b, "|%q", l.v2Sub)
	for _, s := range l.v2 {
		fmt.Fprintf(&b, "|%s=%s", s.file, s.value)
	}
	for _, c := range l.v1Ctrls {
		fmt.Fprintf(&b, "|%s:%q", c, l.v1Sub[c])
		for _, s := range l.v1[c] {
			fmt.Fprintf(&b, "|%s=%s", s.file, s.value)
		}
	}
	return b.String()
}

func (l *Limits) v1Controllers() []string {
	if l == nil {
		return nil
	}
	return l.v1Ctrls
}

func stanzaText(c conf.Cgroup) string {
	s := "cgroup " + c.Controller
	if c.Name != "" {
		s += " " + c.Name
	}
	if c.Key != "" {
		s += " " + c.Key + " " + c.Value
	}
	return s
}

// v2Name is the cgroup v2 controller of a v1 controller name.
var v2Name = map[string]string{"blkio": "io"}

// v1Name is the reverse.
var v1Name = map[string]string{"io": "blkio"}

// implicit controllers need nothing in v2.
var implicit = map[string]string{
	"cpuacct":    "cpu usage is always accounted in cpu.stat",
	"freezer":    "every cgroup v2 has cgroup.freeze",
	"perf_event": "perf_event is implicitly enabled in cgroup v2",
}

// Limits works out what the stanzas mean on this system, or why they
// cannot be honoured, with NAMEs that name no variable but
// $UPSTART_CGROUP (LimitsEnv expands them with an environment). The
// daemon may call it when a job is loaded to report errors early.
func (m *Manager) Limits(cgs []conf.Cgroup) (*Limits, error) {
	return m.LimitsEnv(cgs, nil)
}

// LimitsEnv is Limits with the NAMEs expanded with env (the process's
// environment). GroupEnv calls it.
func (m *Manager) LimitsEnv(cgs []conf.Cgroup, env []string) (*Limits, error) {
	l := &Limits{v1: map[string][]setting{}, v1Sub: map[string][]string{}}
	// The group each hierarchy's stanzas named, and the first stanza
	// that named it (for the error when another names a different one).
	type named struct {
		sub    []string
		stanza string
	}
	groups := map[string]*named{} // by hierarchy: "" for v2, else the v1 controller
	useName := func(hier string, sub []string, st string) error {
		if n := groups[hier]; n == nil {
			groups[hier] = &named{sub, st}
		} else if !slices.Equal(n.sub, sub) {
			what := "cgroup v2 is one hierarchy, where a process is in one group"
			if hier != "" {
				what = "a process is in one group of the " + hier + " hierarchy"
			}
			return fmt.Errorf("%s: names %s but %s names %s: %s", st, where(sub), n.stanza, where(n.sub), what)
		}
		return nil
	}
	type kv struct {
		key, value, stanza string
	}
	byCtrl := map[string][]kv{} // keyed by the hierarchy's controller name
	var order []string
	hier := map[string]bool{} // true: v2
	for _, c := range cgs {
		st := stanzaText(c)
		sub, err := namedPath(c.Name, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", st, err)
		}
		ctrl := c.Controller
		if !validName(ctrl) {
			return nil, fmt.Errorf("%s: bad controller name", st)
		}
		var name string
		v2 := false
		if n2 := v2Name[ctrl]; n2 != "" && m.v2ctrls[n2] || m.v2ctrls[ctrl] {
			v2, name = true, ctrl
			if n2 := v2Name[ctrl]; n2 != "" {
				name = n2
			}
		} else if why, ok := implicit[ctrl]; ok && m.v1root[ctrl] == "" {
			if c.Key != "" {
				return nil, fmt.Errorf("%s: no such setting in cgroup v2 (%s)", st, why)
			}
			if sub != nil {
				// Nothing to set, but the processes join the group.
				if err := useName("", sub, st); err != nil {
					return nil, err
				}
				l.desc = append(l.desc, fmt.Sprintf("%s: processes join v2 %s/PROCESS (%s)", st, where(sub), why))
				continue
			}
			l.desc = append(l.desc, fmt.Sprintf("%s: nothing to do (%s)", st, why))
			continue
		} else if m.v1root[ctrl] != "" {
			name = ctrl
		} else if n1 := v1Name[ctrl]; n1 != "" && m.v1root[n1] != "" {
			name = n1
		} else {
			return nil, fmt.Errorf("%s: controller %s is available neither in cgroup v2 nor as a cgroup v1 hierarchy", st, ctrl)
		}
		if _, ok := hier[name]; !ok {
			hier[name] = v2
			order = append(order, name)
		}
		h := name
		if v2 {
			h = ""
		}
		if err := useName(h, sub, st); err != nil {
			return nil, err
		}
		if c.Key == "" {
			continue
		}
		key := c.Key
		if first, _, _ := strings.Cut(key, "."); first != ctrl && first != name {
			if allControllers[first] && strings.Contains(key, ".") {
				return nil, fmt.Errorf("%s: %s is not a setting of %s", st, key, ctrl)
			}
			key = ctrl + "." + key
		}
		if !validKey(key) {
			return nil, fmt.Errorf("%s: bad key %q", st, c.Key)
		}
		byCtrl[name] = append(byCtrl[name], kv{key, c.Value, st})
	}
	for _, name := range order {
		v2 := hier[name]
		kvs := byCtrl[name]
		get := func(keys ...string) (string, bool) {
			for _, k := range keys {
				for _, e := range kvs {
					if e.key == k {
						return e.value, true
					}
				}
			}
			return "", false
		}
		var out []setting
		add := func(st, file, value string) {
			out = append(out, setting{file, value, st})
		}
		cpuMax := map[string]bool{} // cpu.cfs_* already folded into cpu.max
		for _, e := range kvs {
			k, v, st := e.key, e.value, e.stanza
			if v2 {
				switch {
				case k == "memory.limit_in_bytes":
					b, err := memValue(v)
					if err != nil {
						return nil, fmt.Errorf("%s: %v", st, err)
					}
					add(st, "memory.max", b)
				case k == "memory.memsw.limit_in_bytes":
					lim, ok := get("memory.limit_in_bytes", "memory.max")
					if !ok {
						return nil, fmt.Errorf("%s: cgroup v2 limits swap alone (memory.swap.max), not memory plus swap: give memory.limit_in_bytes too, or memory.swap.max", st)
					}
					sw, err := swapFromMemsw(lim, v)
					if err != nil {
						return nil, fmt.Errorf("%s: %v", st, err)
					}
					add(st, "memory.swap.max", sw)
				case k == "memory.soft_limit_in_bytes":
					return nil, fmt.Errorf("%s: cgroup v2 has no soft limit (set memory.high to throttle or memory.low to protect instead)", st)
				case k == "pids.max":
					if v == "-1" {
						v = "max"
					}
					add(st, k, v)
				case k == "cpu.shares":
					n, err := strconv.ParseUint(v, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("%s: bad number %q", st, v)
					}
					add(st, "cpu.weight", strconv.FormatUint(sharesToWeight(n), 10))
				case k == "cpu.cfs_quota_us" || k == "cpu.cfs_period_us":
					if cpuMax["x"] {
						continue
					}
					cpuMax["x"] = true
					q, _ := get("cpu.cfs_quota_us")
					p, _ := get("cpu.cfs_period_us")
					val, err := cfsToMax(q, p)
					if err != nil {
						return nil, fmt.Errorf("%s: %v", st, err)
					}
					add(st, "cpu.max", val)
				case strings.HasPrefix(k, "cpu.rt_"):
					return nil, fmt.Errorf("%s: cgroup v2 has no realtime groups", st)
				case k == "blkio.weight":
					n, err := strconv.ParseUint(v, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("%s: bad number %q", st, v)
					}
					add(st, "io.weight", strconv.FormatUint(blkioToIO(n), 10))
				case k == "blkio.weight_device":
					dev, w, ok := strings.Cut(strings.TrimSpace(v), " ")
					n, err := strconv.ParseUint(strings.TrimSpace(w), 10, 64)
					if !ok || err != nil {
						return nil, fmt.Errorf("%s: expected \"MAJ:MIN WEIGHT\"", st)
					}
					add(st, "io.weight", dev+" "+strconv.FormatUint(blkioToIO(n), 10))
				case strings.HasPrefix(k, "blkio.throttle."):
					io, ok := throttleKey[strings.TrimPrefix(k, "blkio.throttle.")]
					dev, n, ok2 := strings.Cut(strings.TrimSpace(v), " ")
					if !ok || !ok2 {
						return nil, fmt.Errorf("%s: not mapped to cgroup v2 (expected a throttle.{read,write}_{bps,iops}_device with \"MAJ:MIN N\")", st)
					}
					add(st, "io.max", dev+" "+io+"="+strings.TrimSpace(n))
				case strings.HasPrefix(k, "hugetlb.") && strings.HasSuffix(k, ".limit_in_bytes"):
					b, err := memValue(v)
					if err != nil {
						return nil, fmt.Errorf("%s: %v", st, err)
					}
					add(st, strings.TrimSuffix(k, ".limit_in_bytes")+".max", b)
				case v2Pass(k):
					add(st, k, v)
				default:
					return nil, fmt.Errorf("%s: %s has no cgroup v2 equivalent", st, k)
				}
				continue
			}
			// cgroup v1
			switch k {
			case "memory.max":
				b, err := memValue(v)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", st, err)
				}
				if b == "max" {
					b = "-1"
				}
				add(st, "memory.limit_in_bytes", b)
			case "memory.swap.max":
				lim, ok := get("memory.max", "memory.limit_in_bytes")
				if !ok {
					return nil, fmt.Errorf("%s: cgroup v1 limits memory plus swap: give memory.max too", st)
				}
				ms, err := memswFromSwap(lim, v)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", st, err)
				}
				add(st, "memory.memsw.limit_in_bytes", ms)
			case "memory.high", "memory.low", "memory.min", "memory.swap.high", "memory.oom.group", "cpu.weight.nice", "cpu.idle", "io.max", "io.latency":
				return nil, fmt.Errorf("%s: %s is cgroup v2 only, and %s is mounted as cgroup v1 here", st, k, name)
			case "cpu.weight":
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil || n < 1 || n > 10000 {
					return nil, fmt.Errorf("%s: weight must be 1..10000", st)
				}
				add(st, "cpu.shares", strconv.FormatUint(weightToShares(n), 10))
			case "cpu.max":
				f := strings.Fields(v)
				if len(f) < 1 || len(f) > 2 {
					return nil, fmt.Errorf("%s: expected \"QUOTA [PERIOD]\"", st)
				}
				if len(f) == 2 {
					add(st, "cpu.cfs_period_us", f[1])
				}
				q := f[0]
				if q == "max" {
					q = "-1"
				}
				add(st, "cpu.cfs_quota_us", q)
			case "io.weight":
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: bad number %q", st, v)
				}
				w := n * 500 / 100
				w = max(10, min(w, 1000))
				add(st, "blkio.weight", strconv.FormatUint(w, 10))
			default:
				if !strings.HasPrefix(k, name+".") {
					return nil, fmt.Errorf("%s: %s is not a setting of %s", st, k, name)
				}
				add(st, k, v)
			}
		}
		if v2 {
			sub := groups[""].sub
			l.v2Ctrls = append(l.v2Ctrls, name)
			l.v2 = append(l.v2, out...)
			for _, s := range out {
				l.desc = append(l.desc, fmt.Sprintf("%s: v2 %s/%s = %s", s.stanza, where(sub), s.file, s.value))
			}
			if len(out) == 0 {
				l.desc = append(l.desc, fmt.Sprintf("cgroup %s: v2 controller %s enabled for %s", name, name, where(sub)))
			}
		} else {
			sub := groups[name].sub
			l.v1Ctrls = append(l.v1Ctrls, name)
			l.v1[name] = out
			l.v1Sub[name] = sub
			for _, s := range out {
				l.desc = append(l.desc, fmt.Sprintf("%s: v1 %s %s/%s = %s", s.stanza, name, where(sub), s.file, s.value))
			}
			if len(out) == 0 {
				l.desc = append(l.desc, fmt.Sprintf("cgroup %s: processes join %s/PROCESS of the v1 %s hierarchy", name, where(sub), name))
			}
		}
	}
	if n := groups[""]; n != nil {
		l.v2Sub = n.sub
	}
	slices.Sort(l.v2Ctrls)
	slices.Sort(l.v1Ctrls)
	return l, nil
}

var throttleKey = map[string]string{
	"read_bps_device":   "rbps",
	"write_bps_device":  "wbps",
	"read_iops_device":  "riops",
	"write_iops_device": "wiops",
}

// allControllers are the names of cgroup controllers, v1 and v2.
var allControllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true,
	"freezer": true, "net_cls": true, "blkio": true, "perf_event": true,
	"net_prio": true, "hugetlb": true, "pids": true, "rdma": true, "misc": true, "io": true,
}

// v2Pass are cgroup v2 files accepted as they are.
func v2Pass(k string) bool {
	switch k {
	case "memory.max", "memory.high", "memory.low", "memory.min", "memory.swap.max",
		"memory.swap.high", "memory.zswap.max", "memory.oom.group",
		"pids.max", "cpu.weight", "cpu.weight.nice", "cpu.max", "cpu.max.burst", "cpu.idle",
		"cpu.uclamp.min", "cpu.uclamp.max",
		"cpuset.cpus", "cpuset.mems", "cpuset.cpus.exclusive", "cpuset.cpus.partition",
		"io.weight", "io.max", "io.latency", "io.bfq.weight",
		"rdma.max", "misc.max":
		return true
	}
	return strings.HasPrefix(k, "hugetlb.") && (strings.HasSuffix(k, ".max") || strings.HasSuffix(k, ".rsvd.max"))
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validKey(s string) bool {
	if s == "" || strings.Contains(s, "..") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// parseBytes reads a v1 memory value: a number with an optional K, M, G,
// T, P or E suffix (powers of 1024), or -1 / "max" for no limit.
func parseBytes(s string) (n uint64, unlimited bool, err error) {
	s = strings.TrimSpace(s)
	if s == "-1" || s == "max" {
		return 0, true, nil
	}
	mult := uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		case 'p', 'P':
			mult = 1 << 50
		case 'e', 'E':
			mult = 1 << 60
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("bad size %q", s)
	}
	if v > math.MaxUint64/mult {
		return 0, false, fmt.Errorf("size %q too large", s)
	}
	return v * mult, false, nil
}

func memValue(s string) (string, error) {
	n, unl, err := parseBytes(s)
	if err != nil {
		return "", err
	}
	if unl {
		return "max", nil
	}
	return strconv.FormatUint(n, 10), nil
}

func swapFromMemsw(limit, memsw string) (string, error) {
	l, lu, err := parseBytes(limit)
	if err != nil {
		return "", err
	}
	ms, mu, err := parseBytes(memsw)
	if err != nil {
		return "", err
	}
	switch {
	case mu:
		return "max", nil
	case lu:
		return "", errors.New("a finite memory+swap limit needs a finite memory limit")
	case ms < l:
		return "", errors.New("memory+swap limit below the memory limit")
	}
	return strconv.FormatUint(ms-l, 10), nil
}

func memswFromSwap(limit, swap string) (string, error) {
	l, lu, err := parseBytes(limit)
	if err != nil {
		return "", err
	}
	s, su, err := parseBytes(swap)
	if err != nil {
		return "", err
	}
	if lu || su {
		return "-1", nil
	}
	return strconv.FormatUint(l+s, 10), nil
}

// sharesToWeight maps cpu.shares (2..262144, default 1024) onto cpu.weight
// (1..10000, default 100) in proportion, as systemd does, so that the
// default stays the default and ratios between jobs are kept (within the
// narrower range of cpu.weight).
func sharesToWeight(s uint64) uint64 {
	s = min(s, 262144)
	return max(1, min(s*100/1024, 10000))
}

func weightToShares(w uint64) uint64 {
	w = min(w, 10000)
	return max(2, min(w*1024/100, 262144))
}

// blkioToIO maps blkio.weight (10..1000, default 500) onto io.weight
// (1..10000, default 100).
func blkioToIO(w uint64) uint64 {
	return max(1, min(w*100/500, 10000))
}

func cfsToMax(quota, period string) (string, error) {
	if period == "" {
		period = "100000"
	}
	p, err := strconv.ParseUint(period, 10, 64)
	if err != nil || p == 0 {
		return "", fmt.Errorf("bad period %q", period)
	}
	if quota == "" || quota == "-1" {
		return "max " + strconv.FormatUint(p, 10), nil
	}
	q, err := strconv.ParseUint(quota, 10, 64)
	if err != nil || q == 0 {
		return "", fmt.Errorf("bad quota %q", quota)
	}
	return strconv.FormatUint(q, 10) + " " + strconv.FormatUint(p, 10), nil
}

// apply writes the plan for instance JOB/INSTANCE (escaped); m.mu held.
func (m *Manager) apply(l *Limits, ej, ei string) error {
	if len(l.v2Ctrls) > 0 {
		// Enabled in every ancestor of the group the settings go to.
		dirs := []string{m.lay.v2Base, m.root, filepath.Join(m.root, ej)}
		p := filepath.Join(m.root, ej, ei)
		for _, d := range l.v2Sub {
			dirs = append(dirs, p)
			p = filepath.Join(p, d)
		}
		for _, c := range l.v2Ctrls {
			for _, d := range dirs {
				if err := enable(d, c); err != nil {
					if d == m.lay.v2Base && errno(err) == unix.EBUSY {
						return fmt.Errorf("cgroup: cannot enable the %s controller below %s: that cgroup has processes (the daemon's own); run the daemon in a leaf cgroup of a delegated subtree", c, d)
					}
					return fmt.Errorf("cgroup: enabling the %s controller in %s: %w", c, d, err)
				}
			}
		}
		if err := writeAll(p, l.v2); err != nil {
			return err
		}
	}
	for _, c := range l.v1Ctrls {
		dir, err := m.v1dirs(c, append([]string{ej, ei}, l.v1Sub[c]...)...)
		if err != nil {
			return err
		}
		if err := writeAll(dir, l.v1[c]); err != nil {
			return err
		}
	}
	return nil
}

func enable(dir, c string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return unwrap(err)
	}
	if slices.Contains(strings.Fields(string(b)), c) {
		return nil
	}
	return writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c)
}

// writeAll writes settings in order; one refused with EINVAL is tried
// again after the others (v1 memory wants limit_in_bytes ≤
// memsw.limit_in_bytes after each write, so their order depends on the
// current values).
func writeAll(dir string, ss []setting) error {
	var retry []setting
	for _, s := range ss {
		if err := writeSetting(dir, s); err != nil {
			if errno(err) == unix.EINVAL {
				retry = append(retry, s)
				continue
			}
			return err
		}
	}
	for _, s := range retry {
		if err := writeSetting(dir, s); err != nil {
			return err
		}
	}
	return nil
}

func writeSetting(dir string, s setting) error {
	p := filepath.Join(dir, s.file)
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%s: no such setting %s in %s", s.stanza, s.file, dir)
	}
	if err := writeFile(p, s.value); err != nil {
		return fmt.Errorf("%s: writing %q to %s: %w", s.stanza, s.value, p, err)
	}
	return nil
}
