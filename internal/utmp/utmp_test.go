package utmp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	r := Record{Type: UserProcess, Pid: 4242, Line: "pts/3", ID: "ts/3", User: "alice",
		Host: "example.org", Session: 7, Time: time.Unix(1700000000, 123000)}
	b := r.Marshal()
	if len(b) != Size {
		t.Fatalf("record of %d bytes", len(b))
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != r {
		t.Fatalf("got %+v, want %+v", got, r)
	}
	if _, err := Unmarshal(b[:100]); err == nil {
		t.Fatal("a short record was accepted")
	}
}

func TestRunlevelRecords(t *testing.T) {
	dir := t.TempDir()
	u, w := filepath.Join(dir, "utmp"), filepath.Join(dir, "wtmp")
	if _, _, err := Runlevel(u, false); err == nil {
		t.Fatal("a missing file has a runlevel")
	}
	// A user logged in before the first runlevel change stays.
	if err := Put(u, Record{Type: UserProcess, Pid: 10, Line: "tty1", ID: "1", User: "root", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Runlevel(u, false); err != ErrNoRunlevel {
		t.Fatalf("runlevel of a file without one: %v", err)
	}
	if err := WriteRunlevel(u, w, '2', 'N'); err != nil {
		t.Fatal(err)
	}
	cur, prev, err := Runlevel(u, false)
	if err != nil || cur != '2' || prev != 'N' {
		t.Fatalf("after 2: %c %c %v", prev, cur, err)
	}
	if err := WriteRunlevel(u, w, '0', '2'); err != nil {
		t.Fatal(err)
	}
	cur, prev, _ = Runlevel(u, false)
	if cur != '0' || prev != '2' {
		t.Fatalf("after 0: %c %c", prev, cur)
	}
	if err := WriteShutdown(u, w); err != nil {
		t.Fatal(err)
	}
	recs, _ := ReadFile(u)
	// utmp: the user, one boot record, one runlevel record (replaced in place).
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.User)
	}
	if strings.Join(kinds, ",") != "root,reboot,shutdown" {
		t.Fatalf("utmp holds %v", kinds)
	}
	users, _ := Users(u)
	if len(users) != 1 || users[0].Line != "tty1" {
		t.Fatalf("users %+v", users)
	}
	// wtmp: boot, runlevel 2, runlevel 0, shutdown, in order.
	recs, _ = ReadFile(w)
	kinds = kinds[:0]
	for _, r := range recs {
		kinds = append(kinds, r.User)
	}
	if strings.Join(kinds, ",") != "reboot,runlevel,runlevel,shutdown" {
		t.Fatalf("wtmp holds %v", kinds)
	}
	if recs[1].Pid != '2' || recs[2].Pid != '0'+'2'*256 || recs[1].Line != "~" || recs[1].ID != "~~" {
		t.Fatalf("runlevel records %+v %+v", recs[1], recs[2])
	}

	// The system's own tools read what we wrote.
	if _, err := exec.LookPath("last"); err == nil {
		out, err := exec.Command("last", "-x", "-f", w).CombinedOutput()
		if err != nil {
			t.Fatalf("last: %v\n%s", err, out)
		}
		for _, want := range []string{"reboot   system boot", "runlevel (to lvl 2)", "runlevel (to lvl 0)", "shutdown system down"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("last -x lacks %q:\n%s", want, out)
			}
		}
	}
	// who -r reads the runlevel record of utmp (now the shutdown one, so
	// write a level again).
	WriteRunlevel(u, w, '3', 'N')
	if _, err := exec.LookPath("who"); err == nil {
		out, err := exec.Command("who", "-r", u).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "run-level 3") {
			t.Errorf("who -r: %v\n%s", err, out)
		}
	}
}

// A wtmp file with a partial record at its end gets whole records again.
func TestAppendAfterPartial(t *testing.T) {
	w := filepath.Join(t.TempDir(), "wtmp")
	os.WriteFile(w, make([]byte, Size+10), 0o644)
	if err := Append(w, BootRecord()); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(w)
	if err != nil || len(recs) != 2 || recs[1].User != "reboot" {
		t.Fatalf("%v %+v", err, recs)
	}
}
