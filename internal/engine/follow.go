package engine

import (
	"log/slog"
	"sort"
	"strconv"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
	"github.com/goupstart/upstart/internal/environ"
	"github.com/goupstart/upstart/internal/job"
)

// PidFiles reads the pid a daemon names in its pid file (`pid file PATH`).
// The daemon provides it, so that the engine learns no file detail; it
// must not block (the engine calls it on the loop).
type PidFiles interface {
	ReadPid(path string) (int, error)
	// OwnChild reports whether pid is init's own child, whose end init
	// will see (a process whose parent lives on is reaped by that parent).
	OwnChild(pid int) bool
}

// follow handles the end of the main process of a running instance whose
// main process group still holds processes: a daemon that re-forked (a
// reload, a binary upgrade) handed over to a child, and that child is the
// main process from now on. The new leader is the pid the job's pid file
// names, if that is a process of the main group, else the oldest process
// left in it. follow reports whether it found one; if not, the main
// process has ended (with x, the status of the last leader).
//
// Only after readiness (running, or a post-start or pre-stop running
// beside it) and while the goal is start: before that, `expect` counts
// the exits of the tree; once stopping, every process is killed anyway.
// A task ends with its main process, whatever it left behind.
func (e *Engine) follow(i *instance, old int, x exitInfo) bool {
	if e.opt.Tracker == nil || i.def.Task || i.goal != job.GoalStart {
		return false
	}
	switch i.state {
	case job.Running, job.PostStart, job.PreStop:
	default:
		return false
	}
	e.adopt(i)
	e.prune(i)
	if len(i.members) == 0 && len(i.actionPids) == 0 && i.auxPid == 0 && !i.anyPid() {
		e.emptied = i
	}
	var cands []int
	for _, m := range i.members {
		if m.name == "main" {
			cands = append(cands, m.pid)
		}
	}
	if len(cands) == 0 {
		return false
	}
	sort.Ints(cands)
	next, why := e.pidFromFile(i, old, cands), "its pid file"
	if next == 0 {
		next, why = e.oldest(cands), "the oldest process left"
	}
	ref := e.pids[next]
	ref.member = false
	e.pids[next] = ref
	e.dropMemberKeepRef(i, next)
	i.pids[conf.Main] = next
	i.lastMain = x
	e.logf(slog.LevelInfo, "%s main process (%d) handed over to process %d (%s): following it", i.label(), old, next, why)
	if i.rd != nil && i.rd.watchdogTimer != nil {
		e.armWatchdog(i) // the deadline is the new leader's now
	}
	e.notify(api.Signal{Kind: api.StateChanged, Job: i.class.name, Instance: i.name, Value: i.state.String()})
	return true
}

// pidFromFile is the pid the job's pid file names, if it is one of cands
// (0 otherwise). A pid file that names anything else (another job's or
// any foreign process) is refused and logged once per instance; one that
// still names the old leader, or is missing, just is not used.
func (e *Engine) pidFromFile(i *instance, old int, cands []int) int {
	if i.def.PidFile == "" || e.opt.PidFiles == nil {
		return 0
	}
	path, err := environ.Expand(i.def.PidFile, i.env)
	if err != nil {
		e.pidFileRefused(i, "pid file "+i.def.PidFile+": "+err.Error())
		return 0
	}
	pid, err := e.opt.PidFiles.ReadPid(path)
	if err != nil {
		e.logf(slog.LevelDebug, "%s pid file not used: %v", i.label(), err)
		return 0
	}
	if pid == old {
		return 0 // not rewritten (yet)
	}
	for _, c := range cands {
		if c != pid {
			continue
		}
		if !e.opt.PidFiles.OwnChild(pid) {
			// Its parent, a process of the job, would reap it unseen:
			// follow the oldest (that parent's line) until it is ours.
			e.logf(slog.LevelDebug, "%s pid file names %d, whose parent is not init: not yet", i.label(), pid)
			return 0
		}
		return pid
	}
	e.pidFileRefused(i, "pid file "+path+" names process "+strconv.Itoa(pid)+", which is not a process of the job's main group: ignored")
	return 0
}

func (e *Engine) pidFileRefused(i *instance, msg string) {
	if i.pidFileWarned {
		return
	}
	i.pidFileWarned = true
	e.logf(slog.LevelWarn, "%s %s", i.label(), msg)
}

// anyPid reports whether a process of the instance's own types is running.
func (i *instance) anyPid() bool {
	for _, p := range i.pids {
		if p != 0 {
			return true
		}
	}
	return false
}
