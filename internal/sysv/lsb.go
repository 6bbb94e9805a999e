// Package sysv runs System V init scripts (/etc/init.d) for a runlevel
// change the way Debian's rc and startpar do: which scripts run comes from
// the /etc/rcN.d links, their order from the scripts' LSB headers (or
// insserv's .depend files), and every script starts as soon as the ones
// it depends on are done. It knows nothing of the init daemon: events go
// out through a Notifier that the command connects to the control API.
package sysv

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Header is the LSB comment block of an init script ("### BEGIN INIT
// INFO" … "### END INIT INFO"). Lists hold the words as written
// (facilities keep their "$").
type Header struct {
	Provides      []string
	RequiredStart []string
	RequiredStop  []string
	ShouldStart   []string
	ShouldStop    []string
	StartBefore   []string // X-Start-Before: these start after this script
	StopAfter     []string // X-Stop-After: this script stops after these
	DefaultStart  []string
	DefaultStop   []string
	Interactive   bool // X-Interactive: true (needs the console alone)
	Found         bool // the script has a header at all
}

// maxHeaderLines bounds how far into a script we look for the header
// (insserv reads whole files; scripts keep it near the top, and a binary
// that happens to live in init.d must not be read whole).
const maxHeaderLines = 2000

// ParseHeader reads the LSB header of a script. name is used in errors
// ("NAME:LINE: message"). A script without a header is not an error
// (Found is false); a header that is opened and never closed is.
func ParseHeader(r io.Reader, name string) (Header, error) {
	var h Header
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	in := false
	begin := 0
	for n := 1; sc.Scan() && n <= maxHeaderLines; n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case line == "### BEGIN INIT INFO":
			if in {
				return h, fmt.Errorf("%s:%d: second BEGIN INIT INFO inside the header", name, n)
			}
			in, begin = true, n
			continue
		case line == "### END INIT INFO":
			if !in {
				return h, fmt.Errorf("%s:%d: END INIT INFO without BEGIN INIT INFO", name, n)
			}
			h.Found = true
			return h, nil
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			return h, fmt.Errorf("%s:%d: header line does not start with '#'", name, n)
		}
		body := strings.TrimPrefix(line, "#")
		// Continuation lines of Description start with a tab or two spaces.
		if strings.HasPrefix(body, "\t") || strings.HasPrefix(body, "  ") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimSpace(body), ":")
		if !ok {
			continue
		}
		words := strings.Fields(value)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "provides":
			h.Provides = words
		case "required-start":
			h.RequiredStart = words
		case "required-stop":
			h.RequiredStop = words
		case "should-start":
			h.ShouldStart = words
		case "should-stop":
			h.ShouldStop = words
		case "x-start-before":
			h.StartBefore = words
		case "x-stop-after":
			h.StopAfter = words
		case "default-start":
			h.DefaultStart = words
		case "default-stop":
			h.DefaultStop = words
		case "x-interactive":
			h.Interactive = strings.EqualFold(strings.TrimSpace(value), "true")
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("%s: %w", name, err)
	}
	if in {
		return h, fmt.Errorf("%s:%d: BEGIN INIT INFO without END INIT INFO", name, begin)
	}
	return h, nil
}

// Facilities are insserv's virtual names ($local_fs, $syslog, …) from
// /etc/insserv.conf and /etc/insserv.conf.d/*, and its <interactive> list.
type Facilities struct {
	members     map[string][]string
	interactive map[string]bool
}

// NewFacilities returns an empty set.
func NewFacilities() *Facilities {
	return &Facilities{members: map[string][]string{}, interactive: map[string]bool{}}
}

// Parse adds the definitions of one insserv.conf-format file: lines of
// "$name member…" where a member is a script's provided name ("+" marks it
// optional; both order the same) or another facility. name is used in
// errors.
func (f *Facilities) Parse(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		key := fields[0]
		var members []string
		for _, m := range fields[1:] {
			members = append(members, strings.TrimPrefix(m, "+"))
		}
		switch {
		case key == "<interactive>":
			for _, m := range members {
				f.interactive[m] = true
			}
		case strings.HasPrefix(key, "$") && len(key) > 1:
			f.members[key] = append(f.members[key], members...)
		case strings.HasPrefix(key, "<"):
			// other insserv sections (<interactive> aside) do not order anything
		default:
			return fmt.Errorf("%s:%d: %q is neither a $facility nor a <section>", name, n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Expand returns the provided names a word stands for: a facility's
// members (recursively), or the word itself.
func (f *Facilities) Expand(word string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(w string)
	walk = func(w string) {
		if seen[w] {
			return
		}
		seen[w] = true
		if !strings.HasPrefix(w, "$") {
			out = append(out, w)
			return
		}
		for _, m := range f.members[w] {
			walk(m)
		}
	}
	walk(word)
	return out
}

// Interactive reports whether insserv.conf lists a script as interactive.
func (f *Facilities) Interactive(name string) bool { return f.interactive[name] }

// DependFile is one of insserv's makefile-style order files
// (/etc/init.d/.depend.boot, .depend.start, .depend.stop): "TARGETS =
// …", "INTERACTIVE = …" and "script: what it waits for…".
type DependFile struct {
	Targets     []string
	Interactive []string
	After       map[string][]string
}

// ParseDepend reads a .depend file; name is used in errors.
func ParseDepend(r io.Reader, name string) (*DependFile, error) {
	d := &DependFile{After: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(k, ":") {
			switch strings.TrimSpace(k) {
			case "TARGETS":
				d.Targets = strings.Fields(v)
			case "INTERACTIVE":
				d.Interactive = strings.Fields(v)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s:%d: expected \"script: scripts…\" or \"NAME = …\"", name, n)
		}
		k = strings.TrimSpace(k)
		d.After[k] = append(d.After[k], strings.Fields(v)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}
