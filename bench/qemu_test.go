package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBootLines checks how the scripts' BOOT lines become figures: a
// successful boot adds its fields, a failed one is counted and said, and
// the section carries the ratio to sysvinit and every scenario name.
func TestBootLines(t *testing.T) {
	b, ok := parseBootLine("BOOT system=ours run=2 boot=30.50s shutdown=5.25s idle=0.00s result=poweroff")
	if !ok || b.sys != "ours" || !b.ok || b.fields["boot"] != 30.5 || b.fields["shutdown"] != 5.25 {
		t.Fatalf("parsed %+v %v", b, ok)
	}
	f, ok := parseBootLine("BOOT system=sysvinit run=1 result=failed qemu-boot=124 (console: /tmp/x.log)")
	if !ok || f.ok || f.sys != "sysvinit" {
		t.Fatalf("failed boot parsed as %+v %v", f, ok)
	}
	if _, ok := parseBootLine("BENCH scenario=debian-boot system=ours"); ok {
		t.Fatal("a BENCH line parsed as a boot")
	}

	res := newResults()
	for _, q := range qemuScenarios {
		res.declare(scenario{key: q.key, base: q.key, unit: "s", lowerBetter: true, goal: q.goal, note: q.what})
	}
	res.add("debian-boot", "ours", 20)
	res.add("debian-boot", "sysvinit", 40)
	res.failed("debian-boot", "ours")
	res.setStatus("debian-boot", "ours", "failed: "+f.raw)
	var out bytes.Buffer
	printQEMU(&out, res)
	for _, want := range []string{"RATIO scenario=debian-boot ours/sysvinit=0.5", "| debian-boot |", "[1 of 2 runs failed]",
		"scenario=chromeos-system-services", "scenario=chromeos-settled", "scenario=debian-shutdown"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
