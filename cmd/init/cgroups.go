package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cgroup"
	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/state"
	"github.com/goupstart/upstart/internal/supervise"
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
	// The previous image's inotify descriptor (a re-exec), for the
	// Manager; closed if there is none to take it.
	ino := d.inotify
	d.inotify = nil
	if d.o.noCgroups {
		if ino != nil {
			ino.Close()
		}
		return "pid tracking (--no-cgroups)"
	}
	empties := make(chan cgroup.Empty, 64)
	opts := cgroup.Options{Logf: func(f string, a ...any) { d.log.Warn(fmt.Sprintf(f, a...)) }, Inotify: ino}
	if !d.pid1 {
		// Several instances may share one cgroup (sessions of one
		// user, tests): each gets a tree of its own.
		opts.Name = fmt.Sprintf("upstart-%d", os.Getpid())
	} else {
		opts.Name = d.pid1TreeName()
		d.cgroupName = opts.Name
	}
	m, err := cgroup.New(empties, opts)
	opts.Inotify = nil // awaitHierarchy makes its own
	if err != nil {
		if ino != nil {
			ino.Close()
		}
		// No usable hierarchy now (left alone for the system to build,
		// or not mounted yet): pid tracking, and cgroups for the
		// instances started once one appears (lateTracking).
		lt := &lateTracking{pidInst: map[string]bool{}}
		eopts.Tracker, eopts.Placer = lt, lt
		d.late = lt
		go d.awaitHierarchy(lt, empties, opts)
		return fmt.Sprintf("pid tracking (%v)", err)
	}
	t := d.useCgroups(m, empties)
	eopts.Tracker = t
	eopts.Placer = t
	if d.o.restart {
		// The previous image may have tracked some instances by pid (it
		// started without a hierarchy): they stay so (restoredTracking).
		lt := &lateTracking{cg: t, pidInst: map[string]bool{}}
		lt.using.Store(true)
		eopts.Tracker, eopts.Placer = lt, lt
		d.late = lt
	}
	return "cgroups (" + m.Root() + ")"
}

// restoredTracking runs on the loop once the previous image's instances
// are restored: those it tracked by pid stay so until they go. A document
// of format 3 names them; for an earlier one, those with processes none
// of which is in our cgroup tree were tracked by pid (a read of
// /proc/PID/cgroup per process: 28 ms of CPU with 1000 jobs, before the
// new image can answer).
func (d *daemon) restoredTracking(doc *state.Document) {
	lt, m := d.late, d.cgroups.Load()
	if lt == nil || m == nil {
		return
	}
	if doc.Version >= 3 {
		for _, r := range doc.Daemon.PidTracked {
			lt.pidInst[instKey(r.Job, r.Instance)] = true
		}
		d.logPidTracked(lt)
		return
	}
	for _, j := range d.e.Jobs() {
		insts, _ := d.e.Instances(j.Name)
		for _, in := range insts {
			n, ours := 0, false
			for _, p := range append(append([]api.Process(nil), in.Processes...), in.Members...) {
				if p.Pid <= 0 {
					continue
				}
				n++
				if _, _, _, ok := m.Lookup(p.Pid); ok {
					ours = true
				}
			}
			if n > 0 && !ours {
				lt.pidInst[instKey(j.Name, in.Name)] = true
			}
		}
	}
	d.logPidTracked(lt)
}

func (d *daemon) logPidTracked(lt *lateTracking) {
	if len(lt.pidInst) > 0 {
		d.log.Log(context.Background(), priorities["message"], fmt.Sprintf("Process tracking: %d instances of the previous image stay tracked by pid", len(lt.pidInst)))
	}
}

// pidTracked names the instances tracked by pid while a cgroup hierarchy
// is in use, for the next image (loop only). Without a hierarchy in use
// every instance is: the next image finds that out by itself if it has
// one (their processes are in no group of ours), as it would from a
// document that does not say; so they are listed too.
func (d *daemon) pidTracked() []state.InstanceRef {
	lt := d.late
	if lt == nil || (lt.cg != nil && len(lt.pidInst) == 0) {
		return nil // cgroups for every instance, or none at all
	}
	var out []state.InstanceRef
	for _, j := range d.e.AllStatus(false) {
		for _, in := range j.Instances {
			if lt.byPid(j.Name, in.Name) {
				out = append(out, state.InstanceRef{Job: j.Name, Instance: in.Name})
			}
		}
	}
	return out
}

// runningInstances marks every instance that exists as tracked by pid
// (loop only).
func (d *daemon) runningInstances(lt *lateTracking) {
	for _, j := range d.e.Jobs() {
		insts, _ := d.e.Instances(j.Name)
		for _, in := range insts {
			lt.pidInst[instKey(j.Name, in.Name)] = true
		}
	}
}

// useCgroups makes the tracking of a Manager and passes its Empty
// notifications to the engine.
func (d *daemon) useCgroups(m *cgroup.Manager, empties <-chan cgroup.Empty) *cgroupTracking {
	t := &cgroupTracking{m: m, debugf: func(f string, a ...any) { d.log.Debug(fmt.Sprintf(f, a...)) }}
	d.cgroups.Store(m)
	if !d.pid1 {
		// Trees of sessions that were killed before they could clean up.
		go func() {
			if n := m.RemoveStale(); n > 0 {
				d.log.Debug(fmt.Sprintf("Removed %d cgroup trees of sessions that are gone", n))
			}
		}()
	}
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
	return t
}

// awaitHierarchy waits for the system to mount a usable cgroup v2
// hierarchy (Chromium OS's cgroups.conf, a `mounted` job, an admin) and
// then switches the tracking of new instances to cgroups. It costs
// nothing meanwhile: the kernel wakes it when the mount table changes
// (poll of /proc/self/mountinfo), and only then does it look.
func (d *daemon) awaitHierarchy(lt *lateTracking, empties chan cgroup.Empty, opts cgroup.Options) {
	// A raw descriptor, not an os.File: the runtime's epoll would poll
	// it too, and each poll of mountinfo consumes the change it reports.
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		d.log.Warn(fmt.Sprintf("Unable to watch the mount table for a cgroup hierarchy: %v", err))
		return
	}
	defer unix.Close(fd)
	for first := true; ; first = false {
		if !first {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
			if _, err := unix.Poll(fds, -1); err != nil {
				if err == unix.EINTR {
					continue
				}
				d.log.Warn(fmt.Sprintf("Watching the mount table for a cgroup hierarchy: %v", err))
				return
			}
			if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) == 0 {
				continue
			}
		}
		// The open above armed the poll: a mount made between the
		// failed New in setupTracking and the open is seen by the
		// first look.
		m, err := cgroup.New(empties, opts)
		if err != nil {
			if !first {
				d.log.Debug(fmt.Sprintf("Mount table changed; still no cgroup hierarchy to use: %v", err))
			}
			continue
		}
		d.e.Post(func() {
			// Every instance that exists now, restored after a re-exec
			// or started here, stays tracked by pid.
			d.runningInstances(lt)
			lt.cg = d.useCgroups(m, empties)
			lt.using.Store(true)
			d.log.Log(context.Background(), priorities["message"], fmt.Sprintf(
				"Process tracking: cgroups (%s) for instances started from now on; %d running instances stay tracked by pid",
				m.Root(), len(lt.pidInst)))
		})
		return
	}
}

// lateTracking is the tracking of a daemon that started without a cgroup
// hierarchy: pids until one appears, then cgroups for every instance
// whose first process starts after that. An instance keeps the tracking
// it started with until it goes: its running processes are never moved
// (a process moved into a group would leave its children behind, and a
// group holding only part of an instance could not tell its end). All its
// methods but Using run on the engine's loop.
type lateTracking struct {
	cg      *cgroupTracking // nil until a hierarchy is in use
	pidInst map[string]bool // instances that started while tracking pids
	using   atomic.Bool     // cg is set (read outside the loop)
}

var pidTracker supervise.ChildTracker

func instKey(job, instance string) string { return job + "\x00" + instance }

// byPid says whether an instance is (to be) tracked by pid.
func (t *lateTracking) byPid(job, instance string) bool {
	return t.cg == nil || t.pidInst[instKey(job, instance)]
}

// Place implements engine.Placer.
func (t *lateTracking) Place(r *supervise.Request, process string) (func(int), error) {
	if t.byPid(r.Job.Name, r.Instance) {
		t.pidInst[instKey(r.Job.Name, r.Instance)] = true
		return nil, nil
	}
	return t.cg.Place(r, process)
}

// KillInstance implements engine.Placer (the engine signals the pids of a
// pid-tracked instance itself).
func (t *lateTracking) KillInstance(job, instance string) {
	if !t.byPid(job, instance) {
		t.cg.KillInstance(job, instance)
	}
}

// InstanceGone implements engine.Placer: a new instance of the same name
// starts with the tracking of its time.
func (t *lateTracking) InstanceGone(job, instance string) {
	if !t.byPid(job, instance) {
		t.cg.InstanceGone(job, instance)
	}
	delete(t.pidInst, instKey(job, instance))
}

// Owner implements engine.Placer.
func (t *lateTracking) Owner(path string) (job, instance, process string, ok bool) {
	if t.cg == nil {
		return "", "", "", false
	}
	return t.cg.Owner(path)
}

// Members implements engine.Tracker.
func (t *lateTracking) Members(job, instance string, leaders map[int]string, known func(int) bool) map[int]string {
	if t.byPid(job, instance) {
		return pidTracker.Members(job, instance, leaders, known)
	}
	return t.cg.Members(job, instance, leaders, known)
}

// Alive implements engine.Tracker.
func (t *lateTracking) Alive(pid int) bool { return supervise.Alive(pid) }

// TrackingOf implements engine.TrackingReporter: how an instance's
// processes are tracked.
func (t *lateTracking) TrackingOf(job, instance string) string {
	if t.byPid(job, instance) {
		return "pids"
	}
	return "cgroups"
}

// Using says whether a hierarchy is in use (any goroutine).
func (t *lateTracking) Using() bool { return t.using.Load() }

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
	g, err := t.m.GroupEnv(r.Job.Name, r.Instance, process, r.Job.Cgroups, r.Env)
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
// whether or not their Empty came before the exits were handled. They go
// a little later, off the engine's loop (cgroup.Manager.ReleaseLater): a
// stop of many jobs sends its signals and handles its exits without
// waiting for the removals.
func (t *cgroupTracking) InstanceGone(job, instance string) {
	t.m.ReleaseLater(job, instance)
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
	m := d.cgroups.Load()
	if m == nil || d.pid1 {
		return
	}
	m.Close()
	// Deepest first: a cgroup directory can only go once it is empty.
	var dirs []string
	filepath.WalkDir(m.Root(), func(p string, e fs.DirEntry, err error) error {
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
	m := d.cgroups.Load()
	if m == nil {
		return
	}
	groups, err := m.Adopt()
	if err != nil {
		d.log.Warn(fmt.Sprintf("Taking over the cgroup tree after the re-exec: %v", err))
	}
	d.log.Debug(fmt.Sprintf("Took over %d cgroups", len(groups)))
}
