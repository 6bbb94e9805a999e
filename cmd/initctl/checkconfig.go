package main

import (
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
)

// Events init emits itself, which need no job to emit them.
var internalEvents = []string{
	"startup", "starting", "started", "stopping", "stopped",
	"control-alt-delete", "keyboard-request", "power-status-changed",
}

func isJobEvent(name string) bool {
	switch name {
	case "starting", "started", "stopping", "stopped":
		return true
	}
	return false
}

func cmdCheckConfig(e *env, args []string) error {
	if len(args) > 1 {
		return usageError{"unexpected argument"}
	}
	configs, err := loadConfigs(e)
	if err != nil {
		// As Upstart: a failure to gather the configuration is reported
		// but does not fail the check.
		fmt.Fprintf(e.stderr, "%s: %s\n", e.prog, err)
		return nil
	}
	if len(args) == 1 {
		found := false
		for _, jc := range configs {
			found = found || jc.name == args[0]
		}
		if !found {
			return fmt.Errorf("Invalid job class: %s", args[0])
		}
	}
	ck := checker{jobs: map[string]bool{}, ignore: e.ignore, warn: e.warn}
	for _, jc := range configs {
		ck.jobs[jc.name] = true
		ck.emits = append(ck.emits, jc.emits...)
	}
	if _, user := e.lookup("UPSTART_SESSION"); e.conn.user || user && !e.conn.system && !e.conn.session {
		ck.internal = append(append([]string(nil), internalEvents...), "session-end")
	} else {
		ck.internal = internalEvents
	}
	failed := false
	for _, jc := range configs {
		if len(args) == 1 && jc.name != args[0] {
			continue
		}
		var lines []string
		for _, on := range []struct {
			label string
			rpn   [][]string
		}{{"start on", jc.startOn}, {"stop on", jc.stopOn}} {
			if ok, errs := ck.check(on.rpn); !ok {
				for _, m := range errs {
					lines = append(lines, "  "+on.label+": "+m)
				}
			}
		}
		if len(lines) > 0 {
			failed = true
			e.out(jc.name)
			for _, l := range lines {
				e.out(l)
			}
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// errSilent fails a command without a message.
var errSilent = silentError{}

type silentError struct{}

func (silentError) Error() string { return "" }

func loadConfigs(e *env) ([]jobConfig, error) {
	c, err := e.client()
	if err != nil {
		return nil, err
	}
	var paths []dbus.ObjectPath
	if err := c.callStore(control.ManagerPath, control.ManagerIface, "GetAllJobs", nil, &paths); err != nil {
		return nil, err
	}
	var out []jobConfig
	for _, p := range paths {
		jc, err := readJobConfig(c, p)
		if err != nil {
			return nil, err
		}
		out = append(out, jc)
	}
	return out, nil
}

type checker struct {
	jobs     map[string]bool
	emits    []string
	internal []string
	ignore   []string
	warn     bool
}

// check evaluates a condition; when it cannot be satisfied, errs lists
// every unsatisfiable leaf in post-order.
func (ck *checker) check(rpn [][]string) (ok bool, errs []string) {
	var stack []bool
	for _, node := range rpn {
		if isOperator(node) {
			if len(stack) < 2 {
				return true, nil
			}
			a, b := stack[len(stack)-2], stack[len(stack)-1]
			v := a && b
			if node[0] == "/OR" && !ck.warn {
				v = a || b
			}
			stack = append(stack[:len(stack)-2], v)
			continue
		}
		if len(node) == 0 {
			continue
		}
		good, msg := ck.leaf(node)
		if !good {
			errs = append(errs, msg)
		}
		stack = append(stack, good)
	}
	if len(stack) == 0 || stack[len(stack)-1] {
		return true, nil
	}
	return false, errs
}

func (ck *checker) leaf(node []string) (bool, string) {
	name := node[0]
	if isJobEvent(name) {
		job := ""
		if len(node) > 1 && !strings.Contains(node[1], "=") {
			job = node[1]
		} else {
			for _, a := range node[1:] {
				if v, ok := strings.CutPrefix(a, "JOB="); ok {
					job = v
					break
				}
			}
		}
		if job == "" || strings.HasPrefix(job, "$") || ck.jobs[job] {
			return true, ""
		}
		return false, "unknown job " + job
	}
	for _, ev := range ck.internal {
		if ev == name {
			return true, ""
		}
	}
	for _, ev := range ck.ignore {
		if ev == name {
			return true, ""
		}
	}
	for _, pattern := range ck.emits {
		if fnmatch(pattern, name) {
			return true, ""
		}
	}
	return false, "unknown event " + name
}

// fnmatch matches name against a shell glob (*, ?, [...] with ! or ^
// negation and ranges); '*' matches '/' too, as fnmatch(3) without flags.
func fnmatch(pattern, name string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if fnmatch(pattern, name[i:]) {
					return true
				}
			}
			return false
		case '?':
			if name == "" {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		case '[':
			if name == "" {
				return false
			}
			end := strings.IndexByte(pattern[1:], ']')
			if end == 0 { // "[]...]": ']' first is literal
				if e2 := strings.IndexByte(pattern[2:], ']'); e2 >= 0 {
					end = e2 + 1
				} else {
					end = -1
				}
			}
			if end < 0 {
				if name[0] != '[' {
					return false
				}
				pattern, name = pattern[1:], name[1:]
				continue
			}
			set := pattern[1 : end+1]
			neg := false
			if len(set) > 0 && (set[0] == '!' || set[0] == '^') {
				neg, set = true, set[1:]
			}
			c := name[0]
			in := false
			for i := 0; i < len(set); i++ {
				if i+2 < len(set) && set[i+1] == '-' {
					if set[i] <= c && c <= set[i+2] {
						in = true
					}
					i += 2
					continue
				}
				if set[i] == c {
					in = true
				}
			}
			if in == neg {
				return false
			}
			pattern, name = pattern[end+2:], name[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if name == "" || name[0] != pattern[0] {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		}
	}
	return name == ""
}
