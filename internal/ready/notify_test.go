package ready

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseNotify(t *testing.T) {
	n, err := ParseNotify([]byte("READY=1\nSTATUS=Processing requests…\nMAINPID=4711\nERRNO=2\nEXTEND_TIMEOUT_USEC=5000000\nWATCHDOG=1\nWATCHDOG_USEC=20000000\nFDSTORE=1\nX_UNKNOWN=whatever\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !n.Ready || n.Status == nil || *n.Status != "Processing requests…" || n.MainPID != 4711 || !n.HasErrno || n.Errno != 2 ||
		n.ExtendUsec != 5000000 || !n.Watchdog || n.WatchdogUsec != 20000000 || n.Reloading || n.Stopping || n.WatchdogTrig {
		t.Errorf("%+v", n)
	}
	n, err = ParseNotify([]byte("RELOADING=1\nSTOPPING=1\nWATCHDOG=trigger\nSTATUS="))
	if err != nil || !n.Reloading || !n.Stopping || !n.WatchdogTrig || n.Status == nil || *n.Status != "" {
		t.Errorf("%+v %v", n, err)
	}
	long := "STATUS=" + strings.Repeat("é", MaxStatus) // 2 bytes each
	n, err = ParseNotify([]byte(long))
	if err != nil || len(*n.Status) != MaxStatus {
		t.Errorf("long status: %v, %d bytes", err, len(*n.Status))
	}
	for _, bad := range []string{
		"", "\n\n", "READY", "=1", "READY=2", "READY=1\ngarbage", "MAINPID=0", "MAINPID=-5", "MAINPID=x",
		"MAINPID=99999999999", "ERRNO=-1", "EXTEND_TIMEOUT_USEC=0", "WATCHDOG=2", "WATCHDOG_USEC=abc",
		"STATUS=\xff\xfe", "STATUS=a\x00b", strings.Repeat("x", MaxNotify+1),
	} {
		if n, err := ParseNotify([]byte(bad)); err == nil {
			t.Errorf("%q accepted: %+v", bad, n)
		}
	}
}

// FuzzNotify: no input makes the parser panic, accept more than
// MaxNotify bytes, or keep a STATUS that is not valid UTF-8 or too long.
func FuzzNotify(f *testing.F) {
	for _, s := range []string{"READY=1", "STATUS=x\nMAINPID=12", "WATCHDOG=trigger", "ERRNO=5\n", "EXTEND_TIMEOUT_USEC=1", "\xff=\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotify(b)
		if err != nil {
			return
		}
		if len(b) > MaxNotify {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if n.Status != nil && (len(*n.Status) > MaxStatus || !utf8.ValidString(*n.Status) || strings.ContainsRune(*n.Status, 0)) {
			t.Fatalf("status %q", *n.Status)
		}
		if n.MainPID < 0 || n.Errno < 0 {
			t.Fatalf("negative: %+v", n)
		}
	})
}
