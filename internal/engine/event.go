package engine

import (
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
)

type progress int

const (
	pending progress = iota
	handling
	finished
)

// event is one occurrence in the queue.
type event struct {
	cond.Event
	progress progress
	failed   bool
	// blockers counts what holds the event open: condition operands that
	// latched it and instances it started or stopped.
	blockers int
	// waiters are told when the event finishes: instances waiting on their
	// own starting/stopping hook, and emitters that asked to wait.
	hooked  []*instance
	replies []func(error)
	file    *os.File
	at      time.Time // when it was queued (for the diagnostics)
}

func (e *Engine) newEvent(name string, env []string) *event {
	ev := &event{Event: cond.Event{Name: name, Env: env}, at: e.now()}
	ev.Ref = ev
	e.queue = append(e.queue, ev)
	return ev
}

// Emit queues an event. reply (if not nil) is called when it finishes, with
// an EventFailed error if a job it started failed.
func (e *Engine) Emit(name string, env []string, file *os.File, reply func(error)) error {
	if err := checkEmit(name, env); err != nil {
		if file != nil {
			file.Close()
		}
		return err
	}
	ev := e.newEvent(name, append([]string(nil), env...))
	ev.file = file
	if reply != nil {
		ev.replies = append(ev.replies, reply)
	}
	e.Poll()
	return nil
}

func checkEmit(name string, env []string) error {
	if name == "" {
		return api.Errorf(api.ErrInvalidArgs, "Name may not be empty string")
	}
	return checkEnv(env)
}

func evOf(c *cond.Event) *event { return c.Ref.(*event) }

func (e *Engine) release(evs []*cond.Event) {
	for _, c := range evs {
		ev := evOf(c)
		ev.blockers--
	}
}

// Poll handles queued events until nothing more can progress. It is
// re-entrant safe: a nested call (from an action taken while handling)
// returns at once and the outer loop picks up the work.
func (e *Engine) Poll() {
	if e.polling {
		return
	}
	e.polling = true
	defer func() {
		e.polling = false
		e.flushKilled()
	}()
	for progressed := true; progressed; {
		progressed = false
		for i := 0; i < len(e.queue); i++ {
			ev := e.queue[i]
			switch ev.progress {
			case pending:
				ev.progress = handling
				e.handle(ev)
				progressed = true
			case handling:
				if ev.blockers <= 0 {
					ev.progress = finished
					progressed = true
				}
			case finished:
				e.queue = append(e.queue[:i], e.queue[i+1:]...)
				i--
				e.finish(ev)
				progressed = true
			}
		}
		if !progressed && len(e.spawnQueue) > 0 {
			e.spawnBatch()
			progressed = true
		}
	}
}

// queueSpawn queues a main process prepared by spawnStep (see spawnQueue):
// the second one prepared without error starts the batch, with the first.
func (e *Engine) queueSpawn(p *pendingSpawn) {
	e.spawnQueue = append(e.spawnQueue, p)
	if p.err != nil {
		return
	}
	if e.spawnRun != nil {
		e.spawnRun.Add(p.req)
		return
	}
	var first *pendingSpawn
	for _, q := range e.spawnQueue[:len(e.spawnQueue)-1] {
		if q.err == nil {
			first = q
		}
	}
	if first != nil {
		e.spawnRun = e.batch.Begin()
		e.spawnRun.Add(first.req)
		e.spawnRun.Add(p.req)
	}
}

// spawnBatch ends the round's batch: it waits for every spawn of it (a
// lone one is done here) and moves each instance on as spawnStep would
// have. The loop waits for the whole batch, so no exit of a process in it
// is handled before the engine knows its pid.
func (e *Engine) spawnBatch() {
	queue, run := e.spawnQueue, e.spawnRun
	e.spawnQueue, e.spawnRun = nil, nil
	var pids []int
	var errs []error
	if run != nil {
		pids, errs = run.Wait()
	}
	k := 0
	for _, p := range queue {
		pid, err := 0, p.err
		if err == nil {
			if run != nil {
				pid, err = pids[k], errs[k]
				k++
			} else {
				pid, err = e.opt.Spawner.Spawn(p.req)
			}
		}
		pid, err = e.spawned(p, pid, err)
		if !e.spawnResult(p.i, conf.Main, pid, err) {
			continue // a retry is armed
		}
		e.advance(p.i)
	}
}

// handle matches ev against every class: stop conditions of instances
// first, then the start condition of the class.
func (e *Engine) handle(ev *event) {
	e.EventsHandled++
	if e.opt.OnEvent != nil {
		e.opt.OnEvent(ev.Name, ev.Env)
	}
	// Checked first: formatting a message nobody logs cost two
	// allocations per event.
	if e.log.Enabled(nil, slog.LevelDebug) {
		e.logf(slog.LevelDebug, "Handling %s event", ev.Name)
	}
	e.feedReady(ev)
	for _, c := range e.classesFor(ev.Name) {
		if e.classes[c.name] != c {
			continue // removed while this event was handled
		}
		for _, inst := range c.sortedInstances() {
			if inst.stopCond == nil {
				continue
			}
			r := inst.stopCond.Handle(&ev.Event, inst.env)
			ev.blockers += r.Held
			e.release(r.Released)
			if r.Fired {
				e.stopByCondition(inst)
			}
		}
		if c.start == nil {
			continue
		}
		r := c.start.Handle(&ev.Event, nil)
		ev.blockers += r.Held
		e.release(r.Released)
		if r.Fired {
			e.startByCondition(c)
		}
	}
}

// finish completes an event whose holders all let go.
func (e *Engine) finish(ev *event) {
	if len(ev.replies) > 0 {
		e.writeHeldLogs()
	}
	for _, r := range ev.replies {
		if ev.failed {
			r(api.Errorf(api.ErrEventFailed, "Event failed"))
		} else {
			r(nil)
		}
	}
	ev.replies = nil
	if ev.file != nil {
		ev.file.Close()
	}
	if ev.failed && !strings.HasSuffix(ev.Name, "/failed") {
		e.newEvent(ev.Name+"/failed", append([]string(nil), ev.Env...))
	}
	e.notify(api.Signal{Kind: api.EventEmitted, Value: ev.Name, Env: ev.Env})
	hooked := ev.hooked
	ev.hooked = nil
	for _, inst := range hooked {
		if inst.hook == ev {
			inst.hook = nil
			e.advance(inst)
		}
	}
}

// matchedEnv merges the environments of the events that made a condition
// true, in tree order, and lists their names.
func matchedEnv(evs []*cond.Event) (env []string, names []string) {
	for _, c := range evs {
		env = environ.Merge(env, c.Env...)
		names = append(names, c.Name)
	}
	return env, names
}
