package engine

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/state"
	"github.com/goupstart/upstart/internal/supervise"
)

// BenchmarkEventThroughput: events per second through the engine with 1000
// job classes and no processes. Each event starts one abstract job and
// the next one stops it again, so matching, state changes and the job
// events they emit are all counted.
func BenchmarkEventThroughput(b *testing.B) {
	h := newHarness(&testing.T{})
	for i := 0; i < 1000; i++ {
		n := fmt.Sprint(i)
		h.job("job"+n, "up N="+n, "down N="+n, "")
	}
	h.e.opt.OnEvent = nil
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprint("N=", i)
	}
	b.ResetTimer()
	start := h.e.EventsHandled
	for i := 0; i < b.N; i++ {
		env := []string{names[i%1000]}
		if i/1000%2 == 0 {
			h.e.Emit("up", env, nil, nil)
		} else {
			h.e.Emit("down", env, nil, nil)
		}
	}
	handled := h.e.EventsHandled - start
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emits/s")
}

// BenchmarkUnmatchedEvent: an event no condition waits for, against 1000
// classes (the floor cost of matching).
func BenchmarkUnmatchedEvent(b *testing.B) {
	h := newHarness(&testing.T{})
	for i := 0; i < 1000; i++ {
		n := fmt.Sprint(i)
		h.job("job"+n, "up N="+n, "down N="+n, "")
	}
	h.e.opt.OnEvent = nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.e.Emit("nothing", nil, nil, nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReexecState1000: the engine's part of a stateful re-exec with
// 1000 running jobs, each with a session's environment (40 variables):
// the old image's Snapshot and Encode, the new image's Decode and
// Restore, each with the CPU time it takes (cpu-ms/op; on a busy machine
// the wall-clock time says less) and the document's size.
func BenchmarkReexecState1000(b *testing.B) {
	h := newHarness(&testing.T{})
	var env []string
	for k := 0; k < 40; k++ {
		env = append(env, fmt.Sprintf("VARIABLE_%02d=%s", k, strings.Repeat("v", 28)))
	}
	h.e.env = env
	for i := 0; i < 1000; i++ {
		h.job(fmt.Sprint("job", i), "startup", "", "main respawn")
	}
	h.e.Emit("startup", nil, nil, nil)
	if n := h.e.InstanceCount(); n != 1000 {
		b.Fatalf("%d instances", n)
	}
	snap := h.e.Snapshot(nil)
	doc, err := state.Encode(&state.Document{Engine: *snap})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot", func(b *testing.B) {
		defer cpuPerOp(b)()
		for i := 0; i < b.N; i++ {
			h.e.Snapshot(nil)
		}
	})
	b.Run("encode", func(b *testing.B) {
		defer cpuPerOp(b)()
		for i := 0; i < b.N; i++ {
			state.Encode(&state.Document{Engine: *snap})
		}
		b.ReportMetric(float64(len(doc)), "bytes/doc")
	})
	b.Run("decode", func(b *testing.B) {
		defer cpuPerOp(b)()
		for i := 0; i < b.N; i++ {
			if _, err := state.Decode(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		docs := make([]*state.Document, b.N)
		for i := range docs {
			docs[i], _ = state.Decode(doc)
		}
		b.ResetTimer()
		defer cpuPerOp(b)()
		for i := 0; i < b.N; i++ {
			h2 := newHarnessWith(&testing.T{}, h.sp, h.clock)
			if err := h2.e.Restore(&docs[i].Engine, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuPerOp reports this process's CPU time per operation.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t0 := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-t0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkRespawn: the engine's part of one respawn after SIGKILL, from
// the exit to the spawn of the replacement (stopping, killed, starting,
// the spawn request), among 100 running jobs, with the tracker and the
// spawner faked (the cost of the engine, not of cgroupfs or fork). The
// respawn limit is lifted so that one job can respawn b.N times.
func BenchmarkRespawn(b *testing.B) {
	h, _ := newTrackedHarness(&testing.T{})
	for i := 0; i < 100; i++ {
		d := h.job(fmt.Sprint("s", i), "", "", "main respawn")
		d.RespawnLimit = 0
		h.e.StartJob(d.Name, nil, nil)
	}
	h.e.opt.OnEvent = nil
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		name := fmt.Sprint("s", n%100)
		h.e.ProcessExited(supervise.Exit{Pid: h.pid(name, "", conf.Main), Status: syscall.WaitStatus(syscall.SIGKILL)})
	}
	b.StopTimer()
	if got := h.status("s0", ""); got != "start/running" {
		b.Fatalf("s0 is %s after the respawns", got)
	}
}
