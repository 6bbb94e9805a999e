package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RemoveStale removes the trees that session instances killed before they
// could clean up left beside this Manager's root: siblings named like
// "upstart-PID" whose PID no longer exists and that hold no process (a
// tree with a process in it fails to go and stays). It returns how many
// went. Without it every SIGKILLed session leaves a tree for good.
func (m *Manager) RemoveStale() int {
	parent, self := filepath.Dir(m.root), filepath.Base(m.root)
	ents, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		pid, err := strconv.Atoi(strings.TrimPrefix(name, "upstart-"))
		if !e.IsDir() || name == self || !strings.HasPrefix(name, "upstart-") || err != nil || pid <= 0 {
			continue
		}
		if unix.Kill(pid, 0) != unix.ESRCH {
			continue // alive (or not ours to ask): maybe its daemon
		}
		if rmdirTree(filepath.Join(parent, name)) == nil {
			n++
		}
	}
	return n
}

// InstanceProcs returns the processes in an instance's process groups, by
// the process type (group) each is in: one read of cgroup.procs per group
// the Manager knows, rather than a walk of the tree (this runs for every
// status and every line of `initctl list`). Processes a job moved into
// cgroups of its own below its groups are not listed; Lookup does not
// count them as the instance's either.
func (m *Manager) InstanceProcs(job, instance string) map[int]string {
	prefix := Escape(job) + "/" + Escape(instance) + "/"
	type opened struct {
		fd      int
		process string
	}
	var fs []opened
	// Opened relative to the group's directory handle (cheaper than a
	// path), under the lock so that the handle stays open meanwhile.
	m.mu.Lock()
	for rel, g := range m.groups {
		if !strings.HasPrefix(rel, prefix) || strings.IndexByte(rel[len(prefix):], '/') >= 0 || g.dir == nil {
			continue
		}
		fd, err := unix.Openat(int(g.dir.Fd()), "cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			fs = append(fs, opened{fd, g.process})
		}
	}
	m.mu.Unlock()
	out := map[int]string{}
	var buf [4096]byte
	for _, f := range fs {
		var data []byte
		for {
			n, err := unix.Read(f.fd, buf[:])
			if n <= 0 || err != nil {
				break
			}
			data = append(data, buf[:n]...)
		}
		unix.Close(f.fd)
		for _, w := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(w); err == nil {
				out[pid] = f.process
			}
		}
	}
	return out
}
