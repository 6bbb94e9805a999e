package main

import (
	"strconv"
	"strings"
)

// proc is one live process of an instance, as in the processes property.
type proc struct {
	name string
	pid  int32
}

// processOrder is the fixed order in which processes are shown.
var processOrder = []string{"main", "pre-start", "post-start", "pre-stop", "post-stop", "security"}

// formatStatus renders the status of an instance (§6.3):
//
//	<job>[ (<instance>)] <goal>/<state>[, <first process>]
//	\t<name> process <pid>   (one per further process)
func formatStatus(job, instance, goal, state string, procs []proc) string {
	var b strings.Builder
	b.WriteString(job)
	if instance != "" {
		b.WriteString(" (" + instance + ")")
	}
	b.WriteString(" " + goal + "/" + state)
	first := true
	for _, name := range processOrder {
		for _, p := range procs {
			if p.name != name || p.pid <= 0 {
				continue
			}
			pid := strconv.Itoa(int(p.pid))
			if first {
				switch name {
				case "main", "pre-start", "post-stop":
					b.WriteString(", process " + pid)
				default:
					b.WriteString(", (" + name + ") process " + pid)
				}
				first = false
				continue
			}
			b.WriteString("\n\t" + name + " process " + pid)
		}
	}
	// Custom actions (our extension) after the standard process types.
	for _, p := range procs {
		if p.pid <= 0 || isStandard(p.name) {
			continue
		}
		pid := strconv.Itoa(int(p.pid))
		if first {
			b.WriteString(", (" + p.name + ") process " + pid)
			first = false
			continue
		}
		b.WriteString("\n\t" + p.name + " process " + pid)
	}
	return b.String()
}

// stoppedStatus is the status of a job without (that) instance.
func stoppedStatus(job string) string { return job + " stop/waiting" }

func isStandard(name string) bool {
	for _, n := range processOrder {
		if n == name {
			return true
		}
	}
	return false
}

// formatMembers renders the processes of an instance that Upstart's
// status does not show (our extension, `status -v`/`list -v`): one line
// per member that is not the tracked process of its type.
//
//	\t<type> process <pid> (member)
func formatMembers(tracked, members []proc) string {
	var b strings.Builder
	for _, m := range members {
		shown := false
		for _, p := range tracked {
			shown = shown || p.pid == m.pid
		}
		if !shown && m.pid > 0 {
			b.WriteString("\n\t" + m.name + " process " + strconv.Itoa(int(m.pid)) + " (member)")
		}
	}
	return b.String()
}
