package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "init-checkconf")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestInitCheckconf(t *testing.T) {
	bin := build(t)
	d := t.TempDir()
	good := filepath.Join(d, "good.conf")
	bad := filepath.Join(d, "bad.conf")
	badsh := filepath.Join(d, "badsh.conf")
	os.WriteFile(good, []byte("description \"good\"\nstart on a or b\nscript\n  echo ok\nend script\n"), 0o644)
	os.WriteFile(bad, []byte("description x\n\nfrobnicate\n"), 0o644)
	os.WriteFile(badsh, []byte("task\npre-start script\n  if true; then\n    echo\nend script\n"), 0o644)

	out, errOut, code := runBin(t, bin, good)
	if code != 0 || out != "File "+good+": syntax ok\n" || errOut != "" {
		t.Errorf("good: code %d out %q err %q", code, out, errOut)
	}
	out, errOut, code = runBin(t, bin, "-d", good)
	if code != 0 || !strings.Contains(out, "  start on (a or b)\n") {
		t.Errorf("good -d: code %d out %q err %q", code, out, errOut)
	}
	out, errOut, code = runBin(t, bin, good, bad)
	if code != 1 || out != "File "+good+": syntax ok\n" || errOut != "ERROR: File "+bad+": syntax invalid:\n"+bad+":3: Unknown stanza\n" {
		t.Errorf("bad: code %d out %q err %q", code, out, errOut)
	}
	if _, err := os.Stat("/bin/sh"); err == nil {
		out, errOut, code = runBin(t, bin, badsh)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "ERROR: File "+badsh+": syntax invalid:\n"+badsh+":2: pre-start script: shell syntax error:") {
			t.Errorf("badsh: code %d out %q err %q", code, out, errOut)
		}
	}
	out, errOut, code = runBin(t, bin, "-s", badsh)
	if code != 0 || out != "File "+badsh+": syntax ok\n" {
		t.Errorf("badsh -s: code %d out %q err %q", code, out, errOut)
	}
	_, errOut, code = runBin(t, bin, filepath.Join(d, "missing.conf"))
	if code != 1 || !strings.Contains(errOut, "missing.conf") {
		t.Errorf("missing: code %d err %q", code, errOut)
	}
	if _, _, code = runBin(t, bin); code != 1 {
		t.Errorf("no args: code %d", code)
	}
	// Upstart's options: -f/--file, -d/--debug, -i, -x, -w (values taken),
	// --noscript, --help.
	out, errOut, code = runBin(t, bin, "-x", "/sbin/init", "-i", "a,b", "--initctl-path=/sbin/initctl", "--debug", "-f", good)
	if code != 0 || !strings.HasPrefix(out, "File "+good+": syntax ok\ngood\n") || errOut != "" {
		t.Errorf("options: code %d out %q err %q", code, out, errOut)
	}
	out, errOut, code = runBin(t, bin, "--noscript", "--file="+badsh)
	if code != 0 || out != "File "+badsh+": syntax ok\n" {
		t.Errorf("--noscript --file: code %d out %q err %q", code, out, errOut)
	}
	out, _, code = runBin(t, bin, "--help")
	for _, o := range []string{"-d, --debug", "-f <conf_file>", "--file=<conf_file>", "-i, --ignore-events", "-x, --upstart-path", "-h, --help"} {
		if code != 0 || !strings.Contains(out, o) {
			t.Errorf("--help lacks %s: %q", o, out)
		}
	}
	if _, errOut, code = runBin(t, bin, "--frob", good); code != 1 || !strings.Contains(errOut, "invalid option: --frob") {
		t.Errorf("--frob: code %d err %q", code, errOut)
	}
}
