package supervise

import (
	"runtime"
	"sync"
)

// MaxSpawnThreads bounds Options.SpawnThreads: more threads than CPUs only
// queue for them, and each costs a thread's stack.
const MaxSpawnThreads = 8

// SpawnAll forks n requests and returns, per request, what Spawn would
// have. next(k) gives request k, or false to skip it (its pid stays 0 and
// its error nil); SpawnAll calls it on the caller's goroutine, in order,
// while the requests already given are being forked: the caller (the
// engine's loop) prepares the next request while the last ones fork.
// With Options.SpawnThreads above 1 the forks run on that many threads at
// once: a fork (vfork, CLONE_VFORK) keeps its thread, and the P it runs
// on, until the child has exec'd, so one thread forking after another
// waits for every child's exec in turn, while two or more overlap those
// waits and use every CPU. It returns when every fork has.
func (s *Supervisor) SpawnAll(n int, next func(k int) (Request, bool)) ([]int, []error) {
	pids := make([]int, n)
	errs := make([]error, n)
	w := min(s.opts.SpawnThreads, MaxSpawnThreads, n)
	if w <= 1 {
		for k := range n {
			if r, ok := next(k); ok {
				pids[k], errs[k] = s.Spawn(r)
			}
		}
		return pids, errs
	}
	if !s.opts.KeepProcs {
		// A P for each forking thread, and one for the caller.
		if prev := runtime.GOMAXPROCS(0); prev < w+1 {
			runtime.GOMAXPROCS(w + 1)
			defer runtime.GOMAXPROCS(prev)
		}
	}
	type item struct {
		k int
		r Request
	}
	work := make(chan item, n)
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				pids[it.k], errs[it.k] = s.Spawn(it.r)
			}
		}()
	}
	for k := range n {
		if r, ok := next(k); ok {
			work <- item{k, r}
		}
	}
	close(work)
	wg.Wait()
	return pids, errs
}
