package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/conf"
)

// TestDebianJobsCheck: every job of conf/debian and conf/session parses
// and its scripts
// pass `sh -n`.
func TestDebianJobsCheck(t *testing.T) {
	files, _ := filepath.Glob("../../conf/debian/*.conf")
	if len(files) < 13 {
		t.Fatalf("conf/debian has %d jobs", len(files))
	}
	session, _ := filepath.Glob("../../conf/session/*.conf")
	if len(session) < 3 {
		t.Fatalf("conf/session has %d jobs", len(session))
	}
	for _, f := range append(files, session...) {
		if _, errs := conf.CheckFile(f, "/bin/sh"); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs)
		}
	}
}

// scriptOf returns the body of a job file's main `script` section.
func scriptOf(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\nscript\n")
	j := strings.Index(s, "\nend script")
	if i < 0 || j < i {
		t.Fatalf("%s has no script section", path)
	}
	return s[i+len("\nscript\n") : j]
}

// TestDebianDefaultRunlevel runs rc-sysinit's script with stand-ins for
// /proc/cmdline, /etc/inittab and telinit: 2 by default, inittab's
// initdefault, and the kernel command line over both.
func TestDebianDefaultRunlevel(t *testing.T) {
	body := scriptOf(t, "../../conf/debian/rc-sysinit.conf")
	for _, c := range []struct{ cmdline, inittab, want string }{
		{"console=ttyS0 quiet", "", "2"},
		{"console=ttyS0", "# comment\nid:3:initdefault:\nsi::sysinit:/etc/init.d/rcS\n", "3"},
		{"ro single", "id:3:initdefault:\n", "S"},
		{"ro -s", "", "S"},
		{"S", "", "S"},
		{"root=/dev/vda 5", "id:3:initdefault:\n", "5"},
		{"panic=-1 init=/sbin/init", "#id:4:initdefault:\n", "2"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(c.cmdline+"\n"), 0o644)
		inittab := filepath.Join(dir, "inittab")
		if c.inittab != "" {
			os.WriteFile(inittab, []byte(c.inittab), 0o644)
		}
		os.WriteFile(filepath.Join(dir, "telinit"), []byte("#!/bin/sh\necho \"telinit $*\"\n"), 0o755)
		s := strings.ReplaceAll(strings.ReplaceAll(body, "/proc/cmdline", filepath.Join(dir, "cmdline")), "/etc/inittab", inittab)
		cmd := exec.Command("/bin/sh", "-e", "-c", s)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "DEFAULT_RUNLEVEL=2"}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "telinit "+c.want {
			t.Errorf("cmdline %q inittab %q: %q %v; want telinit %s", c.cmdline, c.inittab, out, err, c.want)
		}
	}
}

// TestDebianSerialGetty runs serial-getty's script with a stand-in
// /proc/cmdline and getty: the last serial console and its speed.
func TestDebianSerialGetty(t *testing.T) {
	body := scriptOf(t, "../../conf/debian/serial-getty.conf")
	for _, c := range []struct{ cmdline, want string }{
		{"console=ttyS0", "getty -L 115200 ttyS0 vt102"},
		{"console=tty0 console=ttyS1,9600n8", "getty -L 9600 ttyS1 vt102"},
		{"console=ttyS0,38400 quiet console=tty1", "getty -L 38400 ttyS0 vt102"},
		{"console=tty1", "stop"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(c.cmdline+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "getty"), []byte("#!/bin/sh\necho \"getty $*\"\n"), 0o755)
		os.WriteFile(filepath.Join(dir, "stop"), []byte("#!/bin/sh\necho stop\n"), 0o755)
		s := strings.ReplaceAll(body, "/proc/cmdline", filepath.Join(dir, "cmdline"))
		s = strings.ReplaceAll(s, "/sbin/getty", filepath.Join(dir, "getty"))
		// the console device: /dev/ttyS* exists on most machines, not always
		s = strings.ReplaceAll(s, `[ ! -c "/dev/$tty" ]`, `false`)
		cmd := exec.Command("/bin/sh", "-e", "-c", s)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("cmdline %q: %q %v; want %q", c.cmdline, out, err, c.want)
		}
	}
}
