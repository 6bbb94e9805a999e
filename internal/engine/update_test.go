package engine

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
)

func indexOf(e *Engine) (names []string, by map[string][]string) {
	by = map[string][]string{}
	for _, c := range e.sorted {
		names = append(names, c.name)
	}
	for n, l := range e.byEvent {
		for _, c := range l {
			by[n] = append(by[n], c.name)
		}
	}
	return names, by
}

// UpdateJobs (issue 15 item 10) keeps the class index as a full rebuild
// would make it, and the changed jobs act on their new conditions.
func TestUpdateJobsIndex(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 20; i++ {
		h.job(fmt.Sprintf("j%02d", i), fmt.Sprintf("ev%d or startup", i%3), "", "main")
	}
	h.e.sortedClasses() // index built
	running := h.job("busy", "", "", "main")
	h.e.StartJob("busy", nil, nil)
	h.wantStatus("busy", "", "start/running")

	changed := map[string]*conf.Job{
		"j05":  {Name: "j05", StartOn: condition(t, "newev"), Process: running.Process},
		"j07":  nil,                                                                            // removed
		"j10a": {Name: "j10a", StartOn: condition(t, "started j05"), Process: running.Process}, // new
		"busy": nil,                                                                            // removed once it stops
		"nope": nil,                                                                            // never was
	}
	h.e.UpdateJobs(changed)
	gotNames, gotBy := indexOf(h.e)
	h.e.stale = true
	h.e.reindex()
	wantNames, wantBy := indexOf(h.e)
	if !reflect.DeepEqual(gotNames, wantNames) || !reflect.DeepEqual(gotBy, wantBy) {
		t.Fatalf("incremental index\n%v\n%v\nfull rebuild\n%v\n%v", gotNames, gotBy, wantNames, wantBy)
	}
	if h.e.classes["j07"] != nil || h.e.classes["nope"] != nil || !h.e.classes["busy"].deleted {
		t.Fatal("removals not applied")
	}
	h.emit("newev")
	h.wantStatus("j05", "", "start/running")
	h.wantStatus("j10a", "", "start/running")
	h.emit("ev2") // the jobs not updated keep their conditions
	h.wantStatus("j08", "", "start/running")
	// The running job of a removed file goes when it stops.
	h.e.StopJob("busy", nil, nil)
	h.kill(h.pid("busy", "", conf.Main), 15)
	if h.e.classes["busy"] != nil {
		t.Fatal("removed job kept after its instance ended")
	}
}

// A job file read again with the same content (a reload, the one after a
// re-exec) leaves a running class as it is: no pending definition, so the
// state document carries one copy. A changed file still waits for the
// instances to end, and reading the old content again cancels it.
func TestSameDefinitionNotPending(t *testing.T) {
	h := newHarness(t)
	d := h.job("svc", "", "", "main")
	h.e.StartJob("svc", nil, nil)
	h.wantStatus("svc", "", "start/running")
	same := *d
	h.jobs["svc"] = &same
	h.e.SetJobs(h.jobs)
	if c := h.e.classes["svc"]; c.def != d || c.next != nil {
		t.Fatalf("same content: def %p (was %p), next %p", c.def, d, c.next)
	}
	if s := h.e.Snapshot(nil); len(s.Defs) != 1 || s.Classes[0].Next != -1 {
		t.Fatalf("%d definitions in the state, next %d", len(s.Defs), s.Classes[0].Next)
	}
	changed := *d
	changed.KillTimeout = 9 * time.Second
	h.jobs["svc"] = &changed
	h.e.SetJobs(h.jobs)
	if c := h.e.classes["svc"]; c.def != d || c.next != &changed {
		t.Fatal("a changed definition is not pending")
	}
	again := *d
	h.jobs["svc"] = &again
	h.e.SetJobs(h.jobs)
	if c := h.e.classes["svc"]; c.def != d || c.next != nil {
		t.Fatal("reading the running content again left the change pending")
	}
}

// A changed job file replaces the class as Upstart replaces a job class:
// JobRemoved then JobAdded, at once for an idle job and when the last
// instance ends for a running one; the same file read again says nothing.
func TestReplacedJobSignals(t *testing.T) {
	h := newHarness(t)
	var got []string
	h.e.Subscribe(func(s api.Signal) {
		switch s.Kind {
		case api.JobAdded:
			got = append(got, "added "+s.Job)
		case api.JobRemoved:
			got = append(got, "removed "+s.Job)
		}
	})
	idle := h.job("idle", "", "", "main")
	busy := h.job("busy", "", "", "main")
	h.e.StartJob("busy", nil, nil)
	h.wantStatus("busy", "", "start/running")
	got = nil

	same := *idle
	h.e.UpdateJobs(map[string]*conf.Job{"idle": &same})
	if len(got) != 0 {
		t.Fatalf("an unchanged definition: %q", got)
	}
	changedIdle := *idle
	changedIdle.StartOn = condition(t, "newev")
	changedBusy := *busy
	changedBusy.StartOn = condition(t, "newev")
	h.e.UpdateJobs(map[string]*conf.Job{"idle": &changedIdle, "busy": &changedBusy})
	if want := []string{"removed idle", "added idle"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("signals %q, want %q (busy waits for its instance)", got, want)
	}
	got = nil
	h.e.StopJob("busy", nil, nil)
	h.exit(h.pid("busy", "", conf.Main), 0)
	h.wantStatus("busy", "", "stop/waiting")
	if want := []string{"removed busy", "added busy"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("signals %q, want %q", got, want)
	}
}
