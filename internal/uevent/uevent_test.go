package uevent

import (
	"reflect"
	"testing"
)

func TestUdevRoundTrip(t *testing.T) {
	props := []string{"ACTION=add", "DEVPATH=/devices/virtual/net/dummy0", "SUBSYSTEM=net", "INTERFACE=dummy0", "IFINDEX=3", "SEQNUM=1234"}
	d, err := ParseUdev(EncodeUdev(props))
	if err != nil {
		t.Fatal(err)
	}
	name, env := d.Event(false)
	want := []string{"KERNEL=dummy0", "DEVPATH=/devices/virtual/net/dummy0", "SUBSYSTEM=net", "ACTION=add",
		"INTERFACE=dummy0", "IFINDEX=3", "SEQNUM=1234"}
	if name != "net-device-added" || !reflect.DeepEqual(env, want) {
		t.Fatalf("%s %q", name, env)
	}
}

func TestOtherActionsAndStrip(t *testing.T) {
	d, err := ParseKernel([]byte("online@/devices/system/cpu/cpu1\x00ACTION=online\x00DEVPATH=/devices/system/cpu/cpu1\x00SUBSYSTEM=cpu\x00DEVNAME=/dev/x\x00MODEL=a\x01b\xffc\x00"))
	if err != nil {
		t.Fatal(err)
	}
	name, env := d.Event(false)
	if name != "cpu-device-online" || env[2] != "DEVNAME=/dev/x" || env[5] != "MODEL=abc" {
		t.Fatalf("%s %q", name, env)
	}
	if _, env := d.Event(true); env[5] != "MODEL=a\x01b\xffc" {
		t.Fatalf("--no-strip: %q", env[5])
	}
}

func TestMalformed(t *testing.T) {
	good := EncodeUdev([]string{"ACTION=add", "DEVPATH=/x", "SUBSYSTEM=net"})
	bad := [][]byte{nil, []byte("libudev"), good[:39], append([]byte("libudeX\x00"), good[8:]...),
		EncodeUdev([]string{"ACTION=add", "DEVPATH=/x"}), EncodeUdev([]string{"=x", "ACTION=add", "DEVPATH=/x", "SUBSYSTEM=net"})}
	long := append([]byte(nil), good...)
	long[20] = 0xff // properties length past the end
	bad = append(bad, long)
	for i, b := range bad {
		if _, err := ParseUdev(b); err == nil {
			t.Errorf("message %d parsed", i)
		}
	}
}

func FuzzParseUdev(f *testing.F) {
	f.Add(EncodeUdev([]string{"ACTION=add", "DEVPATH=/x", "SUBSYSTEM=net"}))
	f.Add([]byte("add@/x\x00ACTION=add\x00DEVPATH=/x\x00SUBSYSTEM=net\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (*Device, error){ParseUdev, ParseKernel} {
			d, err := parse(b)
			if err != nil {
				continue
			}
			name, env := d.Event(false)
			if name == "" || len(env) < 4 {
				t.Fatalf("event %q %q from %q", name, env, b)
			}
		}
	})
}
