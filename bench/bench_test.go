package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as the logging scenario's writer, as
// the bench binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == writerArg {
		writerMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == floorArg {
		floorMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == nsrootArg {
		nsrootMain(os.Args[2:])
		return
	}
	os.Exit(m.Run())
}

// scenarioNames are the names CI expects in the output, whatever ran.
var scenarioNames = []string{
	"cold-start", "respawn", "memory-rss", "memory-pss", "stop-all",
	"logging-throughput", "logging-lost", "emit-initctl", "emit-dbus", "load-jobs", "reexec",
}

func TestLineRoundTrip(t *testing.T) {
	b := make([]byte, lineLen)
	for _, seq := range []int64{0, 1, 25, 26, 999999} {
		makeLine(b, seq)
		got, ok := parseLine(bytes.TrimRight(b, "\n"))
		if !ok || got != seq {
			t.Fatalf("line %d: parsed %d %v from %q", seq, got, ok, b)
		}
	}
	makeLine(b, 7)
	b[50] = 'z'
	if _, ok := parseLine(bytes.TrimRight(b, "\n")); ok {
		t.Fatal("a damaged line parsed")
	}
}

func TestMarker(t *testing.T) {
	m := marker{prefix: "0.0012340001"}
	cmd := []byte(strings.Join(m.sleepArgv(42), "\x00") + "\x00")
	if i := m.serviceIndex(cmd); i != 42 {
		t.Fatalf("index %d", i)
	}
	other := marker{prefix: "0.0012340002"}
	if i := other.serviceIndex(cmd); i != -1 {
		t.Fatalf("other run's marker matched: %d", i)
	}
	if i := m.serviceIndex([]byte("/bin/sh\x00./run\x00")); i != -1 {
		t.Fatalf("shell matched: %d", i)
	}
}

// TestQuickReduced runs the whole command in a reduced --quick form
// (N = 10, one run, one kill, 5 MB logged) with whatever systems are
// installed, and checks that every scenario is reported and nothing is left
// running. It checks the harness, not the figures: a system that fails is
// reported in the output and does not fail the test.
func TestQuickReduced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs supervisors for about 20 s")
	}
	c, err := parseFlags([]string{"--quick", "--runs", "1", "--n", "10", "--kills", "1",
		"--log-mb", "5", "--emits", "10", "--load-jobs", "100", "--no-install"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	t0 := time.Now()
	status := run(c, &out)
	t.Logf("took %v\n%s", time.Since(t0).Round(time.Millisecond), out.String())
	if status != 0 {
		t.Errorf("exit status %d", status)
	}
	for _, name := range scenarioNames {
		if !strings.Contains(out.String(), "scenario="+name) {
			t.Errorf("scenario %s missing from the output", name)
		}
	}
	if !strings.Contains(out.String(), "leftover processes at exit: 0") {
		t.Errorf("leftover processes")
	}
	for _, row := range []string{"cold-start/N=10 system=floor", "stop-all/N=10 system=floor", "respawn/N=10 system=floor",
		"logging-throughput system=floor", "logging-throughput/console-log-pipe system=floor"} {
		if !strings.Contains(out.String(), "BENCH scenario="+row+" unit=") || strings.Contains(out.String(), "BENCH scenario="+row+" unit=ms status=") {
			t.Errorf("no figure for %s", row)
		}
	}
	if left := findOurs("", []string{benchPrefix, writerTag}); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}
