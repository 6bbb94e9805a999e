package supervise

import (
	"errors"
	"time"
)

var errSpawnDetached = errors.New("supervise: Spawn after Detach")

// detachPipeWait bounds how long Detach waits for the status pipes of
// reaped pre-exec processes. Their write end died with the process, so
// only a descendant that somehow kept it could hold it open.
const detachPipeWait = time.Second

// Detach stops the reaper and the delivery of exits, for a re-exec: no
// child is reaped after it returns, and exits already collected are not
// dropped but returned, in order, with any Exit the sender had taken but
// not delivered. Exits of processes in pre-exec mode that have been reaped
// but whose status pipe is still open are completed first (waiting at most
// about a second, then reporting what is known). Processes spawned and not
// yet reaped stay children of the process: after the exec the new
// Supervisor reaps them, as Orphan exits. Detach may be called once (again
// after Reattach); Spawn after Detach fails with an error. The exits
// channel is not closed. Detach after Close returns nil.
func (s *Supervisor) Detach() []Exit {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.detached.Load() || s.closed() {
		return nil
	}
	// Under forkMu: a Spawn either registered its pid already or forks
	// nothing.
	s.forkMu.Lock()
	s.detached.Store(true)
	s.forkMu.Unlock()
	// SIGCHLD stays registered: one arriving now waits in sigc, and the
	// reaper started by Reattach begins with reapAll anyway.
	close(s.pause)
	s.wg.Wait() // the reaper has returned: no wait4 runs from here on

	s.mu.Lock()
	pending := make([]*proc, 0, len(s.unread))
	for p := range s.unread {
		pending = append(pending, p)
	}
	s.mu.Unlock()
	if len(pending) > 0 {
		timer := time.NewTimer(detachPipeWait)
	wait:
		for _, p := range pending {
			select {
			case <-p.piped:
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
		s.mu.Lock()
		for p := range s.unread {
			s.logf("status of pid %d still unread at detach; reporting its exit without it", p.pid)
			p.waiting = 1
			s.doneLocked(p) // its watcher's own doneLocked is then a no-op
		}
		s.mu.Unlock()
	}

	s.qmu.Lock()
	out := s.queue
	s.queue = nil
	s.qmu.Unlock()
	return out
}

// Reattach resumes reaping and delivery after Detach when the re-exec did
// not happen. Anything that ended meanwhile is reaped at once and reported
// as usual: processes Spawn started as their Exit, others as Orphan exits.
// It does nothing unless detached, or after Close.
func (s *Supervisor) Reattach() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if !s.detached.Load() || s.closed() {
		return
	}
	s.start() // the reaper starts with reapAll: no SIGCHLD is needed
	s.detached.Store(false)
}

func (s *Supervisor) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
