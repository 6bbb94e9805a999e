package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standIn is a harmless PID 1 that checks its confinement from inside and
// then does what finit's bootstrap did to the host once: it empties /tmp.
// It refuses to delete anything unless /tmp was empty when it started and
// the root is a tmpfs (so a broken confinement fails the test instead of
// touching the host).
const standIn = `
[ $$ = 1 ] || { echo "FAIL not PID 1: $$"; exit 10; }
[ "$(id -u)" = 0 ] || { echo "FAIL not root inside"; exit 10; }
echo "uid_map $(cat /proc/self/uid_map)"
[ -z "$(ls -A /tmp)" ] || { echo "FAIL /tmp not empty at start: $(ls -A /tmp)"; exit 11; }
[ "$(stat -f -c %T /)" = tmpfs ] || { echo "FAIL root is not a tmpfs"; exit 11; }
[ ! -e /oldroot ] || { echo "FAIL the host root is still reachable"; exit 13; }
echo inside > /tmp/$MARK && mkdir /tmp/d && echo x > /tmp/d/x || { echo "FAIL writing /tmp"; exit 14; }
echo x > /run/x && echo y > /var/y && echo z > /etc/hosts || { echo "FAIL writing /run, /var, /etc"; exit 14; }
if touch /usr/$MARK 2>/dev/null; then echo "FAIL /usr is writable"; exit 12; fi
case "$(grep -E '^([^ ]+ ){4}/usr ' /proc/self/mountinfo | cut -d' ' -f6)" in ro,*|ro) ;; *) echo "FAIL /usr is not mounted read-only"; exit 12;; esac
echo "cgroup $(cat /proc/self/cgroup)"
[ -e /sys/fs/cgroup/cgroup.procs ] || { echo "FAIL no cgroup2 at /sys/fs/cgroup"; exit 15; }
rm -rf /tmp/* /tmp/.[!.]*
[ -z "$(ls -A /tmp)" ] || { echo "FAIL could not empty the private /tmp"; exit 16; }
sleep 1
echo OK
`

// TestConfinement runs the stand-in as PID 1 of the confinement finit gets
// and checks from the host that none of its writes got out: the host's /tmp
// keeps a sentinel and every entry it had, and the stand-in's files are not
// in it.
func TestConfinement(t *testing.T) {
	if err := checkConfinement(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("confinement not possible here: %v", err)
		}
		t.Fatalf("CI: confinement not possible: %v", err)
	}
	hostTmp := os.TempDir()
	sentinel, err := os.MkdirTemp(hostTmp, "nsroot-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sentinel)
	if err := os.WriteFile(filepath.Join(sentinel, "keep"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir(hostTmp)
	if err != nil {
		t.Fatal(err)
	}

	root, err := os.MkdirTemp("", "upstart-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "standin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mark := "nsroot-mark-" + strconv.Itoa(os.Getpid())
	spec := nsSpec{
		Files:    map[string]string{"/etc/standin.sh": standIn},
		Copy:     []string{"/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"},
		Argv:     []string{"/bin/sh", "/etc/standin.sh"},
		Env:      []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MARK=" + mark},
		Hostname: "standin",
	}
	in, c, err := startConfined("standin", dir, spec, syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	defer c.cleanup()
	defer in.kill()

	// While it runs, the host sees PID 1 of the namespace in its cgroup.
	var cgLine string
	for i := 0; i < 200 && cgLine == ""; i++ {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(in.pid()) + "/cgroup")
		if strings.Contains(string(b), filepath.Base(c.cgroup)) {
			cgLine = strings.TrimSpace(string(b))
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stand-in did not finish in 20 s")
	}
	out := in.supervisorOutput()
	if !strings.HasSuffix(out, "OK") || strings.Contains(out, "FAIL") {
		t.Fatalf("stand-in: %s", out)
	}
	if !strings.Contains(out, "uid_map") || strings.Contains(out, "uid_map          0          0") {
		t.Fatalf("the namespace's root is the host's root: %s", out)
	}
	if cgLine == "" {
		t.Errorf("the stand-in was never seen in its cgroup %s", c.cgroup)
	}

	if b, err := os.ReadFile(filepath.Join(sentinel, "keep")); err != nil || string(b) != "keep" {
		t.Fatalf("the host's /tmp lost the sentinel: %v %q", err, b)
	}
	if _, err := os.Stat(filepath.Join(hostTmp, mark)); err == nil {
		t.Fatalf("the stand-in's file %s reached the host's /tmp", mark)
	}
	if _, err := os.Stat("/usr/" + mark); err == nil {
		os.Remove("/usr/" + mark)
		t.Fatalf("the stand-in wrote the host's /usr")
	}
	// Other programs may add or remove their own files meanwhile; the
	// stand-in ran `rm -rf /tmp/*`, so a leak would remove nearly all.
	gone := 0
	for _, e := range before {
		if _, err := os.Lstat(filepath.Join(hostTmp, e.Name())); err != nil {
			gone++
		}
	}
	if gone > 0 && gone*2 >= len(before) {
		t.Fatalf("%d of the %d entries of the host's /tmp are gone", gone, len(before))
	}
	// Its private root is gone with it: nothing is left in the host dir.
	if ents, _ := os.ReadDir(filepath.Join(dir, "root")); len(ents) != 0 {
		t.Fatalf("the private root left %d entries in the host directory", len(ents))
	}
	t.Logf("stand-in: %s (host /tmp: %d entries before, %d gone since)", strings.ReplaceAll(out, "\n", "; "), len(before), gone)
}

// TestFinitLifecycle runs finit itself, confined, through one lifecycle
// run of 10 services with 2 kills: every service starts, each killed one
// is replaced, all stop, and the host's /tmp keeps its sentinel.
func TestFinitLifecycle(t *testing.T) {
	if err := (finit{}).check(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("finit cannot run here: %v", err)
		}
		t.Fatalf("CI: finit cannot run: %v", err)
	}
	sentinel, err := os.MkdirTemp("", "finit-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sentinel)
	os.WriteFile(filepath.Join(sentinel, "keep"), []byte("keep"), 0o600)
	root, err := os.MkdirTemp("", "upstart-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	r, err := runLifecycle(finit{}, root, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.coldMs <= 0 || r.stopMs <= 0 || r.pssKB <= 0 || len(r.respawnAllMs) != 2 {
		t.Fatalf("incomplete figures: %+v", r)
	}
	if !r.stopExitedCleanly {
		t.Errorf("finit did not end after SIGTERM")
	}
	if b, err := os.ReadFile(filepath.Join(sentinel, "keep")); err != nil || string(b) != "keep" {
		t.Fatalf("the host's /tmp lost the sentinel: %v", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(cgroup2Root(), fmt.Sprintf("bench-finit-%d-*", benchID))); len(ents) != 0 {
		t.Errorf("cgroups left: %v", ents)
	}
	t.Logf("finit N=10: cold %.1f ms, stop %.1f ms, pss %d kB, respawn %v ms", r.coldMs, r.stopMs, r.pssKB, r.respawnAllMs)
}
