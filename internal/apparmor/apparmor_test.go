package apparmor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	root := t.TempDir()
	p := Paths{Root: root}
	write := func(name, body string, mode os.FileMode) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	want := func(err error, text string) {
		t.Helper()
		if text == "" {
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), text) {
			t.Fatalf("got %v, want an error containing %q", err, text)
		}
	}
	want(p.Enabled(), "the kernel has no AppArmor")
	write(enabledFile, "N\n", 0o644)
	want(p.Enabled(), `disabled in the kernel (/sys/module/apparmor/parameters/enabled is "N"`)
	write(enabledFile, "Y\n", 0o644)
	want(p.Enabled(), "")
	want(p.Loadable(), "securityfs is not mounted")
	os.MkdirAll(filepath.Join(root, securityDir), 0o755)
	want(p.Loadable(), "no parser at /sbin/apparmor_parser")
	write(Parser, "", 0o644)
	want(p.Loadable(), "no parser at /sbin/apparmor_parser")
	os.Chmod(filepath.Join(root, Parser), 0o755)
	want(p.Loadable(), "")
	if got := p.LoadCommand("/etc/apparmor.d/x"); got != root+"/sbin/apparmor_parser -r -W /etc/apparmor.d/x" {
		t.Errorf("LoadCommand = %q", got)
	}
}

func TestSwitchOnExecBadName(t *testing.T) {
	for _, n := range []string{"", "a\nb", "a\x00b"} {
		if err := SwitchOnExec(n); err == nil || !strings.Contains(err.Error(), "bad profile name") {
			t.Errorf("SwitchOnExec(%q) = %v", n, err)
		}
	}
}
