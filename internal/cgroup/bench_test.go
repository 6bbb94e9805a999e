package cgroup

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSpawn: /bin/true through supervise, waiting for its Exit;
// with a cgroup of its own it also waits for Empty and removes the group.
func BenchmarkSpawn(b *testing.B) {
	b.Run("no-cgroup", func(b *testing.B) {
		supervisor(b)
		for i := 0; i < b.N; i++ {
			waitExit(b, spawn(b, nil, nil, "/bin/true"), 10*time.Second)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spawns/s")
	})
	b.Run("shared-cgroup", func(b *testing.B) {
		m, ch := newManager(b)
		g, err := m.Group("bench", "", "main", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			pid := spawn(b, g, nil, "/bin/true")
			g.Watch()
			waitExit(b, pid, 10*time.Second)
			waitEmpty(b, ch, g, 10*time.Second)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spawns/s")
	})
	b.Run("shared-cgroup-check-on-exit", func(b *testing.B) {
		m, ch := newManager(b)
		g, err := m.Group("bench", "", "main", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			pid := spawn(b, g, nil, "/bin/true")
			g.Watch()
			waitExit(b, pid, 10*time.Second)
			g.Check()
			waitEmpty(b, ch, g, 10*time.Second)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spawns/s")
	})
	b.Run("cgroup-per-process-check-on-exit", func(b *testing.B) {
		m, ch := newManager(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			g, err := m.Group("bench", strconv.Itoa(i), "main", nil)
			if err != nil {
				b.Fatal(err)
			}
			pid := spawn(b, g, nil, "/bin/true")
			g.Watch()
			waitExit(b, pid, 10*time.Second)
			g.Check()
			waitEmpty(b, ch, g, 10*time.Second)
			if err := g.Remove(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spawns/s")
	})
	b.Run("cgroup-per-process", func(b *testing.B) {
		m, ch := newManager(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			g, err := m.Group("bench", strconv.Itoa(i), "main", nil)
			if err != nil {
				b.Fatal(err)
			}
			pid := spawn(b, g, nil, "/bin/true")
			g.Watch()
			waitExit(b, pid, 10*time.Second)
			waitEmpty(b, ch, g, 10*time.Second)
			if err := g.Remove(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spawns/s")
	})
}

// BenchmarkStopInstance100: time from the stop request to Empty for an
// instance with 100 processes (`sleep` spawned into its main group).
func BenchmarkStopInstance100(b *testing.B) {
	for _, c := range []struct {
		name string
		stop func(*Group) error
	}{
		{"cgroup.kill", (*Group).Kill},
		{"kill-loop", func(g *Group) error {
			testNoKillFile = true
			defer func() { testNoKillFile = false }()
			return g.Kill()
		}},
		{"SIGTERM", func(g *Group) error { return g.Signal(syscall.SIGTERM) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, ch := newManager(b)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				g, err := m.Group("stop", strconv.Itoa(i), "main", nil)
				if err != nil {
					b.Fatal(err)
				}
				var pids []int
				for j := 0; j < 100; j++ {
					pids = append(pids, spawn(b, g, nil, "sleep", "1000"))
				}
				g.Watch()
				waitFor(b, "100 processes", 10*time.Second, func() bool { p, _ := g.Pids(); return len(p) == 100 })
				b.StartTimer()
				start := time.Now()
				if err := c.stop(m.Instance("stop", strconv.Itoa(i))); err != nil {
					b.Fatal(err)
				}
				waitEmpty(b, ch, g, 10*time.Second)
				total += time.Since(start)
				b.StopTimer()
				for _, p := range pids {
					waitExit(b, p, 10*time.Second)
				}
				if err := g.Remove(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/stop")
		})
	}
}
