package main

// Confinement for a peer that must run as PID 1 (finit). Such a program
// "bootstraps" the system it finds: it mounts, cleans /tmp, writes /run.
// Run on the host's file systems, finit's bootstrap emptied the host's /tmp
// once, so it only ever runs here:
//
//   - in a new user namespace whose root is a non-root host uid (so nothing
//     it does carries the host root's rights), and new PID, mount, network,
//     UTS, IPC and cgroup namespaces;
//   - in a cgroup of its own (cgroup v2, delegated to that uid), killed as a
//     whole at the end;
//   - on a private root: a tmpfs holding its own /etc (only the files given),
//     /tmp, /run, /var and /dev, with the host's /usr bound read-only (the
//     /bin, /lib, /lib64, /sbin symlinks of a merged-/usr system point into
//     it), entered with pivot_root; the host's root is detached afterwards.
//
// The host side (startConfined) prepares the cgroup and the directory and
// starts the bench binary as `__nsroot SPEC` with the namespace flags; that
// process, PID 1 of the new namespaces, builds the private root, pivots into
// it and execs the program (which becomes PID 1).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const nsrootArg = "__nsroot"

// nsSpec is what the namespace's first process builds and runs.
type nsSpec struct {
	Root     string            // empty directory on the host to mount the private root on
	Files    map[string]string // private files (absolute paths inside) and their contents
	Copy     []string          // host files copied into the private root (e.g. /etc/ld.so.cache)
	ReadOnly []string          // host directories bound read-only at the same path
	Hide     []string          // directories (inside a read-only bind) covered by an empty tmpfs
	Console  string            // host file bound onto /dev/console (the program's console output)
	Argv     []string
	Env      []string
	Hostname string
}

// nsUID is the host uid the namespace's root maps to: not root, and not an
// account of this machine (nobody would be shared with other programs).
func nsUID() int { return 300000 + benchID }

// confined is a running confined program: its cgroup is removed by cleanup.
type confined struct {
	cgroup string // host path of its cgroup ("" when cgroup v2 is not available)
}

// cgroup2Root returns where the cgroup v2 hierarchy is mounted, or "".
func cgroup2Root() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 {
				found = append(found, f[4])
			}
		}
	}
	for _, pref := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		for _, m := range found {
			if m == pref {
				return m
			}
		}
	}
	if len(found) > 0 {
		return found[0]
	}
	return ""
}

// checkConfinement says why a confined program cannot run here, or nil.
func checkConfinement() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (a user namespace mapped to a spare uid, a delegated cgroup)")
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return errors.New("user namespaces are disabled (user.max_user_namespaces=0)")
	}
	if cgroup2Root() == "" {
		return errors.New("no cgroup v2 hierarchy to confine it in")
	}
	return nil
}

// nsBinary copies the running bench binary to a place the namespace's uid
// can execute (go run's build directory is root's, mode 0700).
func nsBinary(root string) (string, error) {
	dst := filepath.Join(root, "nsbin", "bench")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst+".tmp", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return dst, os.Rename(dst+".tmp", dst)
}

// startConfined starts spec's program as PID 1 of new namespaces under
// dir. dir's parents must be traversable by nsUID (the bench root is made
// 0711); dir itself is handed to nsUID.
func startConfined(sys, dir string, spec nsSpec, stopSig syscall.Signal) (*instance, *confined, error) {
	uid := nsUID()
	benchRoot := filepath.Dir(dir)
	if err := os.Chmod(benchRoot, 0o711); err != nil {
		return nil, nil, err
	}
	bin, err := nsBinary(benchRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("copying the bench binary for the namespace: %w", err)
	}
	spec.Root = filepath.Join(dir, "root")
	if spec.Console == "" {
		spec.Console = filepath.Join(dir, "console.out")
	}
	for _, p := range []string{spec.Root} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, nil, err
		}
	}
	if err := os.WriteFile(spec.Console, nil, 0o644); err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	specPath := filepath.Join(dir, "nsspec.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return nil, nil, err
	}
	// Everything of the run directory belongs to the namespace's root.
	if err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	}); err != nil {
		return nil, nil, err
	}

	// A cgroup of its own, delegated to the namespace's root (it may make
	// sub-groups, as finit does for its services).
	c := &confined{cgroup: filepath.Join(cgroup2Root(), fmt.Sprintf("bench-%s-%d-%d", sys, benchID, time.Now().UnixNano()%1e9))}
	if err := os.Mkdir(c.cgroup, 0o755); err != nil {
		return nil, nil, fmt.Errorf("cgroup: %w", err)
	}
	for _, f := range []string{"", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"} {
		os.Chown(filepath.Join(c.cgroup, f), uid, uid)
	}
	cg, err := os.Open(c.cgroup)
	if err != nil {
		c.cleanup()
		return nil, nil, err
	}
	defer cg.Close()

	out, err := os.Create(filepath.Join(dir, "supervisor.out"))
	if err != nil {
		c.cleanup()
		return nil, nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, nsrootArg, specPath)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWCGROUP,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
		GidMappingsEnableSetgroups: false,
		// Become the namespace's root (the host's nsUID): without it the
		// process keeps the host's uid 0, which the namespace does not
		// map, and loses every capability at exec.
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		UseCgroupFD: true,
		CgroupFD:    int(cg.Fd()),
		Setpgid:     true,
		Pdeathsig:   syscall.SIGKILL,
	}
	in := &instance{sys: sys, dir: dir, cmd: cmd, done: make(chan struct{}), stopSig: stopSig}
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		c.cleanup()
		return nil, nil, fmt.Errorf("starting the namespace: %w", err)
	}
	go func() { cmd.Wait(); close(in.done) }()
	return in, c, nil
}

// cleanup kills whatever is left in the cgroup and removes it (sub-groups
// first).
func (c *confined) cleanup() {
	if c == nil || c.cgroup == "" {
		return
	}
	os.WriteFile(filepath.Join(c.cgroup, "cgroup.kill"), []byte("1"), 0)
	var dirs []string
	filepath.WalkDir(c.cgroup, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	deadline := time.Now().Add(3 * time.Second)
	for _, d := range dirs {
		for os.Remove(d) != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// nsrootMain runs as PID 1 of the new namespaces: it builds the private
// root, pivots into it and execs the program. Any failure ends it before
// the program runs.
func nsrootMain(args []string) {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "nsroot: "+format+"\n", a...)
		os.Exit(111)
	}
	if len(args) != 1 {
		fail("usage: %s SPEC", nsrootArg)
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		fail("%v", err)
	}
	var spec nsSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		fail("%v", err)
	}
	if os.Getpid() != 1 {
		fail("not PID 1 of a new PID namespace (pid %d)", os.Getpid())
	}
	if err := buildRoot(spec); err != nil {
		fail("%v", err)
	}
	if spec.Hostname != "" {
		unix.Sethostname([]byte(spec.Hostname))
	}
	path := spec.Argv[0]
	if err := unix.Exec(path, spec.Argv, spec.Env); err != nil {
		fail("exec %s: %v", path, err)
	}
}

// buildRoot makes the private root and pivots into it.
func buildRoot(spec nsSpec) error {
	// Nothing done here may propagate to the host's mount table.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	nr := spec.Root
	if err := unix.Mount("tmpfs", nr, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=256m"); err != nil {
		return fmt.Errorf("tmpfs on %s: %w", nr, err)
	}
	in := func(p string) string { return filepath.Join(nr, p) }
	for _, d := range []string{"etc", "tmp", "run", "var", "var/tmp", "var/log", "proc", "sys", "dev", "oldroot", "root"} {
		if err := os.MkdirAll(in(d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(in("tmp"), 0o1777)
	os.Chmod(in("var/tmp"), 0o1777)
	os.Symlink("/run", in("var/run"))
	os.Symlink("/run/lock", in("var/lock"))

	// The host's /usr, read-only; /bin, /lib, /lib64, /sbin as the host has
	// them (symlinks into /usr on a merged-/usr system, else read-only binds).
	bindRO := func(src string) error {
		st, err := os.Lstat(src)
		if err != nil {
			return nil // the host has no such directory
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			return os.Symlink(target, in(src))
		}
		if err := os.MkdirAll(in(src), 0o755); err != nil {
			return err
		}
		if err := unix.Mount(src, in(src), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
		return remountRO(in(src))
	}
	for _, d := range append([]string{"/usr", "/bin", "/lib", "/lib64", "/sbin"}, spec.ReadOnly...) {
		if err := bindRO(d); err != nil {
			return err
		}
	}
	for _, d := range spec.Hide {
		if err := unix.Mount("tmpfs", in(d), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RDONLY, "mode=0755,size=4k"); err != nil {
			return fmt.Errorf("hiding %s: %w", d, err)
		}
	}

	// The private /etc: copies of the few host files a program needs to
	// link and look up names, and the program's own configuration.
	for _, f := range spec.Copy {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		os.MkdirAll(filepath.Dir(in(f)), 0o755)
		if err := os.WriteFile(in(f), b, 0o644); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(spec.Files))
	for p := range spec.Files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		os.MkdirAll(filepath.Dir(in(p)), 0o755)
		if err := os.WriteFile(in(p), []byte(spec.Files[p]), 0o644); err != nil {
			return err
		}
	}

	// /dev: a tmpfs with the harmless host nodes bound in, and the console
	// bound to a file of the run directory.
	if err := unix.Mount("tmpfs", in("dev"), "tmpfs", unix.MS_NOSUID, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("tmpfs on /dev: %w", err)
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := in("dev/" + n)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+n, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	if err := os.WriteFile(in("dev/console"), nil, 0o600); err != nil {
		return err
	}
	if err := unix.Mount(spec.Console, in("dev/console"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the console: %w", err)
	}
	for _, d := range []string{"dev/pts", "dev/shm"} {
		os.MkdirAll(in(d), 0o755)
	}
	os.Symlink("/proc/self/fd", in("dev/fd"))

	// The namespace's own /proc, a read-only /sys of its network namespace,
	// and its cgroup (the root of its cgroup namespace).
	if err := unix.Mount("proc", in("proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("proc: %w", err)
	}
	if err := unix.Mount("sysfs", in("sys"), "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("sysfs: %w", err)
	}
	if err := unix.Mount("cgroup2", in("sys/fs/cgroup"), "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("cgroup2: %w", err)
	}

	if err := unix.PivotRoot(nr, in("oldroot")); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	return os.Remove("/oldroot")
}

// remountRO makes the bind mount at p read-only, keeping the flags the
// kernel locks for a user namespace (nosuid, nodev, noexec, atime).
func remountRO(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms int64 }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if int64(st.Flags)&f.st != 0 {
			flags |= uintptr(f.ms)
		}
	}
	if err := unix.Mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("read-only remount of %s: %w", p, err)
	}
	return nil
}

// removeConfinedCgroups kills and removes the cgroups this bench process
// made (runs already remove theirs; this is for a run cut short).
func removeConfinedCgroups() {
	root := cgroup2Root()
	if root == "" {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(root, fmt.Sprintf("bench-*-%d-*", benchID)))
	for _, d := range dirs {
		(&confined{cgroup: d}).cleanup()
	}
}
