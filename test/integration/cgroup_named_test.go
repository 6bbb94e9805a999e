package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cgroupDirOf is the directory of pid's cgroup in the hierarchy that
// holds controller ctrl: its cgroup v1 hierarchy when it has one, else
// the cgroup2 one. "" when it cannot be found.
func cgroupDirOf(pid int, ctrl string) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	mountOf := func(v1 bool) (point, root string) {
		for _, l := range strings.Split(string(mi), "\n") {
			pre, post, ok := strings.Cut(l, " - ")
			f, g := strings.Fields(pre), strings.Fields(post)
			if !ok || len(f) < 5 || len(g) < 3 {
				continue
			}
			if !v1 && g[0] == "cgroup2" || v1 && g[0] == "cgroup" && slices.Contains(strings.Split(g[2], ","), ctrl) {
				return f[4], f[3]
			}
		}
		return "", ""
	}
	var v2path string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2path = f[2]
		} else if slices.Contains(strings.Split(f[1], ","), ctrl) {
			point, root := mountOf(true)
			if point != "" {
				return filepath.Join(point, strings.TrimPrefix(f[2], root))
			}
		}
	}
	if point, root := mountOf(false); point != "" && v2path != "" {
		return filepath.Join(point, strings.TrimPrefix(v2path, strings.TrimSuffix(root, "/")))
	}
	return ""
}

// `cgroup CONTROLLER NAME KEY VALUE` with a NAME of its own: the job's
// processes run in that group below their instance's (NAME expanded from
// the job's environment), its setting is there, two instances with the
// same literal NAME get a group each, stopping one kills everything in
// its group and nothing of the other's, and the groups go with their
// instances.
func TestCgroupNamedGroup(t *testing.T) {
	s := startSession(t, map[string]string{
		"named":   "instance $N\ncgroup pids svc max 16\nscript\n  sleep 1020 &\n  exec sleep 1021\nend script\n",
		"varname": "env G=blue\ncgroup pids $UPSTART_CGROUP/grp-$G max 8\nexec sleep 1022\n",
	}, "--verbose")
	needCgroups(t, s)
	for _, n := range []string{"one", "two"} {
		if _, errs, code := s.ctl("start", "named", "N="+n); code != 0 {
			t.Fatalf("start named N=%s: %s\n%s", n, errs, s.stderr.String())
		}
	}
	if _, errs, code := s.ctl("start", "varname"); code != 0 {
		t.Fatalf("start varname: %s\n%s", errs, s.stderr.String())
	}
	// Each instance's processes, the background one too, are in
	// .../named/INSTANCE/@svc/main of the hierarchy that has pids.
	inst := func(pid int) string { return envOf(pid, "N") }
	readFile := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	alive := func(pid int) bool {
		// Not a zombie: the daemon reaps its own, but a moment later.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		i := strings.LastIndexByte(string(b), ')')
		return err == nil && i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
	}
	waitFor(t, "both processes of both instances", func() bool {
		return len(jobProcesses("named", "sleep 1020")) == 2 && len(jobProcesses("named", "sleep 1021")) == 2
	})
	byInst := map[string][]int{}
	for _, pid := range append(jobProcesses("named", "sleep 1020"), jobProcesses("named", "sleep 1021")...) {
		n := inst(pid)
		byInst[n] = append(byInst[n], pid)
		var dir string
		waitFor(t, "the process in its named group", func() bool {
			dir = cgroupDirOf(pid, "pids")
			return strings.HasSuffix(dir, "/named/"+n+"/@svc/main")
		})
		if got := strings.TrimSpace(readFile(filepath.Join(filepath.Dir(dir), "pids.max"))); got != "16" {
			t.Errorf("pids.max of %s: %q", filepath.Dir(dir), got)
		}
	}
	if len(byInst["one"]) != 2 || len(byInst["two"]) != 2 {
		t.Fatalf("processes by instance: %v", byInst)
	}
	var vdir string
	waitFor(t, "varname in its group", func() bool {
		p := jobProcesses("varname", "sleep 1022")
		if len(p) != 1 {
			return false
		}
		vdir = cgroupDirOf(p[0], "pids")
		return strings.HasSuffix(vdir, "/varname/_/@grp-blue/main")
	})
	if got := strings.TrimSpace(readFile(filepath.Join(filepath.Dir(vdir), "pids.max"))); got != "8" {
		t.Errorf("pids.max of varname's group: %q", got)
	}
	// The daemon counts the background process as the instance's.
	out, _, _ := s.ctl("initctl", "-v", "status", "named", "N=two")
	for _, pid := range byInst["two"] {
		if !slices.Contains(strings.Fields(strings.ReplaceAll(out, ",", " ")), strconv.Itoa(pid)) {
			t.Errorf("status -v does not list %d:\n%s", pid, out)
		}
	}
	oneDir := filepath.Dir(filepath.Dir(cgroupDirOf(byInst["one"][0], "pids")))
	if _, errs, code := s.ctl("stop", "named", "N=one"); code != 0 {
		t.Fatalf("stop named N=one: %s", errs)
	}
	for _, pid := range byInst["one"] {
		if alive(pid) {
			t.Errorf("process %d of the stopped instance is alive", pid)
		}
	}
	for _, pid := range byInst["two"] {
		if !alive(pid) {
			t.Errorf("process %d of instance two died with instance one", pid)
		}
	}
	waitFor(t, "instance one's groups to go", func() bool { _, err := os.Stat(oneDir); return os.IsNotExist(err) })
	jobDir := filepath.Dir(oneDir)
	for _, args := range [][]string{{"named", "N=two"}, {"varname"}} {
		if _, errs, code := s.ctl("stop", args...); code != 0 {
			t.Fatalf("stop %v: %s", args, errs)
		}
	}
	if left := len(jobProcesses("named", "sleep 1020")) + len(jobProcesses("named", "sleep 1021")) + len(jobProcesses("varname", "sleep 1022")); left != 0 {
		t.Fatalf("%d processes left after stop", left)
	}
	waitFor(t, "the job's groups to go", func() bool {
		_, err1 := os.Stat(jobDir)
		_, err2 := os.Stat(filepath.Dir(filepath.Dir(vdir)))
		return os.IsNotExist(err1) && os.IsNotExist(err2)
	})
}
