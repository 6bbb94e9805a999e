package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkStartup1000: from exec of `init --user` to its control socket
// answering, with 1000 job files to load (the session file is written
// after the configuration is loaded and the socket is up).
func BenchmarkStartup1000(b *testing.B) {
	jobs := map[string]string{}
	for i := 0; i < 1000; i++ {
		jobs[fmt.Sprint("job", i)] = fmt.Sprintf("start on never%d\nexec sleep 3600\n", i)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
		for name, body := range jobs {
			os.WriteFile(filepath.Join(s.confdir, name+".conf"), []byte(body), 0o644)
		}
		b.StartTimer()
		s.start()
		out, _, code := s.ctl("initctl", "status", "job999")
		b.StopTimer()
		if code != 0 || !strings.HasPrefix(out, "job999 stop/waiting") {
			b.Fatalf("status job999: %q", out)
		}
		s.stop()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/start")
}

// BenchmarkEmitTo200Jobs: `initctl emit go` returns when the event has
// finished, i.e. when all 200 services it starts are running (their
// processes exist; checked in /proc after the first round).
func BenchmarkEmitTo200Jobs(b *testing.B) {
	jobs := map[string]string{}
	for i := 0; i < 200; i++ {
		jobs[fmt.Sprint("svc", i)] = "start on go\nstop on halt\nexec sleep 3600\n"
	}
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for name, body := range jobs {
		os.WriteFile(filepath.Join(s.confdir, name+".conf"), []byte(body), 0o644)
	}
	s.start()
	defer s.stop()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, errs, code := s.ctl("initctl", "emit", "go"); code != 0 {
			b.Fatalf("emit: %s", errs)
		}
		total += time.Since(start)
		b.StopTimer()
		if i == 0 {
			n := 0
			for _, p := range processes() {
				if p.cmdline == "sleep 3600" && p.ppid == s.cmd.Process.Pid {
					n++
				}
			}
			if n != 200 {
				b.Fatalf("%d service processes after emit, want 200", n)
			}
		}
		if _, errs, code := s.ctl("initctl", "emit", "halt"); code != 0 {
			b.Fatalf("emit halt: %s", errs)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/emit-to-200-running")
}

// BenchmarkEmitRoundTrip: `initctl emit` of an event nothing waits for,
// with 1000 job classes loaded (one process per emit: exec, connect,
// authenticate, call, wait).
func BenchmarkEmitRoundTrip(b *testing.B) {
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for i := 0; i < 1000; i++ {
		os.WriteFile(filepath.Join(s.confdir, fmt.Sprint("job", i, ".conf")), []byte(fmt.Sprintf("start on ev%d\n", i)), 0o644)
	}
	s.start()
	defer s.stop()
	ctl := filepath.Join(binDir, "initctl")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(ctl, "emit", "nothing")
		cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("emit: %v %s", err, out)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emits/s")
}

// BenchmarkStop100: `initctl stop` of an instance with 100 processes (the
// main process and 99 background children), until none is left.
func BenchmarkStop100(b *testing.B) {
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	os.WriteFile(filepath.Join(s.confdir, "many.conf"), []byte("script\n  for i in $(seq 99); do sleep 1020 & done\n  exec sleep 1021\nend script\n"), 0o644)
	s.start()
	defer s.stop()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, errs, code := s.ctl("start", "many"); code != 0 {
			b.Fatal(errs)
		}
		waitFor(b, "100 processes", func() bool { return len(jobProcesses("many", "sleep 1020")) == 99 })
		b.StartTimer()
		start := time.Now()
		if _, errs, code := s.ctl("stop", "many"); code != 0 {
			b.Fatal(errs)
		}
		total += time.Since(start)
		b.StopTimer()
		if n := len(jobProcesses("many", "sleep 1020")) + len(jobProcesses("many", "sleep 1021")); n != 0 {
			b.Fatalf("%d processes left after stop", n)
		}
		b.StartTimer()
	}
	tracking := "pid tracking"
	if strings.Contains(s.stderr.String(), "Process tracking: cgroups") {
		tracking = "cgroups"
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/stop-100")
	b.Logf("tracking: %s", tracking)
}
