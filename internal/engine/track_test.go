package engine

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/supervise"
)

// fakeTracker reports the members a test says exist; looks counts the
// calls of Members and Alive (each a read of a cgroup or of /proc).
type fakeTracker struct {
	members map[int]string
	looks   int
	// byJob, when set, holds the members of each job instead of members.
	byJob map[string]map[int]string
	// order, when set, gets "look JOB" for every Members call.
	order *[]string
	only  string // when set, members are this job's only
}

func (f *fakeTracker) Members(job, instance string, _ map[int]string, known func(int) bool) map[int]string {
	f.looks++
	if f.order != nil {
		*f.order = append(*f.order, "look "+job)
	}
	members := f.members
	if f.byJob != nil {
		members = f.byJob[job]
	}
	out := map[int]string{}
	if f.only != "" && job != f.only {
		return out
	}
	for pid, name := range members {
		if !known(pid) {
			out[pid] = name
		}
	}
	return out
}

func (f *fakeTracker) Alive(pid int) bool {
	f.looks++
	if _, ok := f.members[pid]; ok {
		return true
	}
	for _, m := range f.byJob {
		if _, ok := m[pid]; ok {
			return true
		}
	}
	return false
}

func newTrackedHarness(t *testing.T) (*harness, *fakeTracker) {
	h := newHarness(t)
	tr := &fakeTracker{members: map[int]string{}}
	h.e.opt.Tracker = tr
	// Fake pids start in pid order (not whatever the host runs).
	h.e.startTime = func(pid int) (uint64, bool) { return uint64(pid), true }
	return h, tr
}

// expect daemon: running after two exits of the main tree; the process
// left is the main process.
func TestExpectDaemonCountsExits(t *testing.T) {
	h, tr := newTrackedHarness(t)
	d := h.job("d", "", "", "main")
	d.Expect, d.ExpectExits, d.ExpectTimeout = conf.ExpectDaemon, 2, 10*time.Second
	var got error = errNotYet
	h.e.StartJob("d", nil, func(_ string, err error) { got = err })
	h.wantStatus("d", "", "start/spawned")
	p := h.pid("d", "", conf.Main)
	tr.members[5001] = "main" // first child
	h.exit(p, 0)
	h.wantStatus("d", "", "start/spawned")
	delete(tr.members, 5001)
	tr.members[5002] = "main" // the daemon
	h.e.ProcessExited(supervise.Exit{Pid: 5001, Orphan: true})
	h.wantStatus("d", "", "start/running")
	if got != nil || h.pid("d", "", conf.Main) != 5002 {
		t.Fatalf("reply %v, main %d", got, h.pid("d", "", conf.Main))
	}
}

// A wrong expect fails the start after the timeout.
func TestExpectTimeoutFails(t *testing.T) {
	h, tr := newTrackedHarness(t)
	d := h.job("w", "", "", "main")
	d.Expect, d.ExpectExits, d.ExpectTimeout = conf.ExpectDaemon, 2, 3*time.Second
	var got error = errNotYet
	h.e.StartJob("w", nil, func(_ string, err error) { got = err })
	tr.members[6001] = "main"
	h.exit(h.pid("w", "", conf.Main), 0)
	h.clock.Advance(2 * time.Second)
	if got != errNotYet {
		t.Fatal("failed before the timeout")
	}
	h.clock.Advance(time.Second)
	if e, ok := got.(*api.Error); !ok || e.Name != api.ErrJobFailed {
		t.Fatalf("reply %v", got)
	}
	h.wantStatus("w", "", "stop/killed") // the child is being killed
	delete(tr.members, 6001)
	h.e.ProcessExited(supervise.Exit{Pid: 6001, Orphan: true, Status: syscall.WaitStatus(syscall.SIGTERM)})
	h.wantStatus("w", "", "stop/waiting")
}

// expect stop: running once the main process stops itself.
func TestExpectStop(t *testing.T) {
	h := newHarness(t)
	d := h.job("s", "", "", "main")
	d.Expect, d.ExpectTimeout = conf.ExpectStop, 10*time.Second
	h.e.StartJob("s", nil, nil)
	h.wantStatus("s", "", "start/spawned")
	h.e.ProcessExited(supervise.Exit{Pid: h.pid("s", "", conf.Main), Stopped: true})
	h.wantStatus("s", "", "start/running")
}

// Stopping waits for every member of the instance, not only the main
// process.
func TestStopWaitsForMembers(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("m", "", "", "main")
	h.e.StartJob("m", nil, nil)
	tr.members[7001] = "main"
	h.e.StopJob("m", nil, nil)
	h.kill(h.pid("m", "", conf.Main), syscall.SIGTERM)
	h.wantStatus("m", "", "stop/killed")
	info, _ := h.e.InstanceInfo("m", "")
	// Upstart's list has the tracked process only (it has ended); the
	// members list has the one left.
	if len(info.Processes) != 0 || len(info.Members) != 1 || info.Members[0].Pid != 7001 {
		t.Fatalf("processes %+v, members %+v", info.Processes, info.Members)
	}
	delete(tr.members, 7001)
	h.e.ProcessExited(supervise.Exit{Pid: 7001, Orphan: true})
	h.wantStatus("m", "", "stop/waiting")
}

// Status and list answer from the engine's records: no look at the
// instance's processes (a cgroup read) per call. Only the members
// property looks, and then lists a background child; the list with
// members looks for every instance (issue 14).
func TestStatusFromRecords(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("svc", "", "", "main")
	h.job("idle", "", "", "main")
	h.e.StartJob("svc", nil, nil)
	h.wantStatus("svc", "", "start/running")
	main := h.pid("svc", "", conf.Main)
	tr.members[7100] = "main" // a background child, not seen yet
	tr.looks = 0
	info, err := h.e.InstanceInfo("svc", "")
	insts, err2 := h.e.Instances("svc")
	all := h.e.AllStatus(false)
	if err != nil || err2 != nil || tr.looks != 0 {
		t.Fatalf("status looked at processes %d times (%v, %v)", tr.looks, err, err2)
	}
	want := []api.Process{{Name: "main", Pid: main}}
	if len(info.Processes) != 1 || info.Processes[0] != want[0] || len(insts) != 1 || len(insts[0].Processes) != 1 {
		t.Fatalf("info %+v, instances %+v", info, insts)
	}
	if len(all) != 2 || all[0].Name != "idle" || len(all[0].Instances) != 0 || all[1].Name != "svc" ||
		len(all[1].Instances) != 1 || all[1].Instances[0].State != "running" || all[1].Instances[0].Processes[0] != want[0] {
		t.Fatalf("AllStatus %+v", all)
	}
	m, err := h.e.InstanceMembers("svc", "")
	if err != nil || tr.looks == 0 || len(m.Members) != 2 || m.Members[1] != (api.Process{Name: "main", Pid: 7100}) {
		t.Fatalf("members %+v (%v), %d looks", m.Members, err, tr.looks)
	}
	// Known now: the records list it without a look.
	tr.looks = 0
	if info, _ := h.e.InstanceInfo("svc", ""); len(info.Members) != 2 || tr.looks != 0 {
		t.Fatalf("members %+v, %d looks", info.Members, tr.looks)
	}
	// Ended: the members property forgets it; the list with members
	// looks at every running instance.
	delete(tr.members, 7100)
	all = h.e.AllStatus(true)
	if tr.looks == 0 || len(all[1].Instances[0].Members) != 1 {
		t.Fatalf("AllStatus(true) %+v, %d looks", all[1].Instances, tr.looks)
	}
	if _, err := h.e.InstanceMembers("svc", "nope"); err == nil {
		t.Fatal("members of an unknown instance")
	}
}

// A stop of many jobs sends every kill signal first and only then looks
// for the processes the engine did not spawn (a cgroup read each), which
// get the signal in the same step. A spawned process is a session
// leader: the signal to its process group reaches it, and no second
// signal is sent to it alone (issue 14, stop-all).
func TestStopAllSignalsBeforeLooking(t *testing.T) {
	h, tr := newTrackedHarness(t)
	h.job("a", "", "", "main")
	h.job("b", "", "", "main")
	h.e.StartJob("a", nil, nil)
	h.e.StartJob("b", nil, nil)
	pa, pb := h.pid("a", "", conf.Main), h.pid("b", "", conf.Main)
	tr.byJob = map[string]map[int]string{"a": {7001: "main"}, "b": {7002: "main"}}
	var order []string
	h.sp.order, tr.order = &order, &order
	h.e.StopAll()
	want := []string{
		fmt.Sprintf("group %d:TERM", pa), fmt.Sprintf("group %d:TERM", pb),
		"look a", "process 7001:TERM", "look b", "process 7002:TERM",
	}
	if strings.Join(order, ", ") != strings.Join(want, ", ") {
		t.Fatalf("stop-all did\n  %s\nwant\n  %s", strings.Join(order, ", "), strings.Join(want, ", "))
	}
	h.sp.order, tr.order = nil, nil
	// Each instance waits for its member as well as its main process.
	h.kill(pa, syscall.SIGTERM)
	h.kill(pb, syscall.SIGTERM)
	h.wantStatus("a", "", "stop/killed")
	delete(tr.byJob["a"], 7001)
	delete(tr.byJob["b"], 7002)
	h.e.ProcessExited(supervise.Exit{Pid: 7001, Orphan: true})
	h.e.ProcessExited(supervise.Exit{Pid: 7002, Orphan: true})
	h.wantStatus("a", "", "stop/waiting")
	h.wantStatus("b", "", "stop/waiting")
}

// A main process found by `expect` is not a process group leader: it gets
// the signal to itself as well as to the group (a stale group signal
// alone would miss it).
func TestStopSignalsFollowedMainItself(t *testing.T) {
	h, tr := newTrackedHarness(t)
	d := h.job("d", "", "", "main")
	d.Expect, d.ExpectExits, d.ExpectTimeout = conf.ExpectDaemon, 2, 10*time.Second
	h.e.StartJob("d", nil, nil)
	p := h.pid("d", "", conf.Main)
	tr.members[5001] = "main"
	h.exit(p, 0)
	delete(tr.members, 5001)
	tr.members[5002] = "main"
	h.e.ProcessExited(supervise.Exit{Pid: 5001, Orphan: true})
	h.wantStatus("d", "", "start/running")
	h.sp.single = nil
	h.e.StopJob("d", nil, nil)
	if got := strings.Join(h.sp.single, ","); got != "5002:TERM" {
		t.Fatalf("signals to the followed main process alone: %q, want 5002:TERM", got)
	}
	if last := h.sp.signals[len(h.sp.signals)-1]; last != "5002:TERM" {
		t.Fatalf("last group signal %q, want 5002:TERM", last)
	}
}
