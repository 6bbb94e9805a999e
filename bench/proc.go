package main

// Reading /proc: which of our marked processes exist, process trees, memory
// from smaps_rollup, and the sweep that kills whatever a run left behind.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// marker identifies the measured `sleep` processes of one run. Service i runs
// `sleep 7200 <prefix><i as 5 digits>`; GNU sleep adds its arguments, so the
// marker is a valid (tiny) duration and appears verbatim in /proc/PID/cmdline.
type marker struct {
	prefix string // "0.00" + 4-digit bench id + 4-digit run number
}

// benchID is unique per bench process; every marker of this process starts
// with benchPrefix, which the exit sweep looks for.
var (
	benchID     = os.Getpid() % 10000
	benchPrefix = "0.00" + pad4(benchID)
	runSeq      int
)

func pad4(n int) string { s := strconv.Itoa(n % 10000); return strings.Repeat("0", 4-len(s)) + s }

func newMarker() marker {
	runSeq++
	return marker{prefix: benchPrefix + pad4(runSeq)}
}

// arg is the marker argument of service i.
func (m marker) arg(i int) string {
	s := strconv.Itoa(i)
	return m.prefix + strings.Repeat("0", 5-len(s)) + s
}

// sleepArgv is the command line of measured service i.
func (m marker) sleepArgv(i int) []string { return []string{"sleep", "7200", m.arg(i)} }

// sleepServices are n services svc00000… running sleepArgv.
func (m marker) sleepServices(n int) []service {
	svcs := make([]service, n)
	for i := range svcs {
		svcs[i] = service{name: fmt.Sprintf("svc%05d", i), argv: m.sleepArgv(i)}
	}
	return svcs
}

// procReader reads /proc with one reusable buffer.
type procReader struct {
	buf []byte
}

func newProcReader() *procReader { return &procReader{buf: make([]byte, 8192)} }

// pids lists the numeric entries of /proc.
func (r *procReader) pids() []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make([]int, 0, len(names))
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		if p, err := strconv.Atoi(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// read returns the first bytes of /proc/PID/NAME (valid until the next call).
func (r *procReader) read(pid int, name string) []byte {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/"+name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, r.buf)
	if err != nil || n <= 0 {
		return nil
	}
	return r.buf[:n]
}

// serviceIndex returns i when cmdline is `sleep 7200 <m.arg(i)>`, else -1.
func (m marker) serviceIndex(cmdline []byte) int {
	// argv[0]
	z := bytes.IndexByte(cmdline, 0)
	if z < 0 || !bytes.HasSuffix(cmdline[:z], []byte("sleep")) {
		return -1
	}
	rest := cmdline[z+1:]
	z = bytes.IndexByte(rest, 0)
	if z < 0 {
		return -1
	}
	rest = rest[z+1:]
	z = bytes.IndexByte(rest, 0)
	if z >= 0 {
		rest = rest[:z]
	}
	if len(rest) != len(m.prefix)+5 || !bytes.HasPrefix(rest, []byte(m.prefix)) {
		return -1
	}
	i, err := strconv.Atoi(string(rest[len(m.prefix):]))
	if err != nil {
		return -1
	}
	return i
}

// scanMarked returns, for every service index of m that has a process, one pid.
func (r *procReader) scanMarked(m marker) map[int]int {
	found := map[int]int{}
	for _, pid := range r.pids() {
		if i := m.serviceIndex(r.read(pid, "cmdline")); i >= 0 {
			found[i] = pid
		}
	}
	return found
}

// countMarked counts the processes of m (not distinct indexes).
func (r *procReader) countMarked(m marker) int {
	n := 0
	for _, pid := range r.pids() {
		if m.serviceIndex(r.read(pid, "cmdline")) >= 0 {
			n++
		}
	}
	return n
}

// ppid of pid from /proc/PID/stat, or -1.
func (r *procReader) ppid(pid int) int {
	b := r.read(pid, "stat")
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	p, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return p
}

// tree returns root and all its descendants.
func (r *procReader) tree(root int) []int {
	children := map[int][]int{}
	for _, pid := range r.pids() {
		if pp := r.ppid(pid); pp > 0 {
			children[pp] = append(children[pp], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// memKB sums Rss and Pss (kB) of /proc/PID/smaps_rollup.
func memKB(pid int) (rss, pss int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		}
	}
	return rss, pss, true
}

// supervisorMemory sums RSS and PSS of root's process tree without the
// measured service processes (everything the supervisor runs for itself).
func supervisorMemory(root int, m marker) (rssKB, pssKB int64, procs int) {
	r := newProcReader()
	for _, pid := range r.tree(root) {
		if m.serviceIndex(r.read(pid, "cmdline")) >= 0 {
			continue
		}
		rss, pss, ok := memKB(pid)
		if !ok {
			continue
		}
		rssKB += rss
		pssKB += pss
		procs++
	}
	return
}

// belongs reports whether pid is one of ours: its command line contains one
// of the needles, or its working directory is under dir.
func (r *procReader) belongs(pid int, dir string, needles []string) bool {
	if pid == os.Getpid() {
		return false
	}
	cmd := r.read(pid, "cmdline")
	for _, n := range needles {
		if n != "" && bytes.Contains(cmd, []byte(n)) {
			return true
		}
	}
	if dir != "" {
		if cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); err == nil {
			if cwd == dir || strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
				return true
			}
		}
	}
	return false
}

// findOurs lists the processes that belong to dir / the needles.
func findOurs(dir string, needles []string) []int {
	r := newProcReader()
	var out []int
	for _, pid := range r.pids() {
		if r.belongs(pid, dir, needles) {
			out = append(out, pid)
		}
	}
	return out
}

// sweep SIGKILLs everything that belongs to dir / the needles until nothing
// is left (or 5 s pass); it returns what was still there at the end.
func sweep(dir string, needles []string) []int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := findOurs(dir, needles)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// describe returns "pid cmdline" for reporting leftovers.
func describe(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strconv.Itoa(pid) + " " + strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
