package integration

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/api"
)

// demoSession runs the demo's job graph (examples/chromeos-boot) with the
// startup event and waits until the boot has settled.
func demoSession(t *testing.T) (*session, []string) {
	files, err := filepath.Glob("../../examples/chromeos-boot/*.conf")
	if err != nil || len(files) < 10 {
		t.Fatalf("demo jobs: %v %v", files, err)
	}
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: newSyncBuffer()}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		writeJob(t, s.confdir, name, string(b))
		// The shutdown jobs (halt, reboot, pre-shutdown) run only at the
		// end, not in the boot.
		if strings.Contains(string(b), "start on runlevel") || strings.Contains(string(b), "start on starting halt") {
			continue
		}
		names = append(names, name)
	}
	s.startWith([]string{"--user", "--confdir", s.confdir, "--no-log"})
	waitFor(t, "the demo boot to settle", func() bool {
		out, _, _ := s.ctl("initctl", "list")
		return strings.Contains(out, "system-services start/running") &&
			strings.Contains(out, "failsafe start/running") &&
			strings.Contains(out, "failsafe-delay stop/waiting") &&
			!regexp.MustCompile(`(?m) (start|stop)/(starting|pre-start|spawned|post-start|stopping|killed|post-stop)`).MatchString(out)
	})
	return s, names
}

// TestBootChartOfDemo: `initctl boot-chart` of the demo boot is valid SVG
// (encoding/xml reads it to the end) that names every job of the graph;
// `initctl blame` lists every job that started.
func TestBootChartOfDemo(t *testing.T) {
	s, names := demoSession(t)
	out, errOut, code := s.ctl("initctl", "boot-chart")
	if code != 0 {
		t.Fatalf("boot-chart: %d %s", code, errOut)
	}
	dec := xml.NewDecoder(strings.NewReader(out))
	root := ""
	jobs := map[string]bool{}
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("boot chart is not valid XML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", tok.Name.Space)
				}
			}
			for _, a := range tok.Attr {
				if a.Name.Local == "data-job" {
					jobs[a.Value] = true
				}
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	for _, n := range names {
		if !jobs[n] || !strings.Contains(text.String(), n) {
			t.Errorf("boot chart does not show job %s", n)
		}
	}
	if !strings.Contains(text.String(), "ui ← starting boot-services") {
		t.Errorf("boot chart does not say which event started ui")
	}

	out, errOut, code = s.ctl("initctl", "blame")
	if code != 0 {
		t.Fatalf("blame: %d %s", code, errOut)
	}
	for _, n := range names {
		if !regexp.MustCompile(`(?m)^ +[0-9.]+m?s ` + regexp.QuoteMeta(n) + ` \(started by `).MatchString(out) {
			t.Errorf("blame lacks %s:\n%s", n, out)
		}
	}
	if !strings.Contains(out, "failsafe-delay (started by started boot-services)") {
		t.Errorf("blame does not say what started failsafe-delay:\n%s", out)
	}
}

// TestWhy: a condition half true, on the real daemon through initctl and
// through the D-Bus method.
func TestWhy(t *testing.T) {
	s := startSession(t, map[string]string{
		"half": "start on foo and (bar or started cron)\nexec sleep 600\n",
		"cron": "exec sleep 600\n",
		"man":  "manual\nexec sleep 600\n",
	})
	if _, e, code := s.ctl("initctl", "emit", "-n", "foo", "A=1"); code != 0 {
		t.Fatal(e)
	}
	var out string
	waitFor(t, "foo to be handled", func() bool {
		out, _, _ = s.ctl("initctl", "why", "half")
		return strings.Contains(out, "[x] foo")
	})
	for _, re := range []string{
		`(?m)^half stop/waiting$`,
		`(?m)^start on: false$`,
		`(?m)^  \[ \] and$`,
		`(?m)^      \[x\] foo$`,
		`(?m)^            by foo A=1 at \d\d:\d\d:\d\d\.\d\d\d \(held: it waits for this job\)$`,
		`(?m)^      \[ \] or$`,
		`(?m)^          \[ \] bar$`,
		`(?m)^          \[ \] started cron$`,
		`(?m)^blocked until this job moves on: foo A=1 at `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("why half lacks %s:\n%s", re, out)
		}
	}

	// The same data from the D-Bus method, with any client.
	needTool(t, "gdbus")
	raw, errOut, code := runTool(t, nil, "gdbus", "call", "--address", s.address, "--dest", "com.ubuntu.Upstart", "--object-path", "/com/ubuntu/Upstart",
		"--method", "org.goupstart.Diagnostics1.Why", "half", "@as []")
	if code != 0 {
		t.Fatalf("gdbus: %s", errOut)
	}
	m := regexp.MustCompile(`^\('(.*)',\)\s*$`).FindStringSubmatch(raw)
	if m == nil {
		t.Fatalf("gdbus reply %q", raw)
	}
	var r api.WhyReport
	if err := json.Unmarshal([]byte(m[1]), &r); err != nil {
		t.Fatalf("%v: %s", err, m[1])
	}
	if r.Kind != "start on" || r.Condition == nil || !r.Condition.Left.True || r.Condition.Right.True ||
		len(r.Blocked) != 1 || r.Blocked[0].Name != "foo" {
		t.Fatalf("D-Bus Why: %+v", r)
	}

	// started cron completes it; then the report is about stop on.
	if _, e, code := s.ctl("initctl", "start", "cron"); code != 0 {
		t.Fatal(e)
	}
	waitFor(t, "half to run", func() bool {
		out, _, _ = s.ctl("initctl", "why", "half")
		return strings.HasPrefix(out, "half start/running\n")
	})
	if !strings.Contains(out, "stop on: none: stops when asked") {
		t.Errorf("why of running half:\n%s", out)
	}
	out, _, _ = s.ctl("initctl", "why", "man")
	if !strings.Contains(out, "start on: none (manual)") {
		t.Errorf("why man:\n%s", out)
	}
	// An override that takes start on away is named.
	ovr := filepath.Join(s.confdir, "ovr.override")
	if err := os.WriteFile(ovr, []byte("manual\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeJob(t, s.confdir, "ovr", "start on foo\nexec sleep 600\n")
	waitFor(t, "ovr to be loaded", func() bool {
		out, _, _ = s.ctl("initctl", "why", "ovr")
		return strings.Contains(out, "start on: none: disabled by the override "+ovr+";")
	})
	if _, e, code := s.ctl("initctl", "why", "nope"); code != 1 || !strings.Contains(e, "Unknown job: nope") {
		t.Errorf("why nope: %d %q", code, e)
	}
}
