package supervise

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MaxSpawnThreads bounds Options.SpawnThreads: more threads than CPUs only
// queue for them, and each costs a thread's stack.
const MaxSpawnThreads = 8

// SpawnAll spawns every request and returns, per request, what Spawn
// would have. With Options.SpawnThreads above 1 the forks run on that
// many threads at once: a fork (vfork, CLONE_VFORK) keeps its thread, and
// the P it runs on, until the child has exec'd, so one thread forking
// after another waits for every child's exec in turn, while two or more
// overlap those waits and use every CPU. It returns when every fork has.
func (s *Supervisor) SpawnAll(rs []Request) ([]int, []error) {
	pids := make([]int, len(rs))
	errs := make([]error, len(rs))
	w := min(s.opts.SpawnThreads, MaxSpawnThreads, len(rs))
	if w <= 1 {
		for k := range rs {
			pids[k], errs[k] = s.Spawn(rs[k])
		}
		return pids, errs
	}
	if !s.opts.KeepProcs {
		if prev := runtime.GOMAXPROCS(0); prev < w {
			runtime.GOMAXPROCS(w)
			defer runtime.GOMAXPROCS(prev)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(rs) {
					return
				}
				pids[k], errs[k] = s.Spawn(rs[k])
			}
		}()
	}
	wg.Wait()
	return pids, errs
}
