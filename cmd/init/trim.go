package main

// Returning free heap to the kernel once the daemon is idle again.
//
// After a burst of work (the boot, a reload, many starts) the Go runtime
// keeps the heap it grew to: the collector aims at twice the live heap
// (GOGC=100) and the background scavenger only gives back what lies above
// about 110% of that aim, so an idle daemon with 1000 jobs held some 4 MiB
// of free heap (measured: 12.0 MiB anonymous memory for 4.4 MiB live). A
// lower GOGC would shrink that at the price of more collections while busy
// (D-Bus emits allocate a few KiB each). Instead the daemon keeps the
// default while it works and, once a quarter of a second after a
// collection (or the start) passes in which it allocated less than
// idleAllocBytes, runs debug.FreeOSMemory (one more collection, then every
// free page back). The check is armed only by a collection, and a
// collection only happens when the daemon allocates, so an idle daemon
// never wakes for it.

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	// trimDelay is how long after a collection the daemon looks, and
	// then looks again while it is busy.
	trimDelay = 250 * time.Millisecond
	// idleAllocBytes: allocating less than this in trimDelay is idle (a
	// respawn or a status call allocates a few KiB).
	idleAllocBytes = 64 << 10
	// trimMinBytes: less to give back than this is not worth a collection.
	trimMinBytes = 512 << 10
)

type trimmer struct {
	mu      sync.Mutex
	armed   bool
	samples []metrics.Sample
}

// startTrimmer installs the hook that notices each collection.
func startTrimmer() {
	t := &trimmer{samples: []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}}
	t.watch()
	// The boot is work too, and a small one may end before the first
	// collection.
	t.collected()
}

// gcSentinel is garbage as soon as it is made: its cleanup runs after the
// next collection. It holds a pointer so that it is not a tiny allocation
// (those share a block and may never be collected alone).
type gcSentinel struct{ p *int }

func (t *trimmer) watch() {
	s := &gcSentinel{}
	runtime.AddCleanup(s, func(t *trimmer) { t.watch(); t.collected() }, t)
}

// collected runs after each collection (in the cleanup goroutine).
func (t *trimmer) collected() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.armed {
		return
	}
	t.armed = true
	start := t.read()[0]
	time.AfterFunc(trimDelay, func() { t.check(start) })
}

// read returns the bytes allocated so far and what a trim would give
// back: the free heap and the garbage (allocated objects beyond the heap
// found live by the last collection).
func (t *trimmer) read() [2]uint64 {
	metrics.Read(t.samples)
	v := func(i int) uint64 { return t.samples[i].Value.Uint64() }
	gain := v(1)
	if v(2) > v(3) {
		gain += v(2) - v(3)
	}
	return [2]uint64{v(0), gain}
}

func (t *trimmer) check(start uint64) {
	t.mu.Lock()
	v := t.read()
	if v[0]-start >= idleAllocBytes {
		// Still busy: look again later.
		time.AfterFunc(trimDelay, func() { t.check(v[0]) })
		t.mu.Unlock()
		return
	}
	t.armed = false
	t.mu.Unlock()
	if v[1] >= trimMinBytes {
		// Its own collection arms the check once more; that one finds
		// nothing left to give back and ends the chain.
		debug.FreeOSMemory()
	}
}
