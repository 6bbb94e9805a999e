// Package filebridge is upstart-file-bridge's logic: it watches, with
// inotify, the paths that jobs' `file` conditions name and emits
//
//	file FILE=<as the job wrote it> EVENT=create|modify|delete [MATCH=<path>]
//
// FILE may name a file, a directory (trailing '/': events for the files in
// it) or a glob in its last component (MATCH is then the file that
// matched). A path whose directory does not exist yet is found when it
// appears: the nearest existing ancestor is watched meanwhile. When a
// watch is set up for a job that wants `create` (or any event), files that
// already exist are reported once as created, so a job is not left
// waiting for a file that was there before the bridge (or the job) was.
//
// Modification is reported when a file opened for writing is closed
// (IN_CLOSE_WRITE), once per write session rather than per write(2).
package filebridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Event types.
const (
	Create = "create"
	Modify = "modify"
	Delete = "delete"
)

// A Spec is one FILE value and the event types jobs want for it ("" in
// Types means any).
type Spec struct {
	File  string          // as written in the job
	Types map[string]bool // wanted EVENT values; empty: all
}

// wants reports whether the spec asks for events of type t.
func (s *Spec) wants(t string) bool { return len(s.Types) == 0 || s.Types[t] }

// An Event is one file event to emit.
type Event struct {
	File, Type, Match string
}

// Env is the event's environment in Upstart's order.
func (e Event) Env() []string {
	env := []string{"FILE=" + e.File, "EVENT=" + e.Type}
	if e.Match != "" {
		env = append(env, "MATCH="+e.Match)
	}
	return env
}

// kind of a spec's path.
type kind int

const (
	kindFile kind = iota
	kindDir
	kindGlob
)

type watch struct {
	spec   *Spec
	path   string // the path, resolved (home for --user)
	kind   kind
	dir    string // directory whose entries decide
	base   string // file name or glob pattern (kindFile, kindGlob)
	parent string // directory actually watched (dir, or its nearest existing ancestor)
}

// Watcher holds the inotify instance and the specs.
type Watcher struct {
	mu     sync.Mutex
	fd     int
	file   *os.File // fd, read through the runtime's poller so Close ends Run
	closed bool
	home   string // base of relative paths (--user); "" refuses them
	specs  map[string]*watch
	wds    map[int]string // watch descriptor → directory
	dirs   map[string]int // directory → watch descriptor
	emit   func(Event)
	logf   func(string, ...any)
	// present holds, per spec and path, the files reported created and
	// not deleted since: a file is reported created once, although the
	// watch on a directory that has just appeared and the look into it
	// may both see it.
	present map[string]bool
}

// New returns a watcher that calls emit for every event. home, when set,
// is the base of relative and ~/ paths (a session's bridge); otherwise
// only absolute paths are watched.
func New(home string, emit func(Event), logf func(string, ...any)) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	return &Watcher{fd: fd, file: os.NewFile(uintptr(fd), "inotify"), home: home, specs: map[string]*watch{}, wds: map[int]string{},
		dirs: map[string]int{}, emit: emit, logf: logf, present: map[string]bool{}}, nil
}

// Close stops watching; Run returns.
func (w *Watcher) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return w.file.Close()
}

// resolve makes FILE absolute, or says why it cannot be watched.
func (w *Watcher) resolve(file string) (string, error) {
	switch {
	case file == "":
		return "", errors.New("empty FILE")
	case strings.ContainsRune(file, 0):
		return "", errors.New("FILE contains a NUL byte")
	case filepath.IsAbs(file):
		return file, nil
	case w.home == "":
		return "", errors.New("FILE must be an absolute path (relative paths only with --user)")
	case file == "~" || strings.HasPrefix(file, "~/"):
		return filepath.Join(w.home, strings.TrimPrefix(file, "~")) + trailingSlash(file), nil
	default:
		return filepath.Join(w.home, file) + trailingSlash(file), nil
	}
}

func trailingSlash(p string) string {
	if strings.HasSuffix(p, "/") {
		return "/"
	}
	return ""
}

// SetSpecs replaces the set of watched specs. Specs that are new get
// their pre-existing files reported as created (when they want create).
func (w *Watcher) SetSpecs(specs []*Spec) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	next := map[string]*watch{}
	var fresh []*watch
	for _, s := range specs {
		p, err := w.resolve(s.File)
		if err != nil {
			w.logf("Ignoring FILE=%q: %v", s.File, err)
			continue
		}
		wt := &watch{spec: s, path: p}
		switch {
		case strings.HasSuffix(p, "/"):
			wt.kind, wt.dir = kindDir, filepath.Clean(p)
		case strings.ContainsAny(filepath.Base(p), "*?["):
			if _, err := filepath.Match(filepath.Base(p), ""); err != nil {
				w.logf("Ignoring FILE=%q: bad pattern: %v", s.File, err)
				continue
			}
			wt.kind, wt.dir, wt.base = kindGlob, filepath.Dir(p), filepath.Base(p)
		default:
			wt.kind, wt.dir, wt.base = kindFile, filepath.Dir(filepath.Clean(p)), filepath.Base(p)
		}
		old, ok := w.specs[s.File]
		next[s.File] = wt
		if !ok || (!old.spec.wants(Create) && s.wants(Create)) {
			fresh = append(fresh, wt)
		}
	}
	w.specs = next
	for key := range w.present {
		if file, _, _ := strings.Cut(key, "\x00"); next[file] == nil {
			delete(w.present, key)
		}
	}
	w.rewatch()
	for _, wt := range fresh {
		w.existing(wt)
	}
}

// rewatch sets up the inotify watches the specs need and drops the others.
// A directory on the way may be made between the look and the watch on its
// parent, unseen by that watch: so look again after watching, until the
// watched directories stay the same.
func (w *Watcher) rewatch() {
	for range 64 {
		if !w.rewatchOnce() {
			return
		}
	}
}

// rewatchOnce reports whether a spec's watched directory has changed
// since it was watched.
func (w *Watcher) rewatchOnce() (changed bool) {
	want := map[string]bool{}
	for _, wt := range w.specs {
		wt.parent = nearestDir(wt.dir)
		want[wt.parent] = true
	}
	for dir, wd := range w.dirs {
		if !want[dir] {
			unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.dirs, dir)
			delete(w.wds, wd)
		}
	}
	for dir := range want {
		if _, ok := w.dirs[dir]; ok {
			continue
		}
		wd, err := unix.InotifyAddWatch(w.fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|
			unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_ONLYDIR)
		if err != nil {
			w.logf("Unable to watch %s: %v", dir, err)
			continue
		}
		w.dirs[dir] = wd
		w.wds[wd] = dir
	}
	for _, wt := range w.specs {
		if nearestDir(wt.dir) != wt.parent {
			changed = true
		}
	}
	return changed
}

// nearestDir is dir, or its nearest ancestor that exists as a directory.
func nearestDir(dir string) string {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return dir
		}
		dir = up
	}
}

// existing reports files that exist already as created, for a spec that
// wants create.
func (w *Watcher) existing(wt *watch) {
	if !wt.spec.wants(Create) || wt.parent != wt.dir {
		return
	}
	switch wt.kind {
	case kindFile:
		full := filepath.Join(wt.dir, wt.base)
		if _, err := os.Lstat(full); err == nil {
			w.report(Event{File: wt.spec.File, Type: Create}, full)
		}
	case kindGlob, kindDir:
		ents, err := os.ReadDir(wt.dir)
		if err != nil {
			return
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			if ev, ok := wt.match(n, Create); ok {
				w.report(ev, filepath.Join(wt.dir, n))
			}
		}
	}
}

// report emits e for the file full, once per creation.
func (w *Watcher) report(e Event, full string) {
	key := e.File + "\x00" + full
	switch e.Type {
	case Create:
		if w.present[key] {
			return
		}
		w.present[key] = true
	case Delete:
		delete(w.present, key)
	}
	w.emit(e)
}

// match says whether an entry name of wt.dir changing as t is an event of
// wt, and which.
func (wt *watch) match(name, t string) (Event, bool) {
	if !wt.spec.wants(t) {
		return Event{}, false
	}
	switch wt.kind {
	case kindFile:
		if name == wt.base {
			return Event{File: wt.spec.File, Type: t}, true
		}
	case kindDir:
		return Event{File: wt.spec.File, Type: t}, true
	case kindGlob:
		if ok, _ := filepath.Match(wt.base, name); ok {
			return Event{File: wt.spec.File, Type: t, Match: filepath.Join(wt.dir, name)}, true
		}
	}
	return Event{}, false
}

// Run reads inotify events until Close. It returns the read error.
func (w *Watcher) Run() error {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		if n <= 0 {
			return errors.New("inotify: short read")
		}
		w.handle(buf[:n])
	}
}

// handle processes one read's worth of inotify events.
func (w *Watcher) handle(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	structural := false
	for len(b) >= unix.SizeofInotifyEvent {
		ev := unix.InotifyEvent{Wd: int32(binary.NativeEndian.Uint32(b)), Mask: binary.NativeEndian.Uint32(b[4:]),
			Len: binary.NativeEndian.Uint32(b[12:])}
		size := unix.SizeofInotifyEvent + int(ev.Len)
		if size > len(b) {
			break
		}
		name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:size]), "\x00")
		b = b[size:]
		dir, ok := w.wds[int(ev.Wd)]
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			w.logf("inotify queue overflowed: some file events were lost")
			structural = true
			continue
		}
		if !ok {
			continue
		}
		if ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0 {
			// The watched directory went (or moved away): its watch is
			// dead or follows it elsewhere. Forget it now, so that a
			// directory made again at the same path gets a watch of its
			// own.
			if ev.Mask&unix.IN_IGNORED == 0 {
				unix.InotifyRmWatch(w.fd, uint32(ev.Wd))
			}
			delete(w.wds, int(ev.Wd))
			if w.dirs[dir] == int(ev.Wd) {
				delete(w.dirs, dir)
			}
			structural = true
			continue
		}
		var t string
		switch {
		case ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
			t = Create
		case ev.Mask&unix.IN_CLOSE_WRITE != 0:
			t = Modify
		case ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
			t = Delete
		default:
			continue
		}
		full := filepath.Join(dir, name)
		for _, file := range sortedKeys(w.specs) {
			wt := w.specs[file]
			if wt.parent != dir {
				continue
			}
			if wt.parent != wt.dir {
				// Watching an ancestor: a directory on the way to the
				// spec's appeared or went.
				if ev.Mask&unix.IN_ISDIR != 0 && (full == wt.dir || strings.HasPrefix(wt.dir, full+"/")) {
					structural = true
				}
				continue
			}
			if e, ok := wt.match(name, t); ok {
				w.report(e, full)
			} else if t == Delete {
				delete(w.present, file+"\x00"+full) // a spec that does not want deletes
			}
		}
	}
	if structural {
		// Files can go without a delete of their own (their directory
		// moved away): forget those.
		for key := range w.present {
			if _, full, _ := strings.Cut(key, "\x00"); !exists(full) {
				delete(w.present, key)
			}
		}
		before := map[*watch]string{}
		for _, wt := range w.specs {
			before[wt] = wt.parent
		}
		w.rewatch()
		for _, file := range sortedKeys(w.specs) {
			wt := w.specs[file]
			if before[wt] != wt.dir && wt.parent == wt.dir {
				// The directory has just appeared: what is in it already
				// was created since the spec was set.
				w.existing(wt)
			}
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func sortedKeys(m map[string]*watch) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
