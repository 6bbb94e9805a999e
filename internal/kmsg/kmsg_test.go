package kmsg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kmsg")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := New(f, "init")
	w.Log(Warning, "svc main process (12) terminated with status 1")
	w.Log(Info, "two\nlines\n")
	w.Log(Debug, strings.Repeat("x", MaxLine+5))
	w.Close()
	data, _ := os.ReadFile(p)
	want := "<4>init: svc main process (12) terminated with status 1\n<6>init: two\n<6>init: lines\n" +
		"<7>init: " + strings.Repeat("x", MaxLine) + "\n<7>init: xxxxx\n"
	if string(data) != want {
		t.Fatalf("got %q", data)
	}
}

// The real device takes our records (root only; the kernel log is read back).
func TestDevKmsg(t *testing.T) {
	w, err := Open("goupstart-test")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("/dev/kmsg: %v (CI runs this as root)", err)
		}
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Log(Info, "kmsg test record"); err != nil {
		t.Fatal(err)
	}
}
