package engine

import (
	"fmt"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/job"
	"github.com/goupstart/upstart/internal/state"
)

// snapshotReady saves an instance's readiness state (nil when it has
// none, so documents of jobs without readiness do not change).
func (e *Engine) snapshotReady(i *instance, latches func(*cond.Condition) []state.Latch) *state.Ready {
	rd := i.rd
	if rd == nil {
		return nil
	}
	s := &state.Ready{ID: rd.id, Status: rd.status, Errno: rd.errno, Reloading: rd.reloading,
		Stopping: rd.stopping, Watchdog: rd.watchdog}
	if rd.cond != nil {
		s.Waiting = true
		s.Latches = latches(rd.cond)
	}
	if rd.watchdogTimer != nil {
		s.WatchdogDeadline = rd.watchdogDeadline
	}
	return s
}

// readyInstance restores an instance's readiness state: the wait goes on
// with its latches (its deadline is the expect timer's), the watchdog
// with what was left of its interval.
func (r *restorer) readyInstance(i *instance, s *state.Ready) error {
	if s == nil {
		return nil
	}
	e := r.e
	i.rd = &readiness{id: s.ID, status: s.Status, errno: s.Errno, reloading: s.Reloading,
		stopping: s.Stopping, watchdog: s.Watchdog}
	if s.ID != 0 {
		if e.ready.byID == nil {
			e.ready.byID = map[uint64]*instance{}
		}
		if _, dup := e.ready.byID[s.ID]; dup {
			return fmt.Errorf("watch %d twice", s.ID)
		}
		e.ready.byID[s.ID] = i
		if s.ID > e.ready.nextID {
			e.ready.nextID = s.ID
		}
	}
	if s.Waiting && i.state == job.Spawned && i.def.ExpectOn != nil {
		i.rd.cond = cond.New(i.def.ExpectOn)
		if err := r.latches(i.rd.cond, s.Latches); err != nil {
			return err
		}
		e.ready.waiting = append(e.ready.waiting, i)
	}
	if !s.WatchdogDeadline.IsZero() && i.state == job.Running {
		e.armWatchdogFor(i, max(s.WatchdogDeadline.Sub(e.opt.Clock.Now()), 0))
	}
	return nil
}
