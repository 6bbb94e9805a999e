package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/bootchart"
	"github.com/goupstart/upstart/internal/control"
)

// Our diagnostics: why, boot-chart, blame (org.goupstart.Diagnostics1).

func cmdWhy(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing job name"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	var doc string
	if err := c.callStore(control.ManagerPath, control.DiagIface, "Why", []any{args[0], nonNilStrs(args[1:])}, &doc); err != nil {
		return err
	}
	var r api.WhyReport
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return fmt.Errorf("bad answer from the daemon: %w", err)
	}
	writeWhy(e.stdout, &r)
	return nil
}

func nonNilStrs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return "at " + t.Format("15:04:05.000")
}

func fmtEvent(ev api.WhyEvent) string {
	s := ev.Name
	if len(ev.Env) > 0 {
		s += " " + strings.Join(ev.Env, " ")
	}
	return s + " " + fmtTime(ev.At)
}

// writeWhy prints a report: the status, the condition as a tree with
// [x] for a true node and [ ] for a false one, and what is waited for.
func writeWhy(w io.Writer, r *api.WhyReport) {
	label := r.Job
	if r.Instance != "" {
		label += " (" + r.Instance + ")"
	}
	fmt.Fprintf(w, "%s %s/%s\n", label, r.Goal, r.State)
	if r.Condition == nil {
		if r.Kind == "start on" && r.ManualBy != "" {
			fmt.Fprintf(w, "start on: none: disabled by the override %s; starts only when asked (initctl start)\n", r.ManualBy)
		} else if r.Kind == "start on" {
			fmt.Fprintln(w, "start on: none (manual): starts only when asked (initctl start)")
		} else {
			fmt.Fprintln(w, "stop on: none: stops when asked, or when its main process ends")
		}
	} else {
		state := "false"
		if r.Condition.True {
			state = "true"
		}
		fmt.Fprintf(w, "%s: %s\n", r.Kind, state)
		writeNode(w, r.Condition, "  ")
		if r.Condition.True && r.Kind == "start on" {
			fmt.Fprintln(w, "(true through job states it keeps: the job starts again when one of these events comes again)")
		}
	}
	if r.Hook != nil {
		fmt.Fprintf(w, "waiting for its own event: %s\n", fmtEvent(*r.Hook))
	}
	if r.Waiting != "" {
		fmt.Fprintf(w, "waiting for: %s\n", r.Waiting)
	}
	for _, ev := range r.Blocked {
		fmt.Fprintf(w, "blocked until this job moves on: %s\n", fmtEvent(ev))
	}
	if r.LastStop != nil {
		fmt.Fprintf(w, "last stop: %s\n", fmtEvent(*r.LastStop))
		if r.RespawnLimit {
			fmt.Fprintln(w, "the respawn limit stopped it: start it by hand, or fix what makes it die")
		}
	}
	if len(r.Instances) > 0 {
		fmt.Fprintf(w, "other instances: %s\n", strings.Join(r.Instances, ", "))
	}
}

func writeNode(w io.Writer, n *api.WhyNode, indent string) {
	mark := "[ ]"
	if n.True {
		mark = "[x]"
	}
	if n.Op != "match" {
		fmt.Fprintf(w, "%s%s %s\n", indent, mark, n.Op)
		writeNode(w, n.Left, indent+"    ")
		writeNode(w, n.Right, indent+"    ")
		return
	}
	fmt.Fprintf(w, "%s%s %s\n", indent, mark, n.Match)
	for _, ev := range n.By {
		held := ""
		if ev.Held {
			held = " (held: it waits for this job)"
		}
		fmt.Fprintf(w, "%s      by %s%s\n", indent, fmtEvent(ev), held)
	}
}

func timeline(e *env) (*api.Timeline, error) {
	c, err := e.client()
	if err != nil {
		return nil, err
	}
	var doc string
	if err := c.callStore(control.ManagerPath, control.DiagIface, "Timeline", nil, &doc); err != nil {
		return nil, err
	}
	var t api.Timeline
	if err := json.Unmarshal([]byte(doc), &t); err != nil {
		return nil, fmt.Errorf("bad answer from the daemon: %w", err)
	}
	return &t, nil
}

func cmdBootChart(e *env, args []string) error {
	if len(args) > 0 {
		return usageError{"unexpected argument: " + args[0]}
	}
	t, err := timeline(e)
	if err != nil {
		return err
	}
	return bootchart.WriteSVG(e.stdout, *t)
}

func cmdBlame(e *env, args []string) error {
	if len(args) > 0 {
		return usageError{"unexpected argument: " + args[0]}
	}
	t, err := timeline(e)
	if err != nil {
		return err
	}
	return bootchart.WriteBlame(e.stdout, bootchart.Runs(*t))
}
