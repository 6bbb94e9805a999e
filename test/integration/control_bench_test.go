package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
)

// Control benchmarks against a real `init --user`.

func benchSession(b *testing.B, jobs map[string]string) *session {
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for name, body := range jobs {
		os.WriteFile(filepath.Join(s.confdir, name+".conf"), []byte(body), 0o644)
	}
	return s.start()
}

// dialPrivate connects to a daemon's private socket, closed with the test.
func dialPrivate(t testing.TB, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Dial(addr)
	if err == nil {
		err = conn.Auth(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
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
	pid := s.cmd.Process.Pid
	b.Run("status", func(b *testing.B) {
		cpu := startCPU(b, pid)
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
		cpu.report(b, false)
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/status")
	})
	b.Run("one-call", func(b *testing.B) {
		cpu := startCPU(b, pid)
		for i := 0; i < b.N; i++ {
			var job dbus.ObjectPath
			if err := mgr.Call(upstartIface+".GetJobByName", 0, "svc").Store(&job); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, false)
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

// BenchmarkControlList1000Running: `initctl list` (a process per run) with
// 1000 running jobs, over the private socket and over a session bus
// (dbus-daemon between initctl and the daemon). The list comes from the
// daemon's records in one GetAllStatus call (issue 14: at most 20 ms
// here); `initctl -v list` also looks at every instance's cgroup for its
// members.
func BenchmarkControlList1000Running(b *testing.B) {
	const n = 1000
	jobs := map[string]string{}
	for i := 0; i < n; i++ {
		jobs[fmt.Sprint("job", i)] = "start on startup\nexec sleep 3600\n"
	}
	s := &session{t: b, confdir: b.TempDir(), rt: b.TempDir(), stderr: &syncBuffer{ch: make(chan struct{}, 1)}}
	for name, body := range jobs {
		os.WriteFile(filepath.Join(s.confdir, name+".conf"), []byte(body), 0o644)
	}
	s.startWith([]string{"--user", "--confdir", s.confdir, "--no-log"})
	defer s.stop()
	waitFor(b, "1000 running jobs", func() bool {
		out, _, _ := s.ctl("initctl", "list")
		return strings.Count(out, "start/running, process ") == n
	})
	bus := startDBusDaemon(b, "session")
	if _, errs, c := s.ctl("initctl", "notify-dbus-address", bus.address); c != 0 {
		b.Fatal(errs)
	}
	list := func(b *testing.B, env []string, args ...string) string {
		cmd := exec.Command(filepath.Join(binDir, "initctl"), args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil || strings.Count(string(out), "start/running, process ") != n {
			b.Fatalf("initctl %v: %v: %d lines", args, err, strings.Count(string(out), "\n"))
		}
		return string(out)
	}
	private := []string{"UPSTART_SESSION=" + s.address}
	onBus := []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.address, "UPSTART_SESSION="}
	var want string
	waitFor(b, "the daemon on the bus", func() bool {
		cmd := exec.Command(filepath.Join(binDir, "initctl"), "--session", "version")
		cmd.Env = append(os.Environ(), onBus...)
		return cmd.Run() == nil
	})
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"private", private, []string{"list"}},
		{"session-bus", onBus, []string{"--session", "list"}},
		{"private-members", private, []string{"-v", "list"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu := startCPU(b, s.cmd.Process.Pid)
			var out string
			for i := 0; i < b.N; i++ {
				out = list(b, c.env, c.args...)
			}
			cpu.report(b, false)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/list")
			if c.name != "private-members" {
				if want == "" {
					want = out
				} else if out != want {
					b.Fatalf("%s: the list differs from the private socket's", c.name)
				}
			}
		})
	}
}

// BenchmarkControlEmitWait: EmitEvent with wait=true, one call after the
// other over one persistent private-socket connection, with a job loaded
// (that the event does not start). Upstart 1.13 manages about 11 000/s.
//
// The godbus sub-benchmarks use godbus as the client (as our initctl does);
// the raw ones the lean client (control.PeerClient: one write per call,
// buffered reads), which shows what the daemon can do when the client is
// not the bottleneck. Each
// reports the CPU time the daemon and the client process spent per event.
//
// BENCH_DAEMON_GOMAXPROCS=N runs the daemon with GOMAXPROCS=N (this
// process keeps its own), to see what the Go scheduler's hand-offs between
// threads cost the daemon.
func BenchmarkControlEmitWait(b *testing.B) {
	if v := os.Getenv("BENCH_DAEMON_GOMAXPROCS"); v != "" {
		old, had := os.LookupEnv("GOMAXPROCS")
		os.Setenv("GOMAXPROCS", v)
		defer func() {
			if had {
				os.Setenv("GOMAXPROCS", old)
			} else {
				os.Unsetenv("GOMAXPROCS")
			}
		}()
	}
	s := benchSession(b, map[string]string{"svc": "start on other-event\nexec sleep 3600\n"})
	defer s.stop()
	pid := s.cmd.Process.Pid
	// Each sub-benchmark has the daemon to itself: no other connection
	// (each would get every EventEmitted signal too).
	godbusConn := func(b *testing.B) dbus.BusObject {
		conn := dialPrivate(b, s.address)
		return conn.Object("", upstartManager)
	}
	b.Run("sequential", func(b *testing.B) {
		mgr := godbusConn(b)
		cpu := startCPU(b, pid)
		for i := 0; i < b.N; i++ {
			if err := mgr.Call(upstartIface+".EmitEvent", 0, "bench", []string{"N=1"}, true).Err; err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, true)
	})
	// Several callers in flight on the same connection.
	b.Run("pipelined", func(b *testing.B) {
		mgr := godbusConn(b)
		cpu := startCPU(b, pid)
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mgr.Call(upstartIface+".EmitEvent", 0, "bench", []string{"N=1"}, true).Err; err != nil {
					b.Error(err)
					return
				}
			}
		})
		cpu.report(b, true)
	})
	emit := func(pc *control.PeerClient) error {
		return pc.Send(control.ManagerPath, control.ManagerIface, "EmitEvent", "bench", []string{"N=1"}, true)
	}
	b.Run("raw-sequential", func(b *testing.B) {
		pc := dialLean(b, s.address)
		cpu := startCPU(b, pid)
		for i := 0; i < b.N; i++ {
			if err := emit(pc); err != nil {
				b.Fatal(err)
			}
			if err := pc.Reply(); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, true)
	})
	b.Run("raw-pipelined", func(b *testing.B) {
		const window = 16
		pc := dialLean(b, s.address)
		cpu := startCPU(b, pid)
		sent := 0
		for done := 0; done < b.N; done++ {
			for sent < b.N && sent-done < window {
				if err := emit(pc); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			if err := pc.Reply(); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, true)
	})
}

// dialLean connects the lean client (control.PeerClient), closed with the
// benchmark.
func dialLean(b *testing.B, addr string) *control.PeerClient {
	pc, err := control.DialPeer(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.Close() })
	return pc
}

// cpuMeter measures the CPU time of the daemon and of this process.
type cpuMeter struct {
	pid          int
	daemon, self time.Duration
}

func startCPU(b *testing.B, pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, daemon: procCPU(pid), self: selfCPU()}
	b.ResetTimer()
	return m
}

// report adds events/s (when events) and the CPU µs per operation.
func (m *cpuMeter) report(b *testing.B, events bool) {
	b.StopTimer()
	if events {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.ReportMetric(float64((procCPU(m.pid)-m.daemon).Microseconds())/float64(b.N), "daemon-cpu-µs/op")
	b.ReportMetric(float64((selfCPU()-m.self).Microseconds())/float64(b.N), "client-cpu-µs/op")
}

func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
