package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/logger"
)

// The writer of the throughput figures: fixed lines as fast as possible.
const (
	flood     = "0123456789abcdefghijklmnopqrstuvwxyz"
	floodLine = len(flood) + 1
)

func floodCmd(n int) string { return fmt.Sprintf("yes %s | head -c %d", flood, n) }

// floodLogSize is the size of n bytes of the writer's output in a log:
// through a pty every "\n" became "\r\n"; through a pipe nothing changed.
func floodLogSize(n int, pipe bool) int64 {
	if pipe {
		return int64(n)
	}
	return int64(n + n/floodLine)
}

// checkFlood reads a log of the writer and returns how many bytes of it
// are not what the writer wrote (0 when every byte arrived, in order).
func checkFlood(t testing.TB, path string, n int, pipe bool) (bad int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	line := []byte(flood + "\r\n")
	if pipe {
		line = []byte(flood + "\n")
	}
	var got int64
	for {
		l, err := r.ReadSlice('\n')
		got += int64(len(l))
		if len(l) > 0 && !bytes.Equal(l, line) && !(err == io.EOF && bytes.HasPrefix([]byte(flood), l)) {
			bad += int64(len(l))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := floodLogSize(n, pipe) - got; d > 0 {
		bad += d
	}
	return bad
}

// floodFigures are the results of one run.
type floodFigures struct {
	ours, direct time.Duration
	lost         int64
	peakRSS      int // KiB, the daemon's VmHWM
}

func (f floodFigures) String() string {
	mb := func(d time.Duration) float64 { return 100 / d.Seconds() }
	return fmt.Sprintf("through the daemon %.0f MB/s, cat > file %.0f MB/s, ratio %.2f, bytes lost %d, daemon peak RSS %d KiB",
		mb(f.ours), mb(f.direct), f.direct.Seconds()/f.ours.Seconds(), f.lost, f.peakRSS)
}

// runFlood sends n bytes through a job's pty (pipe: its pipe, `console
// log pipe`) into its log and the same writer through a pipe into a file,
// and times both. The daemon's time is from `start` (which returns when
// the writer has exited) until the last byte is in the log.
func runFlood(t testing.TB, s *session, n int, pipe bool) floodFigures {
	var f floodFigures
	dir := t.TempDir()
	direct := filepath.Join(dir, "direct")
	start := time.Now()
	if out, err := exec.Command("sh", "-c", floodCmd(n)+" | cat > "+direct).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f.direct = time.Since(start)

	job := "flood"
	if pipe {
		job = "floodpipe"
	}
	p := filepath.Join(s.logDir(), job+".log")
	os.Remove(p)
	want := floodLogSize(n, pipe)
	start = time.Now()
	if out, errs, code := s.ctl("initctl", "start", job); code != 0 {
		t.Fatalf("start flood: %q %q", out, errs)
	}
	deadline := start.Add(120 * time.Second)
	for {
		st, err := os.Stat(p)
		if err == nil && st.Size() >= want {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	f.ours = time.Since(start)
	time.Sleep(50 * time.Millisecond) // anything extra would show as bad bytes
	f.lost = checkFlood(t, p, n, pipe)
	f.peakRSS = vmHWM(s.cmd.Process.Pid)
	os.Remove(p)
	return f
}

const floodSize = 100 << 20

// floodJobs are the writer jobs: through a pty (the default) and through
// a pipe.
func floodJobs() map[string]string {
	return map[string]string{
		"flood":     "task\nexec sh -c '" + floodCmd(floodSize) + "'\n",
		"floodpipe": "task\nconsole log pipe\nexec sh -c '" + floodCmd(floodSize) + "'\n",
	}
}

// 100 MB as fast as the writer can, through a pty and through a pipe:
// every byte reaches the log, and the daemon's memory stays bounded.
func TestLogging100MB(t *testing.T) {
	s := startSession(t, floodJobs())
	for _, pipe := range []bool{false, true} {
		before := vmHWM(s.cmd.Process.Pid)
		f := runFlood(t, s, floodSize, pipe)
		t.Logf("100 MB (pipe %v): %v (peak RSS before: %d KiB)", pipe, f, before)
		if f.lost != 0 {
			t.Errorf("pipe %v: %d bytes lost or wrong", pipe, f.lost)
		}
		// Bounded: the logger holds one read buffer per reader, never the
		// output.
		if f.peakRSS > before+32<<10 {
			t.Errorf("pipe %v: daemon peak RSS grew from %d KiB to %d KiB", pipe, before, f.peakRSS)
		}
	}
}

// BenchmarkLogThroughput: MB/s of 100 MB of job output through the daemon
// into its log, next to the same writer piped into a file with cat, in the
// same run; `pty` is `console log`, `pipe` is `console log pipe`.
func BenchmarkLogThroughput(b *testing.B) {
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for name, body := range floodJobs() {
		writeJob(b, s.confdir, name, body)
	}
	s.start()
	defer s.stop()
	for _, pipe := range []bool{false, true} {
		name := "pty"
		if pipe {
			name = "pipe"
		}
		b.Run(name, func(b *testing.B) {
			var ours, direct time.Duration
			var lost int64
			var f floodFigures
			for i := 0; i < b.N; i++ {
				f = runFlood(b, s, floodSize, pipe)
				ours += f.ours
				direct += f.direct
				lost += f.lost
			}
			mbs := func(d time.Duration) float64 { return float64(b.N) * 100 / d.Seconds() }
			b.ReportMetric(mbs(ours), "MB/s")
			b.ReportMetric(mbs(direct), "cat-MB/s")
			b.ReportMetric(direct.Seconds()/ours.Seconds(), "ratio")
			b.ReportMetric(float64(lost), "bytes-lost")
			b.ReportMetric(float64(f.peakRSS), "peak-RSS-KiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkEventLogOverhead: events/s through the engine (1000 abstract
// jobs, each event starting or stopping one) without and with the event
// log, whose writer runs as in the daemon.
func BenchmarkEventLogOverhead(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 1000; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprint("job", i, ".conf")),
			[]byte(fmt.Sprintf("start on up N=%d\nstop on down N=%d\n", i, i)), 0o644)
	}
	jobs, errs := conf.Load([]string{dir})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprint("N=", i)
	}
	run := func(b *testing.B, onEvent func(*engine.Engine) func(string, []string)) {
		var e *engine.Engine
		opts := engine.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if onEvent != nil {
			opts.OnEvent = func(n string, env []string) { onEvent(e)(n, env) }
		}
		e = engine.New(opts)
		e.SetJobs(jobs)
		b.ResetTimer()
		start := e.EventsHandled
		for i := 0; i < b.N; i++ {
			env := []string{names[i%1000]}
			if i/1000%2 == 0 {
				e.Emit("up", env, nil, nil)
			} else {
				e.Emit("down", env, nil, nil)
			}
		}
		b.ReportMetric(float64(e.EventsHandled-start)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("off", func(b *testing.B) { run(b, nil) })
	b.Run("on", func(b *testing.B) {
		lg := logger.New(logger.Options{Dir: b.TempDir()})
		ev := lg.EventLog()
		defer lg.Close()
		defer ev.Close()
		var hook func(string, []string)
		run(b, func(e *engine.Engine) func(string, []string) {
			if hook == nil {
				hook = ev.OnEvent(func(fn func(api.Signal)) { e.Subscribe(fn) })
			}
			return hook
		})
	})
}
