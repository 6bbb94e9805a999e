package conf

import (
	"strings"
	"testing"
	"time"
)

// Our extensions: expect exit N, expect timeout, action NAME.
func TestExpectAndActionStanzas(t *testing.T) {
	j, err := Parse("j", "/j.conf", []byte(`expect daemon
expect timeout 7
action rotate exec /usr/sbin/rotate-now --all
action check script
  test -f /run/x
  echo ok
end script
action rotate exec /bin/true
`))
	if err != nil {
		t.Fatal(err)
	}
	if j.Expect != ExpectDaemon || j.ExpectExits != 2 || j.ExpectTimeout != 7*time.Second {
		t.Fatalf("expect: %v %d %v", j.Expect, j.ExpectExits, j.ExpectTimeout)
	}
	if j.Process[Main] != nil {
		t.Fatal("action leaked into the main process")
	}
	if len(j.Actions) != 2 || j.Actions[0].Name != "rotate" || j.Actions[0].Process.Command != "/bin/true" ||
		j.Actions[1].Name != "check" || !j.Actions[1].Process.Script || !strings.Contains(j.Actions[1].Process.Command, "test -f /run/x") {
		t.Fatalf("actions: %+v", j.Actions)
	}
	j, err = Parse("j", "/j.conf", []byte("exec sleep 1\nexpect exit 3\naction x exec true\n"))
	if err != nil || j.Expect != ExpectExit || j.ExpectExits != 3 || j.Process[Main].Command != "sleep 1" {
		t.Fatalf("expect exit 3: %+v %v", j, err)
	}
	for _, bad := range []struct{ src, msg string }{
		{"expect exit 0\n", "/j.conf:1: Illegal exit count, expected 1 to 1000"},
		{"expect exit\n", "/j.conf:1: Expected token"},
		{"expect timeout -1\n", "/j.conf:1: Illegal interval, expected number of seconds"},
		{"\naction main exec true\n", "/j.conf:2: Illegal action name, expected letters, digits, '-' or '_'"},
		{"action a/b exec true\n", "/j.conf:1: Illegal action name, expected letters, digits, '-' or '_'"},
		{"action x run true\n", "/j.conf:1: Unknown stanza"},
		{"action x exec\n", "/j.conf:1: Expected token"},
		{"action x script\n  true\n", "/j.conf:3: Unterminated block"},
	} {
		_, err := Parse("j", "/j.conf", []byte(bad.src))
		if err == nil || err.Error() != bad.msg {
			t.Errorf("%q: error %v, want %s", bad.src, err, bad.msg)
		}
	}
}
