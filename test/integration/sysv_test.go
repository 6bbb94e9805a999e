package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSysVRunner drives sysv-rc from an rc job of a real session instance
// over a fake /etc: runlevel 2 starts the scripts in header order, their
// events start jobs (`start on started a` sees RUNLEVEL), the script that
// a job of the same name replaces is not run, and a daemon a script
// leaves behind outlives the rc task. Runlevel 0 then stops them; a stop
// script that hangs is killed after --stop-timeout and the run completes.
func TestSysVRunner(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	for _, d := range []string{"etc/init.d", "etc/rc2.d", "etc/rc0.d", "out"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	script := func(name, hdr, body string) {
		s := "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: " + name + "\n" + hdr + "### END INIT INFO\nOUT=" + out + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(root, "etc/init.d", name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(level, l string) {
		os.Symlink("../init.d/"+l[3:], filepath.Join(root, "etc", "rc"+level+".d", l))
	}
	// a starts a daemon (its output inherited, as careless scripts do) and
	// notes its environment and cgroup; b needs a.
	script("a", "", `case "$1" in
start) sleep 1000 & echo $! > $OUT/a.pid; env > $OUT/a.env; cat /proc/self/cgroup > $OUT/a.cgroup; touch $OUT/a-started ;;
stop) kill $(cat $OUT/a.pid); touch $OUT/a-stopped ;;
esac`)
	script("b", "# Required-Start: a\n# Required-Stop: a\n", `[ "$1" = start ] && [ -e $OUT/a-started ] && touch $OUT/b-started; [ "$1" = stop ] && [ ! -e $OUT/a-stopped ] && touch $OUT/b-stopped; exit 0`)
	script("svc", "", `touch $OUT/svc-ran`)
	script("hang", "", `[ "$1" = stop ] || exit 0; trap '' TERM; sleep 1000 & wait; sleep 1000`)
	for _, l := range []string{"S01a", "S02b", "S01svc", "S01hang"} {
		link("2", l)
	}
	// sendsigs (Debian's killall5 script) reads the omit list sysv-rc writes.
	script("sendsigs", "", `[ "$1" = stop ] && cat `+root+`/omit.d/goupstart > $OUT/omit; exit 0`)
	for _, l := range []string{"K01hang", "K01b", "K02a", "K01svc", "K03sendsigs"} {
		link("0", l)
	}
	rc := fmt.Sprintf(`start on runlevel [0123456]
task
exec %s/sysv-rc --root %s --stop-timeout 1s --sendsigs-omit %s/omit.d $RUNLEVEL $PREVLEVEL >> %s/rc.log 2>&1
`, binDir, root, root, out)
	s := startSession(t, map[string]string{
		"rc":      rc,
		"after-a": "start on started a\ntask\nexec touch " + out + "/after-a-$RUNLEVEL-$SYSV_ACTION\n",
		"b-gone":  "start on stopped b RESULT=ok\ntask\nexec touch " + out + "/b-gone-$RUNLEVEL\n",
		"svc":     "task\nexec true\n",
		"keeper":  "exec sleep 1000\n",
	})
	exists := func(n string) bool { _, err := os.Stat(filepath.Join(out, n)); return err == nil }
	rcLog := func() string { b, _ := os.ReadFile(filepath.Join(out, "rc.log")); return string(b) }
	var daemon int
	defer func() {
		if daemon > 0 {
			syscall.Kill(daemon, syscall.SIGKILL)
		}
		if b, err := os.ReadFile(filepath.Join(out, "a.cgroup")); err == nil {
			for _, l := range lines(string(b)) {
				if p, ok := strings.CutPrefix(l, "0::"); ok {
					time.Sleep(100 * time.Millisecond)
					os.Remove(filepath.Join("/sys/fs/cgroup", p))
					os.Remove(filepath.Join("/sys/fs/cgroup", filepath.Dir(p)))
				}
			}
		}
	}()

	t0 := time.Now()
	if o, e, code := s.ctl("initctl", "emit", "runlevel", "RUNLEVEL=2", "PREVLEVEL=N"); code != 0 {
		t.Fatalf("emit runlevel 2: %s %s", o, e)
	}
	waitFor(t, "runlevel 2 done", func() bool { return strings.Contains(rcLog(), "runlevel 2 (from N)") })
	t.Logf("runlevel 2 took %s:\n%s", time.Since(t0), rcLog())
	if !exists("a-started") || !exists("b-started") {
		t.Fatalf("a or b did not start in order:\n%s", rcLog())
	}
	waitFor(t, "after-a started by `started a`", func() bool { return exists("after-a-2-start") })
	if exists("svc-ran") || !strings.Contains(rcLog(), "start svc: skipped, replaced by the Upstart job svc") {
		t.Fatalf("the replaced script ran:\n%s", rcLog())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.env")); strings.Contains(string(b), "UPSTART_JOB=") || !strings.Contains(string(b), "RUNLEVEL=2") {
		t.Errorf("a's environment:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.pid")); true {
		daemon, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	// the rc task has ended; the daemon a started lives on
	waitFor(t, "rc stopped", func() bool {
		o, _, _ := s.ctl("initctl", "status", "rc")
		return strings.HasPrefix(o, "rc stop/waiting")
	})
	time.Sleep(300 * time.Millisecond)
	if daemon <= 0 || syscall.Kill(daemon, 0) != nil {
		t.Fatalf("the daemon started by a (pid %d) died with the rc task", daemon)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.cgroup")); !strings.Contains(string(b), "/sysv") {
		t.Logf("a ran in cgroup %q (no cgroup of its own here)", strings.TrimSpace(string(b)))
	}

	o, _, _ := s.ctl("initctl", "start", "keeper")
	keeper := strings.TrimSpace(o[strings.LastIndex(o, " ")+1:])

	t0 = time.Now()
	if o, e, code := s.ctl("initctl", "emit", "-n", "runlevel", "RUNLEVEL=0", "PREVLEVEL=2"); code != 0 {
		t.Fatalf("emit runlevel 0: %s %s", o, e)
	}
	waitFor(t, "runlevel 0 done", func() bool { return strings.Contains(rcLog(), "runlevel 0 (from 2)") })
	took := time.Since(t0)
	log := rcLog()
	t.Logf("runlevel 0 took %s:\n%s", took, log)
	if !strings.Contains(log, "stop hang: FAILED, timed out after 1s") {
		t.Errorf("the hanging stop script was not killed after its timeout")
	}
	if !exists("a-stopped") || !exists("b-stopped") {
		t.Errorf("b must stop before a, both must stop")
	}
	waitFor(t, "b-gone started by `stopped b RESULT=ok`", func() bool { return exists("b-gone-0") })
	for i := 0; i < 100 && syscall.Kill(daemon, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if syscall.Kill(daemon, 0) == nil {
		t.Errorf("a's stop did not end its daemon")
	} else {
		daemon = 0
	}
	if exists("svc-ran") {
		t.Errorf("the replaced script ran on stop")
	}
	// The omit list spares the runner (and the rc job's process above it)
	// and every process of every job, here keeper's.
	omit, _ := os.ReadFile(filepath.Join(out, "omit"))
	if !strings.Contains("\n"+string(omit), "\n"+keeper+"\n") {
		t.Errorf("keeper (pid %s) not in the sendsigs omit list %q", keeper, omit)
	}
	if len(lines(string(omit))) < 2 {
		t.Errorf("omit list %q", omit)
	}
}
