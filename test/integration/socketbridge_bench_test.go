package integration

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSocketActivation: a connection to a socket no process serves
// yet, until the first byte from a daemon that upstart-socket-bridge and
// init started for it (socket activation, issue 11). Each round stops the
// daemon first, so every connection starts it afresh. The daemon is a
// small Python program (python3 -S):
// what it costs to start is part of the figure, as it is of any
// activation. Reports the median and the 90th percentile.
func BenchmarkSocketActivation(b *testing.B) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir := b.TempDir()
	server := filepath.Join(dir, "server.py")
	os.WriteFile(server, []byte("import socket\ns = socket.socket(fileno=3)\nwhile True:\n    c, _ = s.accept()\n    c.sendall(b'x')\n    c.close()\n"), 0o644)
	s := benchSession(b, map[string]string{
		"bridge": "exec " + filepath.Join(binDir, "upstart-socket-bridge") + " --user\n",
		"web":    "start on socket PROTO=inet PORT=" + port + " ADDR=127.0.0.1\nexec /usr/bin/python3 -S " + server + "\n",
	})
	defer s.stop()
	if _, errs, c := s.ctl("start", "bridge"); c != 0 {
		b.Fatal(errs)
	}
	first := func() (time.Duration, error) {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp4", "127.0.0.1:"+port, 5*time.Second)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	// The bridge listens once a connection is answered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := first(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no answer on the socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if out, errs, c := s.ctl("stop", "web"); c != 0 {
			b.Fatalf("stop web: %s %s", out, errs)
		}
		time.Sleep(300 * time.Millisecond) // the bridge looks again 250 ms after an event
		b.StartTimer()
		d, err := first()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "µs-p90")
}
