package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mount is one cgroup filesystem mount from /proc/self/mountinfo.
type mount struct {
	root  string   // the path inside the hierarchy mounted there
	point string   // where it is mounted
	v2    bool     // cgroup2
	ctrls []string // v1: the controllers bound to it
}

// layout is what detection found: the cgroup2 mount and the daemon's own
// cgroup in it, and every v1 hierarchy with the daemon's cgroup in it.
type layout struct {
	v2Mount string // mount point of the cgroup2 hierarchy
	v2Base  string // absolute directory of the daemon's own cgroup v2
	// v1Base maps a v1 controller to the absolute directory of the
	// daemon's own cgroup in the hierarchy it is bound to.
	v1Base map[string]string
}

// unescapeMountinfo undoes the octal escapes (\040 for space, ...) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseMountinfo returns the cgroup and cgroup2 mounts, in order.
func parseMountinfo(data string, known map[string]bool) []mount {
	var ms []mount
	for _, line := range strings.Split(data, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := mount{root: unescapeMountinfo(f[3]), point: unescapeMountinfo(f[4])}
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if known[o] {
					m.ctrls = append(m.ctrls, o)
				}
			}
			if len(m.ctrls) == 0 {
				continue // named hierarchy (name=systemd): no controller
			}
		default:
			continue
		}
		ms = append(ms, m)
	}
	return ms
}

// parseProcCgroup maps each v1 controller (and "" for cgroup v2) to the
// path of the process's cgroup in its hierarchy.
func parseProcCgroup(data string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			out[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != "" && !strings.HasPrefix(c, "name=") {
				out[c] = f[2]
			}
		}
	}
	return out
}

// knownControllers reads /proc/cgroups.
func knownControllers() map[string]bool {
	known := map[string]bool{}
	f, err := os.Open("/proc/cgroups")
	if err != nil {
		return known
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 1 && !strings.HasPrefix(fs[0], "#") {
			known[fs[0]] = true
		}
	}
	return known
}

// inMount turns a path inside a hierarchy into a directory under its mount
// point; ok is false when the mount does not show that path.
func inMount(m mount, p string) (string, bool) {
	rel := p
	if m.root != "/" {
		if p != m.root && !strings.HasPrefix(p, m.root+"/") {
			return "", false
		}
		rel = strings.TrimPrefix(p, m.root)
	}
	return filepath.Join(m.point, rel), true
}

// detect finds the cgroup v2 hierarchy (a cgroup2 mount at /sys/fs/cgroup,
// else at /sys/fs/cgroup/unified, else the first one mounted) and the v1
// hierarchies, from the kernel's tables.
func detect(mountinfo, selfCgroup string, known map[string]bool) (*layout, error) {
	ms := parseMountinfo(mountinfo, known)
	self := parseProcCgroup(selfCgroup)
	l := &layout{v1Base: map[string]string{}}

	var v2 *mount
	for _, pref := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", ""} {
		for i := range ms {
			if ms[i].v2 && (pref == "" || ms[i].point == pref) {
				v2 = &ms[i]
				break
			}
		}
		if v2 != nil {
			break
		}
	}
	if v2 == nil {
		return nil, errors.New("no cgroup2 filesystem is mounted")
	}
	p, ok := self[""]
	if !ok {
		return nil, errors.New("the daemon's cgroup v2 is not in /proc/self/cgroup")
	}
	base, ok := inMount(*v2, p)
	if !ok {
		return nil, fmt.Errorf("the daemon's cgroup %s is outside the cgroup2 mount at %s (root %s)", p, v2.point, v2.root)
	}
	l.v2Mount, l.v2Base = v2.point, base

	for _, m := range ms {
		if m.v2 {
			continue
		}
		for _, c := range m.ctrls {
			if _, dup := l.v1Base[c]; dup {
				continue
			}
			if p, ok := self[c]; ok {
				if dir, ok := inMount(m, p); ok {
					l.v1Base[c] = dir
				}
			}
		}
	}
	return l, nil
}
