package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watcher watches configuration directories recursively with inotify and
// says when something under them changed. Notifications coalesce: C
// holds at most one pending value; after receiving it, call Changed for
// the paths.
type Watcher struct {
	// C receives a value when something changed since the last Changed.
	C <-chan struct{}

	c      chan struct{}
	fd     int
	wake   [2]int // pipe to interrupt poll on Close
	mu     sync.Mutex
	wds    map[int]string  // watch descriptor → directory
	paths  map[string]bool // changed path → it is (or was) a directory
	all    bool            // too many changes or an overflow: reload everything
	closed bool
	done   chan struct{}
}

const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_CLOSE_WRITE | unix.IN_MODIFY |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ATTRIB | unix.IN_ONLYDIR

// maxPaths bounds what Changed accumulates before it reports "everything".
const maxPaths = 4096

// NewWatcher watches each of dirs that exists, and its sub-directories
// (except those IgnoredDir skips). Directories created later under a
// watched one are watched too.
func NewWatcher(dirs []string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	w := &Watcher{fd: fd, wds: map[int]string{}, paths: map[string]bool{},
		c: make(chan struct{}, 1), done: make(chan struct{})}
	w.C = w.c
	if err := unix.Pipe2(w.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, err
	}
	for _, d := range dirs {
		w.addTree(d, true)
	}
	go w.loop()
	return w, nil
}

// addTree adds watches for dir and every sub-directory under it.
func (w *Watcher) addTree(dir string, top bool) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			if !top {
				w.note(path, false) // files in a directory that just appeared
			}
			return nil
		}
		if path != dir && IgnoredDir(d.Name()) {
			return fs.SkipDir
		}
		wd, err := unix.InotifyAddWatch(w.fd, path, watchMask)
		if err == nil {
			w.mu.Lock()
			w.wds[wd] = path
			w.mu.Unlock()
		}
		return nil
	})
}

func (w *Watcher) note(path string, dir bool) {
	w.mu.Lock()
	if !w.all {
		w.paths[path] = w.paths[path] || dir
		if len(w.paths) > maxPaths {
			w.all, w.paths = true, map[string]bool{}
		}
	}
	w.mu.Unlock()
	select {
	case w.c <- struct{}{}:
	default:
	}
}

func (w *Watcher) noteAll() {
	w.mu.Lock()
	w.all, w.paths = true, map[string]bool{}
	w.mu.Unlock()
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// Changed returns the paths changed since the last call. all is true when
// the watcher lost track (queue overflow, too many changes): reload
// everything.
func (w *Watcher) Changed() (paths []string, all bool) {
	files, dirs, all := w.Changes()
	return append(files, dirs...), all
}

// Changes is Changed with the paths of directories (created, removed or
// moved, below a watched directory or one of them itself) apart from the
// others.
func (w *Watcher) Changes() (files, dirs []string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, dir := range w.paths {
		if dir {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	all = w.all
	w.paths, w.all = map[string]bool{}, false
	return files, dirs, all
}

func (w *Watcher) loop() {
	defer close(w.done)
	buf := make([]byte, 64*1024)
	for {
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}, {Fd: int32(w.wake[0]), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		for {
			n, err := unix.Read(w.fd, buf)
			if err != nil || n <= 0 {
				break
			}
			w.handle(buf[:n])
		}
	}
}

func (w *Watcher) handle(b []byte) {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		size := unix.SizeofInotifyEvent + int(ev.Len)
		if size > len(b) {
			return
		}
		var name string
		if ev.Len > 0 {
			nb := b[unix.SizeofInotifyEvent:size]
			for i, c := range nb {
				if c == 0 {
					nb = nb[:i]
					break
				}
			}
			name = string(nb)
		}
		b = b[size:]
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			w.noteAll()
			continue
		}
		w.mu.Lock()
		dir, ok := w.wds[int(ev.Wd)]
		if ev.Mask&unix.IN_IGNORED != 0 {
			delete(w.wds, int(ev.Wd))
		}
		w.mu.Unlock()
		if !ok {
			continue
		}
		path := dir
		if name != "" {
			path = filepath.Join(dir, name)
		}
		if ev.Mask&unix.IN_ISDIR != 0 && ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			if !IgnoredDir(name) {
				w.addTree(path, false)
				w.note(path, true)
			}
			continue
		}
		if ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0 && name == "" {
			w.note(dir, true)
			continue
		}
		if ev.Mask&unix.IN_ISDIR != 0 {
			w.note(path, true) // a directory went away: everything under it
			continue
		}
		w.note(path, false)
	}
}

// Close stops the watcher and releases its file descriptors.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	_, _ = unix.Write(w.wake[1], []byte{0})
	<-w.done
	unix.Close(w.wake[0])
	unix.Close(w.wake[1])
	return os.NewSyscallError("close", unix.Close(w.fd))
}
