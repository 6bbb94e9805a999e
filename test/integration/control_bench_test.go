package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/godbus/dbus/v5"
)

// Control benchmarks against a real `init --user`.

func benchSession(b *testing.B, jobs map[string]string) *session {
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for name, body := range jobs {
		os.WriteFile(filepath.Join(s.confdir, name+".conf"), []byte(body), 0o644)
	}
	return s.start()
}

func dialPrivate(b *testing.B, addr string) *dbus.Conn {
	conn, err := dbus.Dial(addr)
	if err == nil {
		err = conn.Auth(nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// BenchmarkControlStatusRoundTrip: what `initctl status JOB` asks
// (GetJobByName, GetInstance, Properties.GetAll on the instance) over one
// persistent private-socket connection, and a single call's round trip.
func BenchmarkControlStatusRoundTrip(b *testing.B) {
	s := benchSession(b, map[string]string{"svc": "exec sleep 3600\n"})
	defer s.stop()
	if _, errs, c := s.ctl("start", "svc"); c != 0 {
		b.Fatal(errs)
	}
	conn := dialPrivate(b, s.address)
	mgr := conn.Object("", upstartManager)
	b.Run("status", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var job, inst dbus.ObjectPath
			if err := mgr.Call(upstartIface+".GetJobByName", 0, "svc").Store(&job); err != nil {
				b.Fatal(err)
			}
			if err := conn.Object("", job).Call(upstartJob+".GetInstance", 0, []string{}).Store(&inst); err != nil {
				b.Fatal(err)
			}
			var props map[string]dbus.Variant
			if err := conn.Object("", inst).Call(propsIface+".GetAll", 0, upstartInstance).Store(&props); err != nil {
				b.Fatal(err)
			}
			if props["state"].Value() != "running" {
				b.Fatalf("state %v", props["state"])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/status")
	})
	b.Run("one-call", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var job dbus.ObjectPath
			if err := mgr.Call(upstartIface+".GetJobByName", 0, "svc").Store(&job); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/call")
	})
}

// BenchmarkControlList1000: the `initctl list` command (a process per run:
// exec, connect, authenticate, 1 + 2×1000 calls) with 1000 jobs.
func BenchmarkControlList1000(b *testing.B) {
	jobs := map[string]string{}
	for i := 0; i < 1000; i++ {
		jobs[fmt.Sprint("job", i)] = fmt.Sprintf("start on ev%d\nexec sleep 3600\n", i)
	}
	s := benchSession(b, jobs)
	defer s.stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, errs, c := s.ctl("initctl", "list")
		if c != 0 || len(lines(out)) != 1000 {
			b.Fatalf("list: %d lines, %q", len(lines(out)), errs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/list")
}

// BenchmarkControlEmitWait: EmitEvent with wait=true, one call after the
// other over one persistent private-socket connection, with a job loaded
// (that the event does not start). Upstart 1.13 manages about 11 000/s.
func BenchmarkControlEmitWait(b *testing.B) {
	s := benchSession(b, map[string]string{"svc": "start on other-event\nexec sleep 3600\n"})
	defer s.stop()
	conn := dialPrivate(b, s.address)
	mgr := conn.Object("", upstartManager)
	b.Run("sequential", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := mgr.Call(upstartIface+".EmitEvent", 0, "bench", []string{"N=1"}, true).Err; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	// Several callers in flight on the same connection.
	b.Run("pipelined", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mgr.Call(upstartIface+".EmitEvent", 0, "bench", []string{"N=1"}, true).Err; err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
