package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/state"
)

// reexec passes h's engine through a snapshot, the JSON document and a
// restore into a new engine on the same spawner and clock, as a re-exec
// does; the old engine's timers die with it. It checks that a snapshot of
// the restored engine is the same document.
func reexec(t *testing.T, h *harness) *harness {
	t.Helper()
	before := h.e.Snapshot(nil)
	b1, err := state.Encode(&state.Document{Engine: *before})
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("UPSTART_WRITE_STATE_FIXTURE"); path != "" {
		// A new format's fixture: the document of TestSnapshotRestore
		// with a daemon part and a logger handover.
		d := state.Document{Daemon: state.Daemon{ListenerFD: 3, LogPriority: "info"}, Engine: *before,
			Reaped: []state.Reaped{{Pid: h.pid("blk", "", conf.PreStart), Status: 0}, {Pid: 99999, Status: 9, Orphan: true, Cgroup: "/upstart/svc/main"}},
			Logger: json.RawMessage(`{"readers":[{"file":"svc.log","fd":5},{"file":"inst-1.log","fd":6,"pipe":true}],"files":[{"file":"svc.log","pending":"aGVsbG8NCg==","dropped":12}]}`)}
		out, err := state.Encode(&d)
		var pretty bytes.Buffer
		if err == nil && !state.IsBinary(out) {
			err = json.Indent(&pretty, out, "", "\t")
			out = pretty.Bytes()
		}
		if err == nil {
			err = os.WriteFile(path, out, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	doc, err := state.Decode(b1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range h.clock.timers {
		tm.stopped = true
	}
	h2 := newHarnessWith(t, h.sp, h.clock)
	h2.jobs = h.jobs
	if err := h2.e.Restore(&doc.Engine, nil); err != nil {
		t.Fatal(err)
	}
	b2, err := state.Encode(&state.Document{Engine: *h2.e.Snapshot(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("the restored engine saves differently:\nbefore %s\nafter  %s", b1, b2)
	}
	return h2
}

// A re-exec in the middle of everything: a respawning service, instances,
// kept knowledge of job states, an event blocked by a pre-start, a stop
// condition half true, a kill timer running. Afterwards each goes on as
// it would have.
func TestSnapshotRestore(t *testing.T) {
	h := newHarness(t)
	h.job("svc", "startup", "", "main respawn")
	h.job("a", "", "", "main")
	h.job("b", "", "", "main")
	h.job("c", "started a and started b", "", "main")
	inst := h.job("inst", "", "", "main")
	inst.Instance = "$N"
	h.job("blk", "go", "", "pre-start main")
	h.job("two", "", "foo and bar", "main")
	h.job("stuck", "", "", "main")

	h.emit("startup")
	for _, j := range []string{"a", "b", "two", "stuck"} {
		if err := h.e.StartJob(j, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"1", "2"} {
		if err := h.e.StartJob("inst", []string{"N=" + n}, nil); err != nil {
			t.Fatal(err)
		}
	}
	h.wantStatus("c", "", "start/running")
	h.emit("go")
	h.wantStatus("blk", "", "start/pre-start")
	h.emit("foo")
	if err := h.e.StopJob("stuck", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("stuck", "", "stop/killed")
	h.clock.Advance(2 * time.Second) // 3 s of the kill timeout left

	svcPid, blkPre, stuckPid := h.pid("svc", "", conf.Main), h.pid("blk", "", conf.PreStart), h.pid("stuck", "", conf.Main)
	h = reexec(t, h)

	for _, want := range [][3]string{{"svc", "", "start/running"}, {"inst", "1", "start/running"}, {"inst", "2", "start/running"},
		{"blk", "", "start/pre-start"}, {"two", "", "start/running"}, {"stuck", "", "stop/killed"}, {"c", "", "start/running"}} {
		h.wantStatus(want[0], want[1], want[2])
	}
	// The blocked event finishes when the pre-start does.
	h.exit(blkPre, 0)
	h.wantStatus("blk", "", "start/running")
	if !slices.Contains(h.events, "started JOB=blk INSTANCE=") {
		t.Errorf("blk never started after the re-exec: %q", h.events)
	}
	// The kill timer fires at its old deadline, not a whole timeout later.
	h.clock.Advance(2 * time.Second)
	if slices.Contains(h.sp.signals, itoa(stuckPid)+":KILL") {
		t.Fatal("KILL before the kill timeout")
	}
	h.clock.Advance(1 * time.Second)
	if !slices.Contains(h.sp.signals, itoa(stuckPid)+":KILL") {
		t.Fatalf("no KILL at the kill timeout: %q", h.sp.signals)
	}
	h.kill(stuckPid, syscall.SIGKILL)
	h.wantStatus("stuck", "", "stop/waiting")
	// The half-true stop condition completes.
	h.emit("bar")
	h.wantStatus("two", "", "stop/killed")
	// The service respawns.
	h.kill(svcPid, syscall.SIGKILL)
	h.wantStatus("svc", "", "start/running")
	if h.pid("svc", "", conf.Main) == svcPid || h.spawns("svc", conf.Main) != 2 {
		t.Errorf("svc not respawned: pid %d, %d spawns", h.pid("svc", "", conf.Main), h.spawns("svc", conf.Main))
	}
	// Knowledge of `started b` survived: c starts again with a alone.
	cPid := h.pid("c", "", conf.Main)
	if err := h.e.StopJob("c", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.kill(cPid, syscall.SIGTERM)
	aPid := h.pid("a", "", conf.Main)
	if err := h.e.StopJob("a", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.kill(aPid, syscall.SIGTERM)
	h.wantStatus("c", "", "stop/waiting")
	if err := h.e.StartJob("a", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("c", "", "start/running")
}

// A document that does not hold together is refused and leaves the
// engine empty.
func TestRestoreRefusesBadDocuments(t *testing.T) {
	h := newHarness(t)
	h.job("svc", "startup", "", "main")
	h.emit("startup")
	good := h.e.Snapshot(nil)
	b, _ := json.Marshal(good)
	for name, spoil := range map[string]func(s *state.Engine){
		"definition out of range": func(s *state.Engine) { s.Classes[0].Def = 7 },
		"unknown state":           func(s *state.Engine) { s.Classes[0].Instances[0].State = "sleeping" },
		"unknown process type":    func(s *state.Engine) { s.Classes[0].Instances[0].Pids = map[string]int{"mane": 5} },
		"pid twice": func(s *state.Engine) {
			s.Classes[0].Instances[0].Members = []state.Member{{Pid: s.Classes[0].Instances[0].Pids["main"], Name: "main"}}
		},
		"latch of an operand that is not there": func(s *state.Engine) {
			s.Events = append(s.Events, state.Event{Name: "startup", Progress: "finished", FD: -1})
			s.Classes[0].Start = []state.Latch{{Operand: 3, Event: len(s.Events) - 1}}
		},
		"latch with an event of another name": func(s *state.Engine) {
			s.Events = append(s.Events, state.Event{Name: "other", Progress: "finished", FD: -1})
			s.Classes[0].Start = []state.Latch{{Operand: 0, Event: len(s.Events) - 1}}
		},
	} {
		var s state.Engine
		json.Unmarshal(b, &s)
		spoil(&s)
		h2 := newHarnessWith(t, h.sp, h.clock)
		err := h2.e.Restore(&s, nil)
		if err == nil {
			t.Errorf("%s: restored", name)
			continue
		}
		if len(h2.e.classes) != 0 || len(h2.e.pids) != 0 {
			t.Errorf("%s: a refused restore left %d classes, %d pids", name, len(h2.e.classes), len(h2.e.pids))
		}
		if !strings.HasPrefix(err.Error(), "restore: ") {
			t.Errorf("%s: error %q", name, err)
		}
	}
}

// The engine restores every format's fixture and carries on with it.
func TestRestoreFixtures(t *testing.T) {
	files, _ := filepath.Glob("../state/testdata/state-v*")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := state.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		h := newHarness(t)
		if err := h.e.Restore(&doc.Engine, nil); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		h.wantStatus("blk", "", "start/pre-start")
		h.wantStatus("inst", "2", "start/running")
		h.exit(h.pid("blk", "", conf.PreStart), 0)
		h.wantStatus("blk", "", "start/running")
	}
}
