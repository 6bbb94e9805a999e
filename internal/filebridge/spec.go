// Package filebridge is the logic of upstart-file-bridge: which paths the
// jobs' conditions name (`start on file FILE=PATH EVENT=create`), watching
// them with inotify, and the `file` events to emit (upstart-events(7)):
// FILE as written in the job, EVENT=create|modify|delete, and MATCH, the
// path that matched, for a directory (FILE ending in "/") or a glob in the
// last path component.
package filebridge

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Event kinds.
const (
	Create = "create"
	Modify = "modify"
	Delete = "delete"
)

// Spec is one path some job's condition names.
type Spec struct {
	File string // as written in the job
	// Dir is the directory watched; Pattern matches names in it ("" for
	// a directory spec: every name).
	Dir, Pattern string
	// Kind: "file", "dir" or "glob".
	Kind string
	// All, or the Events named, are wanted.
	All    bool
	Events map[string]bool
}

func (s *Spec) wants(ev string) bool { return s.All || s.Events[ev] }

// MaxSpecs bounds how many distinct paths the bridge watches.
const MaxSpecs = 4096

// Specs extracts the watched paths from conditions in RPN form (the
// start_on/stop_on properties of Upstart's Job interface: ["/AND"],
// ["/OR"] or [event, args…]). FILE and EVENT may be named or positional
// (`file /tmp/x create`). Paths that are not absolute, or use variables,
// are refused with a message each; the others are merged by FILE.
func Specs(conds [][][]string) (specs []*Spec, problems []string) {
	byFile := map[string]*Spec{}
	for _, rpn := range conds {
		for _, op := range rpn {
			if len(op) == 0 || op[0] != "file" {
				continue
			}
			file, event, ok := fileArgs(op[1:])
			if !ok {
				problems = append(problems, fmt.Sprintf("file condition without FILE: %q", strings.Join(op, " ")))
				continue
			}
			if !filepath.IsAbs(file) || strings.ContainsAny(file, "$") {
				problems = append(problems, fmt.Sprintf("FILE=%s is not an absolute path: ignored", file))
				continue
			}
			if event != "" && event != Create && event != Modify && event != Delete && !strings.ContainsAny(event, "*?[") {
				problems = append(problems, fmt.Sprintf("FILE=%s: unknown EVENT=%s: ignored", file, event))
				continue
			}
			s := byFile[file]
			if s == nil {
				if len(byFile) >= MaxSpecs {
					problems = append(problems, fmt.Sprintf("more than %d watched paths: FILE=%s ignored", MaxSpecs, file))
					continue
				}
				s = newSpec(file)
				byFile[file] = s
			}
			if event == "" || strings.ContainsAny(event, "*?[") {
				s.All = true
			} else {
				s.Events[event] = true
			}
		}
	}
	for _, s := range byFile {
		specs = append(specs, s)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].File < specs[j].File })
	return specs, problems
}

func newSpec(file string) *Spec {
	s := &Spec{File: file, Events: map[string]bool{}}
	switch {
	case strings.HasSuffix(file, "/"):
		s.Kind, s.Dir = "dir", filepath.Clean(file)
	case strings.ContainsAny(filepath.Base(file), "*?["):
		s.Kind, s.Dir, s.Pattern = "glob", filepath.Dir(file), filepath.Base(file)
	default:
		s.Kind, s.Dir, s.Pattern = "file", filepath.Dir(file), filepath.Base(file)
	}
	return s
}

// fileArgs finds FILE and EVENT among an operand's arguments.
func fileArgs(args []string) (file, event string, ok bool) {
	pos := 0
	for _, a := range args {
		k, v, named := strings.Cut(a, "=")
		if named && strings.HasSuffix(k, "!") {
			continue // a negated match names nothing to watch
		}
		switch {
		case named && k == "FILE":
			file, ok = v, true
		case named && k == "EVENT":
			event = v
		case named:
		case pos == 0:
			file, ok = a, true
			pos++
		case pos == 1:
			event = a
			pos++
		}
	}
	return file, event, ok
}
