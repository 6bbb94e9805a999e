package conf

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]*Job) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSplitName(t *testing.T) {
	tests := []struct {
		in, name, ext string
		ok            bool
	}{
		{"foo.conf", "foo", ".conf", true},
		{"net/apache.conf", "net/apache", ".conf", true},
		{"foo.override", "foo", ".override", true},
		{".conf", "", "", false},
		{"net/.conf", "", "", false},
		{".foo.conf", ".foo", ".conf", true},
		{"foo.conf.bak", "", "", false},
		{"foo.conf~", "", "", false},
		{"foo", "", "", false},
		{"foo.bar.conf", "foo.bar", ".conf", true},
		{"foo.Conf", "", "", false},
	}
	for _, tt := range tests {
		name, ext, ok := SplitName(tt.in)
		if name != tt.name || ext != tt.ext || ok != tt.ok {
			t.Errorf("SplitName(%q) = %q %q %v", tt.in, name, ext, ok)
		}
	}
}

func TestIgnoredDir(t *testing.T) {
	for _, n := range []string{".git", "x~", "a.bak", "a.BAK", "a.swp", "a.swo", "a.swn", "RCS", "CVS",
		"a.dpkg-old", "a.dpkg-new", "a.rpmsave", "a.rpmorig", "a.rpmnew"} {
		if !IgnoredDir(n) {
			t.Errorf("%q not ignored", n)
		}
	}
	for _, n := range []string{"net", "a.d", "bak", "rcs"} {
		if IgnoredDir(n) {
			t.Errorf("%q ignored", n)
		}
	}
}

func TestLoad(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	write(t, d1+"/a.conf", "description d1-a\n")
	write(t, d2+"/a.conf", "description d2-a\n")
	write(t, d2+"/b.conf", "description d2-b\nenv X=1\n")
	write(t, d1+"/b.override", "description over-b\nenv Y=2\n") // earlier dir: applies
	write(t, d1+"/c.conf", "description d1-c\n")
	write(t, d2+"/c.override", "description over-c\n") // later dir: ignored
	write(t, d2+"/net/apache.conf", "exec apache\n")
	write(t, d2+"/net/apache.override", "manual\n")
	write(t, d1+"/broken.conf", "description ok\nbogus\n")
	write(t, d1+"/only.override", "manual\n")
	write(t, d1+"/.hidden/h.conf", "exec x\n")
	write(t, d1+"/old.bak/o.conf", "exec x\n")
	write(t, d1+"/.dot.conf", "exec dot\n")
	write(t, d1+"/x.conf.dpkg-old", "exec x\n")
	write(t, d1+"/badover.conf", "description base\n")
	write(t, d1+"/badover.override", "description x\nnonsense\n")
	write(t, d1+"/shadow.conf", "bogus\n") // broken: next source is used
	write(t, d2+"/shadow.conf", "description second\n")
	if err := os.Symlink(d1+"/a.conf", d1+"/link.conf"); err != nil {
		t.Fatal(err)
	}
	jobs, errs := Load([]string{d1, filepath.Join(t.TempDir(), "missing"), d2})

	want := []string{".dot", "a", "b", "badover", "c", "net/apache", "shadow"}
	if got := keys(jobs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("jobs = %v, want %v", got, want)
	}
	if jobs["a"].Description != "d1-a" || jobs["a"].Path != d1+"/a.conf" {
		t.Errorf("a: %+v", jobs["a"])
	}
	if jobs["b"].Description != "over-b" || strings.Join(jobs["b"].Env, " ") != "X=1 Y=2" {
		t.Errorf("b: %+v", jobs["b"])
	}
	if jobs["c"].Description != "d1-c" {
		t.Errorf("c: %+v", jobs["c"])
	}
	if jobs["net/apache"].Name != "net/apache" || jobs["net/apache"].StartOn != nil || jobs["net/apache"].Process[Main].Command != "apache" {
		t.Errorf("net/apache: %+v", jobs["net/apache"])
	}
	if jobs["badover"].Description != "base" {
		t.Errorf("badover: %+v", jobs["badover"])
	}
	if jobs["shadow"].Description != "second" {
		t.Errorf("shadow: %+v", jobs["shadow"])
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	sort.Strings(msgs)
	wantErrs := []string{
		d1 + "/badover.override:2: Unknown stanza",
		d1 + "/broken.conf:2: Unknown stanza",
		d1 + "/shadow.conf:1: Unknown stanza",
		d1 + "/link.conf: not a regular file (a symbolic link; not supported), skipped",
	}
	sort.Strings(wantErrs)
	if strings.Join(msgs, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(wantErrs, "\n"))
	}

	// LoadJob agrees with Load.
	for _, n := range want {
		j, _ := LoadJob([]string{d1, d2}, n)
		if j == nil || j.Description != jobs[n].Description || j.Path != jobs[n].Path {
			t.Errorf("LoadJob(%q) = %+v", n, j)
		}
	}
	if j, errs := LoadJob([]string{d1, d2}, "broken"); j != nil || len(errs) != 1 {
		t.Errorf("LoadJob(broken) = %v, %v", j, errs)
	}
	for _, n := range []string{"only", "missing", "../x", ".hidden/h", "old.bak/o"} {
		if j, errs := LoadJob([]string{d1, d2}, n); j != nil || len(errs) != 0 {
			t.Errorf("LoadJob(%q) = %v, %v", n, j, errs)
		}
	}
	// A symlink is not loaded, and said so (as Load does).
	if j, errs := LoadJob([]string{d1, d2}, "link"); j != nil || len(errs) != 1 {
		t.Errorf("LoadJob(link) = %v, %v", j, errs)
	}
}

func TestLoadTooLarge(t *testing.T) {
	d := t.TempDir()
	write(t, d+"/big.conf", strings.Repeat("# padding\n", MaxFileSize/10+10))
	write(t, d+"/ok.conf", "task\n")
	jobs, errs := Load([]string{d})
	if len(jobs) != 1 || jobs["ok"] == nil || len(errs) != 1 || !strings.Contains(errs[0].Error(), "File too large") {
		t.Fatalf("jobs %v errs %v", keys(jobs), errs)
	}
}

func TestNameForPath(t *testing.T) {
	dirs := []string{"/etc/init", "/usr/share/upstart/sessions"}
	if n, e, ok := NameForPath(dirs, "/etc/init/net/apache.override"); !ok || n != "net/apache" || e != OverrideExt {
		t.Errorf("got %q %q %v", n, e, ok)
	}
	if _, _, ok := NameForPath(dirs, "/etc/other/x.conf"); ok {
		t.Error("outside path accepted")
	}
}

func TestWatcher(t *testing.T) {
	d := t.TempDir()
	w, err := NewWatcher([]string{d, filepath.Join(d, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case <-w.C:
				paths, all := w.Changed()
				if all {
					return
				}
				for _, p := range paths {
					if p == want {
						return
					}
				}
			case <-deadline:
				t.Fatalf("no change reported for %s", want)
			}
		}
	}
	write(t, d+"/a.conf", "task\n")
	wait(d + "/a.conf")
	// A new sub-directory is watched, and files created in it reported.
	if err := os.Mkdir(d+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	wait(d + "/sub")
	time.Sleep(50 * time.Millisecond)
	write(t, d+"/sub/b.conf", "task\n")
	wait(d + "/sub/b.conf")
	if err := os.Remove(d + "/a.conf"); err != nil {
		t.Fatal(err)
	}
	wait(d + "/a.conf")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Job names that are not UTF-8, hold control characters, or are "." or
// ".." are refused with a line each (issue 15): they would be sent on
// D-Bus, and a newline would forge `initctl list` lines.
func TestLoadRefusesBadNames(t *testing.T) {
	d := t.TempDir()
	write(t, d+"/ok.conf", "exec ok\n")
	for _, n := range []string{"zz\xff", ".", "..", "a\nb", "tab\there", "del\x7f", "sub/."} {
		write(t, d+"/"+n+".conf", "exec bad\n")
	}
	jobs, errs := Load([]string{d})
	if got := keys(jobs); strings.Join(got, ",") != "ok" {
		t.Errorf("jobs = %q, want only ok", got)
	}
	if len(errs) != 7 {
		t.Errorf("%d errors, want 7: %v", len(errs), errs)
	}
	for _, e := range errs {
		msg := e.Error()
		if !strings.Contains(msg, ": not loaded: the job name ") || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\n\t\x7f") {
			t.Errorf("error %q", msg)
		}
	}
	for _, n := range []string{"zz\xff", ".", "..", "a\nb"} {
		if j, errs := LoadJob([]string{d}, n); j != nil || errs != nil {
			t.Errorf("LoadJob(%q) = %v, %v", n, j, errs)
		}
	}
	if j, _ := LoadJob([]string{d}, "ok"); j == nil {
		t.Error("LoadJob(ok) found nothing")
	}
	// A change of such a file is refused the same way.
	jobs, ok, errs := Reread([]string{d}, []string{d + "/zz\xff.conf", d + "/ok.conf"}, nil)
	if !ok || len(jobs) != 1 || jobs["ok"] == nil || len(errs) != 1 || !strings.Contains(errs[0].Error(), "not valid UTF-8") {
		t.Errorf("Reread: %v %v %v", jobs, ok, errs)
	}
}

// Stanza arguments must be UTF-8 (they reach D-Bus); exec and script text
// may be any bytes.
func TestInvalidUTF8InStanzas(t *testing.T) {
	for _, c := range []struct{ text, err string }{
		{"start on foo\xff\n", `f.conf:1: Invalid UTF-8 in "foo\xff"`},
		{"exec true\nenv A=\xff\n", `f.conf:2: Invalid UTF-8 in "A=\xff"`},
		{"description \"caf\xe9\"\n", `f.conf:1: Invalid UTF-8 in "caf\xe9"`},
		{"emits x\xff\n", `f.conf:1: Invalid UTF-8 in "x\xff"`},
		{"instance $X\xfe\n", `f.conf:1: Invalid UTF-8 in "$X\xfe"`},
	} {
		_, err := Parse("f", "f.conf", []byte(c.text))
		if err == nil || err.Error() != c.err {
			t.Errorf("%q: %v, want %s", c.text, err, c.err)
		}
	}
	for _, ok := range []string{"exec echo \xff\n", "script\n  echo \xff\nend script\n", "description \"caf\u00e9\"\n"} {
		if _, err := Parse("f", "f.conf", []byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
