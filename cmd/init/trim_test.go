package main

import (
	"runtime/metrics"
	"testing"
	"time"
)

// TestTrimAfterBurst: after a burst of garbage the daemon's trimmer gives
// the free heap back to the kernel once allocation stops, and the chain of
// checks ends (no collection after the trim's own).
func TestTrimAfterBurst(t *testing.T) {
	startTrimmer()
	var keep [][]byte
	for i := 0; i < 4000; i++ {
		keep = append(keep, make([]byte, 4096))
		if len(keep) > 500 {
			keep = keep[:0]
		}
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		metrics.Read(s)
		if s[0].Value.Uint64() < trimMinBytes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("free heap still %d bytes after 15 s", s[0].Value.Uint64())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Idle now: at most the check armed by the trim's own collection runs,
	// and it collects nothing.
	time.Sleep(3 * trimDelay)
	metrics.Read(s)
	before := s[1].Value.Uint64()
	time.Sleep(3 * trimDelay)
	metrics.Read(s)
	if after := s[1].Value.Uint64(); after != before {
		t.Errorf("idle daemon still collecting: %d collections in %v", after-before, 3*trimDelay)
	}
	_ = keep
}
