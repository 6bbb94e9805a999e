// Package bootchart turns the daemon's record of state changes
// (api.Timeline) into runs of job instances, a blame list and an SVG
// timeline, for `initctl boot-chart` and `initctl blame`.
package bootchart

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/goupstart/upstart/internal/api"
)

// Phase is a stretch of a run in one group of states.
type Phase struct {
	Name     string // starting, pre-start, spawned, post-start, running, stopping
	From, To time.Time
}

// Run is one start of an instance: from its `starting` state to its
// return to `waiting` (or to now, if it has not).
type Run struct {
	Job, Instance string
	Task          bool
	Cause         string    // events that started it; "" for a request
	CauseAt       time.Time // when the first of them was emitted
	Start         time.Time // entered starting
	Ready         time.Time // entered running (zero: never)
	End           time.Time // back to waiting (zero: still going)
	Phases        []Phase
}

// Label is "job" or "job (instance)".
func (r *Run) Label() string {
	if r.Instance == "" {
		return r.Job
	}
	return r.Job + " (" + r.Instance + ")"
}

// StartTime is how long the run took to start: to running, or for a task
// to its end. ok is false while it has not got there.
func (r *Run) StartTime() (d time.Duration, ok bool) {
	to := r.Ready
	if r.Task {
		to = r.End
	}
	if to.IsZero() {
		return 0, false
	}
	return to.Sub(r.Start), true
}

var phaseOf = map[string]string{
	"starting": "starting", "security-spawning": "starting", "security": "starting",
	"pre-starting": "pre-start", "pre-start": "pre-start",
	"spawning": "spawned", "spawned": "spawned",
	"post-starting": "post-start", "post-start": "post-start",
	"running":      "running",
	"pre-stopping": "stopping", "pre-stop": "stopping", "stopping": "stopping",
	"killed": "stopping", "post-stopping": "stopping", "post-stop": "stopping",
}

// Runs splits the timeline into runs, in order of their start.
func Runs(t api.Timeline) []*Run {
	var runs []*Run
	open := map[[2]string]*Run{}
	for _, rec := range t.Records {
		key := [2]string{rec.Job, rec.Instance}
		r := open[key]
		if rec.State == "starting" || r == nil && rec.State != "waiting" {
			if r != nil && r.End.IsZero() {
				closeRun(r, rec.At)
			}
			r = &Run{Job: rec.Job, Instance: rec.Instance, Task: rec.Task, Cause: rec.Cause, CauseAt: rec.CauseAt, Start: rec.At}
			open[key] = r
			runs = append(runs, r)
		}
		if r == nil {
			continue
		}
		if rec.State == "waiting" {
			closeRun(r, rec.At)
			delete(open, key)
			continue
		}
		name := phaseOf[rec.State]
		if name == "" {
			name = rec.State
		}
		if rec.State == "running" && r.Ready.IsZero() {
			r.Ready = rec.At
		}
		if n := len(r.Phases); n > 0 && r.Phases[n-1].Name == name {
			continue
		}
		if n := len(r.Phases); n > 0 {
			r.Phases[n-1].To = rec.At
		}
		r.Phases = append(r.Phases, Phase{Name: name, From: rec.At})
	}
	for _, r := range open {
		if n := len(r.Phases); n > 0 && r.Phases[n-1].To.IsZero() {
			r.Phases[n-1].To = t.Now
		}
	}
	return runs
}

func closeRun(r *Run, at time.Time) {
	r.End = at
	if n := len(r.Phases); n > 0 {
		r.Phases[n-1].To = at
	}
}

// Blame returns the runs that have started, longest start first (ties in
// name order).
func Blame(runs []*Run) []*Run {
	var out []*Run
	for _, r := range runs {
		if _, ok := r.StartTime(); ok {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i].StartTime()
		b, _ := out[j].StartTime()
		if a != b {
			return a > b
		}
		return out[i].Label() < out[j].Label()
	})
	return out
}

// WriteBlame prints the blame list: the time to start, the job, and what
// started it.
func WriteBlame(w io.Writer, runs []*Run) error {
	for _, r := range Blame(runs) {
		d, _ := r.StartTime()
		cause := r.Cause
		if cause == "" {
			cause = "a request"
		}
		if _, err := fmt.Fprintf(w, "%10s %s (started by %s)\n", fmtDur(d), r.Label(), cause); err != nil {
			return err
		}
	}
	return nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3fs", d.Seconds())
	default:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
}

// Colours of the phases (and the legend's order).
var phaseColours = []struct{ name, colour string }{
	{"starting", "#f4d03f"},
	{"pre-start", "#e59866"},
	{"spawned", "#af7ac5"},
	{"post-start", "#5dade2"},
	{"running", "#58d68d"},
	{"stopping", "#aab7b8"},
}

func colour(phase string) string {
	for _, p := range phaseColours {
		if p.name == phase {
			return p.colour
		}
	}
	return "#cccccc"
}

// SVG layout, in pixels.
const (
	rowH    = 22
	barH    = 14
	left    = 30
	top     = 60
	plotW   = 900
	labelW  = 520
	minSpan = 500 * time.Millisecond
)

// WriteSVG draws the timeline: one row per run, a bar per phase from the
// daemon's start, labelled with the job and the event that started it; a
// dot marks when that event was emitted.
func WriteSVG(w io.Writer, t api.Timeline) error {
	runs := Runs(t)
	end := t.Now
	for _, r := range runs {
		if !r.End.IsZero() && r.End.After(end) {
			end = r.End
		}
	}
	span := end.Sub(t.Start)
	if span < minSpan {
		span = minSpan
	}
	x := func(at time.Time) float64 {
		return left + float64(at.Sub(t.Start))/float64(span)*plotW
	}
	height := top + rowH*len(runs) + 50
	width := left + plotW + labelW
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">
<title>goupstart boot chart</title>
<rect x="0" y="0" width="%d" height="%d" fill="white"/>
<text x="%d" y="18" font-size="14">Boot chart: %d job runs from the daemon's start (%s)</text>
`, width, height, width, height, width, height, left, len(runs), esc(t.Start.Format(time.RFC3339)))
	// Legend.
	lx := left
	for _, p := range phaseColours {
		fmt.Fprintf(&b, `<rect x="%d" y="28" width="12" height="10" fill="%s"/><text x="%d" y="37">%s</text>
`, lx, p.colour, lx+16, p.name)
		lx += 90
	}
	if t.Dropped > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="37">(%d later state changes not recorded)</text>
`, lx, t.Dropped)
	}
	// Time axis: a tick per step, chosen for about ten ticks.
	step := niceStep(span / 10)
	axisY := top + rowH*len(runs) + 10
	for d := time.Duration(0); d <= span; d += step {
		px := left + float64(d)/float64(span)*plotW
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>
`, px, top-6, px, axisY, px, axisY+14, fmtDur(d))
	}
	for k, r := range runs {
		y := top + rowH*k
		label := r.Label()
		if r.Cause != "" {
			label += " ← " + r.Cause
		} else {
			label += " ← request"
		}
		if d, ok := r.StartTime(); ok {
			label += " (" + fmtDur(d) + ")"
		}
		fmt.Fprintf(&b, `<g class="run" data-job="%s">
`, esc(r.Job))
		for _, p := range r.Phases {
			x0, x1 := x(p.From), x(p.To)
			if x1-x0 < 1 {
				x1 = x0 + 1
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s</title></rect>
`, x0, y, x1-x0, barH, colour(p.Name), esc(r.Label()), p.Name, fmtDur(p.To.Sub(p.From)))
		}
		if !r.CauseAt.IsZero() {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="3" fill="black"><title>%s emitted</title></circle><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-dasharray="2,2"/>
`, x(r.CauseAt), y+barH/2, esc(r.Cause), x(r.CauseAt), y+barH/2, x(r.Start), y+barH/2)
		}
		lxp := x(r.Start)
		if len(r.Phases) > 0 {
			lxp = x(r.Phases[len(r.Phases)-1].To)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>
</g>
`, lxp+4, y+barH-3, esc(label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceStep rounds d up to 1, 2 or 5 times a power of ten milliseconds.
func niceStep(d time.Duration) time.Duration {
	s := time.Millisecond
	for {
		for _, m := range []time.Duration{1, 2, 5} {
			if s*m >= d {
				return s * m
			}
		}
		s *= 10
	}
}
