package main

import (
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
)

// jobConfig is what show-config reads of a job class.
type jobConfig struct {
	name            string
	emits           []string
	startOn, stopOn [][]string
}

func cmdShowConfig(e *env, args []string) error {
	if len(args) > 1 {
		return usageError{"unexpected argument"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	var paths []dbus.ObjectPath
	if len(args) == 1 {
		p, err := c.getJobByName(args[0])
		if err != nil {
			return err
		}
		paths = []dbus.ObjectPath{p}
	} else if err := c.callStore(control.ManagerPath, control.ManagerIface, "GetAllJobs", nil, &paths); err != nil {
		return err
	}
	for _, p := range paths {
		jc, err := readJobConfig(c, p)
		if err != nil {
			return err
		}
		for _, l := range formatJobConfig(jc, e.enum) {
			e.out(l)
		}
	}
	return nil
}

func readJobConfig(c *client, p dbus.ObjectPath) (jobConfig, error) {
	props, err := c.getAll(p, control.JobIface)
	if err != nil {
		return jobConfig{}, err
	}
	var jc jobConfig
	jc.name, _ = props["name"].Value().(string)
	jc.emits, _ = props["emits"].Value().([]string)
	jc.startOn = toRPN(props["start_on"].Value())
	jc.stopOn = toRPN(props["stop_on"].Value())
	return jc, nil
}

func toRPN(v any) [][]string {
	switch x := v.(type) {
	case [][]string:
		return x
	case []any:
		var out [][]string
		for _, e := range x {
			if s, ok := e.([]string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// formatJobConfig renders one show-config block.
func formatJobConfig(jc jobConfig, enumerate bool) []string {
	lines := []string{jc.name}
	for _, ev := range jc.emits {
		lines = append(lines, "  emits "+ev)
	}
	for _, on := range []struct {
		label string
		rpn   [][]string
	}{{"start on", jc.startOn}, {"stop on", jc.stopOn}} {
		if len(on.rpn) == 0 {
			continue
		}
		if enumerate {
			for _, node := range on.rpn {
				if isOperator(node) || len(node) == 0 {
					continue
				}
				lines = append(lines, "  "+on.label+" "+enumerateMatch(node))
			}
			continue
		}
		lines = append(lines, "  "+on.label+" "+conditionString(on.rpn))
	}
	return lines
}

func isOperator(node []string) bool {
	return len(node) == 1 && (node[0] == "/AND" || node[0] == "/OR")
}

// conditionString rebuilds an expression from its post-order form; every
// operator is parenthesised.
func conditionString(rpn [][]string) string {
	var stack []string
	for _, node := range rpn {
		if isOperator(node) {
			if len(stack) < 2 {
				return strings.Join(stack, " ")
			}
			a, b := stack[len(stack)-2], stack[len(stack)-1]
			op := " and "
			if node[0] == "/OR" {
				op = " or "
			}
			stack = append(stack[:len(stack)-2], "("+a+op+b+")")
			continue
		}
		stack = append(stack, strings.Join(node, " "))
	}
	if len(stack) == 0 {
		return ""
	}
	return stack[len(stack)-1]
}

// enumerateMatch renders one event match for show-config -e:
// "<event> (job:[ <job>], env:[ <args>])". For the job events the job is a
// leading positional argument or a JOB= argument.
func enumerateMatch(node []string) string {
	name, rest := node[0], append([]string(nil), node[1:]...)
	job := ""
	switch name {
	case "starting", "started", "stopping", "stopped":
		if len(rest) > 0 && !strings.Contains(rest[0], "=") {
			job, rest = rest[0], rest[1:]
		} else {
			for i, a := range rest {
				if v, ok := strings.CutPrefix(a, "JOB="); ok {
					job = v
					rest = append(rest[:i], rest[i+1:]...)
					break
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString(name + " (job:")
	if job != "" {
		b.WriteString(" " + job)
	}
	b.WriteString(", env:")
	for _, a := range rest {
		b.WriteString(" " + a)
	}
	b.WriteString(")")
	return b.String()
}
