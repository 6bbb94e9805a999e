// Command bootprobe is the boot benchmark's probe inside a guest
// (test/system/debian-bench): started as early as the init under test
// allows, it watches for a TCP listener on a port and marks the moment in
// the kernel log, so that the time to "sshd listening" is read from the
// kernel's own time stamps, the same way for every init, and not from when
// some later script happens to look.
//
//	bootprobe [--port 22] [--every 100ms] [--acct FILE] [--report-after SECONDS]
//	bootprobe --report FILE
//
// It detaches (forks itself into the background) so that sysvinit's
// sysinit entry, which init waits for, returns at once. With --acct it
// turns on BSD process accounting into FILE first and, SECONDS after the
// listener appeared, writes a profile of every process that ended by then
// to the console: the profile of where the boot spent its time.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

const detachedEnv = "BOOTPROBE_DETACHED"

// defaultEvery is how often the probe looks. Every wake-up of a Go
// program costs the guest CPU under emulation (the runtime's threads wake
// with it): at 20 ms the probe was charged a sixth of the boot's CPU; at
// 100 ms a fifth of that, for a figure within 0.1 s (the same for every
// init). Under QEMU's -icount the boot takes 2–3 s of guest time and a
// wake-up costs little of it: debian-bench then asks for 20 ms.
const defaultEvery = 100 * time.Millisecond

func main() {
	port := flag.Int("port", 22, "TCP port whose listener marks the end of the boot")
	acct := flag.String("acct", "", "turn on process accounting into this file (created)")
	reportAfter := flag.Float64("report-after", 5, "with --acct: seconds after the listener appeared to print the profile")
	report := flag.String("report", "", "print the profile of an accounting file and exit")
	foreground := flag.Bool("foreground", false, "do not detach")
	every := flag.Duration("every", defaultEvery, "how often to look")
	flag.Parse()
	if *report != "" {
		if err := printReport(os.Stdout, *report); err != nil {
			fmt.Fprintln(os.Stderr, "bootprobe:", err)
			os.Exit(1)
		}
		return
	}
	if !*foreground && os.Getenv(detachedEnv) == "" {
		// Detach: a child in a session of its own; the parent returns
		// at once (sysvinit waits for its sysinit entries).
		// By its path: /proc may not be mounted yet (sysvinit mounts
		// nothing before rcS).
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), detachedEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "bootprobe:", err)
			os.Exit(1)
		}
		return
	}
	if *acct != "" {
		if err := os.WriteFile(*acct, nil, 0o600); err == nil {
			if err := syscall.Acct(*acct); err != nil {
				kmsg("bootprobe: acct %s: %v", *acct, err)
			}
		}
	}
	for !listening(uint16(*port)) {
		time.Sleep(*every)
	}
	kmsg("bootprobe: port %d listening; %s", *port, cpuLine())
	if *acct == "" {
		return
	}
	time.Sleep(time.Duration(*reportAfter * float64(time.Second)))
	syscall.Syscall(syscall.SYS_ACCT, 0, 0, 0) // acct(NULL): off
	out := os.Stdout
	if c, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = c
	}
	if err := printReport(out, *acct); err != nil {
		fmt.Fprintln(out, "bootprobe:", err)
	}
}

// listening reports whether a TCP socket listens on the port, by trying
// to bind the port's wildcard address with SO_REUSEADDR and never
// listening: that fails only while a socket listens there, and cannot
// keep the daemon from binding or listening itself (sshd sets
// SO_REUSEADDR too, and a bound socket that does not listen does not
// conflict with it). Cheaper than the alternatives under emulation:
// reading /proc/net/tcp walks the whole connection hash each time (50
// reads a second cost a fifth of the guest's CPU), and sock_diag for TCP
// is a module the initramfs does not load.
func listening(port uint16) bool {
	for _, fam := range []int{syscall.AF_INET, syscall.AF_INET6} {
		if inUse(fam, port) {
			return true
		}
	}
	return false
}

func inUse(family int, port uint16) bool {
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return false
	}
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: int(port)}
	if family == syscall.AF_INET6 {
		// Only the IPv6 wildcard, as sshd's own IPv6 socket.
		syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
		sa = &syscall.SockaddrInet6{Port: int(port)}
	}
	return syscall.Bind(fd, sa) == syscall.EADDRINUSE
}

// cpuLine is where the CPU time went since boot (from /proc/stat, in
// seconds) and how many tasks were created (the last PID).
func cpuLine() string {
	s := ""
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(l)
		names := []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
		for i, n := range names {
			if i+1 < len(f) {
				var v float64
				fmt.Sscan(f[i+1], &v)
				s += fmt.Sprintf("%s=%.2fs ", n, v/100)
			}
		}
	}
	if u, st, ok := procCPU(1); ok {
		s += fmt.Sprintf("pid1-user=%.2fs pid1-system=%.2fs ", u, st)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 5 {
			s += "last-pid=" + f[4]
		}
	}
	return s
}

// procCPU is a process's own user and system CPU time in seconds.
func procCPU(pid int) (user, system float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command name (which may hold spaces), from state.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	var u, st float64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &st)
	return u / 100, st / 100, true
}

// living lists the processes still running with their CPU so far (the
// accounting file has only those that ended).
func living(w io.Writer) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		u, st, ok := procCPU(pid)
		if !ok || u+st < 0.05 {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		fmt.Fprintf(w, "PROFILE living %-16s pid=%-5d cpu=%.2fs\n", strings.TrimSpace(string(comm)), pid, u+st)
	}
}

func kmsg(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		fmt.Fprintf(f, "<4>%s\n", msg)
		f.Close()
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}

// rec is one acct_v3 record (linux/acct.h).
type rec struct {
	pid, ppid  uint32
	comm       string
	etime, cpu float64 // seconds
	exit       uint32
}

const ahz = 100 // the units of acct's times

// comp decodes a comp_t: 13-bit mantissa, 3-bit base-8 exponent.
func comp(v uint16) float64 {
	return float64(uint64(v&0x1fff)<<(3*(v>>13))) / ahz
}

func readAcct(path string) ([]rec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const size = 64
	var out []rec
	for off := 0; off+size <= len(b); off += size {
		r := b[off : off+size]
		if r[1]&0x0f != 3 {
			return nil, fmt.Errorf("%s: record %d is acct version %d, not 3", path, off/size, r[1])
		}
		le := binary.LittleEndian
		comm := string(bytes.TrimRight(r[48:64], "\x00"))
		out = append(out, rec{
			exit:  le.Uint32(r[4:]),
			pid:   le.Uint32(r[16:]),
			ppid:  le.Uint32(r[20:]),
			etime: float64(math.Float32frombits(le.Uint32(r[28:]))) / ahz,
			cpu:   comp(le.Uint16(r[32:])) + comp(le.Uint16(r[34:])),
			comm:  comm,
		})
	}
	return out, nil
}

// printReport prints, from an accounting file: the processes per command
// name (count, CPU, elapsed) and per init script (its whole process tree).
func printReport(w io.Writer, path string) error {
	recs, err := readAcct(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	scripts := map[string]bool{}
	if es, err := os.ReadDir("/etc/init.d"); err == nil {
		for _, e := range es {
			n := e.Name()
			if len(n) > 15 {
				n = n[:15]
			}
			scripts[n] = true
		}
	}
	byPid := map[uint32]rec{}
	for _, r := range recs {
		byPid[r.pid] = r
	}
	type agg struct {
		n         int
		cpu, elap float64
	}
	byComm, byScript := map[string]*agg{}, map[string]*agg{}
	var total agg
	for _, r := range recs {
		total.n++
		total.cpu += r.cpu
		a := byComm[r.comm]
		if a == nil {
			a = &agg{}
			byComm[r.comm] = a
		}
		a.n++
		a.cpu += r.cpu
		a.elap += r.etime
		// The init script whose tree this process belongs to: the
		// nearest ancestor (or itself) named as a script.
		owner, cur, seen := "(no script)", r, 0
		for seen < 64 {
			if scripts[cur.comm] {
				owner = cur.comm
				break
			}
			p, ok := byPid[cur.ppid]
			if !ok {
				break
			}
			cur, seen = p, seen+1
		}
		s := byScript[owner]
		if s == nil {
			s = &agg{}
			byScript[owner] = s
		}
		s.n++
		s.cpu += r.cpu
	}
	fmt.Fprintf(bw, "PROFILE %d processes ended, %.2f s CPU (acct, 10 ms ticks)\n", total.n, total.cpu)
	print := func(title string, m map[string]*agg, limit int) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := m[keys[i]], m[keys[j]]
			if a.cpu != b.cpu {
				return a.cpu > b.cpu
			}
			return a.n > b.n
		})
		if len(keys) > limit {
			keys = keys[:limit]
		}
		for _, k := range keys {
			a := m[k]
			fmt.Fprintf(bw, "PROFILE %s %-16s n=%-4d cpu=%.2fs elapsed-sum=%.2fs\n", title, k, a.n, a.cpu, a.elap)
		}
	}
	bw.Flush()
	living(w)
	print("comm", byComm, 40)
	print("script", byScript, 40)
	return nil
}
