package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// GroupName names a process group found by Adopt.
type GroupName struct {
	Job, Instance, Process string
	// Shortened is set when a name was too long to be kept whole in the
	// tree (see Escape) and so cannot be recovered: the names are then
	// the directory names, as Escape gives them (only the shortened ones
	// differ from the real names). Empty and Lookup use them too until
	// the daemon calls Group with the real names, which returns the
	// adopted group and names it.
	Shortened bool
}

// testAdoptHook, when set, runs for each adopted group under m.mu: stage
// 0 before its watch is added, stage 1 after (tests of the races).
var testAdoptHook func(stage int, g *Group)

// Adopt takes over a tree left by this daemon's previous image (a
// re-exec): every existing process group (JOB/INSTANCE/PROCESS under the
// root) is registered as if Group had made it, without changing its
// limits, and watched for emptiness; one that is already empty is
// reported on the Empty channel at once (the engine decides whether to
// remove it, as for any Empty). It returns the groups found as (job,
// instance, process) names, unescaped.
//
// Call it right after New, before Group. Directories below a PROCESS
// group (made by its processes) belong to that group. JOB and INSTANCE
// directories without any group below them, and v1 directories whose v2
// group is gone, are removed, as Remove would have. Groups already known
// to the Manager keep their state, so a second Adopt changes nothing.
// The limits of an adopted instance are written again (same values) by
// the next Group for it, as the Manager does not know what was applied.
// An error lists the groups that could not be adopted; the others are
// returned and watched all the same.
func (m *Manager) Adopt() ([]GroupName, error) {
	m.mu.Lock()
	// The previous image may have made v1 directories: releases look there.
	m.v1Used = len(m.v1root) > 0
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("cgroup: adopt: manager closed")
	}
	jobs, err := subdirs(m.root)
	if err != nil {
		return nil, fmt.Errorf("cgroup: adopt %s: %w", m.root, err)
	}
	var found []GroupName
	var errs []error
	for _, ej := range jobs {
		jdir := filepath.Join(m.root, ej)
		insts, err := subdirs(jdir)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: adopt %s: %w", jdir, err))
			continue
		}
		left := len(insts)
		for _, ei := range insts {
			idir := filepath.Join(jdir, ei)
			procs, err := processDirs(idir, "", 0)
			if err != nil {
				errs = append(errs, fmt.Errorf("cgroup: adopt %s: %w", idir, err))
				continue
			}
			if len(procs) == 0 {
				pruneNamed(idir)
				// Left by a Group that failed half-way: Remove of
				// its last group would have taken it.
				if unix.Rmdir(idir) == nil {
					left--
				}
				continue
			}
			for _, sp := range procs {
				rel := ej + "/" + ei + "/" + sp
				ep := sp[strings.LastIndexByte(sp, '/')+1:]
				name, ok := groupName(ej, ei, ep)
				if !ok {
					m.logf("cgroup: adopt: %s is not a group of ours; left alone", rel)
					continue
				}
				adopted, err := m.adoptLocked(rel, name)
				if err != nil {
					errs = append(errs, err)
				} else if adopted {
					found = append(found, name)
				}
			}
		}
		if left == 0 {
			unix.Rmdir(jdir)
		}
	}
	m.pruneV1Locked()
	return found, errors.Join(errs...)
}

// adoptLocked registers and watches one existing group; false when it
// vanished meanwhile.
func (m *Manager) adoptLocked(rel string, n GroupName) (bool, error) {
	if m.groups[rel] != nil {
		// Made by Group or adopted before: it is armed as its
		// owner wants.
		return true, nil
	}
	g := &Group{m: m, job: n.Job, instance: n.Instance, process: n.Process, rel: rel,
		path: filepath.Join(m.root, rel), wd: -1, shortened: n.Shortened}
	if foreign(g.path) {
		m.logf("cgroup: adopt: %s holds processes of another PID namespace; left alone", rel)
		return false, nil
	}
	d, err := os.OpenFile(g.path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("cgroup: adopt %s: %w", rel, unwrap(err))
	}
	if testAdoptHook != nil {
		testAdoptHook(0, g)
	}
	wd, err := unix.InotifyAddWatch(int(m.ino.Fd()), filepath.Join(g.path, "cgroup.events"), unix.IN_MODIFY)
	if err != nil {
		d.Close()
		if err == unix.ENOENT {
			return false, nil
		}
		return false, fmt.Errorf("cgroup: adopt: watching %s: %w", g.path, err)
	}
	g.dir, g.wd = d, wd
	m.wds[wd] = g
	m.putLocked(rel, g)
	// The v1 PROCESS directories that exist are those of the
	// controllers the job's stanzas used: the next process joins them,
	// as after the Group that made them.
	seen := map[string]bool{}
	for _, c := range m.feat.V1Controllers {
		dir := filepath.Join(m.v1root[c], rel)
		if !seen[dir] && dirExists(dir) {
			seen[dir] = true
			g.v1 = append(g.v1, dir)
			g.noteV1(dir)
		}
	}
	if testAdoptHook != nil {
		testAdoptHook(1, g)
	}
	// The watch is in place before the first look: emptying after the
	// look is an inotify event, before it the look sees it; armed, set
	// and cleared under m.mu, makes that one Empty either way.
	g.armed = true
	m.checkLocked(g)
	return true, nil
}

// pruneV1Locked removes the v1 directories whose v2 counterpart is gone
// (Remove takes both together); populated ones stay (rmdir fails).
func (m *Manager) pruneV1Locked() {
	seen := map[string]bool{}
	for _, c := range m.feat.V1Controllers {
		root := m.v1root[c]
		if seen[root] {
			continue
		}
		seen[root] = true
		var walk func(rel string, depth int)
		walk = func(rel string, depth int) {
			names, err := subdirs(filepath.Join(root, rel))
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					m.logf("cgroup: adopt: %v", err)
				}
				return
			}
			for _, n := range names {
				r := filepath.Join(rel, n)
				if !dirExists(filepath.Join(m.root, r)) {
					if strings.HasPrefix(n, "@") {
						// A v1 named group has a NAME of its own,
						// not the v2 group's: ReleaseInstance
						// removes it with its instance.
						continue
					}
					if err := rmdirTree(filepath.Join(root, r)); err != nil {
						m.logf("cgroup: adopt: leftover v1 group: %v", err)
					}
				} else if depth < 3 {
					walk(r, depth+1)
				}
			}
		}
		walk("", 1)
	}
}

// groupName unescapes the directory names of a process group; ok is
// false for what Escape cannot have made.
func groupName(ej, ei, ep string) (n GroupName, ok bool) {
	comps := [3]string{ej, ei, ep}
	var names [3]string
	for i, s := range comps {
		if names[i], ok = Unescape(s); ok {
			continue
		}
		if !isShortened(s) {
			return GroupName{}, false
		}
		names[i], n.Shortened = s, true
	}
	n.Job, n.Instance, n.Process = names[0], names[1], names[2]
	// Group refuses an empty process name.
	return n, n.Process != ""
}

// isShortened says whether s has the form Escape gives a long name:
// escaped text, '~' and 32 lower-case hex digits.
func isShortened(s string) bool {
	pre, sum, ok := strings.Cut(s, "~")
	if !ok || len(sum) != 32 || len(s) > MaxComponent {
		return false
	}
	for i := 0; i < len(sum); i++ {
		if c := sum[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	for i := 0; i < len(pre); i++ {
		if c := pre[i]; !keep(c) && c != '%' {
			return false
		}
	}
	return true
}

// processDirs lists the process groups below an INSTANCE directory,
// relative to it: PROCESS, or @NAME.../PROCESS in a named group (see
// Limits). A named group without any process group below it is removed.
func processDirs(dir, rel string, depth int) ([]string, error) {
	names, err := subdirs(filepath.Join(dir, rel))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		r := n
		if rel != "" {
			r = rel + "/" + n
		}
		if !strings.HasPrefix(n, "@") {
			out = append(out, r)
			continue
		}
		if depth >= MaxNameDepth {
			continue // not made by us
		}
		sub, err := processDirs(dir, r, depth+1)
		if err != nil {
			return nil, err
		}
		if len(sub) == 0 {
			pruneNamed(filepath.Join(dir, r))
			unix.Rmdir(filepath.Join(dir, r))
		}
		out = append(out, sub...)
	}
	return out, nil
}

// subdirs lists the directories in dir, sorted.
func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, unwrap(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// dirExists says whether p exists.
func dirExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
