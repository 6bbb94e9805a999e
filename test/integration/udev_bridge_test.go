package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/uevent"
)

// The udev bridge emits SUBSYSTEM-device-ACTION events for what udevd
// multicasts (issue 11 item 3). The daemon, the bridge and a stand-in for
// udevd share a network namespace of their own, so that the messages the
// test sends on udevd's netlink group reach this bridge only.
func TestUdevBridge(t *testing.T) {
	needRoot(t, "a network namespace")
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "init-in-netns")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec unshare --net "+filepath.Join(binDir, "init")+" \"$@\"\n"), 0o755)
	s := &session{t: t, confdir: t.TempDir(), rt: t.TempDir(), stderr: newSyncBuffer(), initPath: wrapper}
	writeJob(t, s.confdir, "nic", "start on net-device-added INTERFACE=dummy0\ntask\n"+
		"exec sh -c 'echo \"$KERNEL $DEVPATH $SUBSYSTEM $ACTION $IFINDEX\" >> "+dir+"/got'\n")
	s.start()
	netns := fmt.Sprintf("/proc/%d/ns/net", s.cmd.Process.Pid)
	out := newSyncBuffer()
	cmd := exec.Command("nsenter", "--net="+netns, filepath.Join(binDir, "upstart-udev-bridge"), "--user", "--verbose")
	cmd.Env = append(os.Environ(), "UPSTART_SESSION="+s.address)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	send := func(msg []byte) {
		t.Helper()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		defer self.Close()
		ns, err := os.Open(netns)
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Fatal(err)
		}
		defer unix.Setns(int(self.Fd()), unix.CLONE_NEWNET)
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: uevent.GroupUdev}); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "got"))
		return string(b)
	}
	props := []string{"ACTION=add", "DEVPATH=/devices/virtual/net/dummy0", "SUBSYSTEM=net", "INTERFACE=dummy0", "IFINDEX=7"}
	waitFor(t, "net-device-added", func() bool {
		send([]byte("garbage that is no udev message"))
		send(uevent.EncodeUdev(props))
		return strings.HasPrefix(read(), "dummy0 /devices/virtual/net/dummy0 net add 7\n")
	})
	if !strings.Contains(out.String(), "ignoring a malformed device event") {
		t.Errorf("malformed message not logged:\n%s", out.String())
	}
	if t.Failed() {
		t.Logf("bridge said:\n%s", out.String())
	}
}
