package cgroup

import (
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/conf"
)

var known = map[string]bool{"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "pids": true, "blkio": true, "freezer": true, "hugetlb": true, "io": true}

func TestDetectHybrid(t *testing.T) {
	mi := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	self := "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/svc\n"
	l, err := detect(mi, self, known)
	if err != nil {
		t.Fatal(err)
	}
	if l.v2Mount != "/sys/fs/cgroup/unified" || l.v2Base != "/sys/fs/cgroup/unified/svc" {
		t.Fatalf("%+v", l)
	}
	want := map[string]string{
		"memory":  "/sys/fs/cgroup/memory/process_api/abc",
		"pids":    "/sys/fs/cgroup/pids",
		"cpu":     "/sys/fs/cgroup/cpu,cpuacct/x",
		"cpuacct": "/sys/fs/cgroup/cpu,cpuacct/x",
	}
	for c, d := range want {
		if l.v1Base[c] != d {
			t.Errorf("v1 %s: %q, want %q", c, l.v1Base[c], d)
		}
	}
	if len(l.v1Base) != len(want) {
		t.Errorf("v1: %v", l.v1Base)
	}
}

func TestDetectUnified(t *testing.T) {
	mi := `25 22 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
99 25 0:23 /user.slice/x /mnt/cg\040x rw - cgroup2 cgroup2 rw
`
	l, err := detect(mi, "0::/user.slice/x/a.service\n", known)
	if err != nil {
		t.Fatal(err)
	}
	if l.v2Base != "/sys/fs/cgroup/user.slice/x/a.service" || len(l.v1Base) != 0 {
		t.Fatalf("%+v", l)
	}
	// Only the bind mount of a subtree: the path is made relative to it.
	l, err = detect(mi[strings.Index(mi, "99"):], "0::/user.slice/x/a.service\n", known)
	if err != nil || l.v2Base != "/mnt/cg x/a.service" {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := detect("", "0::/\n", known); err == nil {
		t.Fatal("no cgroup2 accepted")
	}
}

func fakeManager(v2, v1 []string) *Manager {
	m := &Manager{v2ctrls: map[string]bool{}, v1root: map[string]string{}}
	for _, c := range v2 {
		m.v2ctrls[c] = true
	}
	for _, c := range v1 {
		m.v1root[c] = "/v1/" + c + "/upstart"
	}
	return m
}

func TestLimitsV2(t *testing.T) {
	m := fakeManager([]string{"memory", "pids", "cpu", "io", "cpuset", "hugetlb"}, nil)
	l, err := m.Limits([]conf.Cgroup{
		{Controller: "memory", Key: "limit_in_bytes", Value: "64M"},
		{Controller: "memory", Name: "$UPSTART_CGROUP", Key: "memory.memsw.limit_in_bytes", Value: "96M"},
		{Controller: "pids", Key: "pids.max", Value: "-1"},
		{Controller: "cpu", Key: "cpu.shares", Value: "1024"},
		{Controller: "cpu", Key: "cpu.cfs_quota_us", Value: "50000"},
		{Controller: "blkio", Key: "blkio.weight", Value: "500"},
		{Controller: "blkio", Key: "blkio.throttle.read_bps_device", Value: "8:0 1048576"},
		{Controller: "cpuset", Key: "cpuset.cpus", Value: "0-1"},
		{Controller: "hugetlb", Key: "hugetlb.2MB.limit_in_bytes", Value: "4M"},
		{Controller: "cpuacct"},
		{Controller: "memory", Key: "memory.high", Value: "60M"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range l.v2 {
		got[s.file] = s.value
	}
	want := map[string]string{
		"memory.max":      "67108864",
		"memory.swap.max": "33554432",
		"memory.high":     "60M",
		"pids.max":        "max",
		"cpu.weight":      "100",
		"cpu.max":         "50000 100000",
		"io.weight":       "100",
		"io.max":          "8:0 rbps=1048576",
		"cpuset.cpus":     "0-1",
		"hugetlb.2MB.max": "4194304",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	if strings.Join(l.v2Ctrls, " ") != "cpu cpuset hugetlb io memory pids" || len(l.v1Ctrls) != 0 {
		t.Errorf("ctrls %v %v", l.v2Ctrls, l.v1Ctrls)
	}
	t.Logf("\n%s", l)
	if sharesToWeight(2) != 1 || sharesToWeight(262144) != 10000 || weightToShares(100) != 1024 || sharesToWeight(2048) != 200 {
		t.Error("shares/weight conversion")
	}
}

func TestLimitsV1(t *testing.T) {
	m := fakeManager([]string{"hugetlb"}, []string{"memory", "pids", "cpu", "blkio", "net_cls"})
	l, err := m.Limits([]conf.Cgroup{
		{Controller: "memory", Key: "memory.max", Value: "1G"},
		{Controller: "memory", Key: "memory.swap.max", Value: "1G"},
		{Controller: "memory", Key: "memory.swappiness", Value: "0"},
		{Controller: "pids", Key: "max", Value: "10"},
		{Controller: "cpu", Key: "cpu.max", Value: "max 50000"},
		{Controller: "io", Key: "io.weight", Value: "100"},
		{Controller: "net_cls", Key: "classid", Value: "0x100001"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for c, ss := range l.v1 {
		for _, s := range ss {
			got[c+":"+s.file] = s.value
		}
	}
	want := map[string]string{
		"memory:memory.limit_in_bytes":       "1073741824",
		"memory:memory.memsw.limit_in_bytes": "2147483648",
		"memory:memory.swappiness":           "0",
		"pids:pids.max":                      "10",
		"cpu:cpu.cfs_period_us":              "50000",
		"cpu:cpu.cfs_quota_us":               "-1",
		"blkio:blkio.weight":                 "500",
		"net_cls:net_cls.classid":            "0x100001",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if strings.Join(l.v1Ctrls, " ") != "blkio cpu memory net_cls pids" {
		t.Errorf("v1 ctrls %v", l.v1Ctrls)
	}
}

func TestLimitsRefused(t *testing.T) {
	v2 := fakeManager([]string{"memory", "cpu", "pids"}, nil)
	v1 := fakeManager(nil, []string{"memory"})
	for _, c := range []struct {
		m   *Manager
		cg  conf.Cgroup
		why string
	}{
		{v2, conf.Cgroup{Controller: "memory", Key: "memory.soft_limit_in_bytes", Value: "1M"}, "no soft limit"},
		{v2, conf.Cgroup{Controller: "memory", Key: "memory.memsw.limit_in_bytes", Value: "1M"}, "swap alone"},
		{v2, conf.Cgroup{Controller: "memory", Key: "memory.swappiness", Value: "1"}, "no cgroup v2 equivalent"},
		{v2, conf.Cgroup{Controller: "cpu", Key: "cpu.rt_runtime_us", Value: "1"}, "realtime"},
		{v2, conf.Cgroup{Controller: "net_cls", Key: "net_cls.classid", Value: "1"}, "neither"},
		{v2, conf.Cgroup{Controller: "cpuacct", Key: "cpuacct.usage", Value: "0"}, "cpu.stat"},
		{v2, conf.Cgroup{Controller: "memory", Name: "a/../b"}, `".." component`},
		{v2, conf.Cgroup{Controller: "memory", Name: "$NOPE"}, "Unknown parameter: NOPE"},
		{v2, conf.Cgroup{Controller: "memory", Name: "a/$UPSTART_CGROUP"}, "can only begin"},
		{v2, conf.Cgroup{Controller: "memory", Name: "1/2/3/4/5/6/7/8/9"}, "at most 8"},
		{v2, conf.Cgroup{Controller: "memory", Key: "memory.max/../x", Value: "1"}, "bad key"},
		{v2, conf.Cgroup{Controller: "Memory"}, "bad controller"},
		{v1, conf.Cgroup{Controller: "memory", Key: "memory.high", Value: "1M"}, "cgroup v2 only"},
		{v1, conf.Cgroup{Controller: "memory", Key: "memory.swap.max", Value: "1M"}, "give memory.max"},
		{v1, conf.Cgroup{Controller: "memory", Key: "pids.max", Value: "1"}, "not a setting of memory"},
	} {
		_, err := c.m.Limits([]conf.Cgroup{c.cg})
		if err == nil || !strings.Contains(err.Error(), c.why) || !strings.HasPrefix(err.Error(), "cgroup "+c.cg.Controller) {
			t.Errorf("%+v: %v (want %q)", c.cg, err, c.why)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "1k": "1024", "64M": "67108864", "2G": "2147483648", "-1": "max", "max": "max"} {
		if got, err := memValue(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "M", "1.5G", "-2", "99999999999E"} {
		if _, err := memValue(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
