package integration

import (
	"fmt"
	"strings"
	"testing"
)

// `initctl status` and `initctl list` print exactly Upstart's lines: the
// tracked process of each type, never a line per background child; the
// members only with -v (issue 12 item 2).
func TestStatusLinesAsUpstart(t *testing.T) {
	s := startSession(t, map[string]string{
		"bg":        "exec sh -c 'sleep 1040 & sleep 1041 & exec sleep 1042'\n",
		"plain":     "exec sleep 1043\n",
		"pre":       "pre-start exec sleep 1044\nexec sleep 1045\n",
		"post":      "exec sleep 1046\npost-stop exec sleep 1047\n",
		"poststart": "exec sleep 1048\npost-start exec sleep 1049\n",
		"inst":      "instance $N\nexec sleep 1050\n",
		"idle":      "exec sleep 1051\n",
	})
	one := func(job, cmd string) int {
		t.Helper()
		var pids []int
		waitFor(t, job+": "+cmd, func() bool { pids = jobProcesses(job, cmd); return len(pids) == 1 })
		return pids[0]
	}
	for _, j := range [][]string{{"bg"}, {"plain"}, {"post"}, {"inst", "N=a"}, {"inst", "N=b"}} {
		if _, errs, code := s.ctl("start", j...); code != 0 {
			t.Fatalf("start %v: %s", j, errs)
		}
	}
	if _, errs, code := s.ctl("start", "-n", "pre"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := s.ctl("start", "-n", "poststart"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := s.ctl("stop", "-n", "post"); code != 0 {
		t.Fatal(errs)
	}
	bg, plain := one("bg", "sleep 1042"), one("plain", "sleep 1043")
	bgKids := []int{one("bg", "sleep 1040"), one("bg", "sleep 1041")}
	pre := one("pre", "sleep 1044")
	post := one("post", "sleep 1047")
	psMain, psPost := one("poststart", "sleep 1048"), one("poststart", "sleep 1049")
	var insts []int
	waitFor(t, "both instances", func() bool { insts = jobProcesses("inst", "sleep 1050"); return len(insts) == 2 })

	status := func(args ...string) string {
		t.Helper()
		out, errs, code := s.ctl("initctl", append([]string{"status"}, args...)...)
		if code != 0 {
			t.Fatalf("status %v: %s", args, errs)
		}
		return out
	}
	wantStatus := map[string]string{
		"bg":        fmt.Sprintf("bg start/running, process %d\n", bg),
		"plain":     fmt.Sprintf("plain start/running, process %d\n", plain),
		"pre":       fmt.Sprintf("pre start/pre-start, process %d\n", pre),
		"post":      fmt.Sprintf("post stop/post-stop, process %d\n", post),
		"poststart": fmt.Sprintf("poststart start/post-start, process %d\n\tpost-start process %d\n", psMain, psPost),
		"idle":      "idle stop/waiting\n",
	}
	for job, want := range wantStatus {
		if got := status(job); got != want {
			t.Errorf("status %s: %q, want %q", job, got, want)
		}
	}
	// Instances: the instance's name in brackets.
	instLine := map[int]string{}
	for _, n := range []string{"a", "b"} {
		got := status("inst", "N="+n)
		var pid int
		if _, err := fmt.Sscanf(got, "inst ("+n+") start/running, process %d\n", &pid); err != nil || got != fmt.Sprintf("inst (%s) start/running, process %d\n", n, pid) {
			t.Errorf("status inst N=%s: %q", n, got)
		}
		instLine[pid] = strings.TrimSuffix(got, "\n")
	}

	// list: one line per job or instance, in job-name order, and the
	// extra line only for a second running process type.
	out, errs, code := s.ctl("initctl", "list")
	if code != 0 {
		t.Fatal(errs)
	}
	var want []string
	for _, job := range []string{"bg", "idle"} {
		want = append(want, strings.TrimSuffix(wantStatus[job], "\n"))
	}
	for _, p := range insts {
		want = append(want, instLine[p])
	}
	for _, job := range []string{"plain", "post", "poststart", "pre"} {
		want = append(want, strings.TrimSuffix(wantStatus[job], "\n"))
	}
	got := strings.TrimSuffix(out, "\n")
	// Instances come in name order (a, b); make the expectation so too.
	if instLine[insts[0]] > instLine[insts[1]] {
		want[2], want[3] = want[3], want[2]
	}
	if got != strings.Join(want, "\n") {
		t.Errorf("list:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// -v adds the members, marked, after Upstart's lines.
	v := status("-v", "bg")
	for _, k := range bgKids {
		if !strings.Contains(v, fmt.Sprintf("\tmain process %d (member)\n", k)) {
			t.Errorf("status -v bg: %q lacks member %d", v, k)
		}
	}
	if !strings.HasPrefix(v, wantStatus["bg"]) {
		t.Errorf("status -v bg: %q", v)
	}
	lv, _, _ := s.ctl("initctl", "-v", "list")
	if strings.Count(lv, "(member)") != 2 {
		t.Errorf("list -v: %q", lv)
	}
}
