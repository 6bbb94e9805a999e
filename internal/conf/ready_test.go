package conf

import (
	"strings"
	"testing"
	"time"
)

func TestExpectReady(t *testing.T) {
	tests := []struct {
		src   string
		cond  string // ExpectOn as written by String
		watch string // ExpectWatch joined by spaces
	}{
		{"expect event listening PORT=$PORT", "listening PORT=$PORT", ""},
		{"expect event (a and b) or c", "((a and b) or c)", ""},
		{"expect event (a\n  and b)", "(a and b)", ""},
		{"expect notify", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=notify", "notify"},
		{"expect fd 3", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=fd", "fd 3"},
		{"expect file /run/x.pid", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=file", "file /run/x.pid"},
		{"expect file $RUNDIR/sock", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=file", "file $RUNDIR/sock"},
		{"expect socket tcp 127.0.0.1:8080", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=socket", "socket tcp 127.0.0.1:8080"},
		{"expect socket udp [::1]:53", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=socket", "socket udp [::1]:53"},
		{"expect socket tcp :$PORT", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=socket", "socket tcp :$PORT"},
		{"expect socket unix /run/a.sock # comment", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=socket", "socket unix /run/a.sock"},
		{"expect socket unix @abstract", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=socket", "socket unix @abstract"},
		{"expect dbus org.example.Foo", "ready JOB=$UPSTART_JOB INSTANCE=$UPSTART_INSTANCE SOURCE=dbus", "dbus org.example.Foo"},
	}
	for _, tt := range tests {
		j, err := Parse("j", "j.conf", []byte(tt.src+"\n"))
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if j.Expect != ExpectEvent || j.ExpectOn == nil {
			t.Errorf("%q: expect %v, condition %v", tt.src, j.Expect, j.ExpectOn)
			continue
		}
		if got := j.ExpectOn.String(); got != tt.cond {
			t.Errorf("%q: condition %q, want %q", tt.src, got, tt.cond)
		}
		if got := strings.Join(j.ExpectWatch, " "); got != tt.watch {
			t.Errorf("%q: watch %q, want %q", tt.src, got, tt.watch)
		}
	}
}

func TestExpectReplaced(t *testing.T) {
	j, err := Parse("j", "j.conf", []byte("expect notify\nexpect timeout 7\nexpect fork\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Expect != ExpectFork || j.ExpectOn != nil || j.ExpectWatch != nil || j.ExpectTimeout != 7*time.Second {
		t.Errorf("later expect fork: %v %v %v %v", j.Expect, j.ExpectOn, j.ExpectWatch, j.ExpectTimeout)
	}
	j, err = Parse("j", "j.conf", []byte("expect fork\nexpect timeout 7\nexpect event up\nwatchdog 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Expect != ExpectEvent || j.ExpectExits != 0 || j.ExpectOn.String() != "up" || j.Watchdog != 10*time.Second {
		t.Errorf("later expect event: %+v", j)
	}
	// An override replaces the readiness of the job file.
	o, err := ParseOverride(j, "j.override", []byte("expect file /x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o.ExpectWatch[0] != "file" || j.ExpectOn.String() != "up" {
		t.Errorf("override: %v; base changed: %v", o.ExpectWatch, j.ExpectOn)
	}
}

func TestExpectReadyErrors(t *testing.T) {
	tests := []struct {
		src  string
		line int
		msg  string
	}{
		{"expect event", 1, "Expected token"},
		{"expect event (a and", 1, ""},
		{"expect event a and", 1, ""},
		{"expect fd", 1, "Expected token"},
		{"expect fd 2", 1, "Illegal descriptor, expected 3 to 255"},
		{"expect fd 256", 1, "Illegal descriptor, expected 3 to 255"},
		{"expect fd x", 1, "Illegal descriptor, expected 3 to 255"},
		{"expect fd 3 4", 1, "Unexpected token"},
		{"expect file", 1, "Expected token"},
		{"expect file relative", 1, "Illegal path, expected an absolute path"},
		{"expect socket", 1, "Expected token"},
		{"expect socket tcp", 1, "Expected token"},
		{"expect socket sctp 1.2.3.4:5", 1, "Illegal protocol, expected tcp, udp or unix"},
		{"expect socket tcp 1.2.3.4", 1, "Illegal address, expected HOST:PORT"},
		{"expect socket tcp 1.2.3.4:0", 1, "Illegal port, expected 1 to 65535"},
		{"expect socket tcp 1.2.3.4:70000", 1, "Illegal port, expected 1 to 65535"},
		{"expect socket tcp name:80", 1, "Illegal address, expected an IP address"},
		{"expect socket unix rel.sock", 1, "Illegal address, expected an absolute path or @abstract name"},
		{"expect dbus", 1, "Expected token"},
		{"expect dbus nodots", 1, "Illegal bus name"},
		{"expect dbus :1.5", 1, "Illegal bus name"},
		{"expect dbus a.1b", 1, "Illegal bus name"},
		{"expect notify now", 1, "Unexpected token"},
		{"\nwatchdog", 2, "Expected token"},
		{"watchdog -1", 1, errInterval},
		{"watchdog 5 6", 1, "Unexpected token"},
	}
	for _, tt := range tests {
		_, err := Parse("j", "j.conf", []byte(tt.src+"\n"))
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: error %v, want *Error", tt.src, err)
			continue
		}
		if e.Line != tt.line || (tt.msg != "" && e.Msg != tt.msg) {
			t.Errorf("%q: %d: %s, want %d: %s", tt.src, e.Line, e.Msg, tt.line, tt.msg)
		}
	}
}
