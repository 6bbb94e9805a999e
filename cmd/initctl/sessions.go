package main

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/goupstart/upstart/internal/control"
)

// cmdListSessions prints "PID ADDRESS" for every live Session Init that
// left a session file in $XDG_RUNTIME_DIR/upstart/sessions.
func cmdListSessions(e *env, args []string) error {
	runtime := e.getenv("XDG_RUNTIME_DIR")
	if runtime == "" {
		return errors.New("Unable to query session directory")
	}
	dir := filepath.Join(runtime, "upstart", "sessions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return errors.New("Unable to query session directory")
	}
	type session struct {
		pid  int
		addr string
	}
	var live []session
	for _, ent := range entries {
		base, ok := strings.CutSuffix(ent.Name(), ".session")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(base)
		if err != nil || pid <= 0 {
			continue
		}
		path := filepath.Join(dir, ent.Name())
		if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
			if e.verbose {
				e.info("Ignoring stale session file " + path)
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if addr, ok := strings.CutPrefix(strings.TrimSpace(line), "UPSTART_SESSION="); ok {
				live = append(live, session{pid, addr})
				break
			}
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].pid < live[j].pid })
	for _, s := range live {
		e.out(strconv.Itoa(s.pid) + " " + s.addr)
	}
	return nil
}

func cmdNotifyCGroupManagerAddress(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing cgroup manager address"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "NotifyCGroupManagerAddress", args[0])
	return err
}
