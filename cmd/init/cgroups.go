package main

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/goupstart/upstart/internal/cgroup"
	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/supervise"
	"golang.org/x/sys/unix"
)

// cgroupTracking puts each process type of each instance in its own cgroup
// (upstart/JOB/INSTANCE/PROCESS): children are spawned straight into it,
// "every process of the instance" is the cgroup's content, and killing an
// instance is one cgroup.kill. Without a writable cgroup v2 hierarchy the
// daemon tracks processes by pid instead (supervise.ChildTracker).
type cgroupTracking struct {
	m      *cgroup.Manager
	debugf func(format string, args ...any)
}

// setupTracking chooses the process tracking and fills eopts. It returns
// a description for the log.
func (d *daemon) setupTracking(eopts *engine.Options) string {
	eopts.Tracker = supervise.ChildTracker{}
	if d.o.noCgroups {
		return "pid tracking (--no-cgroups)"
	}
	empties := make(chan cgroup.Empty, 64)
	opts := cgroup.Options{Logf: func(f string, a ...any) { d.log.Warn(fmt.Sprintf(f, a...)) }}
	if !d.pid1 {
		// Several instances may share one cgroup (sessions of one
		// user, tests): each gets a tree of its own.
		opts.Name = fmt.Sprintf("upstart-%d", os.Getpid())
	} else {
		opts.Name = d.pid1TreeName()
		d.cgroupName = opts.Name
	}
	m, err := cgroup.New(empties, opts)
	if err != nil {
		return fmt.Sprintf("pid tracking (%v)", err)
	}
	t := &cgroupTracking{m: m, debugf: func(f string, a ...any) { d.log.Debug(fmt.Sprintf(f, a...)) }}
	d.cgroups = m
	if !d.pid1 {
		// Trees of sessions that were killed before they could clean up.
		go func() {
			if n := m.RemoveStale(); n > 0 {
				d.log.Debug(fmt.Sprintf("Removed %d cgroup trees of sessions that are gone", n))
			}
		}()
	}
	eopts.Tracker = t
	eopts.Placer = t
	go func() {
		for ev := range empties {
			ev := ev
			d.e.Post(func() {
				if d.e.GroupEmpty(ev.Job, ev.Instance, ev.Process) {
					ev.Group.Remove()
				}
			})
		}
	}()
	return "cgroups (" + m.Root() + ")"
}

// The inode numbers of the initial PID and cgroup namespaces (fixed by
// the kernel: PROC_PID_INIT_INO, PROC_CGROUP_INIT_INO).
const (
	initPidNSIno    = 0xEFFFFFFC
	initCgroupNSIno = 0xEFFFFFFB
)

// pid1TreeName names PID 1's cgroup tree. PID 1 of the machine, or of a
// container at the root of a cgroup namespace of its own, is alone there
// and uses Upstart's "upstart". PID 1 of a PID namespace that shares its
// cgroup with others (no cgroup namespace, or not at its root: containers
// started that way, our own parallel tests) gets a name of its own,
// "upstart-nsINODE-RANDOM" (its PID namespace and 4 random bytes), so that
// two such daemons never share JOB/INSTANCE/PROCESS groups. After a
// re-exec the name comes from --cgroup-name; a previous image that passed
// none used the default.
func (d *daemon) pid1TreeName() string {
	if d.o.cgroupName != "" {
		return d.o.cgroupName
	}
	if d.o.restart {
		return "" // the default, as the previous image had
	}
	pidNS, err1 := nsIno("pid")
	cgNS, err2 := nsIno("cgroup")
	if err1 != nil || err2 != nil {
		return ""
	}
	if pidNS == initPidNSIno {
		return ""
	}
	self, _ := os.ReadFile("/proc/self/cgroup")
	if cgNS != initCgroupNSIno && cgroupV2Path(string(self)) == "/" {
		return ""
	}
	var r [4]byte
	unix.Getrandom(r[:], 0) // as crypto/rand does, without linking its 150 KiB
	return fmt.Sprintf("upstart-ns%d-%s", pidNS, hex.EncodeToString(r[:]))
}

// nsIno is the inode of one of our namespaces.
func nsIno(kind string) (uint64, error) {
	fi, err := os.Stat("/proc/self/ns/" + kind)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("no inode for /proc/self/ns/%s", kind)
	}
	return st.Ino, nil
}

// cgroupV2Path is the "0::PATH" line of /proc/PID/cgroup, "" if none.
func cgroupV2Path(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// Place implements engine.Placer.
func (t *cgroupTracking) Place(r *supervise.Request, process string) (func(int), error) {
	g, err := t.m.Group(r.Job.Name, r.Instance, process, r.Job.Cgroups)
	if err != nil {
		return nil, fmt.Errorf("unable to set up cgroup: %w", err)
	}
	r.CgroupDir, r.CgroupProcs = g.Dir(), g.V1Procs()
	return func(pid int) { g.Watch() }, nil
}

// KillInstance implements engine.Placer.
func (t *cgroupTracking) KillInstance(job, instance string) {
	t.m.Instance(job, instance).Kill()
}

// InstanceGone implements engine.Placer: the instance's groups go with it,
// whether or not their Empty came before the exits were handled.
func (t *cgroupTracking) InstanceGone(job, instance string) {
	if err := t.m.ReleaseInstance(job, instance); err != nil {
		t.debugf("Cgroups of %s (%s) kept: %v", job, instance, err)
	}
}

// Members implements engine.Tracker: every process in the instance's
// cgroups that the engine does not know yet, named by the group it is in.
func (t *cgroupTracking) Members(job, instance string, _ map[int]string, known func(int) bool) map[int]string {
	out := t.m.InstanceProcs(job, instance)
	for pid := range out {
		if known(pid) {
			delete(out, pid)
		}
	}
	return out
}

// removeCgroups removes the daemon's (empty) cgroup tree at exit.
func (d *daemon) removeCgroups() {
	if d.cgroups == nil || d.pid1 {
		return
	}
	d.cgroups.Close()
	// Deepest first: a cgroup directory can only go once it is empty.
	var dirs []string
	filepath.WalkDir(d.cgroups.Root(), func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for k := len(dirs) - 1; k >= 0; k-- {
		os.Remove(dirs[k])
	}
}

// Owner implements engine.Placer.
func (t *cgroupTracking) Owner(path string) (job, instance, process string, ok bool) {
	return t.m.LookupPath(path)
}

// Alive implements engine.Tracker.
func (t *cgroupTracking) Alive(pid int) bool { return supervise.Alive(pid) }

// adoptCgroups takes over the cgroup tree of the previous image after a
// re-exec: its groups are watched for emptiness again.
func (d *daemon) adoptCgroups() {
	if d.cgroups == nil {
		return
	}
	groups, err := d.cgroups.Adopt()
	if err != nil {
		d.log.Warn(fmt.Sprintf("Taking over the cgroup tree after the re-exec: %v", err))
	}
	d.log.Debug(fmt.Sprintf("Took over %d cgroups", len(groups)))
}
