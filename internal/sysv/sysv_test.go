package sysv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tree builds a fake root: scripts in etc/init.d (name → body after the
// header fields), links in etc/rcN.d.
type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T) *tree {
	root := t.TempDir()
	for _, d := range []string{"etc/init.d", "etc/rc0.d", "etc/rc2.d", "etc/rc3.d", "etc/rcS.d", "out"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &tree{t, root}
}

// script writes etc/init.d/NAME with an LSB header made of hdr lines
// ("Required-Start: a") and a body run for every action; $1 is the
// action and $OUT the tree's out directory.
func (tr *tree) script(name string, hdr []string, body string) {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	if hdr != nil {
		b.WriteString("### BEGIN INIT INFO\n# Provides: " + name + "\n")
		for _, h := range hdr {
			b.WriteString("# " + h + "\n")
		}
		b.WriteString("# Description: a test script\n#  that says nothing\n### END INIT INFO\n")
	}
	fmt.Fprintf(&b, "OUT=%s/out\n%s\n", tr.root, body)
	if err := os.WriteFile(filepath.Join(tr.root, "etc/init.d", name), []byte(b.String()), 0o755); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) link(level, l string) {
	name := l[3:]
	if err := os.Symlink("../init.d/"+name, filepath.Join(tr.root, "etc", "rc"+level+".d", l)); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) write(rel, s string) {
	if err := os.WriteFile(filepath.Join(tr.root, rel), []byte(s), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) exists(name string) bool {
	_, err := os.Stat(filepath.Join(tr.root, "out", name))
	return err == nil
}

func (tr *tree) plan(level, prev, order string) []Phase {
	tr.t.Helper()
	ph, warns, err := Plan(Config{Root: tr.root, Runlevel: level, Prevlevel: prev, Order: order, StopStarted: true})
	if err != nil {
		tr.t.Fatalf("Plan(%s, %s): %v", level, prev, err)
	}
	for _, w := range warns {
		tr.t.Logf("warning: %s", w)
	}
	return ph
}

// deps renders a phase as "action name<dep,dep>" sorted by name.
func deps(ph Phase) []string {
	var out []string
	for i, s := range ph.Steps {
		out = append(out, fmt.Sprintf("%s %s<%s>", s.Action, s.Name, strings.Join(ph.After(i), ",")))
	}
	slices.Sort(out)
	return out
}

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader(strings.NewReader(`#!/bin/sh
### BEGIN INIT INFO
# Provides:          ssh sshd
# Required-Start:    $remote_fs $syslog
# Required-Stop:
# Should-Start:      $network
# X-Start-Before:    late
# X-Stop-After:      sendsigs
# Default-Start:     2 3 4 5
# Default-Stop:      0 6
# X-Interactive:     true
# Description:       a long
#                    description: with a colon
### END INIT INFO
echo hi
`), "ssh")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Found || !slices.Equal(h.Provides, []string{"ssh", "sshd"}) || !slices.Equal(h.RequiredStart, []string{"$remote_fs", "$syslog"}) ||
		len(h.RequiredStop) != 0 || !slices.Equal(h.ShouldStart, []string{"$network"}) || !slices.Equal(h.StartBefore, []string{"late"}) ||
		!slices.Equal(h.StopAfter, []string{"sendsigs"}) || !slices.Equal(h.DefaultStart, []string{"2", "3", "4", "5"}) || !h.Interactive {
		t.Fatalf("header: %+v", h)
	}
	h, err = ParseHeader(strings.NewReader("#!/bin/sh\necho no header\n"), "x")
	if err != nil || h.Found {
		t.Fatalf("no header: %+v %v", h, err)
	}
	_, err = ParseHeader(strings.NewReader("#!/bin/sh\n### BEGIN INIT INFO\n# Provides: x\necho\n"), "/etc/init.d/x")
	if err == nil || !strings.Contains(err.Error(), "/etc/init.d/x:4:") {
		t.Fatalf("bad header: %v", err)
	}
	_, err = ParseHeader(strings.NewReader("#!/bin/sh\n### BEGIN INIT INFO\n# Provides: x\n"), "x")
	if err == nil || !strings.Contains(err.Error(), "x:2: BEGIN INIT INFO without END") {
		t.Fatalf("unclosed header: %v", err)
	}
}

func TestParseDependAndFacilities(t *testing.T) {
	d, err := ParseDepend(strings.NewReader("TARGETS = a b c\nINTERACTIVE = b\na: b c\nc:\n"), "x")
	if err != nil || !slices.Equal(d.Targets, []string{"a", "b", "c"}) || !slices.Equal(d.After["a"], []string{"b", "c"}) || !slices.Equal(d.Interactive, []string{"b"}) {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := ParseDepend(strings.NewReader("TARGETS = a\nnonsense\n"), ".depend.start"); err == nil || !strings.Contains(err.Error(), ".depend.start:2:") {
		t.Fatalf("bad depend: %v", err)
	}
	f := NewFacilities()
	if err := f.Parse(strings.NewReader("# c\n$local_fs +mountall\n$remote_fs $local_fs +mountnfs\n<interactive> fsck\n"), "insserv.conf"); err != nil {
		t.Fatal(err)
	}
	if got := f.Expand("$remote_fs"); !slices.Equal(got, []string{"mountall", "mountnfs"}) {
		t.Fatalf("expand: %v", got)
	}
	if !f.Interactive("fsck") {
		t.Fatal("fsck not interactive")
	}
	if err := f.Parse(strings.NewReader("local_fs x\n"), "insserv.conf"); err == nil || !strings.Contains(err.Error(), "insserv.conf:1:") {
		t.Fatalf("bad facility: %v", err)
	}
}

// A Debian-like tree: syslog, ssh and cron in 2; a boot script in S;
// sendsigs, umountfs, halt in 0.
func debianTree(t *testing.T) *tree {
	tr := newTree(t)
	tr.write("etc/insserv.conf", "$syslog +rsyslog\n$remote_fs +mountnfs +sendsigs\n$local_fs +umountfs\n")
	tr.script("rsyslog", []string{"Required-Start: $remote_fs", "Required-Stop: umountnfs", "X-Stop-After: sendsigs"}, "")
	tr.script("ssh", []string{"Required-Start: $remote_fs $syslog", "Required-Stop: $remote_fs $syslog"}, "")
	tr.script("cron", []string{"Required-Start: $remote_fs $syslog", "Required-Stop: $remote_fs $syslog"}, "")
	tr.script("rc.local", []string{"Required-Start: $all"}, "")
	tr.script("sendsigs", []string{"Required-Stop: umountnfs"}, "")
	tr.script("umountfs", []string{"Required-Stop:"}, "")
	tr.script("umountnfs.sh", []string{"Provides: umountnfs", "Required-Stop: $local_fs"}, "")
	tr.script("halt", []string{"Required-Stop:"}, "")
	tr.script("umountroot", []string{"Should-Stop: halt", "X-Stop-After: umountfs"}, "")
	for _, l := range []string{"S01rsyslog", "S02ssh", "S02cron", "S03rc.local"} {
		tr.link("2", l)
		tr.link("3", l)
	}
	for _, l := range []string{"K01sendsigs", "K02rsyslog", "K03umountnfs.sh", "K04umountfs", "K05umountroot", "K06halt"} {
		tr.link("0", l)
	}
	return tr
}

func TestPlanOrderFromHeaders(t *testing.T) {
	tr := debianTree(t)
	ph := tr.plan("2", "N", "auto") // no .depend files: headers
	if len(ph) != 1 || ph[0].Order != "lsb" {
		t.Fatalf("phases %+v", ph)
	}
	want := []string{"start cron<rsyslog>", "start rc.local<cron,rsyslog,ssh>", "start rsyslog<>", "start ssh<rsyslog>"}
	if got := deps(ph[0]); !slices.Equal(got, want) {
		t.Fatalf("runlevel 2:\n got %q\nwant %q", got, want)
	}
	// Going to 0 from 2: K links, plus what 2 started without one (ssh,
	// cron, rc.local). Required-Stop names what must still run.
	ph = tr.plan("0", "2", "lsb")
	want = []string{"stop cron<>", "stop halt<umountroot>", "stop rc.local<>", "stop rsyslog<cron,sendsigs,ssh>",
		"stop sendsigs<cron,ssh>", "stop ssh<>", "stop umountfs<umountnfs.sh>", "stop umountnfs.sh<rsyslog,sendsigs>", "stop umountroot<umountfs>"}
	if got := deps(ph[0]); !slices.Equal(got, want) {
		t.Fatalf("runlevel 0:\n got %q\nwant %q", got, want)
	}
	ph, _, err := Plan(Config{Root: tr.root, Runlevel: "0", Prevlevel: "2", Order: "lsb"})
	if err != nil || len(ph[0].Steps) != 6 {
		t.Fatalf("without StopStarted: %v %v", deps(ph[0]), err)
	}
}

func TestPlanFromInsservFiles(t *testing.T) {
	tr := debianTree(t)
	tr.write("etc/init.d/.depend.start", "TARGETS = rsyslog ssh cron rc.local\nINTERACTIVE = cron\nssh: rsyslog\ncron: ssh\nrc.local: cron\n")
	ph := tr.plan("2", "N", "auto")
	if !strings.HasSuffix(ph[0].Order, ".depend.start") {
		t.Fatalf("order from %s", ph[0].Order)
	}
	want := []string{"start cron<ssh>", "start rc.local<cron>", "start rsyslog<>", "start ssh<rsyslog>"}
	if got := deps(ph[0]); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	for _, s := range ph[0].Steps {
		if s.Interactive != (s.Name == "cron") {
			t.Fatalf("%s interactive=%v", s.Name, s.Interactive)
		}
	}
	// A file that does not list every script: auto falls back, insserv refuses.
	tr.write("etc/init.d/.depend.start", "TARGETS = rsyslog ssh\nssh: rsyslog\n")
	if ph := tr.plan("2", "N", "auto"); ph[0].Order != "lsb" {
		t.Fatalf("incomplete file used: %s", ph[0].Order)
	}
	if _, _, err := Plan(Config{Root: tr.root, Runlevel: "2", Prevlevel: "N", Order: "insserv"}); err == nil || !strings.Contains(err.Error(), "does not list cron") {
		t.Fatalf("insserv with an incomplete file: %v", err)
	}
}

func TestPlanRunlevelChanges(t *testing.T) {
	tr := debianTree(t)
	// 2 → 3: same S links, nothing to do.
	if ph := tr.plan("3", "2", "lsb"); len(ph) != 0 {
		t.Fatalf("2→3: %v", deps(ph[0]))
	}
	// A K link in 3 stops what 2 started; not again in 3 → 2 → 3.
	tr.link("3", "K01cron")
	os.Remove(filepath.Join(tr.root, "etc/rc3.d/S02cron"))
	if got := deps(tr.plan("3", "2", "lsb")[0]); !slices.Equal(got, []string{"stop cron<>"}) {
		t.Fatalf("2→3: %q", got)
	}
	if got := deps(tr.plan("2", "3", "lsb")[0]); !slices.Equal(got, []string{"start cron<>"}) {
		t.Fatalf("3→2: %q", got)
	}
	// S links of 0 or 6 are run with stop (older insserv trees).
	tr.link("0", "S90halt")
	os.Remove(filepath.Join(tr.root, "etc/rc0.d/K06halt"))
	ph := tr.plan("0", "N", "lsb")
	if len(ph) != 2 || ph[1].Steps[0].Name != "halt" || ph[1].Steps[0].Action != "stop" {
		t.Fatalf("S link in 0: %+v", ph)
	}
	// Bad input.
	for _, c := range []struct{ level, want string }{{"7", "unknown runlevel"}, {"x", "unknown runlevel"}, {"5", "rc5.d"}} {
		if _, _, err := Plan(Config{Root: tr.root, Runlevel: c.level}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("runlevel %s: %v", c.level, err)
		}
	}
	if _, _, err := Plan(Config{Root: t.TempDir(), Runlevel: "2"}); err == nil || !strings.Contains(err.Error(), "init.d") {
		t.Errorf("no init.d: %v", err)
	}
}

func TestPlanLoopsAndHeaderless(t *testing.T) {
	tr := newTree(t)
	tr.script("a", []string{"Required-Start: b"}, "")
	tr.script("b", []string{"Required-Start: a"}, "")
	tr.script("old", nil, "")
	tr.script("z", []string{}, "")
	tr.link("2", "S01a")
	tr.link("2", "S02b")
	tr.link("2", "S05old")
	tr.link("2", "S09z")
	ph, warns, err := Plan(Config{Root: tr.root, Runlevel: "2", Order: "lsb"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "dependency loop") || !strings.Contains(warns[0], "a waits for b") {
		t.Fatalf("warnings %q", warns)
	}
	// the headerless script keeps its place by number: after a and b, before z
	want := []string{"start a<>", "start b<a>", "start old<a,b>", "start z<old>"}
	if got := deps(ph[0]); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

// events records what a runner tells init.
type events struct {
	mu       sync.Mutex
	got      []string
	replaced map[string]bool
}

func (e *events) Emit(name string, env []string, wait bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var keep []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SYSV_SCRIPT=") {
			keep = append(keep, kv)
		}
	}
	e.got = append(e.got, fmt.Sprintf("%s %s wait=%v", name, strings.Join(keep, " "), wait))
	return nil
}

func (e *events) JobExists(name string) (bool, error) { return e.replaced[name], nil }

func (e *events) of(job string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, g := range e.got {
		if strings.Contains(g, " JOB="+job+" ") {
			out = append(out, g)
		}
	}
	return out
}

func runner(ev *events, out *strings.Builder) *Runner {
	var mu sync.Mutex
	return &Runner{Notify: ev, Env: []string{"PATH=/usr/bin:/bin"}, EventEnv: []string{"RUNLEVEL=2"},
		Out: writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(b) })}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// The two first scripts succeed only if they run at the same time (each
// waits for the other's mark); the third checks both are done first.
func TestRunParallelAndOrder(t *testing.T) {
	tr := newTree(t)
	meet := func(me, other string) string {
		return fmt.Sprintf(`touch $OUT/%s.started
i=0; while [ ! -e $OUT/%s.started ]; do i=$((i+1)); [ $i -gt 500 ] && exit 7; sleep 0.01; done
echo "%s: $1 ran with RUNLEVEL=$RUNLEVEL"
touch $OUT/%s.done`, me, other, me, me)
	}
	tr.script("a", []string{}, meet("a", "b"))
	tr.script("b", []string{}, meet("b", "a"))
	tr.script("c", []string{"Required-Start: a b"}, `[ -e $OUT/a.done ] && [ -e $OUT/b.done ] && touch $OUT/c.done; env | grep -q ^UPSTART_JOB= && exit 9; exit 0`)
	tr.link("2", "S01a")
	tr.link("2", "S01b")
	tr.link("2", "S02c")
	ev := &events{}
	var out strings.Builder
	r := runner(ev, &out)
	r.Env = append(r.Env, "RUNLEVEL=2")
	res := r.Run(context.Background(), tr.plan("2", "N", "lsb"))
	for _, x := range res {
		if x.Err != nil || x.Skipped != "" {
			t.Errorf("%s: %v %s", x.Step.Name, x.Err, x.Skipped)
		}
	}
	if !tr.exists("c.done") {
		t.Fatal("c ran before a and b were done")
	}
	if !strings.Contains(out.String(), "a: start ran with RUNLEVEL=2") || !strings.Contains(out.String(), "b: start ran") {
		t.Fatalf("output: %q", out.String())
	}
	want := []string{"starting JOB=a INSTANCE= SYSV_ACTION=start RUNLEVEL=2 wait=true", "started JOB=a INSTANCE= SYSV_ACTION=start RUNLEVEL=2 wait=false"}
	if got := ev.of("a"); !slices.Equal(got, want) {
		t.Fatalf("events of a:\n got %q\nwant %q", got, want)
	}
	// c's events come after a's and b's started
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ic := slices.IndexFunc(ev.got, func(s string) bool { return strings.HasPrefix(s, "starting JOB=c ") })
	for _, j := range []string{"a", "b"} {
		if k := slices.IndexFunc(ev.got, func(s string) bool { return strings.HasPrefix(s, "started JOB="+j+" ") }); k < 0 || k > ic {
			t.Fatalf("started %s after starting c: %q", j, ev.got)
		}
	}
}

func TestRunFailureTimeoutReplaced(t *testing.T) {
	tr := newTree(t)
	tr.script("bad", []string{}, `echo failing; exit 3`)
	tr.script("after-bad", []string{"Required-Stop: bad"}, `touch $OUT/after-bad`) // stops before bad
	tr.script("needs-bad", []string{"X-Stop-After: bad"}, `touch $OUT/needs-bad`)
	tr.script("hang", []string{}, `trap '' TERM; touch $OUT/hang; sleep 30 & wait; sleep 30`)
	tr.script("ssh", []string{}, `touch $OUT/ssh-ran`)
	tr.script("daemon", []string{}, `sleep 30 & echo $! > $OUT/daemon.pid; echo started it`)
	for _, l := range []string{"K01bad", "K01after-bad", "K02needs-bad", "K01hang", "K01ssh", "K01daemon"} {
		tr.link("0", l)
	}
	ev := &events{replaced: map[string]bool{"ssh": true}}
	var out strings.Builder
	r := runner(ev, &out)
	r.StopTimeout, r.KillGrace = 300*time.Millisecond, 200*time.Millisecond
	t0 := time.Now()
	res := r.Run(context.Background(), tr.plan("0", "N", "lsb"))
	took := time.Since(t0)
	byName := map[string]Result{}
	for _, x := range res {
		byName[x.Step.Name] = x
	}
	if b := byName["bad"]; b.Err == nil || b.Err.Error() != "exit status 3" {
		t.Errorf("bad: %v", b.Err)
	}
	if !tr.exists("needs-bad") || !tr.exists("after-bad") {
		t.Error("a failure held back the others")
	}
	h := byName["hang"]
	if !h.TimedOut || h.Err == nil || !strings.Contains(h.Err.Error(), "timed out") || !strings.Contains(h.Err.Error(), "SIGKILL") {
		t.Errorf("hang: %+v", h)
	}
	if !tr.exists("hang") {
		t.Error("hang never ran")
	}
	if s := byName["ssh"]; s.Skipped == "" || tr.exists("ssh-ran") || len(ev.of("ssh")) != 0 {
		t.Errorf("replaced script ran: %+v, events %q", s, ev.of("ssh"))
	}
	// The daemon a script leaves behind holds its output open; the runner
	// does not wait for it.
	if d := byName["daemon"]; d.Err != nil || d.Took > 5*time.Second {
		t.Errorf("daemon: %+v", d)
	}
	if b, err := os.ReadFile(filepath.Join(tr.root, "out/daemon.pid")); err == nil {
		var pid int
		fmt.Sscan(string(b), &pid)
		if pid > 0 {
			syscallKill(pid)
		}
	}
	if took > 20*time.Second {
		t.Errorf("the run took %s", took)
	}
	want := []string{"stopping JOB=bad INSTANCE= SYSV_ACTION=stop RUNLEVEL=2 wait=true", "stopped JOB=bad INSTANCE= SYSV_ACTION=stop RUNLEVEL=2 RESULT=failed PROCESS=stop EXIT_STATUS=3 wait=false"}
	if got := ev.of("bad"); !slices.Equal(got, want) {
		t.Errorf("events of bad:\n got %q\nwant %q", got, want)
	}
	if got := ev.of("hang"); len(got) != 2 || !strings.Contains(got[1], "EXIT_SIGNAL=KILL") {
		t.Errorf("events of hang: %q", got)
	}
	if got := ev.of("after-bad"); len(got) != 2 || !strings.Contains(got[1], "RESULT=ok") {
		t.Errorf("events of after-bad: %q", got)
	}
	if !strings.Contains(out.String(), "failing") || !strings.Contains(out.String(), "started it") {
		t.Errorf("output: %q", out.String())
	}
}

func TestRunInterrupted(t *testing.T) {
	tr := newTree(t)
	tr.script("slow", []string{}, `sleep 30`)
	tr.script("next", []string{"Required-Start: slow"}, `touch $OUT/next`)
	tr.link("2", "S01slow")
	tr.link("2", "S02next")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	var out strings.Builder
	res := runner(&events{}, &out).Run(ctx, tr.plan("2", "N", "lsb"))
	if len(res) != 2 || res[0].Err == nil || res[1].Skipped != "interrupted" || tr.exists("next") {
		t.Fatalf("%+v", res)
	}
}

// A script that runs alone writes straight to Direct; scripts that run
// side by side are buffered and written to Out whole.
func TestRunDirectWhenAlone(t *testing.T) {
	tr := newTree(t)
	tr.script("first", []string{}, `echo first-out`)
	tr.script("p1", []string{"Required-Start: first"}, `echo p1-out`)
	tr.script("p2", []string{"Required-Start: first"}, `echo p2-out`)
	tr.script("last", []string{"Required-Start: p1 p2"}, `echo last-out`)
	for _, l := range []string{"S01first", "S02p1", "S02p2", "S03last"} {
		tr.link("2", l)
	}
	direct, err := os.Create(filepath.Join(t.TempDir(), "direct"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	var out strings.Builder
	r := runner(&events{}, &out)
	r.Direct = direct
	r.Run(context.Background(), tr.plan("2", "N", "lsb"))
	d, _ := os.ReadFile(direct.Name())
	if string(d) != "first-out\nlast-out\n" {
		t.Errorf("direct: %q", d)
	}
	if o := out.String(); !strings.Contains(o, "p1-out\n") || !strings.Contains(o, "p2-out\n") || strings.Contains(o, "first-out") {
		t.Errorf("buffered: %q", o)
	}
}

// Debian's rc scripts are absolute links (/etc/init.d/rc -> /lib/init/rc):
// under another root they resolve inside it.
func TestInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "lib/init"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc/init.d"), 0o755)
	os.WriteFile(filepath.Join(root, "lib/init/rc"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("/lib/init/rc", filepath.Join(root, "etc/init.d/rc"))
	os.Symlink("rc", filepath.Join(root, "etc/init.d/rc2"))
	for _, p := range []string{"etc/init.d/rc", "etc/init.d/rc2"} {
		if got := InRoot(root, filepath.Join(root, p)); got != filepath.Join(root, "lib/init/rc") {
			t.Errorf("%s: %s", p, got)
		}
	}
	if got := InRoot("/", "/etc/init.d/rc"); got != "/etc/init.d/rc" {
		t.Errorf("root /: %s", got)
	}
}
