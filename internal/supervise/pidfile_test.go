package supervise

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadPidFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		text string
		pid  int
	}{{"123\n", 123}, {"  42  ", 42}, {"7", 7}} {
		if pid, err := ReadPidFile(write("ok", c.text)); err != nil || pid != c.pid {
			t.Errorf("%q: %d %v", c.text, pid, err)
		}
	}
	for _, bad := range []string{"", "\n", "abc", "-5", "0", "+5", "12 13", strings.Repeat("1", MaxPidFile+1)} {
		if pid, err := ReadPidFile(write("bad", bad)); err == nil {
			t.Errorf("%q read as %d", bad, pid)
		}
	}
	if _, err := ReadPidFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file read")
	}
	// A FIFO with no writer would block a plain open: refused at once.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPidFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
	if _, err := ReadPidFile(dir); err == nil {
		t.Error("a directory read")
	}
}

func TestOwnChild(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !(PidFiles{}).OwnChild(cmd.Process.Pid) {
		t.Errorf("our child %d is not our child", cmd.Process.Pid)
	}
	if (PidFiles{}).OwnChild(os.Getpid()) || (PidFiles{}).OwnChild(1<<30) {
		t.Error("ourselves or a missing pid counted as our child")
	}
}
