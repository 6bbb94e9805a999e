// Package mount holds the mounts an init owns: the kernel's file systems
// at boot, each only where nothing is mounted yet, and the read-only
// remount at the end of a shutdown.
package mount

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Spec is one mount an init may make.
type Spec struct {
	Source, Dir, Type, Data string
	Flags                   uintptr
	Mode                    os.FileMode // of Dir after mounting (0: leave)
	// Probe, if set, is a path whose existence means the file system is
	// there already (a /dev populated by devtmpfs in an initramfs that
	// was moved, not mounted, for instance); otherwise Dir must not be a
	// mount point.
	Probe string
}

// Entry is one line of /proc/self/mountinfo.
type Entry struct {
	Dir, Type, Source, Options string
}

// Table reads the mount table of this process's mount namespace.
func Table() ([]Entry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTS
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, Entry{Dir: unescape(f[4]), Options: f[5], Type: f[sep+1], Source: unescape(f[sep+2])})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// IsMountPoint tells whether something is mounted on dir (false if the
// table cannot be read).
func IsMountPoint(dir string) bool {
	t, err := Table()
	if err != nil {
		return false
	}
	for _, e := range t {
		if e.Dir == dir {
			return true
		}
	}
	return false
}

// Ensure mounts each spec whose file system is not there yet, in order.
// A failure is reported through logf and the next spec is still tried
// (a container may forbid mounts and run fine without them). It returns
// the directories it mounted.
func Ensure(specs []Spec, logf func(format string, a ...any)) []string {
	var done []string
	for _, m := range specs {
		if m.Probe != "" {
			if _, err := os.Stat(m.Probe); err == nil {
				continue
			}
		} else if IsMountPoint(m.Dir) {
			continue
		}
		if err := os.MkdirAll(m.Dir, 0o755); err != nil {
			logf("Unable to create %s: %v", m.Dir, err)
			continue
		}
		if err := unix.Mount(m.Source, m.Dir, m.Type, m.Flags, m.Data); err != nil {
			logf("Unable to mount %s filesystem on %s: %v", m.Type, m.Dir, err)
			continue
		}
		if m.Mode != 0 {
			// The mode option of tmpfs is subject to no umask, but a
			// sticky bit given as data is easy to get wrong: set it.
			if err := os.Chmod(m.Dir, m.Mode); err != nil {
				logf("Unable to set the mode of %s: %v", m.Dir, err)
			}
		}
		done = append(done, m.Dir)
	}
	return done
}

// virtual are file systems with nothing to write back: they are left
// as they are at the end.
var virtual = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "tmpfs": true, "ramfs": true,
	"cgroup": true, "cgroup2": true, "mqueue": true, "debugfs": true, "tracefs": true,
	"securityfs": true, "pstore": true, "bpf": true, "configfs": true, "fusectl": true,
	"hugetlbfs": true, "autofs": true, "binfmt_misc": true, "efivarfs": true, "rootfs": true,
	"nsfs": true, "selinuxfs": true, "rpc_pipefs": true,
}

// RemountReadOnly remounts read-only every mounted file system that has
// storage behind it, deepest first, so that nothing is left to write back
// when the machine goes down. Each failure is reported through logf and
// the others are still tried. It returns how many it remounted.
func RemountReadOnly(logf func(format string, a ...any)) int {
	t, err := Table()
	if err != nil {
		logf("Unable to read the mount table: %v", err)
		return 0
	}
	var dirs []string
	seen := map[string]bool{}
	for _, e := range t {
		if virtual[e.Type] || seen[e.Dir] || hasOption(e.Options, "ro") {
			continue
		}
		seen[e.Dir] = true
		dirs = append(dirs, e.Dir)
	}
	// Latest first (the table is in mount order): a file system mounted
	// below another is done before the one it sits on.
	for i, j := 0, len(dirs)-1; i < j; i, j = i+1, j-1 {
		dirs[i], dirs[j] = dirs[j], dirs[i]
	}
	n := 0
	for _, d := range dirs {
		if err := unix.Mount("", d, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			logf("Unable to remount %s read-only: %v", d, err)
			continue
		}
		n++
	}
	return n
}

func hasOption(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}
