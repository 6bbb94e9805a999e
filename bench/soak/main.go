// Command soak is the soak benchmark of issue 15: a session instance under
// mixed load from several clients for a while (10 minutes by default),
// one of them hostile, with the daemon's RSS, descriptors, threads and
// goroutines printed every 30 s. It is a benchmark, not a test: it
// prints figures and checks nothing but that the daemon is still there.
//
//	go run ./bench/soak                  # as root (the hostile client runs as nobody)
//	go run ./bench/soak -duration 2m -every 10s
//
// The clients, all at once:
//   - control: starts and stops instances of a job (a rolling set of 200
//     names) over one lean D-Bus connection, as fast as the daemon answers;
//   - events: emits `tick` with a fresh variable, which starts a task,
//     waiting for each;
//   - readers: `initctl list` and `initctl status` of a running job, in turn;
//   - respawner: a job whose main process exits at once, `respawn limit
//     unlimited`;
//   - logger: a `console log` job writing a line every millisecond;
//   - hostile (as nobody): the repro clients of test/integration/testdata/repro
//     in turn: 20 connections announcing 128 MiB messages, a 64 MiB `av`
//     body, 2000 idle connections.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/control"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "how long the load runs")
	every := flag.Duration("every", 30*time.Second, "sampling interval")
	flag.Parse()
	if err := run(*duration, *every); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(duration, every time.Duration) error {
	root, err := os.MkdirTemp("", "upstart-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	os.Chmod(root, 0o755)
	bin := filepath.Join(root, "bin")
	build := exec.Command("go", "build", "-tags", "pprof", "-o", bin+"/", "./cmd/init", "./cmd/initctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build (run from the repository): %w", err)
	}
	conf := filepath.Join(root, "conf")
	prof := filepath.Join(root, "prof")
	for _, d := range []string{conf, prof, filepath.Join(root, "run"), filepath.Join(root, "cache")} {
		os.MkdirAll(d, 0o755)
	}
	jobs := map[string]string{
		"inst":      "instance $N\nexec sleep 3600\n",
		"tick-task": "start on tick\ntask\nexec true\n",
		"svc":       "respawn\nexec sleep 3600\n",
		"flapper":   "respawn\nrespawn limit unlimited\nexec true\n",
		"talker":    "console log\nexec sh -c 'i=0; while :; do echo line $i; i=$((i+1)); sleep 0.001; done'\n",
	}
	for n, b := range jobs {
		if err := os.WriteFile(filepath.Join(conf, n+".conf"), []byte(b), 0o644); err != nil {
			return err
		}
	}
	daemon := exec.Command(filepath.Join(bin, "init"), "--user", "--confdir", conf, "--no-startup-event")
	daemon.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+filepath.Join(root, "run"), "XDG_CACHE_HOME="+filepath.Join(root, "cache"),
		"UPSTART_PPROF_DIR="+prof)
	logf, _ := os.Create(filepath.Join(root, "daemon.log"))
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		return err
	}
	pid := daemon.Process.Pid
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	addr, err := sessionAddress(filepath.Join(root, "run", "upstart", "sessions", strconv.Itoa(pid)+".session"))
	if err != nil {
		return err
	}
	ctl := func(args ...string) error {
		c := exec.Command(filepath.Join(bin, "initctl"), args...)
		c.Env = append(os.Environ(), "UPSTART_SESSION="+addr)
		return c.Run()
	}
	for _, j := range []string{"svc", "flapper", "talker"} {
		if err := ctl("start", j); err != nil {
			return fmt.Errorf("start %s: %w", j, err)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var counts [4]atomic.Int64 // control calls, events, reads, hostile rounds
	loop := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if f() != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	pc, err := control.DialPeer(addr)
	if err != nil {
		return err
	}
	defer pc.Close()
	i := 0
	loop(func() error {
		i++
		name := "N=" + strconv.Itoa(i%200)
		jp := control.JobPath("inst")
		err := pc.Call(jp, control.JobIface, "Start", []string{name}, true)
		if err == nil {
			err = pc.Call(jp, control.JobIface, "Stop", []string{name}, true)
		}
		counts[0].Add(1)
		return err
	})
	ev, err := control.DialPeer(addr)
	if err != nil {
		return err
	}
	defer ev.Close()
	k := 0
	loop(func() error {
		k++
		counts[1].Add(1)
		return ev.EmitEvent("tick", []string{"K=" + strconv.Itoa(k)}, true)
	})
	r := 0
	loop(func() error {
		r++
		counts[2].Add(1)
		if r%2 == 0 {
			return ctl("list")
		}
		return ctl("status", "svc")
	})
	abstract := "@" + strings.TrimPrefix(addr, "unix:abstract=")
	repro := "test/integration/testdata/repro"
	hostile := [][]string{
		{filepath.Join(repro, "dos_bighdr.py"), "20", "4", abstract},
		{filepath.Join(repro, "dos_av.py"), abstract},
		{filepath.Join(repro, "dos_fds.py"), "2000", abstract, "5"},
	}
	h := 0
	if os.Geteuid() == 0 {
		loop(func() error {
			argv := hostile[h%len(hostile)]
			h++
			counts[3].Add(1)
			c := exec.Command("setpriv", append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3"}, argv...)...)
			c.Run() // refused: the script fails, which is the point
			time.Sleep(time.Second)
			return nil
		})
	} else {
		fmt.Fprintln(os.Stderr, "soak: not root: no hostile client (it runs as nobody)")
	}

	fmt.Printf("# soak: %v of mixed load, sampled every %v (daemon pid %d)\n\n", duration, every, pid)
	fmt.Println("| t | RSS MiB | fds | threads | goroutines | control calls | events | reads | hostile rounds |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	sample := func(t time.Duration, n int) error {
		if err := syscall.Kill(pid, 0); err != nil {
			return fmt.Errorf("the daemon is gone: %w", err)
		}
		rss, threads := status(pid)
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		syscall.Kill(pid, syscall.SIGUSR2)
		gor := "?"
		for w := 0; w < 50; w++ {
			if v, ok := goroutines(filepath.Join(prof, fmt.Sprintf("memstats-%d.txt", n))); ok {
				gor = v
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Printf("| %s | %.1f | %d | %s | %s | %d | %d | %d | %d |\n", t.Round(time.Second), float64(rss)/1024, len(fds), threads, gor,
			counts[0].Load(), counts[1].Load(), counts[2].Load(), counts[3].Load())
		return nil
	}
	t0 := time.Now()
	n := 1
	if err := sample(0, n); err != nil {
		return err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Since(t0) < duration {
		<-tick.C
		n++
		if err := sample(time.Since(t0), n); err != nil {
			close(stop)
			return err
		}
	}
	close(stop)
	wg.Wait()
	return nil
}

func sessionAddress(file string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil {
			if v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "UPSTART_SESSION="); ok && v != "" {
				return v, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no session file %s", file)
}

// status returns VmRSS in KiB and the thread count.
func status(pid int) (rss int, threads string) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			rss, _ = strconv.Atoi(strings.Fields(v)[0])
		case "Threads":
			threads = v
		}
	}
	return rss, threads
}

func goroutines(file string) (string, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "goroutines "); ok {
			return v, true
		}
	}
	return "", false
}
