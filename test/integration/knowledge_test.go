package integration

import (
	"strings"
	"syscall"
	"testing"
)

// Issue 12 item 3: kept knowledge survives every way the configuration is
// read again. x runs while a and b run, and stops when b stops; after the
// reload, stopping and starting b must start x again (a is still running).
func TestReloadKeepsKnowledge(t *testing.T) {
	ways := map[string]func(t *testing.T, s *session){
		"reload-configuration": func(t *testing.T, s *session) { s.mustCtl("reload-configuration") },
		"SIGHUP": func(t *testing.T, s *session) {
			before := strings.Count(s.stderr.String(), "Reloading configuration")
			s.cmd.Process.Signal(syscall.SIGHUP)
			waitFor(t, "the reload", func() bool {
				return strings.Count(s.stderr.String(), "Reloading configuration") > before
			})
		},
		"edit of another job file": func(t *testing.T, s *session) {
			writeJob(t, s.confdir, "other", "exec sleep 3603\n")
			waitFor(t, "the new job", func() bool {
				_, _, code := s.ctl("status", "other")
				return code == 0
			})
		},
		"re-exec": func(t *testing.T, s *session) { restartDaemon(t, s) },
	}
	for name, reread := range ways {
		t.Run(name, func(t *testing.T) {
			s := startSession(t, map[string]string{
				"a": "exec sleep 3600\n",
				"b": "exec sleep 3601\n",
				"x": "start on started a and started b\nstop on stopping b\nexec sleep 3602\n",
			}, "--verbose")
			s.mustCtl("start", "a")
			s.mustCtl("start", "b")
			waitStatus(t, s, "x", "x start/running")
			reread(t, s)
			// Give a reload that happens on the loop after the signal the
			// chance to finish before b is stopped.
			s.mustCtl("version")
			s.mustCtl("stop", "b")
			waitStatus(t, s, "x", "x stop/waiting")
			s.mustCtl("start", "b")
			waitStatus(t, s, "x", "x start/running")
		})
	}
}

func waitStatus(t *testing.T, s *session, job, prefix string) {
	t.Helper()
	waitFor(t, job+" in "+prefix, func() bool {
		out, _, _ := s.ctl("status", job)
		return strings.HasPrefix(out, prefix)
	})
}
