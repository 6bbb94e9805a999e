package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestExecEvents: the exec of a process started here comes as an event,
// with the kernel's time between just before the start and just after.
func TestExecEvents(t *testing.T) {
	c, err := openProcConn()
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("process events not available here (root in the initial namespaces needed): %v", err)
		}
		t.Fatal(err)
	}
	defer c.close()
	before := monoNow()
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	started := monoNow()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, ok, err := c.next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("no exec event for pid %d", cmd.Process.Pid)
		}
		if ev.pid != cmd.Process.Pid {
			continue
		}
		if ev.ns < before || ev.ns > started+int64(time.Second) {
			t.Fatalf("exec at %d, started between %d and %d", ev.ns, before, started)
		}
		r := newProcReader()
		if got := string(r.read(ev.pid, "cmdline")); got != "sleep\x000.2\x00" {
			t.Fatalf("pid %d runs %q", ev.pid, got)
		}
		return
	}
}

func TestParseExecRejectsOthers(t *testing.T) {
	d := make([]byte, cnMsgLen+procEventHdrLen+8)
	d[0], d[4] = cnIdxProc, cnValProc
	d[cnMsgLen] = 1 // a fork event
	if _, ok := parseExec(d); ok {
		t.Fatal("a fork event parsed as an exec")
	}
	d[cnMsgLen] = procEventExec
	d[cnMsgLen+procEventHdrLen+4] = 42
	if ev, ok := parseExec(d); !ok || ev.pid != 42 {
		t.Fatalf("exec event: %+v %v", ev, ok)
	}
	if _, ok := parseExec(d[:10]); ok {
		t.Fatal("a short message parsed")
	}
}
