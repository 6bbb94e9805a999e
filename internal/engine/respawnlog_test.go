package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/conf"
)

// An unlimited respawner (issue 15 item 11) is not slowed down, but its
// log is: at most respawnLogBurst ends per respawnLogWindow are logged,
// and the rest are counted in one line.
func TestRespawnLogRateLimited(t *testing.T) {
	h := newHarness(t)
	var buf bytes.Buffer
	h.e.log = slog.New(slog.NewTextHandler(&buf, nil))
	d := h.job("r", "", "", "respawn main")
	d.RespawnLimit = 0 // respawn limit unlimited
	h.e.StartJob("r", nil, nil)
	const N = 1000 // a second's worth, as the issue saw
	for n := 0; n < N; n++ {
		h.exit(h.pid("r", "", conf.Main), 1)
		h.clock.Advance(time.Millisecond)
	}
	h.wantStatus("r", "", "start/running")
	if got := h.spawns("r", conf.Main); got != N+1 {
		t.Fatalf("%d spawns of the main process, want %d (respawn itself is not slowed)", got, N+1)
	}
	// Per logged end: the exit, "respawning", and the states passed
	// through (info) on the way to running again.
	lines := strings.Count(buf.String(), "\n")
	if lines > 20*respawnLogBurst {
		t.Fatalf("%d log lines for %d respawns in one second:\n%s", lines, N, buf.String())
	}
	if c := strings.Count(buf.String(), "terminated with status 1"); c != respawnLogBurst {
		t.Fatalf("%d exit lines logged, want %d", c, respawnLogBurst)
	}
	// The next window logs the count, then the exit.
	h.clock.Advance(respawnLogWindow)
	buf.Reset()
	h.exit(h.pid("r", "", conf.Main), 1)
	want := "r main process ended and respawned 990 more times (not logged: more than 10 in 10s)"
	if !strings.Contains(buf.String(), want) || !strings.Contains(buf.String(), "terminated with status 1") {
		t.Fatalf("after the window:\n%s\nwant %q", buf.String(), want)
	}
	// A stop logs what was left uncounted.
	for n := 0; n < 20; n++ {
		h.exit(h.pid("r", "", conf.Main), 1)
	}
	buf.Reset()
	h.e.StopJob("r", nil, nil)
	h.kill(h.pid("r", "", conf.Main), 15)
	h.wantStatus("r", "", "stop/waiting")
	if !strings.Contains(buf.String(), "respawned 11 more times") {
		t.Fatalf("stop did not log the count:\n%s", buf.String())
	}
}
