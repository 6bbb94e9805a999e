package supervise

import (
	"runtime"
	"sync"
)

// MaxSpawnThreads bounds Options.SpawnThreads: more threads than CPUs only
// queue for them, and each costs a thread's stack.
const MaxSpawnThreads = 8

// batchQueue is how many requests of a Batch may wait for a thread before
// Add waits too.
const batchQueue = 1024

// Batch is a set of spawns running on other threads (Supervisor.Begin).
// Add and Wait are for one goroutine (the caller of Begin).
type Batch interface {
	// Add spawns r on one of the batch's threads, soon.
	Add(r Request)
	// Wait waits for every spawn added and returns, per request in the
	// order added, what Spawn would have. The batch is over.
	Wait() (pids []int, errs []error)
}

type batchItem struct {
	r   Request
	pid int
	err error
}

type batch struct {
	s       *Supervisor
	items   []*batchItem
	work    chan *batchItem
	wg      sync.WaitGroup
	restore func()
}

// Begin starts a Batch on Options.SpawnThreads threads (at most
// MaxSpawnThreads, at least one). A spawn (vfork, CLONE_VFORK) keeps its
// thread, and the P it runs on, until the child has exec'd: one thread
// spawning after another waits for every child's exec in turn, while two
// or more overlap those waits and use every CPU, and the caller goes on
// (preparing the next requests) meanwhile. Unless Options.KeepProcs is
// set, GOMAXPROCS is raised for the batch to a P per thread and one for
// the caller, and put back by Wait.
func (s *Supervisor) Begin() Batch {
	w := min(max(s.opts.SpawnThreads, 1), MaxSpawnThreads)
	b := &batch{s: s, work: make(chan *batchItem, batchQueue), restore: func() {}}
	if !s.opts.KeepProcs {
		if prev := runtime.GOMAXPROCS(0); prev < w+1 {
			runtime.GOMAXPROCS(w + 1)
			b.restore = func() {
				// Unless someone else set it meanwhile (the catch-up
				// after a re-exec does).
				if runtime.GOMAXPROCS(0) == w+1 {
					runtime.GOMAXPROCS(prev)
				}
			}
		}
	}
	for range w {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for it := range b.work {
				it.pid, it.err = s.Spawn(it.r)
			}
		}()
	}
	return b
}

func (b *batch) Add(r Request) {
	it := &batchItem{r: r}
	b.items = append(b.items, it)
	b.work <- it
}

func (b *batch) Wait() ([]int, []error) {
	close(b.work)
	b.wg.Wait()
	b.restore()
	pids := make([]int, len(b.items))
	errs := make([]error, len(b.items))
	for k, it := range b.items {
		pids[k], errs[k] = it.pid, it.err
	}
	return pids, errs
}
