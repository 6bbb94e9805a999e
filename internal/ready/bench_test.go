package ready

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/engine"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/supervise"
)

// selfSpawner plays the job's process: every spawn "is" the benchmark
// process (so its notify messages come from the main process), and a
// signal ends it.
type selfSpawner struct {
	exits chan supervise.Exit
	env   chan []string
}

func (s *selfSpawner) Spawn(r supervise.Request) (int, error) {
	s.env <- r.Env
	return os.Getpid(), nil
}

func (s *selfSpawner) Signal(pid int, sig syscall.Signal) error {
	go func() { s.exits <- supervise.Exit{Pid: pid, Status: syscall.WaitStatus(sig)} }()
	return nil
}

func (s *selfSpawner) SignalProcess(int, syscall.Signal) error { return nil }

// BenchmarkReadyToStarted: the time from READY=1 sent on the notify
// socket to the `started` event of the job handled by the engine, through
// the real notify socket, Manager, loop and event queue (the process is
// played by the benchmark). Reports the median and the 90th percentile.
func BenchmarkReadyToStarted(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P, as the daemon runs
	sp := &selfSpawner{exits: make(chan supervise.Exit, 4), env: make(chan []string, 1)}
	started := make(chan time.Time, 1)
	stopped := make(chan struct{}, 1)
	m := &Manager{}
	var e *engine.Engine
	e = engine.New(engine.Options{
		Spawner: sp, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Readiness: m,
		OnEvent: func(name string, env []string) {
			switch name {
			case "started":
				started <- time.Now()
			case "stopped":
				stopped <- struct{}{}
			}
		},
	})
	e.SetClock(engine.RealClock{Engine: e})
	m.Deliver = func(n engine.Notice) { e.Post(func() { e.HandleNotice(n) }) }
	done := make(chan struct{})
	defer close(done)
	go e.Run(sp.exits, done)
	j, err := conf.Parse("svc", "svc.conf", []byte("expect notify\nexec /bin/true\n"))
	if err != nil {
		b.Fatal(err)
	}
	call := func(f func()) {
		ch := make(chan struct{})
		e.Post(func() { f(); close(ch) })
		<-ch
	}
	call(func() { e.SetJobs(map[string]*conf.Job{"svc": j}) })
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(fd)
	lat := make([]time.Duration, 0, b.N)
	msg := []byte("READY=1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		call(func() { e.StartJob("svc", nil, nil) })
		env := <-sp.env
		addr, _ := environ.Lookup(env, "NOTIFY_SOCKET")
		t0 := time.Now()
		if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrUnix{Name: addr}); err != nil {
			b.Fatal(err)
		}
		t1 := <-started
		lat = append(lat, t1.Sub(t0))
		call(func() { e.StopJob("svc", nil, nil) })
		<-stopped
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "µs-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds())/1e3, "µs-p90")
}
