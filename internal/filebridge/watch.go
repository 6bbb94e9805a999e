package filebridge

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/cond"
)

const dirMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE | unix.IN_DELETE |
	unix.IN_MOVED_FROM | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// MaxMatches bounds the paths remembered per spec (to tell a new match
// from one already announced at a rescan).
const MaxMatches = 65536

// Watcher watches the directories of a set of specs with one inotify
// descriptor and calls Emit with the environment of each `file` event.
type Watcher struct {
	Emit func(env []string)
	Log  func(msg string)

	f     *os.File // the inotify descriptor
	mu    sync.Mutex
	specs []*Spec
	wds   map[int]string // watch descriptor → directory
	byDir map[string]int
	known map[string]map[string]bool // spec.File → matches already announced or seen
}

// NewWatcher opens the inotify descriptor.
func NewWatcher(emit func([]string), log func(string)) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &Watcher{Emit: emit, Log: log, f: os.NewFile(uintptr(fd), "inotify"),
		wds: map[int]string{}, byDir: map[string]int{}, known: map[string]map[string]bool{}}, nil
}

// Close ends Run.
func (w *Watcher) Close() error { return w.f.Close() }

// SetSpecs replaces what is watched. Matches that exist and were not
// announced before are announced as created (once), for specs that want
// creations.
func (w *Watcher) SetSpecs(specs []*Spec) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.specs = specs
	keep := map[string]bool{}
	for _, s := range specs {
		keep[s.File] = true
	}
	for f := range w.known {
		if !keep[f] {
			delete(w.known, f)
		}
	}
	w.rescan()
}

// rescan watches what the specs need now and announces new matches.
func (w *Watcher) rescan() {
	need := map[string]bool{}
	for _, s := range w.specs {
		d := s.Dir
		for {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				break
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
		need[d] = true
	}
	for dir, wd := range w.byDir {
		if !need[dir] {
			unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd))
			delete(w.byDir, dir)
			delete(w.wds, wd)
		}
	}
	dirs := make([]string, 0, len(need))
	for d := range need {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if _, ok := w.byDir[d]; ok {
			continue
		}
		wd, err := unix.InotifyAddWatch(int(w.f.Fd()), d, dirMask)
		if err != nil {
			w.Log("unable to watch " + d + ": " + err.Error())
			continue
		}
		w.byDir[d] = wd
		w.wds[wd] = d
	}
	for _, s := range w.specs {
		now := s.matches()
		known := w.known[s.File]
		if known == nil {
			known = map[string]bool{}
			w.known[s.File] = known
		}
		for _, p := range now {
			if !known[p] && s.wants(Create) {
				w.Emit(s.env(Create, p))
			}
		}
		clear(known)
		for _, p := range now {
			if len(known) < MaxMatches {
				known[p] = true
			}
		}
	}
}

// matches lists the paths that match a spec now.
func (s *Spec) matches() []string {
	if s.Kind == "file" {
		p := filepath.Join(s.Dir, s.Pattern)
		if _, err := os.Lstat(p); err == nil {
			return []string{p}
		}
		return nil
	}
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if s.Kind == "dir" || cond.FnMatch(s.Pattern, e.Name()) {
			out = append(out, filepath.Join(s.Dir, e.Name()))
		}
	}
	return out
}

func (s *Spec) match(name string) bool {
	switch s.Kind {
	case "file":
		return name == s.Pattern
	case "glob":
		return cond.FnMatch(s.Pattern, name)
	}
	return true
}

// env is the environment of a `file` event.
func (s *Spec) env(ev, path string) []string {
	env := []string{"FILE=" + s.File, "EVENT=" + ev}
	if s.Kind != "file" {
		env = append(env, "MATCH="+path)
	}
	return env
}

// Run reads inotify events until Close.
func (w *Watcher) Run() error {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		w.mu.Lock()
		w.handle(buf[:n])
		w.mu.Unlock()
	}
}

func (w *Watcher) handle(b []byte) {
	again := false
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
		b = b[end:]
		mask := ev.Mask
		if mask&(unix.IN_Q_OVERFLOW|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0 {
			again = true
			continue
		}
		dir, ok := w.wds[int(ev.Wd)]
		if !ok {
			continue
		}
		if mask&unix.IN_ISDIR != 0 && mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			again = true // perhaps a directory some spec waits for
		}
		kind := ""
		switch {
		case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
			kind = Create
		case mask&unix.IN_CLOSE_WRITE != 0:
			kind = Modify
		case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
			kind = Delete
		default:
			continue
		}
		path := filepath.Join(dir, name)
		for _, s := range w.specs {
			if s.Dir != dir || !s.match(name) {
				continue
			}
			known := w.known[s.File]
			switch kind {
			case Create:
				if known != nil && len(known) < MaxMatches {
					known[path] = true
				}
			case Delete:
				delete(known, path)
			}
			if s.wants(kind) {
				w.Emit(s.env(kind, path))
			}
		}
	}
	if again {
		w.rescan()
	}
}
