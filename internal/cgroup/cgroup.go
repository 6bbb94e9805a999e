// Package cgroup keeps every process of every job instance in a cgroup of
// its own, so that a job's processes can be listed, signalled and killed
// all together and the end of the last one is noticed, whatever they fork
// and however they detach (double fork, setsid).
//
// # Layout
//
// The tree lives in a cgroup v2 hierarchy (a cgroup2 mount at
// /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system), below the
// cgroup the daemon itself is in (the root cgroup for PID 1 of a machine):
//
//	<daemon's cgroup>/upstart/JOB/INSTANCE/PROCESS
//
// with every name escaped by Escape ("net/apache" → "net%2Fapache", the
// empty instance → "_"). PROCESS is "main", "pre-start", ... or the name of
// a custom action. Processes live only in the PROCESS leaves; limits of the
// `cgroup` stanza are set on INSTANCE (all processes of an instance share
// them, as they shared Upstart's per-instance cgroup). For a controller
// that is only mounted as cgroup v1 (hybrid systems), the same
// upstart/JOB/INSTANCE/PROCESS path is made in that hierarchy below the
// daemon's cgroup there; see Limits for what is mapped. A stanza with a
// NAME of its own puts the processes in a named group below INSTANCE:
// upstart/JOB/INSTANCE/@NAME/PROCESS (see Limits).
//
// # What the daemon calls
//
// At start: New (an error means no usable cgroup v2: fall back to pid
// tracking and say why); after a re-exec, Manager.Adopt to take over the
// groups the previous image left (they are then watched). Per spawn:
// Manager.Group with the job's `cgroup` stanzas, then Request.CgroupDir =
// g.Dir() and Request.CgroupProcs = g.V1Procs() for supervise.Spawn, then
// g.Watch() once Spawn returned (also when Spawn failed after the fork:
// the Exit has a SpawnErr but the process was in the group). On Empty (from the channel given to New): the process
// type has ended; call g.Remove(). On each supervise.Exit of a pid spawned
// into g: g.Check() (Empty then comes at once when that was the last
// process, instead of after the kernel's 10 ms notification delay). On stop: Manager.Instance(job,
// instance).Signal(kill signal), and after `kill timeout`, .Kill(). When
// an instance has gone: Manager.ReleaseLater (its groups are removed a
// little later, off the caller's path) or Manager.ReleaseInstance (now).
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/conf"
)

// DefaultName is the name of the daemon's subtree below its own cgroup.
const DefaultName = "upstart"

// Options configure a Manager.
type Options struct {
	// Name of the subtree below the daemon's own cgroup; default
	// DefaultName. Tests use a name of their own.
	Name string
	// Logf, when set, receives diagnostics.
	Logf func(format string, args ...any)
	// Inotify, when set, is the inotify descriptor of the daemon's
	// previous image (a re-exec; see InotifyHandover), used instead of a
	// new one. Closing one at the exec would drop a watch per group (and
	// wait for the kernel's grace period); kept, its watches and queued
	// events carry over: Adopt watches each group again, which gives the
	// same watch descriptor back, and looks at it after.
	Inotify *os.File
}

// Empty reports that a watched group has no process left: the process
// type it holds has ended. It is sent once per Group.Watch.
type Empty struct {
	Job, Instance, Process string
	Group                  *Group
}

// Features says what the kernel offers.
type Features struct {
	Kill      bool // cgroup.kill (Linux 5.14): Kill is one write
	Freeze    bool // cgroup.freeze (Linux 5.2): used by Kill without cgroup.kill
	CloneInto bool // CLONE_INTO_CGROUP (Linux 5.7): Request.CgroupDir works
	// V2Controllers can be enabled for our tree; V1Controllers are bound
	// to a cgroup v1 hierarchy (hybrid system).
	V2Controllers, V1Controllers []string
}

// Manager owns the daemon's cgroup tree. Its methods may be called from
// any goroutine.
type Manager struct {
	name     string
	lay      *layout
	root     string            // absolute v2 directory of our tree
	selfPath string            // the daemon's cgroup v2 as /proc/PID/cgroup shows it
	v1root   map[string]string // controller → absolute v1 directory of our tree
	v2ctrls  map[string]bool
	feat     Features
	logf     func(string, ...any)

	mu     sync.Mutex
	groups map[string]*Group // by escaped "JOB/INSTANCE/PROCESS"
	// byJob holds the same groups by escaped JOB, so that what is done
	// for one instance (its processes, kill, release, removal) looks at
	// that job's groups only, not at every group: with 1000 jobs a walk
	// of all groups per job made stop-all quadratic. A list, not a map:
	// most jobs have one group, and a map per job cost about 350 bytes.
	byJob   map[string][]*Group
	wds     map[int]*Group
	applied map[string]string // escaped "JOB/INSTANCE" → settings written there
	closed  bool
	// v1Used: some group of ours may have directories in a v1 hierarchy
	// (one was made, or a tree was adopted after a re-exec). Until then a
	// release need not look at the v1 hierarchies at all (three system
	// calls per hierarchy and instance, 9 hierarchies on Debian 12).
	v1Used bool

	// pending: instances whose groups the releaser is to remove, by
	// escaped "JOB/INSTANCE" (at most one entry per instance).
	pending map[string]release
	rwake   chan struct{}

	ino   *os.File
	empty chan<- Empty
	qmu   sync.Mutex
	queue []Empty
	qwake chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// New finds a writable cgroup v2 hierarchy, creates the daemon's subtree in
// it and starts watching. Empty notifications go to empty, which the
// daemon's loop should read promptly (they are queued without bound
// meanwhile, so the watcher never blocks). An error says why cgroups cannot
// be used (no cgroup2 mounted, not writable without delegation, ...).
func New(empty chan<- Empty, opts Options) (*Manager, error) {
	if empty == nil {
		return nil, errors.New("cgroup: nil Empty channel")
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	lay, err := detect(string(mi), string(self), knownControllers())
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	name := opts.Name
	if name == "" {
		name = DefaultName
	}
	if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || strings.Contains(name, ".") {
		return nil, fmt.Errorf("cgroup: bad subtree name %q", name)
	}
	m := &Manager{
		name:     name,
		lay:      lay,
		root:     filepath.Join(lay.v2Base, name),
		selfPath: parseProcCgroup(string(self))[""],
		v1root:   map[string]string{},
		v2ctrls:  map[string]bool{},
		logf:     opts.Logf,
		groups:   map[string]*Group{},
		byJob:    map[string][]*Group{},
		wds:      map[int]*Group{},
		applied:  map[string]string{},
		empty:    empty,
		qwake:    make(chan struct{}, 1),
		rwake:    make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if m.logf == nil {
		m.logf = func(string, ...any) {}
	}
	if err := unix.Access(lay.v2Base, unix.W_OK); err != nil {
		return nil, fmt.Errorf("cgroup: the daemon's cgroup %s is not writable (%v): no delegation of cgroup v2 to this user", lay.v2Base, err)
	}
	if err := os.Mkdir(m.root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cgroup: cannot create %s: %w", m.root, unwrap(err))
	}
	if _, err := os.Stat(filepath.Join(m.root, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("cgroup: %s is not a cgroup: %w", m.root, unwrap(err))
	}
	_, err = os.Stat(filepath.Join(m.root, "cgroup.kill"))
	m.feat.Kill = err == nil
	_, err = os.Stat(filepath.Join(m.root, "cgroup.freeze"))
	m.feat.Freeze = err == nil
	m.feat.CloneInto = kernelAtLeast(5, 7)
	if b, err := os.ReadFile(filepath.Join(lay.v2Base, "cgroup.controllers")); err == nil {
		for _, c := range strings.Fields(string(b)) {
			m.v2ctrls[c] = true
			m.feat.V2Controllers = append(m.feat.V2Controllers, c)
		}
	}
	for c, dir := range lay.v1Base {
		if !m.v2ctrls[c] {
			m.v1root[c] = filepath.Join(dir, name)
			m.feat.V1Controllers = append(m.feat.V1Controllers, c)
		}
	}
	slices.Sort(m.feat.V1Controllers)

	if opts.Inotify != nil {
		unix.CloseOnExec(int(opts.Inotify.Fd()))
		m.ino = opts.Inotify
	} else {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("cgroup: inotify: %w", err)
		}
		m.ino = os.NewFile(uintptr(fd), "inotify")
	}
	m.wg.Add(3)
	go m.watcher()
	go m.sender()
	go m.releaser()
	return m, nil
}

// Close does the pending releases (ReleaseLater), stops watching and
// closes every group's descriptor. Other groups and their processes are
// left alone (a re-exec'd daemon takes them over).
func (m *Manager) Close() {
	m.once.Do(func() {
		// Releases still waiting are done now: nothing of an instance
		// that went is left behind.
		m.ReleasePending()
		close(m.done)
		m.ino.Close()
		m.wg.Wait()
		m.mu.Lock()
		m.closed = true
		for _, g := range m.groups {
			if g.dir != nil {
				g.dir.Close()
				g.dir = nil
			}
		}
		m.groups = map[string]*Group{}
		m.byJob = map[string][]*Group{}
		m.wds = map[int]*Group{}
		m.mu.Unlock()
	})
}

// InotifyHandover readies the inotify descriptor to stay open across
// the daemon's exec (it clears close-on-exec) and returns its number, for
// the next image's Options.Inotify; undo sets close-on-exec again (the
// exec failed).
func (m *Manager) InotifyHandover() (fd int, undo func(), err error) {
	fd = int(m.ino.Fd())
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return -1, nil, fmt.Errorf("cgroup: keeping the inotify descriptor open: %w", err)
	}
	return fd, func() { unix.CloseOnExec(fd) }, nil
}

// Features reports what the kernel offers.
func (m *Manager) Features() Features { return m.feat }

// Root is the absolute directory of the daemon's cgroup v2 tree.
func (m *Manager) Root() string { return m.root }

// Group returns the cgroup of one process type of one instance, creating
// it (and JOB/INSTANCE) when needed, and applies the job's `cgroup`
// stanzas to the instance (see Limits). Calling it again for the same names
// returns the same *Group. An error from the stanzas names the stanza.
// Stanzas whose NAME has variables need GroupEnv.
func (m *Manager) Group(job, instance, process string, settings []conf.Cgroup) (*Group, error) {
	return m.GroupEnv(job, instance, process, settings, nil)
}

// GroupEnv is Group with the stanzas' NAMEs expanded with env, the
// environment of the process to be spawned. With a named group (see
// Limits) the process group is upstart/JOB/INSTANCE/@NAME.../PROCESS.
func (m *Manager) GroupEnv(job, instance, process string, settings []conf.Cgroup, env []string) (*Group, error) {
	if process == "" {
		return nil, errors.New("cgroup: empty process name")
	}
	pl, err := m.LimitsEnv(settings, env)
	if err != nil {
		return nil, err
	}
	ej, ei, ep := Escape(job), Escape(instance), Escape(process)
	instRel := ej + "/" + ei
	sub := pl.v2Sub
	rel := strings.Join(append(append([]string{instRel}, sub...), ep), "/")

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("cgroup: manager closed")
	}
	if _, ok := m.pending[instRel]; ok {
		// Started again before the release of its last run was done
		// (ReleaseLater): done now, so that this start finds what a
		// release leaves (a group holding processes of another PID
		// namespace is refused below).
		delete(m.pending, instRel)
		m.releasePendingLocked(job, instance)
	}
	// A group we spawned into before (a respawn, the next process of the
	// instance), its settings unchanged: when its directory is still the
	// one we hold open, every directory above it is there too (a directory
	// cannot go while it has one below), so the mkdir chain below would
	// only meet EEXIST at each level.
	if g := m.groups[rel]; g != nil && g.dir != nil && !g.shortened && len(g.v1) == 0 &&
		len(pl.v1Controllers()) == 0 && m.applied[instRel] == pl.fingerprint() && sameDir(g.dir, g.path) {
		g.released = false // wanted again: no release may take it now
		return g, nil
	}
	// From the tree's root down: any of it may have been removed from
	// outside (rmdir of an empty group) since we made it.
	// The tree's root is there nearly always: start below it, and make
	// it again only when it is gone.
	created, err := mkdirs(m.root, append([]string{ej, ei}, sub...)...)
	if errors.Is(err, os.ErrNotExist) {
		created, err = mkdirs(filepath.Dir(m.root), append([]string{m.name, ej, ei}, sub...)...)
	}
	if err != nil {
		return nil, err
	}
	if created {
		delete(m.applied, instRel) // a new INSTANCE has no settings
	}
	if fp := pl.fingerprint(); m.applied[instRel] != fp {
		if err := m.apply(pl, ej, ei); err != nil {
			return nil, err
		}
		m.applied[instRel] = fp
	}
	g := m.groups[rel]
	if g == nil {
		g = &Group{m: m, job: job, instance: instance, process: process, rel: rel,
			path: filepath.Join(m.root, rel), wd: -1}
	} else if g.shortened {
		// Adopt could only name it by its directories.
		g.job, g.instance, g.process, g.shortened = job, instance, process, false
	}
	g.released = false // wanted again: no release may take it now
	// The instance's directories (and named groups) were made just above:
	// only the process group itself is left to make.
	leafNew, err := mkdirs(filepath.Join(m.root, instRel, strings.Join(sub, "/")), ep)
	if err != nil {
		return nil, err
	}
	if g.dir != nil && !sameDir(g.dir, g.path) {
		// Removed from outside and made again just now: the old handle
		// names a directory that is gone (a spawn into it fails).
		m.logf("cgroup: %s was removed from outside; made again", rel)
		m.forgetLocked(g)
		g.wd = -1
	}
	var v1 []string
	for _, c := range pl.v1Controllers() {
		dir, err := m.v1dirs(c, append(append([]string{ej, ei}, pl.v1Sub[c]...), ep)...)
		if err != nil {
			return nil, err
		}
		v1 = append(v1, dir)
		g.noteV1(dir)
	}
	g.v1 = v1
	if g.dir == nil {
		// A directory made just now holds nothing: only one that was
		// there already can hold someone else's processes.
		if !leafNew && foreign(g.path) {
			// Left by someone else (a daemon of another PID namespace
			// sharing the tree): never spawn into it, never kill it.
			return nil, fmt.Errorf("cgroup: %s holds processes that are not ours (another PID namespace)", g.path)
		}
		d, err := openDir(g.path)
		if err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		wd, err := unix.InotifyAddWatch(int(m.ino.Fd()), filepath.Join(g.path, "cgroup.events"), unix.IN_MODIFY)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("cgroup: watching %s: %w", g.path, err)
		}
		g.dir, g.wd = d, wd
		m.wds[wd] = g
		m.putLocked(rel, g)
	}
	return g, nil
}

// Instance returns the group of a whole instance (parent of its process
// groups) without creating it, to list, signal, kill or remove all of its
// processes together. An instance that has no cgroup (yet) has no
// processes. It cannot be watched.
func (m *Manager) Instance(job, instance string) *Group {
	rel := Escape(job) + "/" + Escape(instance)
	return &Group{m: m, job: job, instance: instance, rel: rel, path: filepath.Join(m.root, rel), wd: -1}
}

// Job returns the group of every instance of a job, like Instance.
func (m *Manager) Job(job string) *Group {
	rel := Escape(job)
	return &Group{m: m, job: job, rel: rel, path: filepath.Join(m.root, rel), wd: -1}
}

// Lookup says which group of ours pid is in, from /proc/PID/cgroup. ok is
// false when pid is not in our tree (or is gone).
func (m *Manager) Lookup(pid int) (job, instance, process string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", "", "", false
	}
	p, ok := parseProcCgroup(string(b))[""]
	if !ok {
		return "", "", "", false
	}
	return m.LookupPath(p)
}

// LookupPath says which group of ours a cgroup v2 path (as
// /proc/PID/cgroup shows it) is.
func (m *Manager) LookupPath(p string) (job, instance, process string, ok bool) {
	prefix := strings.TrimSuffix(m.selfPath, "/") + "/" + m.name + "/"
	rel, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return "", "", "", false
	}
	m.mu.Lock()
	if g := m.groups[rel]; g != nil {
		defer m.mu.Unlock()
		return g.job, g.instance, g.process, true
	}
	m.mu.Unlock()
	parts := strings.Split(rel, "/")
	if len(parts) > 3 && len(parts) <= 3+MaxNameDepth {
		// JOB/INSTANCE/@NAME.../PROCESS: drop the named group.
		for _, p := range parts[2 : len(parts)-1] {
			if !strings.HasPrefix(p, "@") {
				return "", "", "", false
			}
		}
		parts = []string{parts[0], parts[1], parts[len(parts)-1]}
	}
	if len(parts) != 3 || strings.HasPrefix(parts[2], "@") {
		return "", "", "", false
	}
	var names [3]string
	for i, s := range parts {
		if names[i], ok = Unescape(s); !ok {
			return "", "", "", false
		}
	}
	return names[0], names[1], names[2], true
}

// mkdirs creates base/a, base/a/b, ... as needed; created says whether
// it made any.
func mkdirs(base string, comps ...string) (created bool, err error) {
	p := base
	for _, c := range comps {
		p = filepath.Join(p, c)
		err := os.Mkdir(p, 0o755)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return created, fmt.Errorf("cgroup: cannot create %s: %w", p, unwrap(err))
		}
		created = created || err == nil
	}
	return created, nil
}

// jobOf is the escaped JOB of a group's rel ("JOB/INSTANCE/...").
func jobOf(rel string) string {
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return rel
}

// putLocked records g under rel in both indexes.
func (m *Manager) putLocked(rel string, g *Group) {
	m.groups[rel] = g
	j := m.byJob[jobOf(rel)]
	for k, h := range j {
		if h.rel == rel {
			j[k] = g
			return
		}
	}
	m.byJob[jobOf(rel)] = append(j, g)
}

// jobGroupsLocked returns a copy of the groups of the escaped job ej, for
// loops that forget groups as they go.
func (m *Manager) jobGroupsLocked(ej string) []*Group {
	return slices.Clone(m.byJob[ej])
}

// openDir opens a cgroup directory for CLONE_INTO_CGROUP and *at calls.
// os.OpenFile would also try (and fail) to add it to the runtime's
// poller: four system calls more per group.
func openDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readSmall reads a small cgroup file (cgroup.events, cgroup.procs of a
// process group) with plain system calls: os.Open would register it with
// the runtime's poller (kernfs files can be polled) and remove it again,
// four system calls more on every read, and these are read on every
// spawn and every exit.
func readSmall(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var buf [512]byte
	var out []byte
	for {
		n, err := unix.Read(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

// sameDir says whether the open directory d is still the one at path.
func sameDir(d *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(d.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// v1dirs creates upstart/JOB/INSTANCE/PROCESS in the v1 hierarchy of c and
// returns the PROCESS directory.
func (m *Manager) v1dirs(c string, comps ...string) (string, error) {
	root, ok := m.v1root[c]
	if !ok {
		return "", fmt.Errorf("cgroup: controller %s is not mounted as cgroup v1", c)
	}
	m.v1Used = true
	p := filepath.Dir(root)
	for _, comp := range append([]string{filepath.Base(root)}, comps...) {
		parent := p
		p = filepath.Join(p, comp)
		err := os.Mkdir(p, 0o755)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("cgroup: cannot create %s: %w", p, unwrap(err))
		}
		if err == nil && c == "cpuset" {
			// A new v1 cpuset has no cpus and no memory nodes: nothing
			// could join it. Start with the parent's.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if err := writeFile(filepath.Join(p, f), strings.TrimSpace(string(b))); err != nil {
						return "", err
					}
				}
			}
		}
	}
	return p, nil
}

func writeFile(name, value string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return unwrap(err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return unwrap(err)
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, pe.Path, pe.Err)
	}
	return err
}

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var a, b int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &a, &b)
	return a > major || a == major && b >= minor
}

// errno extracts the errno of err, or 0.
func errno(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
