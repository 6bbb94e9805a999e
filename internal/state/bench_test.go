package state

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
)

// benchDoc is the document of a session with n running jobs, as `go run
// ./bench` makes it (reexec/1000): each job `start on startup`, `respawn`,
// `exec sleep …`, one instance running with the session's environment (40
// variables, about 1.6 KB: the same for every instance).
func benchDoc(n int) *Document {
	var env []string
	for k := 0; k < 40; k++ {
		env = append(env, fmt.Sprintf("VARIABLE_%02d=%s", k, strings.Repeat("v", 28)))
	}
	d := &Document{Written: time.Now(), Daemon: Daemon{ListenerFD: 3, LogPriority: "message"}}
	d.Engine.Env = env
	for k := 0; k < n; k++ {
		def := &conf.Job{Name: fmt.Sprint("job", k), Path: fmt.Sprintf("/home/user/.config/upstart/job%d.conf", k),
			StartOn: &cond.Node{Name: "startup"}, Respawn: true, RespawnLimit: 10, RespawnInterval: 5 * time.Second,
			ExpectTimeout: 30 * time.Second, KillTimeout: 5 * time.Second, KillSignal: 15, ReloadSignal: 1}
		def.Process[conf.Main] = &conf.Process{Command: "sleep 7200 0.00012340001" + fmt.Sprint(k), Line: 3}
		d.Engine.Defs = append(d.Engine.Defs, def)
		pid := 10000 + k
		ienv := append(append([]string(nil), env...), "UPSTART_EVENTS=startup")
		d.Engine.Classes = append(d.Engine.Classes, Class{Name: def.Name, Def: k, Next: -1, Instances: []Instance{{
			Def: k, Goal: "start", State: "running", Env: ienv, Pids: map[string]int{"main": pid}, Hook: -1,
			Sessions: map[int]string{pid: "main"},
		}}})
	}
	return d
}

// BenchmarkEncode1000 and BenchmarkDecode1000: the state document of a
// re-exec with 1000 running jobs, written by the old image and read by
// the new one; bytes/doc is its size. The JSON ones: the same document as
// JSON (format 3, which an older image writes and GetState answers).
func BenchmarkEncode1000(b *testing.B)     { benchEncode(b, Encode) }
func BenchmarkEncodeJSON1000(b *testing.B) { benchEncode(b, EncodeJSON) }
func BenchmarkDecode1000(b *testing.B)     { benchDecode(b, Encode) }
func BenchmarkDecodeJSON1000(b *testing.B) { benchDecode(b, EncodeJSON) }

func benchEncode(b *testing.B, encode func(*Document) ([]byte, error)) {
	d := benchDoc(1000)
	var n int
	defer cpuPerOp(b)()
	for i := 0; i < b.N; i++ {
		out, err := encode(d)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/doc")
}

func benchDecode(b *testing.B, encode func(*Document) ([]byte, error)) {
	out, err := encode(benchDoc(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	defer cpuPerOp(b)()
	for i := 0; i < b.N; i++ {
		if _, err := Decode(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "bytes/doc")
}

// cpuPerOp reports the CPU time of this process per operation, which on a
// busy machine says more than the wall-clock time.
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
