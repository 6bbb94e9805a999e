package engine

import (
	"fmt"
	"testing"
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
