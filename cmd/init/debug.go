//go:build pprof

package main

// A hidden debugging aid, compiled in only with `go build -tags pprof`
// (linking runtime/pprof costs about 0.5 MiB of PSS, measured) and off
// unless UPSTART_PPROF_DIR names a directory when the daemon starts: the
// Nth SIGUSR2 then writes heap-N.pprof (one sample per 4 KiB allocated),
// goroutine-N.pprof and memstats-N.txt there and starts cpu-N.pprof, a CPU
// profile that the next SIGUSR2 ends. For `go tool pprof`. The variable is
// removed from the environment so that jobs do not inherit it.

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/goupstart/upstart/internal/supervise"
)

func init() {
	dir := os.Getenv("UPSTART_PPROF_DIR")
	if dir == "" || (len(os.Args) > 1 && os.Args[1] == supervise.PreExecArg) {
		return
	}
	os.Unsetenv("UPSTART_PPROF_DIR")
	runtime.MemProfileRate = 4096 // fine-grained heap profiles
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	// UPSTART_PPROF_CPU_AT_START=1: the CPU profile starts now (cpu-0.pprof),
	// so that start-up and a cold start of the jobs are in it.
	var cpu0 *os.File
	if os.Getenv("UPSTART_PPROF_CPU_AT_START") != "" {
		os.Unsetenv("UPSTART_PPROF_CPU_AT_START")
		if f, err := os.Create(filepath.Join(dir, "cpu-0.pprof")); err == nil && pprof.StartCPUProfile(f) == nil {
			cpu0 = f
		}
	}
	go func() {
		cpu := cpu0
		for n := 1; ; n++ {
			<-c
			name := func(kind, ext string) string { return filepath.Join(dir, fmt.Sprintf("%s-%d.%s", kind, n, ext)) }
			if cpu != nil {
				pprof.StopCPUProfile()
				cpu.Close()
			}
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			// Before the profiles are written: that allocates.
			os.WriteFile(name("memstats", "txt"), fmt.Appendf(nil,
				"goroutines %d\nHeapAlloc %d\nHeapInuse %d\nHeapIdle %d\nHeapReleased %d\nHeapSys %d\n"+
					"StackInuse %d\nStackSys %d\nMSpanSys %d\nMCacheSys %d\nBuckHashSys %d\nGCSys %d\nOtherSys %d\nSys %d\nNumGC %d\n",
				runtime.NumGoroutine(), m.HeapAlloc, m.HeapInuse, m.HeapIdle, m.HeapReleased, m.HeapSys,
				m.StackInuse, m.StackSys, m.MSpanSys, m.MCacheSys, m.BuckHashSys, m.GCSys, m.OtherSys, m.Sys, m.NumGC), 0o644)
			for _, p := range []string{"heap", "goroutine"} {
				if f, err := os.Create(name(p, "pprof")); err == nil {
					pprof.Lookup(p).WriteTo(f, 0)
					f.Close()
				}
			}
			cpu = nil
			if f, err := os.Create(name("cpu", "pprof")); err == nil {
				if pprof.StartCPUProfile(f) == nil {
					cpu = f
				} else {
					f.Close()
				}
			}
		}
	}()
}
