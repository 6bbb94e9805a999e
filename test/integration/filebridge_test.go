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

// upstart-file-bridge as a job of a session instance: file events for a
// file, a glob (with MATCH) and a new job's path; a match that existed
// before is announced once; a path that is not absolute is refused with a
// log line; across a re-exec of init the bridge reconnects and events go
// on.
func TestFileBridge(t *testing.T) {
	dir := t.TempDir()
	out1, out2, out3 := filepath.Join(dir, "out1"), filepath.Join(dir, "out2"), filepath.Join(dir, "out3")
	watched := filepath.Join(dir, "w")
	os.Mkdir(watched, 0o755)
	os.WriteFile(filepath.Join(watched, "pre.conf"), nil, 0o644)
	s := startSession(t, map[string]string{
		"bridge":   "respawn\nexec " + filepath.Join(binDir, "upstart-file-bridge") + " --user\n",
		"oncreate": "start on file FILE=" + watched + "/flag EVENT=create\ntask\nexec sh -c 'echo \"$FILE $EVENT\" >> " + out1 + "'\n",
		"onglob":   "start on file FILE=" + watched + "/*.conf\ninstance $MATCH$EVENT\ntask\nexec sh -c 'echo \"$EVENT $MATCH\" >> " + out2 + "'\n",
		"bad":      "start on file FILE=relative/path\nexec sleep 1\n",
	})
	lines := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	has := func(p, want string) func() bool {
		return func() bool { return strings.Contains(lines(p), want) }
	}
	if out, errs, code := s.ctl("start", "bridge"); code != 0 {
		t.Fatalf("start bridge: %q %q", out, errs)
	}
	waitFor(t, "the pre-existing match", has(out2, "create "+watched+"/pre.conf\n"))
	os.WriteFile(filepath.Join(watched, "flag"), nil, 0o644)
	waitFor(t, "the create event", has(out1, watched+"/flag create\n"))
	os.Remove(filepath.Join(watched, "pre.conf"))
	waitFor(t, "the delete event", has(out2, "delete "+watched+"/pre.conf\n"))
	if n := strings.Count(lines(out2), "create "+watched+"/pre.conf"); n != 1 {
		t.Errorf("pre-existing match announced %d times:\n%s", n, lines(out2))
	}
	logFile := filepath.Join(s.rt, "cache", "upstart", "bridge.log")
	waitFor(t, "the refusal in the bridge's log", has(logFile, "FILE=relative/path is not an absolute path: ignored"))

	// A job added later is watched for too.
	other := filepath.Join(dir, "other")
	writeJob(t, s.confdir, "later", "start on file FILE="+other+" EVENT=create\ntask\nexec sh -c 'echo \"$EVENT\" >> "+out3+"'\n")
	waitFor(t, "the new job", func() bool { _, _, code := s.ctl("status", "later"); return code == 0 })
	deadline := time.Now().Add(10 * time.Second)
	for !has(out3, "create")() && time.Now().Before(deadline) {
		os.Remove(other)
		os.WriteFile(other, nil, 0o644) // until the bridge has rescanned
		time.Sleep(100 * time.Millisecond)
	}
	if !has(out3, "create")() {
		t.Fatalf("no event for the new job's path\n%s", lines(logFile))
	}

	out, _, _ := s.ctl("status", "bridge")
	pid := mainPid(t, out)
	restartDaemon(t, s)
	os.WriteFile(filepath.Join(watched, "after.conf"), nil, 0o644)
	waitFor(t, "an event after the re-exec", has(out2, "create "+watched+"/after.conf\n"))
	out, _, _ = s.ctl("status", "bridge")
	if mainPid(t, out) != pid {
		t.Errorf("the bridge was restarted (pid %d, was %d) instead of reconnecting", mainPid(t, out), pid)
	}
	if !strings.Contains(lines(logFile), "reconnected to init") {
		t.Errorf("bridge log:\n%s", lines(logFile))
	}
}

// BenchmarkFileBridgeDelay: from a file created to its `file` event
// finished in init (the EventEmitted signal on the private socket), with
// upstart-file-bridge as a job of a session instance. Reports the median
// and the 90th percentile.
func BenchmarkFileBridgeDelay(b *testing.B) {
	dir := b.TempDir()
	s := benchSession(b, map[string]string{
		"bridge":  "exec " + filepath.Join(binDir, "upstart-file-bridge") + " --user\n",
		"watcher": "stop on file FILE=" + dir + "/ EVENT=create\nexec sleep 1\n",
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
		p := filepath.Join(dir, "probe"+time.Now().Format("150405.000000"))
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
