package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// startBridge runs a bridge against the session until the test ends.
func startBridge(t *testing.T, s *session, name string, args ...string) *syncBuffer {
	t.Helper()
	out := newSyncBuffer()
	cmd := exec.Command(filepath.Join(binDir, name), append([]string{"--user", "--verbose"}, args...)...)
	cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return out
}

// The file bridge starts jobs on file events (issue 11 item 3), learns
// jobs added later, and keeps working across a re-exec of init.
func TestFileBridge(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "sub", "flag")
	s := startSession(t, map[string]string{
		"on-create": "start on file FILE=" + flag + " EVENT=create\ntask\nexec sh -c 'echo \"$FILE $EVENT\" >> " + dir + "/created'\n",
		"on-crash":  "start on file FILE=" + dir + "/*.crash\ntask\nexec sh -c 'echo \"$EVENT $MATCH\" >> " + dir + "/crashes'\n",
	})
	out := startBridge(t, s, "upstart-file-bridge")
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	os.WriteFile(filepath.Join(dir, "pre.crash"), nil, 0o644) // may come before the bridge has read the jobs
	os.MkdirAll(filepath.Dir(flag), 0o755)
	os.WriteFile(flag, nil, 0o644)
	waitFor(t, "on-create to run", func() bool { return read("created") == flag+" create\n" })
	waitFor(t, "on-crash for the file that was there", func() bool {
		return strings.Contains(read("crashes"), "create "+filepath.Join(dir, "pre.crash")+"\n")
	})
	os.Remove(filepath.Join(dir, "pre.crash"))
	waitFor(t, "on-crash for the delete", func() bool {
		return strings.Contains(read("crashes"), "delete "+filepath.Join(dir, "pre.crash")+"\n")
	})

	// A job added while the bridge runs.
	writeJob(t, s.confdir, "late", "start on file FILE="+dir+"/late EVENT=create\ntask\nexec touch "+dir+"/late-ran\n")
	waitFor(t, "the bridge to learn the new job", func() bool {
		if _, err := os.Stat(filepath.Join(dir, "late")); err != nil {
			os.WriteFile(filepath.Join(dir, "late"), nil, 0o644)
		} else {
			os.Remove(filepath.Join(dir, "late"))
		}
		_, err := os.Stat(filepath.Join(dir, "late-ran"))
		return err == nil
	})

	// init re-executes: the bridge connects again.
	restartDaemon(t, s)
	os.Remove(flag)
	os.WriteFile(flag, nil, 0o644)
	waitFor(t, "on-create after the re-exec", func() bool {
		return read("created") == flag+" create\n"+flag+" create\n"
	})
	if t.Failed() {
		t.Logf("bridge said:\n%s", out.String())
	}
}
