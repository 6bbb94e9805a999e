package mount

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/x\134y`: `/x\y`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	tab, err := Table()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range tab {
		if e.Dir == "/proc" && e.Type == "proc" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no proc on /proc in %+v", tab)
	}
	if !IsMountPoint("/proc") || IsMountPoint("/proc/self") {
		t.Fatal("IsMountPoint is wrong about /proc or /proc/self")
	}
}
