package supervise

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// StartTime returns when a process started, in clock ticks since boot
// (field 22 of /proc/PID/stat).
func StartTime(pid int) (uint64, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state is [0], ppid [1], pgrp [2], session [3].
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

// ChildTracker finds the processes of a job instance among the daemon's
// own children that it did not spawn: orphans re-parented to it (as PID 1
// or subreaper). Each is recognised by the UPSTART_JOB and
// UPSTART_INSTANCE its environment inherited, and given the process name
// of the spawned process whose session it is in ("main" when it left that
// session, as daemons do). It cannot see a process that cleared its
// environment, nor a descendant whose parent is still alive (that one is
// found once its parent is gone); cgroups have no such gaps.
type ChildTracker struct{}

// Members implements the engine's Tracker.
func (ChildTracker) Members(job, instance string, leaders map[int]string, known func(int) bool) map[int]string {
	out := map[int]string{}
	for _, pid := range children() {
		if known(pid) {
			continue
		}
		if !inJob(pid, job, instance) {
			continue
		}
		name := "main"
		if f, ok := procStat(pid); ok && len(f) > 3 {
			if sid, err := strconv.Atoi(f[3]); err == nil {
				if n, ok := leaders[sid]; ok {
					name = n
				}
			}
		}
		out[pid] = name
	}
	return out
}

// children lists the daemon's child processes (of all its threads).
func children() []int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// inJob reports whether a process's environment names the job instance.
func inJob(pid int, job, instance string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	var gotJob, gotInst bool
	for _, kv := range bytes.Split(b, []byte{0}) {
		switch {
		case bytes.Equal(kv, []byte("UPSTART_JOB="+job)):
			gotJob = true
		case bytes.Equal(kv, []byte("UPSTART_INSTANCE="+instance)):
			gotInst = true
		}
	}
	return gotJob && gotInst
}

// Alive reports whether pid exists (a zombie still does).
func (ChildTracker) Alive(pid int) bool { return Alive(pid) }

// Alive reports whether pid exists (a zombie still does).
func Alive(pid int) bool { return syscall.Kill(pid, 0) != syscall.ESRCH }
