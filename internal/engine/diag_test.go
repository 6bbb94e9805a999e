package engine

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/bootchart"
	"github.com/goupstart/upstart/internal/conf"
)

func TestWhyStartAndStopConditions(t *testing.T) {
	h := newHarness(t)
	h.job("net", "", "", "main")
	h.job("app", "foo and ( bar or started net )", "stopping net", "main")
	t0 := h.clock.now

	r, err := h.e.Why("app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != "start on" || r.Goal != "stop" || r.State != "waiting" || r.Manual || r.Condition == nil || r.Condition.True {
		t.Fatalf("before any event: %+v", r)
	}

	h.clock.Advance(time.Second)
	done, _ := h.emit("foo", "A=1")
	if *done {
		t.Fatal("foo finished although app's condition holds it")
	}
	r, _ = h.e.Why("app", nil)
	c := r.Condition
	if c.Op != "and" || c.True || c.Left.Op != "match" || c.Left.Match != "foo" || !c.Left.True ||
		c.Right.Op != "or" || c.Right.True || c.Right.Left.True || c.Right.Right.True {
		t.Fatalf("after foo: %+v / %+v / %+v", c, c.Left, c.Right)
	}
	by := c.Left.By
	if len(by) != 1 || by[0].Name != "foo" || !slices.Equal(by[0].Env, []string{"A=1"}) ||
		!by[0].At.Equal(t0.Add(time.Second)) || !by[0].Held {
		t.Fatalf("foo operand made true by %+v", by)
	}
	if len(r.Blocked) != 1 || r.Blocked[0].Name != "foo" {
		t.Fatalf("blocked %+v, want foo", r.Blocked)
	}
	if c.Right.Right.Match != "started net" {
		t.Fatalf("operand written as %q", c.Right.Right.Match)
	}

	// started net completes the condition: app runs, and the report is
	// about its stop condition.
	if err := h.e.StartJob("net", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("app", "", "start/running")
	if !*done {
		t.Fatal("foo still held once app runs")
	}
	r, _ = h.e.Why("app", nil)
	if r.Kind != "stop on" || r.Goal != "start" || r.State != "running" || r.Condition == nil ||
		r.Condition.Match != "stopping net" || r.Condition.True || len(r.Blocked) != 0 || r.Waiting != "" {
		t.Fatalf("running app: %+v", r)
	}

	// net's start condition: none.
	r, _ = h.e.Why("net", nil)
	if r.Kind != "stop on" || r.Condition != nil {
		t.Fatalf("net: %+v", r)
	}
	h.job("manual", "", "", "main")
	r, _ = h.e.Why("manual", nil)
	if !r.Manual || r.Kind != "start on" || r.Condition != nil {
		t.Fatalf("manual: %+v", r)
	}
	if _, err := h.e.Why("nope", nil); err == nil || !strings.Contains(err.Error(), "Unknown job: nope") {
		t.Fatalf("unknown job: %v", err)
	}
}

func TestWhyKeptKnowledgeAndInstances(t *testing.T) {
	h := newHarness(t)
	h.job("a", "", "", "main")
	h.job("b", "", "", "main")
	d := h.job("w", "started a and started b", "", "main")
	d.Instance = "$N"
	h.jobs["w"] = d
	h.e.SetJobs(h.jobs)
	h.e.StartJob("a", nil, nil)
	r, err := h.e.Why("w", nil) // no N: the job's start condition
	if err != nil {
		t.Fatal(err)
	}
	if r.Instance != "" || !r.Condition.Left.True || r.Condition.Right.True {
		t.Fatalf("after started a: %+v", r.Condition)
	}
	// A job-state operand is kept: it is true through JOB=a.
	if by := r.Condition.Left.By; len(by) != 1 || by[0].Name != "started" || !slices.Contains(by[0].Env, "JOB=a") {
		t.Fatalf("started a by %+v", by)
	}
	if _, err := h.e.Why("w", []string{"BAD"}); err == nil {
		t.Fatal("bad env accepted")
	}
}

func TestWhyRespawnLimitAndReadiness(t *testing.T) {
	h := newHarness(t)
	d := h.job("flaky", "", "", "main respawn")
	d.RespawnLimit, d.RespawnInterval = 2, 5*time.Second
	h.e.StartJob("flaky", nil, nil)
	for n := 0; n < 3; n++ {
		h.kill(h.pid("flaky", "", conf.Main), syscall.SIGKILL)
	}
	h.wantStatus("flaky", "", "stop/waiting")
	r, _ := h.e.Why("flaky", nil)
	if !r.RespawnLimit || r.LastStop == nil || !slices.Contains(r.LastStop.Env, "PROCESS=respawn") {
		t.Fatalf("after the respawn limit: %+v", r)
	}

	d = h.job("forker", "", "", "main")
	d.Expect, d.ExpectExits = conf.ExpectFork, 1
	h.e.SetJobs(h.jobs)
	h.e.StartJob("forker", nil, nil)
	h.wantStatus("forker", "", "start/spawned")
	r, _ = h.e.Why("forker", nil)
	if !strings.Contains(r.Waiting, "readiness (0 of 1 exits") || !strings.Contains(r.Waiting, "failing at") {
		t.Fatalf("waiting for %q", r.Waiting)
	}

	d = h.job("slow", "", "", "pre-start main")
	h.e.StartJob("slow", nil, nil)
	r, _ = h.e.Why("slow", nil)
	if r.State != "pre-start" || !strings.Contains(r.Waiting, "pre-start process (pid") {
		t.Fatalf("pre-start: %+v", r)
	}
}

// TestTimeline: the state changes are recorded with their times and the
// event that started each run, and make runs with the right phases.
func TestTimeline(t *testing.T) {
	h := newHarness(t)
	h.job("early", "startup", "", "pre-start main")
	h.job("late", "started early", "", "main task")
	t0 := h.clock.now
	h.emit("startup")
	h.clock.Advance(300 * time.Millisecond)
	h.exit(h.pid("early", "", conf.PreStart), 0) // early runs, late starts
	h.clock.Advance(time.Second)
	h.exit(h.pid("late", "", conf.Main), 0)
	h.wantStatus("late", "", "stop/waiting")

	tl := h.e.Timeline()
	if !tl.Start.Equal(t0) || tl.Dropped != 0 {
		t.Fatalf("timeline start %v dropped %d", tl.Start, tl.Dropped)
	}
	var first api.StateRecord
	for _, rec := range tl.Records {
		if rec.Job == "late" && rec.State == "starting" {
			first = rec
		}
	}
	if first.Cause != "started early" || !first.CauseAt.Equal(t0.Add(300*time.Millisecond)) || !first.Task {
		t.Fatalf("late's starting record %+v", first)
	}
	runs := bootchart.Runs(tl)
	if len(runs) != 2 || runs[0].Job != "early" || runs[1].Job != "late" {
		t.Fatalf("runs %+v", runs)
	}
	var phases []string
	for _, p := range runs[0].Phases {
		phases = append(phases, p.Name)
	}
	// post-start is passed through at once (no process): a phase of 0.
	if !slices.Equal(phases, []string{"starting", "pre-start", "spawned", "post-start", "running"}) {
		t.Fatalf("early's phases %v", phases)
	}
	if p := runs[0].Phases[1]; p.To.Sub(p.From) != 300*time.Millisecond {
		t.Fatalf("early's pre-start took %v", p.To.Sub(p.From))
	}
	if d, ok := runs[0].StartTime(); !ok || d != 300*time.Millisecond {
		t.Fatalf("early started in %v %v", d, ok)
	}
	if d, ok := runs[1].StartTime(); !ok || d != time.Second { // a task: until it ended
		t.Fatalf("late (a task) took %v %v", d, ok)
	}
	if b := bootchart.Blame(runs); b[0].Job != "late" || b[1].Job != "early" {
		t.Fatalf("blame order %s, %s", b[0].Job, b[1].Job)
	}
}

// TestTimelineBound: past MaxStateRecords, changes are counted, not kept.
func TestTimelineBound(t *testing.T) {
	h := newHarness(t)
	h.job("j", "", "", "main")
	for h.e.hist.n < MaxStateRecords {
		h.e.StartJob("j", nil, nil)
		h.e.StopJob("j", nil, nil)
		h.kill(h.pid("j", "", conf.Main), syscall.SIGTERM)
	}
	h.e.StartJob("j", nil, nil)
	tl := h.e.Timeline()
	if len(tl.Records) != MaxStateRecords || tl.Dropped == 0 {
		t.Fatalf("%d records, %d dropped", len(tl.Records), tl.Dropped)
	}
}
