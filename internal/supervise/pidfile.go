package supervise

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// MaxPidFile is the most of a pid file ReadPidFile reads: a pid and a
// newline fit many times over; anything longer is not a pid file.
const MaxPidFile = 64

// PidFiles reads the pid files of `pid file PATH` for the engine
// (engine.PidFiles).
type PidFiles struct{}

// ReadPid implements engine.PidFiles.
func (PidFiles) ReadPid(path string) (int, error) { return ReadPidFile(path) }

// OwnChild implements engine.PidFiles: pid's parent is this process.
func (PidFiles) OwnChild(pid int) bool { return ParentPid(pid) == os.Getpid() }

// ParentPid is pid's parent (field 4 of /proc/PID/stat), 0 if unknown.
func ParentPid(pid int) int {
	f, ok := procStat(pid)
	if !ok || len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// ReadPidFile reads the decimal pid a daemon wrote to path (surrounding
// white space allowed). The daemon may be hostile: the file is opened
// without blocking and must be a regular file (a FIFO would otherwise
// stall init), and at most MaxPidFile bytes are read. That the pid is a
// process of the right job is for the caller to check.
func ReadPidFile(path string) (int, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("pid file %s: not a regular file", path)
	}
	buf := make([]byte, MaxPidFile+1)
	n, _ := f.ReadAt(buf, 0)
	if n > MaxPidFile {
		return 0, fmt.Errorf("pid file %s: longer than %d bytes", path, MaxPidFile)
	}
	s := string(bytes.TrimSpace(buf[:n]))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || s[0] == '+' {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, s)
	}
	return pid, nil
}
