package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// BenchmarkFileBridgeDelay: from a file created to its `file` event
// finished in init (the EventEmitted signal on the private socket), with
// upstart-file-bridge as a job of a session instance. Reports the median
// and the 90th percentile.
func BenchmarkFileBridgeDelay(b *testing.B) {
	dir := b.TempDir()
	s := benchSession(b, map[string]string{
		"bridge":  "exec " + filepath.Join(binDir, "upstart-file-bridge") + " --user\n",
		"watcher": "stop on file FILE=" + dir + "/f* EVENT=create\nexec sleep 1\n",
	})
	defer s.stop()
	if _, errs, c := s.ctl("start", "bridge"); c != 0 {
		b.Fatal(errs)
	}
	conn := dialPrivate(b, s.address)
	ch := make(chan *dbus.Signal, 64)
	conn.Signal(ch)
	matchOf := func(sig *dbus.Signal) string {
		if sig.Name != upstartIface+".EventEmitted" || len(sig.Body) < 2 || sig.Body[0] != "file" {
			return ""
		}
		env, _ := sig.Body[1].([]string)
		for _, kv := range env {
			if strings.HasPrefix(kv, "MATCH=") {
				return kv[len("MATCH="):]
			}
		}
		return ""
	}
	// The bridge is watching once a file's event comes.
	deadline := time.Now().Add(10 * time.Second)
	for ready := false; !ready; {
		if time.Now().After(deadline) {
			b.Fatal("the bridge does not emit")
		}
		p := filepath.Join(dir, "fprobe"+time.Now().Format("150405.000000"))
		os.WriteFile(p, nil, 0o644)
		timeout := time.After(200 * time.Millisecond)
	wait:
		for {
			select {
			case sig := <-ch:
				if matchOf(sig) == p {
					ready = true
					break wait
				}
			case <-timeout:
				break wait
			}
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := filepath.Join(dir, "f"+strconv.Itoa(i))
		t0 := time.Now()
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		for {
			sig := <-ch
			if matchOf(sig) == p {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "µs-p90")
}
