package cgroup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Group is one cgroup of our tree: the processes of one process type of an
// instance (from Manager.Group), or all processes of an instance or a job
// (from Manager.Instance, Manager.Job).
type Group struct {
	m                      *Manager
	job, instance, process string
	rel                    string // escaped, relative to the tree's root
	path                   string // absolute v2 directory

	// Guarded by m.mu.
	dir   *os.File
	wd    int // inotify watch on cgroup.events, -1 if none
	armed bool
	v1    []string        // v1 PROCESS directories the next process joins
	v1All map[string]bool // every v1 directory made for this group (nil until one is)
	// shortened: adopted with a name Escape shortened; Group renames it.
	shortened bool
	// released: its instance went (ReleaseLater) and the releaser has
	// not removed it yet (a Group for the instance does it first).
	released bool
	// empty: read empty (cgroup.events) since the last Watch, the
	// spawn of a process into it; InstanceProcs need not read it.
	empty bool
}

// noteV1 remembers a v1 directory made for g (under m.mu). The set is
// made on first use: most systems have no v1 hierarchy.
func (g *Group) noteV1(dir string) {
	if g.v1All == nil {
		g.v1All = map[string]bool{}
	}
	g.v1All[dir] = true
}

// Job, Instance and Process are the names the group was made for; Process
// is "" for an instance group, Instance and Process for a job group. (They
// are read under the lock: Group names an adopted group whose names were
// shortened, see GroupName.)
func (g *Group) Job() string      { j, _, _ := g.names(); return j }
func (g *Group) Instance() string { _, i, _ := g.names(); return i }
func (g *Group) Process() string  { _, _, p := g.names(); return p }

func (g *Group) names() (job, instance, process string) {
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	return g.job, g.instance, g.process
}

// Dir is the v2 directory the daemon hands to supervise.Request.CgroupDir
// so that the process is created in the group. It stays open until
// Remove or Manager.Close; nil for instance and job groups.
func (g *Group) Dir() *os.File {
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	return g.dir
}

// FD is Dir's descriptor, -1 when there is none.
func (g *Group) FD() int {
	if d := g.Dir(); d != nil {
		return int(d.Fd())
	}
	return -1
}

// Path is the absolute directory of the group in the cgroup v2 hierarchy.
func (g *Group) Path() string { return g.path }

// CgroupPath is the group as /proc/PID/cgroup shows it ("0::" line),
// for status output.
func (g *Group) CgroupPath() string {
	return strings.TrimSuffix(g.m.selfPath, "/") + "/" + g.m.name + "/" + g.rel
}

// V1Procs are the cgroup.procs files of the cgroup v1 hierarchies the
// process must join itself (supervise.Request.CgroupProcs): those of
// controllers the job's `cgroup` stanzas use that are only mounted as v1.
// Usually none.
func (g *Group) V1Procs() []string {
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	out := make([]string, len(g.v1))
	for i, d := range g.v1 {
		out[i] = filepath.Join(d, "cgroup.procs")
	}
	return out
}

// Pids lists every process in the group and the groups below it. A group
// that does not exist has none. Processes this daemon cannot see (of
// another PID namespace, which cgroup.procs lists as 0) are left out: they
// are not ours (see Foreign).
func (g *Group) Pids() ([]int, error) {
	var pids []int
	err := walkProcs(g.path, func(pid int) {
		if pid > 0 {
			pids = append(pids, pid)
		}
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return pids, err
}

// Foreign says whether the group (or a group below it) holds a process
// this daemon cannot see: one of another PID namespace, so of another
// daemon sharing the cgroup hierarchy, or put there from outside. Such a
// group is never killed whole (cgroup.kill, freezing), adopted or reused.
func (g *Group) Foreign() bool { return foreign(g.path) }

func foreign(dir string) bool {
	found := false
	walkProcs(dir, func(pid int) {
		if pid <= 0 {
			found = true
		}
	})
	return found
}

// InstanceProcs returns the processes in an instance's process groups, by
// the process type (group) each is in: one read of cgroup.procs per group
// the Manager knows, rather than a walk of the tree (this runs for every
// status and every line of `initctl list`). Processes a job moved into
// cgroups of its own below its groups are not listed; Lookup does not
// count them as the instance's either.
func (m *Manager) InstanceProcs(job, instance string) map[int]string {
	prefix := Escape(job) + "/" + Escape(instance) + "/"
	type opened struct {
		fd      int
		process string
	}
	var fs []opened
	// Opened relative to the group's directory handle (cheaper than a
	// path), under the lock so that the handle stays open meanwhile.
	m.mu.Lock()
	for _, g := range m.byJob[Escape(job)] {
		// Every group of ours below the instance is a process group:
		// INSTANCE/PROCESS, or INSTANCE/@NAME.../PROCESS.
		if !strings.HasPrefix(g.rel, prefix) || g.dir == nil || g.empty {
			// g.empty: the watcher read it empty since the last
			// spawn into it, which is the only way in but a move
			// from outside (that one shows on the group's next
			// event): no read of a group a stop already saw end.
			continue
		}
		fd, err := unix.Openat(int(g.dir.Fd()), "cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			fs = append(fs, opened{fd, g.process})
		}
	}
	m.mu.Unlock()
	out := map[int]string{}
	var buf [4096]byte
	for _, f := range fs {
		var data []byte
		for {
			n, err := unix.Read(f.fd, buf[:])
			if n <= 0 || err != nil {
				break
			}
			data = append(data, buf[:n]...)
		}
		unix.Close(f.fd)
		for _, w := range strings.Fields(string(data)) {
			// 0: a process of another PID namespace, not ours.
			if pid, err := strconv.Atoi(w); err == nil && pid > 0 {
				out[pid] = f.process
			}
		}
	}
	return out
}

func walkProcs(dir string, f func(int)) error {
	b, err := readSmall(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return err
	}
	for _, l := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(l)); err == nil {
			f(pid)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := walkProcs(filepath.Join(dir, e.Name()), f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// Populated says whether any process is in the group or below it.
func (g *Group) Populated() (bool, error) {
	p, err := populated(g.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return p, err
}

func populated(dir string) (bool, error) {
	b, err := readSmall(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	return parsePopulated(b, dir)
}

func parsePopulated(b []byte, dir string) (bool, error) {
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "populated "); ok {
			return v != "0", nil
		}
	}
	return false, fmt.Errorf("no populated line in %s/cgroup.events", dir)
}

// Watch asks for one Empty when the group is next empty. Call it after
// spawning a process into the group: if the group is empty already (the
// process and all it forked are gone), Empty is sent at once. Several
// Watch calls before the group empties give one Empty.
func (g *Group) Watch() error {
	m := g.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if g.wd < 0 || g.dir == nil {
		return fmt.Errorf("cgroup: %s cannot be watched", g.rel)
	}
	g.armed, g.empty = true, false
	m.checkLocked(g)
	return nil
}

// Check looks at the group now and sends the Empty a Watch asked for if
// the group is empty; it does nothing when no Empty is due. The kernel
// reports changes of cgroup.events at most once per 10 ms per group, so
// the daemon calls Check when the reaper reports the exit of a process it
// spawned into the group: when that was the last process, Empty comes at
// once instead of up to 10 ms later (the kernel's process exit leaves the
// cgroup before its parent is told).
func (g *Group) Check() {
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	if g.wd >= 0 {
		g.m.checkLocked(g)
	}
}

// populatedLocked is populated for g, read through its directory handle
// when it has one (no walk of the path's seven components).
func (g *Group) populatedLocked() (bool, error) {
	if g.dir == nil {
		return populated(g.path)
	}
	fd, err := unix.Openat(int(g.dir.Fd()), "cgroup.events", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: g.path + "/cgroup.events", Err: err}
	}
	var buf [256]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil {
		return false, &os.PathError{Op: "read", Path: g.path + "/cgroup.events", Err: err}
	}
	return parsePopulated(buf[:max(n, 0)], g.path)
}

// checkLocked sends Empty for g if it is armed and empty.
// A group known empty is looked at again on its next event too: a
// process moved into it from outside makes it populated again.
func (m *Manager) checkLocked(g *Group) {
	if !g.armed && !g.empty {
		return
	}
	p, err := g.populatedLocked()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		g.empty = false
		m.logf("cgroup: %s: %v", g.rel, err)
		return
	}
	// A group removed from outside (or by another daemon sharing the
	// tree) holds nothing: waiting for it to empty would hang a stop.
	g.empty = err != nil || !p
	if g.armed && g.empty {
		g.armed = false
		m.enqueue(Empty{Job: g.job, Instance: g.instance, Process: g.process, Group: g})
	}
}

// testNoKillFile makes Kill ignore cgroup.kill (tests of the fallback).
var testNoKillFile bool

// killTimeout bounds the fallback Kill.
const killTimeout = 10 * time.Second

// Kill sends SIGKILL to every process of the group and the groups below
// it, at once (cgroup.kill), so that nothing can fork away. Without
// cgroup.kill (Linux < 5.14) it freezes the group when the kernel can,
// then kills every listed process until none is left, and thaws it. Kill
// does not wait for the processes to end (except in the fallback); the
// Empty of a watched group says when they have.
func (g *Group) Kill() error {
	// A group removed meanwhile (from outside, or by another daemon
	// sharing the tree) gets no inotify event: look at the armed groups
	// again after the kill, so that its Empty comes.
	defer g.m.recheck(g.rel)
	alien := g.Foreign()
	if alien {
		// cgroup.kill and freezing would reach processes that are not
		// ours: kill only those we can see.
		g.m.logf("cgroup: %s holds processes of another PID namespace: only ours are killed", g.rel)
	}
	if g.m.feat.Kill && !testNoKillFile && !alien {
		err := writeFile(filepath.Join(g.path, "cgroup.kill"), "1")
		if err != nil && errno(err) != unix.ENOENT && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cgroup: kill %s: %w", g.rel, err)
		}
		return nil
	}
	freeze := g.m.feat.Freeze && !alien
	if freeze {
		if err := writeFile(filepath.Join(g.path, "cgroup.freeze"), "1"); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			freeze = false
		}
	}
	deadline := time.Now().Add(killTimeout)
	var err error
	for {
		var pids []int
		if pids, err = g.Pids(); err != nil || len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("cgroup: %d processes of %s survive SIGKILL", len(pids), g.rel)
			break
		}
		time.Sleep(time.Millisecond)
	}
	if freeze {
		writeFile(filepath.Join(g.path, "cgroup.freeze"), "0")
	}
	return err
}

// Signal sends sig to every process of the group and the groups below it
// (SIGKILL is Kill). Processes forked while it runs are signalled too: it
// lists the group again until a pass finds no new process. Each process is
// checked to be in the group through a pidfd before it is signalled, so a
// recycled pid is never hit.
func (g *Group) Signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return g.Kill()
	}
	prefix := g.CgroupPath()
	seen := map[int]bool{}
	for pass := 0; pass < 16; pass++ {
		pids, err := g.Pids()
		if err != nil {
			return fmt.Errorf("cgroup: signal %s: %w", g.rel, err)
		}
		fresh := 0
		for _, pid := range pids {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			fresh++
			signalIn(pid, sig, prefix)
		}
		if fresh == 0 {
			return nil
		}
	}
	return nil
}

// signalIn signals pid if it is still in the cgroup prefix (or below).
func signalIn(pid int, sig syscall.Signal, prefix string) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ENOSYS {
			unix.Kill(pid, sig)
		}
		return
	}
	defer unix.Close(fd)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return
	}
	p := parseProcCgroup(string(b))[""]
	if p != prefix && !strings.HasPrefix(p, prefix+"/") {
		return
	}
	unix.PidfdSendSignal(fd, sig, nil, 0)
}

// Attach moves pid into the group (and its v1 groups). It is for kernels
// without CLONE_INTO_CGROUP, where a process can only be moved after it
// started: what it forks before the move stays outside.
func (g *Group) Attach(pid int) error {
	g.m.mu.Lock()
	dirs := append([]string{g.path}, g.v1...)
	g.m.mu.Unlock()
	for _, d := range dirs {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("cgroup: attach %d: %w", pid, err)
		}
	}
	return nil
}

// Remove deletes the group once it is empty, and then INSTANCE and JOB
// when nothing else is left in them; for an instance or job group, every
// (empty) group below it too. It is an error while processes remain.
// Removing a group that does not exist is not an error. A process group
// the Manager no longer holds (released with its instance) or whose
// release is pending (ReleaseLater) is left to that release.
func (g *Group) Remove() error {
	m := g.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.groups[g.rel]; g.process != "" && (cur != g || cur.released) {
		// A late Empty of a group released with its instance: the
		// directory is gone, or now belongs to a new instance of the
		// same name, or the releaser takes it.
		return nil
	}
	var errs []error
	var v1dirs []string
	// Groups of ours at or below g: stop watching, close, forget.
	for _, h := range m.jobGroupsLocked(jobOf(g.rel)) {
		if rel := h.rel; rel == g.rel || strings.HasPrefix(rel, g.rel+"/") {
			if p, err := populated(h.path); err == nil && p {
				return fmt.Errorf("cgroup: cannot remove %s: processes remain", h.rel)
			}
			for d := range h.v1All {
				if err := rmdirTree(d); err != nil {
					errs = append(errs, err)
				}
				v1dirs = append(v1dirs, d)
			}
			m.forgetLocked(h)
		}
	}
	if err := rmdirTree(g.path); err != nil {
		if errno(err) == unix.EBUSY {
			return fmt.Errorf("cgroup: cannot remove %s: processes remain", g.rel)
		}
		errs = append(errs, err)
	}
	// Then the parents that are left empty, in v2 and in v1. Settings
	// are written again by the next Group of an affected instance.
	parts := strings.Split(g.rel, "/")
	for n := len(parts) - 1; n >= 1; n-- {
		unix.Rmdir(filepath.Join(m.root, strings.Join(parts[:n], "/")))
	}
	for _, root := range m.v1root {
		if !m.v1Used {
			break // no group of ours has v1 directories
		}
		rmdirTree(filepath.Join(root, g.rel))
		for n := len(parts) - 1; n >= 1; n-- {
			unix.Rmdir(filepath.Join(root, strings.Join(parts[:n], "/")))
		}
	}
	// A v1 named group (its own NAME per hierarchy) has parents of its
	// own: those left empty go too.
	for _, d := range v1dirs {
		m.rmdirUpV1(d)
	}
	for k := range m.applied {
		if k == g.rel || strings.HasPrefix(k, g.rel+"/") || strings.HasPrefix(g.rel, k+"/") {
			delete(m.applied, k)
		}
	}
	return errors.Join(errs...)
}

// ReleaseInstance is for an instance that has gone: each of its process
// groups that is empty is closed, unwatched and deleted, then INSTANCE and
// JOB when nothing is left in them. It does not depend on the order in
// which the groups' Empty notifications and the exits of their processes
// were handled (an Empty the daemon declined because the exit of the
// group's leader was not handled yet would otherwise leave the group, its
// descriptor and its watch for good). A group that still holds processes
// stays, watched: its Empty comes when they are gone, and the daemon then
// removes it as for any Empty.
func (m *Manager) ReleaseInstance(job, instance string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.releaseLocked(job, instance, false)...)
}

// errRemain: a released group still holds processes; it stays, watched.
var errRemain = errors.New("processes remain")

// ReleaseLater is ReleaseInstance done later by the Manager's releaser,
// off the caller's path: the daemon's loop only marks the instance's
// groups (no system call), and the removals (an rmdir takes the kernel's
// cgroup_mutex and frees the group's files; 10-20 system calls per
// instance) wait until releases have stopped coming for releaseQuiet, at
// most releaseMaxDelay, so that a stop of many jobs is not slowed by the
// removals of the ones already stopped. A Group for the instance before
// then (it is started again) does its release first. Errors go to the
// Manager's log.
func (m *Manager) ReleaseLater(job, instance string) {
	instRel := Escape(job) + "/" + Escape(instance)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	for _, h := range m.byJob[Escape(job)] {
		if strings.HasPrefix(h.rel, instRel+"/") {
			// Its Empty would be for no one (the instance went): not
			// armed, the watcher does not read it on its next event.
			// The release arms it again if processes remain.
			h.released, h.armed = true, false
		}
	}
	if m.pending == nil {
		m.pending = map[string]release{}
	}
	m.pending[instRel] = release{job, instance}
	m.mu.Unlock()
	select {
	case m.rwake <- struct{}{}:
	default:
	}
}

// release names an instance whose groups the releaser is to remove.
type release struct{ job, instance string }

// How long the releaser waits: until no release has come for
// releaseQuiet, and at most releaseMaxDelay after the first one waiting
// (docs/decisions.md, "Stop-all").
const (
	releaseQuiet    = 30 * time.Millisecond
	releaseMaxDelay = 500 * time.Millisecond
)

// releaser removes the groups of released instances (ReleaseLater).
func (m *Manager) releaser() {
	defer m.wg.Done()
	for {
		select {
		case <-m.rwake:
		case <-m.done:
			return
		}
		first := time.Now()
		t := time.NewTimer(releaseQuiet)
	wait:
		for {
			select {
			case <-m.rwake:
				d := releaseQuiet
				if left := releaseMaxDelay - time.Since(first); left < d {
					d = max(left, 0)
				}
				if !t.Stop() {
					<-t.C
				}
				t.Reset(d)
			case <-t.C:
				break wait
			case <-m.done:
				t.Stop()
				return
			}
		}
		m.ReleasePending()
	}
}

// ReleasePending does the pending releases now (see ReleaseLater).
func (m *Manager) ReleasePending() {
	m.mu.Lock()
	keys := make([]string, 0, len(m.pending))
	for k := range m.pending {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		// One instance at a time under the lock: a spawn waits for
		// one instance's removals at most. An entry stays pending until
		// it is done here, so a Group for the instance meanwhile sees
		// it and does it itself.
		m.mu.Lock()
		if r, ok := m.pending[k]; ok && !m.closed {
			delete(m.pending, k)
			m.releasePendingLocked(r.job, r.instance)
		}
		m.mu.Unlock()
	}
}

// releasePendingLocked does one pending release.
func (m *Manager) releasePendingLocked(job, instance string) {
	for _, err := range m.releaseLocked(job, instance, true) {
		if !errors.Is(err, errRemain) { // that one is no fault
			m.logf("cgroup: release of %s (%s): %v", job, instance, err)
		}
	}
}

// releaseLocked removes the instance's empty groups, all of them or
// (pendingOnly) those still marked released, and then INSTANCE and JOB
// when they are left empty.
func (m *Manager) releaseLocked(job, instance string, pendingOnly bool) []error {
	instRel := Escape(job) + "/" + Escape(instance)
	var errs []error
	for _, h := range m.jobGroupsLocked(Escape(job)) {
		rel := h.rel
		if !strings.HasPrefix(rel, instRel+"/") || (pendingOnly && !h.released) {
			continue
		}
		h.released = false
		// The rmdir first: it fails (EBUSY) only while processes or
		// groups of the job's own are in it, and then it is looked at.
		// Most groups are empty, and that costs them one system call,
		// not a read of cgroup.events and a listing of the directory.
		err := unix.Rmdir(h.path)
		if err == unix.EBUSY {
			if p, perr := h.populatedLocked(); perr == nil && p {
				if foreign(h.path) {
					// Not ours to wait for or kill: forget it,
					// leave the directory (Group refuses to
					// reuse it).
					m.forgetLocked(h)
					errs = append(errs, fmt.Errorf("cgroup: %s holds processes of another PID namespace; left alone", rel))
					continue
				}
				h.armed = true
				m.checkLocked(h)
				errs = append(errs, fmt.Errorf("cgroup: %s: %w", rel, errRemain))
				continue
			}
			err = rmdirTree(h.path)
		} else if err != nil && err != unix.ENOENT {
			err = fmt.Errorf("rmdir %s: %w", h.path, err)
		} else {
			err = nil
		}
		if err != nil {
			errs = append(errs, err)
		}
		for d := range h.v1All {
			rmdirTree(d)
		}
		m.forgetLocked(h)
	}
	roots := []string{m.root}
	if m.v1Used {
		roots = append(roots, m.v1Roots()...)
	}
	for _, root := range roots {
		// INSTANCE, and then JOB, when left empty. Named groups
		// (@NAME directories) left empty go first when there are any;
		// populated ones stay (rmdir fails).
		idir := filepath.Join(root, instRel)
		err := unix.Rmdir(idir)
		if err == unix.EBUSY {
			pruneNamed(idir)
			err = unix.Rmdir(idir)
		}
		if err == nil || err == unix.ENOENT {
			unix.Rmdir(filepath.Join(root, Escape(job)))
			if root == m.root {
				// The settings went with the directory (one
				// that is still there, wanted again, keeps
				// them).
				delete(m.applied, instRel)
			}
		}
	}
	return errs
}

// pruneNamed removes the empty named groups (directories whose name
// begins with '@') below dir, deepest first. One that holds processes, or
// a group of ours, stays: rmdir fails on it.
func pruneNamed(dir string) {
	names, err := subdirs(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, "@") {
			p := filepath.Join(dir, n)
			pruneNamed(p)
			unix.Rmdir(p)
		}
	}
}

// rmdirUpV1 removes the parents of a v1 directory that are left empty,
// up to (not including) the root of our tree in that hierarchy.
func (m *Manager) rmdirUpV1(dir string) {
	for _, root := range m.v1root {
		if !strings.HasPrefix(dir, root+"/") {
			continue
		}
		for p := filepath.Dir(dir); p != root && strings.HasPrefix(p, root+"/"); p = filepath.Dir(p) {
			if unix.Rmdir(p) != nil {
				break
			}
		}
		return
	}
}

func (m *Manager) v1Roots() []string {
	var out []string
	for _, r := range m.v1root {
		out = append(out, r)
	}
	return out
}

// Known says how many process groups the Manager holds open (each with a
// descriptor and an inotify watch).
func (m *Manager) Known() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.groups)
}

// recheck looks again at the armed groups at or below rel.
func (m *Manager) recheck(rel string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.byJob[jobOf(rel)] {
		if r := h.rel; h.armed && (r == rel || strings.HasPrefix(r, rel+"/")) {
			m.checkLocked(h)
		}
	}
}

// forgetLocked drops a group from the manager.
func (m *Manager) forgetLocked(h *Group) {
	if h.wd >= 0 {
		unix.InotifyRmWatch(int(m.ino.Fd()), uint32(h.wd))
		delete(m.wds, h.wd)
		h.wd = -1
	}
	if h.dir != nil {
		h.dir.Close()
		h.dir = nil
	}
	h.armed = false
	delete(m.groups, h.rel)
	ej := jobOf(h.rel)
	if j := m.byJob[ej]; j != nil {
		j = slices.DeleteFunc(j, func(x *Group) bool { return x == h })
		if len(j) == 0 {
			delete(m.byJob, ej)
		} else {
			m.byJob[ej] = j
		}
	}
}

// rmdirTree removes dir and every directory below it, deepest first. A
// missing dir is not an error.
func rmdirTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return unwrap(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return fmt.Errorf("rmdir %s: %w", dir, err)
	}
	return nil
}

// watcher reads inotify events on cgroup.events files.
func (m *Manager) watcher() {
	defer m.wg.Done()
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := m.ino.Read(buf)
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, os.ErrClosed) {
				return
			}
			m.logf("cgroup: inotify: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int(int32(binary.NativeEndian.Uint32(buf[off:])))
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			off += unix.SizeofInotifyEvent + nameLen
			if g := m.wds[wd]; g != nil {
				m.checkLocked(g)
			}
		}
		m.mu.Unlock()
	}
}

func (m *Manager) enqueue(e Empty) {
	m.qmu.Lock()
	m.queue = append(m.queue, e)
	m.qmu.Unlock()
	select {
	case m.qwake <- struct{}{}:
	default:
	}
}

// sender moves queued notifications to the daemon's channel.
func (m *Manager) sender() {
	defer m.wg.Done()
	for {
		m.qmu.Lock()
		if len(m.queue) == 0 {
			m.queue = nil
			m.qmu.Unlock()
			select {
			case <-m.qwake:
				continue
			case <-m.done:
				return
			}
		}
		e := m.queue[0]
		m.queue[0] = Empty{}
		m.queue = m.queue[1:]
		m.qmu.Unlock()
		select {
		case m.empty <- e:
		case <-m.done:
			return
		}
	}
}
