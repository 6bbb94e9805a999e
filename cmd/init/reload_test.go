package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/supervise"
)

// benchDaemon is the part of the daemon a configuration change touches:
// the loop, with the jobs of dir loaded.
func benchDaemon(b *testing.B, dir string) *daemon {
	d := &daemon{o: &options{}, dirs: []string{dir}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	d.e = engine.New(engine.Options{Log: d.log})
	done := make(chan struct{})
	go d.e.Run(make(chan supervise.Exit), done)
	b.Cleanup(func() { close(done) })
	d.call(d.reload)
	return d
}

// BenchmarkConfChange20000: the loop's stall when one job file among
// 20 000 is touched (issue 15 item 10). "full" is what the daemon did
// before (every file re-read and every job re-installed, on the loop),
// "changed" what it does now (the changed file re-read off the loop, its
// job updated on it). stall-ms is the longest a loop round trip (what
// every control call and process exit waits for) took while the change was
// handled; total-ms the whole handling.
func BenchmarkConfChange20000(b *testing.B) {
	const N = 20000
	dir := b.TempDir()
	for i := 0; i < N; i++ {
		body := fmt.Sprintf("description \"service %d\"\nstart on started dep%d or (net-device-up IFACE!=lo and filesystem)\nstop on stopping dep%d\nenv NAME=svc%d\nrespawn\nexec /usr/bin/svc --id %d\n", i, i, i, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc%05d.conf", i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []string{"full", "changed"} {
		b.Run(mode, func(b *testing.B) {
			d := benchDaemon(b, dir)
			var worst, sumStall, sumTotal time.Duration
			for i := 0; i < b.N; i++ {
				p := filepath.Join(dir, fmt.Sprintf("svc%05d.conf", i%N))
				now := time.Now()
				os.Chtimes(p, now, now)
				stop := make(chan struct{})
				var stall time.Duration
				var wg sync.WaitGroup
				wg.Add(1)
				go func() { // probes the loop every 100 µs
					defer wg.Done()
					for {
						t0 := time.Now()
						d.call(func() {})
						if l := time.Since(t0); l > stall {
							stall = l
						}
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Microsecond):
						}
					}
				}()
				start := time.Now()
				if mode == "full" {
					d.call(d.reload)
				} else {
					d.confChanged([]string{p}, nil, false)
				}
				total := time.Since(start)
				close(stop)
				wg.Wait()
				sumStall += stall
				sumTotal += total
				worst = max(worst, stall)
			}
			b.ReportMetric(float64(sumStall.Microseconds())/1000/float64(b.N), "stall-ms")
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-stall-ms")
			b.ReportMetric(float64(sumTotal.Microseconds())/1000/float64(b.N), "total-ms")
		})
	}
}
