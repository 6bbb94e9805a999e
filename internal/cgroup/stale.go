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
