package conf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

const (
	ConfExt     = ".conf"
	OverrideExt = ".override"
)

// IgnoredDir reports whether a sub-directory of a configuration directory
// is skipped: hidden, editor backups and swap files, RCS/CVS, packaging
// leftovers.
func IgnoredDir(name string) bool {
	switch {
	case name == "" || name[0] == '.':
		return true
	case name == "RCS" || name == "CVS" || name == "SCCS":
		return true
	case strings.HasSuffix(name, "~"),
		strings.HasSuffix(name, ".bak"), strings.HasSuffix(name, ".BAK"),
		strings.HasSuffix(name, ".swp"), strings.HasSuffix(name, ".swo"),
		strings.HasSuffix(name, ".swn"),
		strings.Contains(name, ".dpkg-"),
		strings.HasSuffix(name, ".rpmsave"), strings.HasSuffix(name, ".rpmorig"),
		strings.HasSuffix(name, ".rpmnew"):
		return true
	}
	return false
}

// SplitName splits a path relative to a configuration directory into the
// job name and the extension (ConfExt or OverrideExt). ok is false for
// files that are neither: the last '.' of the path must start ".conf" or
// ".override" and may be neither the first character nor follow a '/'.
func SplitName(rel string) (name, ext string, ok bool) {
	i := strings.LastIndexByte(rel, '.')
	if i <= 0 || rel[i-1] == '/' {
		return "", "", false
	}
	switch rel[i:] {
	case ConfExt, OverrideExt:
		return rel[:i], rel[i:], true
	}
	return "", "", false
}

// NameForPath returns the job name a file under one of dirs stands for
// (with its extension), or ok false.
func NameForPath(dirs []string, path string) (name, ext string, ok bool) {
	for _, d := range dirs {
		rel, err := filepath.Rel(d, path)
		if err != nil || rel == "." || strings.HasPrefix(rel, "../") || rel == ".." {
			continue
		}
		return SplitName(filepath.ToSlash(rel))
	}
	return "", "", false
}

// found is one regular file for a job name in one source.
type found struct {
	conf, override string // paths, "" if absent
}

// scan walks dir and returns, per job name, its .conf and .override.
// A missing dir gives nothing and no error.
func scan(dir string) (map[string]*found, []error) {
	out := map[string]*found{}
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			errs = append(errs, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return nil
		}
		name, ext, ok := SplitName(filepath.ToSlash(rel))
		if d.IsDir() {
			if path != dir && IgnoredDir(d.Name()) {
				return fs.SkipDir
			}
			if ok && path != dir {
				// Walked for the jobs in it, but it defines none.
				errs = append(errs, &SkipError{Path: path, Kind: "a directory"})
			}
			return nil
		}
		if !ok {
			return nil
		}
		if err := CheckName(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: not loaded: %w", strconv.QuoteToASCII(path), err))
			return nil
		}
		if !d.Type().IsRegular() {
			// Symlinks and special files are not loaded (as in
			// Upstart), nor opened: a FIFO would block the reader.
			errs = append(errs, &SkipError{Path: path, Kind: fileKind(path, d.Type())})
			return nil
		}
		f := out[name]
		if f == nil {
			f = &found{}
			out[name] = f
		}
		if ext == ConfExt {
			f.conf = path
		} else {
			f.override = path
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return out, errs
}

// SkipError reports an entry with a job file's name that is not a regular
// file, so not loaded: one line per entry per load.
type SkipError struct {
	Path string
	Kind string // "a FIFO", "a symbolic link loop", ...
}

func (e *SkipError) Error() string {
	return e.Path + ": not a regular file (" + e.Kind + "), skipped"
}

// fileKind names what a non-regular entry is.
func fileKind(path string, t fs.FileMode) string {
	switch {
	case t&fs.ModeSymlink != 0:
		if _, err := os.Stat(path); errors.Is(err, unix.ELOOP) {
			return "a symbolic link loop"
		} else if err != nil {
			return "a dangling symbolic link"
		}
		return "a symbolic link; not supported"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	case t.IsDir():
		return "a directory"
	}
	return "not a regular file"
}

// filesRead counts the job files read (tests count re-reads).
var filesRead atomic.Int64

// Reread re-reads what changed, for a Watcher's Changes: the job of each
// changed .conf or .override, by name (LoadJob), as a map from job name to
// its new definition, nil for a job that has no file any more (or none
// that loads). Other files are not read. ok is false when a directory
// changed (created, removed or moved): the caller loads everything
// (Load), as it does when the watcher lost track.
func Reread(dirs []string, files, changedDirs []string) (jobs map[string]*Job, ok bool, errs []error) {
	if len(changedDirs) > 0 {
		return nil, false, nil
	}
	names := map[string]bool{}
	for _, p := range files {
		if name, _, ok := NameForPath(dirs, p); ok {
			if err := CheckName(name); err != nil {
				errs = append(errs, fmt.Errorf("%s: not loaded: %w", strconv.QuoteToASCII(p), err))
				continue
			}
			names[name] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	jobs = map[string]*Job{}
	for _, n := range sorted {
		j, e := LoadJob(dirs, n)
		errs = append(errs, e...)
		jobs[n] = j
	}
	return jobs, true, errs
}

// readFile reads at most MaxFileSize+1 bytes, so that Parse reports a
// too-large file without us reading all of it. It opens nothing that can
// block (O_NONBLOCK: a FIFO put in place of the file since the directory
// was read) and reads only regular files; a symbolic link is followed
// only when follow is set (init-checkconf FILE), never for a file of a
// configuration directory.
func readFile(path string, follow bool) ([]byte, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		if err == unix.ELOOP && !follow {
			return nil, &SkipError{Path: path, Kind: "a symbolic link; not supported"}
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	filesRead.Add(1)
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &SkipError{Path: path, Kind: fileKind(path, fi.Mode().Type())}
	}
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Load reads every job from the configuration directories dirs, in
// priority order (the first holding NAME.conf that parses wins; a broken
// file of higher priority is reported and the next one used). Each job has
// its override applied: the first NAME.override found scanning dirs in
// order up to and including the one holding the winning .conf. A broken
// override is reported and the job is loaded without it. Errors never stop
// other jobs loading.
func Load(dirs []string) (map[string]*Job, []error) {
	var errs []error
	scans := make([]map[string]*found, len(dirs))
	names := map[string]bool{}
	for i, d := range dirs {
		s, e := scan(d)
		scans[i] = s
		errs = append(errs, e...)
		for n, f := range s {
			if f.conf != "" {
				names[n] = true
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	jobs := map[string]*Job{}
	for _, n := range sorted {
		j, e := loadFromScans(scans, n)
		errs = append(errs, e...)
		if j != nil {
			jobs[n] = j
		}
	}
	return jobs, errs
}

// LoadJob (re)reads one job by name, as Load would. A nil job with no
// errors means no source has NAME.conf.
func LoadJob(dirs []string, name string) (*Job, []error) {
	if _, _, ok := SplitName(name + ConfExt); !ok || !validName(name) || CheckName(name) != nil {
		return nil, nil
	}
	scans := make([]map[string]*found, len(dirs))
	var errs []error
	for i, d := range dirs {
		scans[i] = map[string]*found{}
		f := &found{}
		base := filepath.Join(d, filepath.FromSlash(name))
		for _, ext := range []string{ConfExt, OverrideExt} {
			fi, err := os.Lstat(base + ext)
			switch {
			case err != nil:
				continue
			case !fi.Mode().IsRegular():
				errs = append(errs, &SkipError{Path: base + ext, Kind: fileKind(base+ext, fi.Mode().Type())})
			case ext == ConfExt:
				f.conf = base + ext
			default:
				f.override = base + ext
			}
		}
		scans[i][name] = f
	}
	j, e := loadFromScans(scans, name)
	return j, append(errs, e...)
}

// CheckName refuses job names that could not be shown or sent as they
// are: not UTF-8, with control characters (a newline would forge lines of
// `initctl list`), or with a path element "." or "..".
func CheckName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("the job name %s is not valid UTF-8", strconv.QuoteToASCII(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return fmt.Errorf("the job name %s holds a control character", strconv.QuoteToASCII(name))
		}
	}
	for _, p := range strings.Split(name, "/") {
		if p == "." || p == ".." {
			return fmt.Errorf("the job name %q has a path element %q", name, p)
		}
	}
	return nil
}

// validName rejects names whose directories Load would not walk into.
func validName(name string) bool {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if p == "" || p == ".." || p == "." {
			return false
		}
		if i < len(parts)-1 && IgnoredDir(p) {
			return false
		}
	}
	return true
}

func loadFromScans(scans []map[string]*found, name string) (*Job, []error) {
	var errs []error
	for i, s := range scans {
		f := s[name]
		if f == nil || f.conf == "" {
			continue
		}
		data, err := readFile(f.conf, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		j, err := Parse(name, f.conf, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range scans[:i+1] {
			of := o[name]
			if of == nil || of.override == "" {
				continue
			}
			data, err := readFile(of.override, false)
			if err != nil {
				errs = append(errs, err)
				break
			}
			oj, err := ParseOverride(j, of.override, data)
			if err != nil {
				errs = append(errs, err)
				break
			}
			j = oj
			break
		}
		return j, errs
	}
	return nil, errs
}
