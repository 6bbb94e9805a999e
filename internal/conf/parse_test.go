package conf

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/environ"
)

func parse(t *testing.T, src string) *Job {
	t.Helper()
	j, err := Parse("test", "/etc/init/test.conf", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return j
}

func TestDefaults(t *testing.T) {
	j := parse(t, "")
	want := NewJob("test", "/etc/init/test.conf")
	if !reflect.DeepEqual(j, want) {
		t.Fatalf("got %+v", j)
	}
	if j.RespawnLimit != 10 || j.RespawnInterval != 5*time.Second || j.KillTimeout != 5*time.Second ||
		j.KillSignal != int(unix.SIGTERM) || j.ReloadSignal != int(unix.SIGHUP) || j.Console != ConsoleDefault {
		t.Fatalf("defaults wrong: %+v", j)
	}
}

func ip(v int) *int { return &v }

// TestStanzas checks each stanza's accepted forms, last-wins and
// accumulation.
func TestStanzas(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(j *Job) bool
	}{
		{"description", "description \"a b\"\ndescription c", func(j *Job) bool { return j.Description == "c" }},
		{"author", "author 'Me <me@x>'", func(j *Job) bool { return j.Author == "Me <me@x>" }},
		{"version", "version 1.0", func(j *Job) bool { return j.Version == "1.0" }},
		{"usage", "usage \"FOO=bar - does x\"", func(j *Job) bool { return j.Usage == "FOO=bar - does x" }},
		{"instance", "instance $TTY", func(j *Job) bool { return j.Instance == "$TTY" }},
		{"chroot", "chroot /srv", func(j *Job) bool { return j.Chroot == "/srv" }},
		{"chdir", "chdir /tmp\nchdir /var", func(j *Job) bool { return j.Chdir == "/var" }},
		{"setuid", "setuid nobody", func(j *Job) bool { return j.Setuid == "nobody" }},
		{"setgid", "setgid nogroup", func(j *Job) bool { return j.Setgid == "nogroup" }},
		{"env", "env A=1\nenv B=\"x y\"\nenv C", func(j *Job) bool {
			return reflect.DeepEqual(j.Env, []string{"A=1", "B=x y", "C"})
		}},
		{"export", "export A B\nexport C", func(j *Job) bool { return reflect.DeepEqual(j.Export, []string{"A", "B", "C"}) }},
		{"emits", "emits a b\nemits *-device-added", func(j *Job) bool {
			return reflect.DeepEqual(j.Emits, []string{"a", "b", "*-device-added"})
		}},
		{"import", "import A B\nimport CHROMEOS_USER", func(j *Job) bool {
			return reflect.DeepEqual(j.Import, []string{"A", "B", "CHROMEOS_USER"})
		}},
		{"tmpfiles", "tmpfiles /usr/lib/tmpfiles.d/a.conf\ntmpfiles b.conf c.conf", func(j *Job) bool {
			return reflect.DeepEqual(j.Tmpfiles, []string{"/usr/lib/tmpfiles.d/a.conf", "b.conf", "c.conf"})
		}},
		{"start on", "start on a\nstart on b and c", func(j *Job) bool { return j.StartOn.String() == "(b and c)" }},
		{"stop on", "stop on runlevel [!$RUNLEVEL]", func(j *Job) bool { return j.StopOn.String() == "runlevel [!$RUNLEVEL]" }},
		{"manual", "start on a\nmanual", func(j *Job) bool { return j.StartOn == nil }},
		{"pid file", "pid file /run/a.pid\npid file /run/$INSTANCE.pid", func(j *Job) bool { return j.PidFile == "/run/$INSTANCE.pid" }},
		{"manual then start on", "manual\nstart on b", func(j *Job) bool { return j.StartOn.String() == "b" }},
		{"task", "task", func(j *Job) bool { return j.Task }},
		{"debug", "debug", func(j *Job) bool { return j.Debug }},
		{"respawn", "respawn", func(j *Job) bool { return j.Respawn && j.RespawnLimit == 10 }},
		{"respawn limit", "respawn limit 3 60", func(j *Job) bool {
			return !j.Respawn && j.RespawnLimit == 3 && j.RespawnInterval == time.Minute
		}},
		{"respawn limit unlimited", "respawn limit unlimited", func(j *Job) bool {
			return j.RespawnLimit == 0 && j.RespawnInterval == 0
		}},
		{"respawn limit 0", "respawn limit 0 0", func(j *Job) bool { return j.RespawnLimit == 0 && j.RespawnInterval == 0 }},
		{"normal exit", "normal exit 0 1 TERM SIGHUP\nnormal exit 99", func(j *Job) bool {
			return reflect.DeepEqual(j.NormalExit, []int{0, 1, int(unix.SIGTERM) << 8, int(unix.SIGHUP) << 8, 99})
		}},
		{"expect stop", "expect stop", func(j *Job) bool { return j.Expect == ExpectStop }},
		{"expect daemon", "expect daemon", func(j *Job) bool { return j.Expect == ExpectDaemon }},
		{"expect fork", "expect fork", func(j *Job) bool { return j.Expect == ExpectFork }},
		{"expect none", "expect fork\nexpect none", func(j *Job) bool { return j.Expect == ExpectNone }},
		{"kill timeout", "kill timeout 30", func(j *Job) bool { return j.KillTimeout == 30*time.Second }},
		{"kill timeout 0", "kill timeout 0", func(j *Job) bool { return j.KillTimeout == 0 }},
		{"kill signal name", "kill signal INT", func(j *Job) bool { return j.KillSignal == int(unix.SIGINT) }},
		{"kill signal SIG", "kill signal SIGKILL", func(j *Job) bool { return j.KillSignal == int(unix.SIGKILL) }},
		{"kill signal number", "kill signal 10", func(j *Job) bool { return j.KillSignal == 10 }},
		{"reload signal", "reload signal USR1", func(j *Job) bool { return j.ReloadSignal == int(unix.SIGUSR1) }},
		{"console log", "console log", func(j *Job) bool { return j.Console == ConsoleLog && !j.LogPipe }},
		{"console log pipe", "console log pipe", func(j *Job) bool { return j.Console == ConsoleLog && j.LogPipe }},
		{"console log pipe, then log", "console log pipe\nconsole log", func(j *Job) bool { return j.Console == ConsoleLog && !j.LogPipe }},
		{"console none", "console none", func(j *Job) bool { return j.Console == ConsoleNone }},
		{"console output", "console output", func(j *Job) bool { return j.Console == ConsoleOutput }},
		{"console owner", "console output\nconsole owner", func(j *Job) bool { return j.Console == ConsoleOwner }},
		{"umask", "umask 027", func(j *Job) bool { return j.Umask != nil && *j.Umask == 027 }},
		{"umask 0777", "umask 0777", func(j *Job) bool { return *j.Umask == 0777 }},
		{"nice", "nice -20", func(j *Job) bool { return *j.Nice == -20 }},
		{"nice 19", "nice 19", func(j *Job) bool { return *j.Nice == 19 }},
		{"oom score", "oom score 100", func(j *Job) bool { return *j.OOMScore == 100 }},
		{"oom score -1000", "oom score -1000", func(j *Job) bool { return *j.OOMScore == -1000 }},
		{"oom score never", "oom score never", func(j *Job) bool { return *j.OOMScore == -1000 }},
		{"oom legacy never", "oom never", func(j *Job) bool { return *j.OOMScore == -1000 }},
		{"oom legacy -17", "oom -17", func(j *Job) bool { return *j.OOMScore == -1000 }},
		{"oom legacy 15", "oom 15", func(j *Job) bool { return *j.OOMScore == 1000 }},
		{"oom legacy -8", "oom -8", func(j *Job) bool { return *j.OOMScore == -470 }},
		{"limit", "limit nofile 1024 4096\nlimit core unlimited unlimited", func(j *Job) bool {
			return reflect.DeepEqual(j.Limits, []Limit{
				{Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 4096},
				{Resource: unix.RLIMIT_CORE, Soft: Unlimited, Hard: Unlimited}})
		}},
		{"limit same resource", "limit nofile 1 2\nlimit nofile 3 4", func(j *Job) bool {
			return reflect.DeepEqual(j.Limits, []Limit{{Resource: unix.RLIMIT_NOFILE, Soft: 3, Hard: 4}})
		}},
		{"apparmor load", "apparmor load /etc/apparmor.d/x", func(j *Job) bool { return j.ApparmorLoad == "/etc/apparmor.d/x" }},
		{"apparmor switch", "apparmor switch /usr/bin/x", func(j *Job) bool { return j.ApparmorSwitch == "/usr/bin/x" }},
		{"cgroup", "cgroup memory\ncgroup cpu grp\ncgroup memory memory.limit 1G\ncgroup cpu grp cpu.shares 10\ncgroup memory memory.limit 2G", func(j *Job) bool {
			return reflect.DeepEqual(j.Cgroups, []Cgroup{
				{Controller: "memory"},
				{Controller: "cpu", Name: "grp"},
				{Controller: "memory", Key: "memory.limit", Value: "2G"},
				{Controller: "cpu", Name: "grp", Key: "cpu.shares", Value: "10"}})
		}},
		{"exec", "exec /bin/foo --a=\"b c\" 'd'  # comment", func(j *Job) bool {
			p := j.Process[Main]
			return p != nil && !p.Script && p.Command == `/bin/foo --a="b c" 'd'` && p.Line == 1
		}},
		{"script", "\nscript\n  echo a\n  echo b\nend script", func(j *Job) bool {
			p := j.Process[Main]
			return p != nil && p.Script && p.Command == "echo a\necho b\n" && p.Line == 2
		}},
		{"exec replaces script", "script\nx\nend script\nexec y", func(j *Job) bool {
			return !j.Process[Main].Script && j.Process[Main].Command == "y"
		}},
		{"pre-start exec", "pre-start exec mkdir -p /run/x", func(j *Job) bool {
			return j.Process[PreStart].Command == "mkdir -p /run/x"
		}},
		{"post-start script", "post-start script\n\tsleep 1\nend script", func(j *Job) bool {
			return j.Process[PostStart].Script && j.Process[PostStart].Command == "sleep 1\n"
		}},
		{"pre-stop", "pre-stop exec a", func(j *Job) bool { return j.Process[PreStop].Command == "a" }},
		{"post-stop", "post-stop script # c\nb\nend script", func(j *Job) bool { return j.Process[PostStop].Command == "b\n" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := parse(t, tt.src)
			if !tt.check(j) {
				t.Errorf("unexpected result for %q: %+v", tt.src, j)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		src  string
		line int
		msg  string
	}{
		{"frobnicate", 1, "Unknown stanza"},
		{"\n\n  bogus x", 3, "Unknown stanza"},
		{`"exec" foo`, 1, "Unknown stanza"},
		{"description", 1, "Expected token"},
		{"description a b", 1, "Unexpected token"},
		{"description \"a\nb\" c", 2, "Unexpected token"},
		{"description \"abc", 1, "Unterminated quoted string"},
		{"description 'abc\n\n", 3, "Unterminated quoted string"},
		{"description abc\\", 1, "Trailing slash in file"},
		{"description \"\"", 1, "Expected token"},
		{"env", 1, "Expected token"},
		{"env A=1 B=2", 1, "Unexpected token"},
		{"export", 1, "Expected token"},
		{"emits # nothing", 1, "Expected token"},
		{"import", 1, "Expected token"},
		{"tmpfiles", 1, "Expected token"},
		{"start", 1, "Expected token"},
		{"start foo", 1, "Unknown stanza"},
		{"start on", 1, "Expected token"},
		{"stop on and", 1, "Expected event"},
		{"start on a and\n", 1, "Expected event"},
		{"start on a or or b", 1, "Expected event"},
		{"start on a (b)", 1, "Expected operator"},
		{"start on (a) b", 1, "Expected operator"},
		{"start on (a\n", 1, "Mismatched parentheses"},
		{"start on a)", 1, "Mismatched parentheses"},
		{"start on a K=V x", 1, "Expected variable name before value"},
		{"start on (a and\n\n b)", 2, "Expected token"},
		{"start on (a and\n  # c\n b)", 2, "Expected token"},
		{"start on (a and\n   b or\n   c K=V x)\n", 3, "Expected variable name before value"},
		{"manual x", 1, "Unexpected token"},
		{"task x", 1, "Unexpected token"},
		{"debug x", 1, "Unexpected token"},
		{"respawn foo", 1, "Unknown stanza"},
		{"respawn limit", 1, "Expected token"},
		{"respawn limit x 5", 1, "Illegal limit, expected 'unlimited' or integer"},
		{"respawn limit -1 5", 1, "Illegal limit, expected 'unlimited' or integer"},
		{"respawn limit 5", 1, "Expected token"},
		{"respawn limit 5 x", 1, "Illegal interval, expected number of seconds"},
		{"respawn limit 5 -1", 1, "Illegal interval, expected number of seconds"},
		{"respawn limit 5 5 5", 1, "Unexpected token"},
		{"normal", 1, "Expected token"},
		{"normal foo", 1, "Unknown stanza"},
		{"normal exit", 1, "Expected token"},
		{"normal exit 1 foo", 1, "Illegal exit status, expected integer"},
		{"normal exit -1", 1, "Illegal exit status, expected integer"},
		{"normal exit 99999999999", 1, "Illegal exit status, expected integer"},
		{"expect", 1, "Expected token"},
		{"expect forks", 1, "Unknown stanza"},
		{"expect fork x", 1, "Unexpected token"},
		{"kill", 1, "Expected token"},
		{"kill foo 5", 1, "Unknown stanza"},
		{"kill timeout", 1, "Expected token"},
		{"kill timeout x", 1, "Illegal interval, expected number of seconds"},
		{"kill timeout -5", 1, "Illegal interval, expected number of seconds"},
		{"kill timeout 5 6", 1, "Unexpected token"},
		{"kill signal FOO", 1, "Illegal signal status, expected integer"},
		{"kill signal -1", 1, "Illegal signal status, expected integer"},
		{"kill signal term", 1, "Illegal signal status, expected integer"},
		{"reload foo", 1, "Unknown stanza"},
		{"reload signal", 1, "Expected token"},
		{"reload signal X", 1, "Illegal signal status, expected integer"},
		{"console", 1, "Expected token"},
		{"console tty", 1, "Unknown stanza"},
		{"console log x", 1, "Unexpected token"},
		{"console log pipe x", 1, "Unexpected token"},
		{"console none pipe", 1, "Unexpected token"},
		{"umask", 1, "Expected token"},
		{"umask 8", 1, "Illegal file creation mask, expected octal integer"},
		{"umask 1000", 1, "Illegal file creation mask, expected octal integer"},
		{"umask abc", 1, "Illegal file creation mask, expected octal integer"},
		{"nice -21", 1, "Illegal nice value, expected -20 to 19"},
		{"nice 20", 1, "Illegal nice value, expected -20 to 19"},
		{"nice x", 1, "Illegal nice value, expected -20 to 19"},
		{"oom 16", 1, "Illegal oom adjustment, expected -16 to 15 or 'never'"},
		{"oom -18", 1, "Illegal oom adjustment, expected -16 to 15 or 'never'"},
		{"oom x", 1, "Illegal oom adjustment, expected -16 to 15 or 'never'"},
		{"oom score 1001", 1, "Illegal oom score adjustment, expected -999 to 1000 or 'never'"},
		{"oom score -1001", 1, "Illegal oom score adjustment, expected -999 to 1000 or 'never'"},
		{"oom score", 1, "Expected token"},
		{"oom score 5 6", 1, "Unexpected token"},
		{"limit foo 1 2", 1, "Unknown stanza"},
		{"limit nofile 1", 1, "Expected token"},
		{"limit nofile x 2", 1, "Illegal limit, expected 'unlimited' or integer"},
		{"limit nofile 1 -2", 1, "Illegal limit, expected 'unlimited' or integer"},
		{"limit nofile 1 2 3", 1, "Unexpected token"},
		{"apparmor", 1, "Expected token"},
		{"apparmor foo x", 1, "Unknown stanza"},
		{"apparmor load", 1, "Expected token"},
		{"cgroup", 1, "Expected token"},
		{"pid", 1, "Expected token"},
		{"pid foo /run/a.pid", 1, "Unknown stanza"},
		{"pid file", 1, "Expected token"},
		{"pid file run/a.pid", 1, "Illegal path, expected an absolute path"},
		{"pid file /a /b", 1, "Unexpected token"},
		{"cgroup a b c d e", 1, "Unexpected token"},
		{"exec", 1, "Expected token"},
		{"exec # comment", 1, "Expected token"},
		{"exec foo \"bar", 1, "Unterminated quoted string"},
		{"script foo\nend script", 1, "Unexpected token"},
		{"script\necho\n", 3, "Unterminated block"},
		{"script\necho\nend scripts\n", 4, "Unterminated block"},
		{"pre-start", 1, "Expected token"},
		{"pre-start foo", 1, "Unknown stanza"},
		{"pre-start exec", 1, "Expected token"},
		{"pre-start script extra\nend script", 1, "Unexpected token"},
		{"post-stop script", 1, "Unterminated block"},
		{"description a\n\ndescription b\nfoo", 4, "Unknown stanza"},
		{"description a \\\n b", 2, "Unexpected token"},
		{"env A=\x00", 1, "Illegal NUL byte in file"},
		{"\n\n\x00", 3, "Illegal NUL byte in file"},
	}
	for _, tt := range tests {
		j, err := Parse("test", "t.conf", []byte(tt.src))
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error %q", tt.src, j, tt.msg)
			continue
		}
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("Parse(%q): error type %T", tt.src, err)
			continue
		}
		if e.Line != tt.line || e.Msg != tt.msg || e.Path != "t.conf" {
			t.Errorf("Parse(%q) = %v, want t.conf:%d: %s", tt.src, err, tt.line, tt.msg)
		}
	}
}

func TestErrorString(t *testing.T) {
	_, err := Parse("x", "/etc/init/x.conf", []byte("\nbogus"))
	if err == nil || err.Error() != "/etc/init/x.conf:2: Unknown stanza" {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("x", "/etc/init/x.conf", make([]byte, MaxFileSize+1))
	if err == nil || !strings.HasPrefix(err.Error(), "/etc/init/x.conf: File too large") {
		t.Fatalf("got %v", err)
	}
}

// TestLexer covers quoting, escapes, continuation and comments, through
// stanzas whose arguments are dequoted (env), raw (exec) or conditions.
func TestLexer(t *testing.T) {
	tests := []struct {
		name, src string
		field     func(j *Job) string
		want      string
	}{
		{"double quotes", `env A="x y"`, env0, "A=x y"},
		{"single quotes", `env A='x "y"'`, env0, `A=x "y"`},
		{"partial quotes", `env A=x" "y`, env0, "A=x y"},
		{"escaped space", `env A=x\ y`, env0, "A=x y"},
		{"escaped tab", "env A=x\\\ty", env0, "A=x\ty"},
		{"escaped backslash", `env A=x\\y`, env0, `A=x\y`},
		{"escaped quote kept", `env A=x\"y`, env0, `A=x\"y`},
		{"escaped other kept", `env A=\$HOME`, env0, `A=\$HOME`},
		{"escaped hash", `env A=x\#y`, env0, `A=x\#y`},
		{"quoted hash", `env A="x#y" # real comment`, env0, "A=x#y"},
		{"comment", "env A=b#c", env0, "A=b"},
		{"continuation between args", "env \\\n  A=1", env0, "A=1"},
		{"continuation inside arg", "env A=x\\\ny", env0, "A=x y"},
		{"newline in quotes", "env \"A=x  \n   y\"", env0, "A=x y"},
		{"spaces in quotes kept", `env "A=x   y"`, env0, "A=x   y"},
		{"cr is whitespace", "env A=1\r\n", env0, "A=1"},
		{"leading whitespace", "   \t env A=1", env0, "A=1"},
		{"exec raw", `exec echo "a  b" 'c' \$x \\ y   `, exec0, `echo "a  b" 'c' \$x \\ y`},
		{"exec comment", `exec echo a # b`, exec0, "echo a"},
		{"exec quoted hash", `exec echo "a # b"`, exec0, `echo "a # b"`},
		{"exec escaped hash", `exec echo a \# b`, exec0, `echo a \# b`},
		{"exec continuation", "exec echo a \\\n    b", exec0, "echo a b"},
		{"exec newline in quotes", "exec echo \"a\n   b\"", exec0, `echo "a b"`},
		{"exec tabs kept", "exec a\tb", exec0, "a\tb"},
		{"cond multi-line", "start on (a # one\n  or b) # two", startOn, "(a or b)"},
		{"cond quoted operator", `start on "and" or 'or' x="a b"`, startOn, "(and or or x=a b)"},
		{"cond quoted paren", `start on a "(" ")"`, startOn, "a ( )"},
		{"cond parens no spaces", `start on (a)or(b)`, startOn, "(a or b)"},
		{"cond continuation", "start on a \\\n or b", startOn, "(a or b)"},
		{"cond nested lines", "start on (a and\n  (b or\n   c))\nenv X=1", startOn, "(a and (b or c))"},
		{"cond quoted value", `start on stopped JOB="boo"`, startOn, "stopped JOB=boo"},
		{"cond not-equal", `start on net-device-added INTERFACE!=lo`, startOn, "net-device-added INTERFACE!=lo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := parse(t, tt.src)
			if got := tt.field(j); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func env0(j *Job) string {
	if len(j.Env) == 0 {
		return "<none>"
	}
	return j.Env[0]
}

func exec0(j *Job) string {
	if j.Process[Main] == nil {
		return "<none>"
	}
	return j.Process[Main].Command
}

func startOn(j *Job) string { return j.StartOn.String() }

func TestScriptBlocks(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"indent stripped", "script\n    a\n    b\nend script\n", "a\nb\n"},
		{"deeper later lines keep extra", "script\n  a\n    b\n  c\nend script\n", "a\n  b\nc\n"},
		{"shallower later line", "script\n    a\n  b\nend script\n", "  a\nb\n"},
		{"tabs vs spaces", "script\n\ta\n  b\nend script\n", "\ta\n  b\n"},
		{"blank line stops stripping", "script\n  a\n\n  b\nend script\n", "  a\n\n  b\n"},
		{"not tokenised", "script\n  echo \"#\" 'x' \\\nend script\n", "echo \"#\" 'x' \\\n"},
		{"end script indented with comment", "script\n a\n   end   script   # done\nenv X=1\n", "a\n"},
		{"end script at eof", "script\na\nend script", "a\n"},
		{"end scripts is content", "script\nend scripts\nend script\n", "end scripts\n"},
		{"endscript is content", "script\nendscript\nend script\n", "endscript\n"},
		{"empty", "script\nend script\n", ""},
		{"script trailing comment", "script # main\n x\nend script\n", "x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := parse(t, tt.src)
			if got := j.Process[Main].Command; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	j := parse(t, "script\n a\nend script\nenv X=1\n")
	if len(j.Env) != 1 || j.Env[0] != "X=1" {
		t.Errorf("stanza after block lost: %+v", j.Env)
	}
}

func TestLineNumbers(t *testing.T) {
	src := "# comment\n\nexec a \\\n b\npre-start script\n x\n y\nend script\npost-stop exec z\n"
	j := parse(t, src)
	if j.Process[Main].Line != 3 || j.Process[PreStart].Line != 5 || j.Process[PostStop].Line != 9 {
		t.Errorf("lines: %d %d %d", j.Process[Main].Line, j.Process[PreStart].Line, j.Process[PostStop].Line)
	}
}

func TestOverride(t *testing.T) {
	base := parse(t, "description base\nstart on a\nenv A=1\nemits x\nlimit nofile 1 2\nexec /bin/base\nrespawn\n")
	o, err := ParseOverride(base, "test.override", []byte("manual\ndescription over\nenv B=2\nemits y\nlimit nofile 3 4\nlimit core 0 0\nnormal exit 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o.StartOn != nil || o.Description != "over" || !o.Respawn || o.Process[Main].Command != "/bin/base" {
		t.Errorf("override result: %+v", o)
	}
	if !reflect.DeepEqual(o.Env, []string{"A=1", "B=2"}) || !reflect.DeepEqual(o.Emits, []string{"x", "y"}) ||
		!reflect.DeepEqual(o.NormalExit, []int{2}) {
		t.Errorf("lists: %v %v %v", o.Env, o.Emits, o.NormalExit)
	}
	if !reflect.DeepEqual(o.Limits, []Limit{{Resource: unix.RLIMIT_NOFILE, Soft: 3, Hard: 4}, {Resource: unix.RLIMIT_CORE}}) {
		t.Errorf("limits: %v", o.Limits)
	}
	// base untouched
	if base.StartOn == nil || base.Description != "base" || len(base.Env) != 1 || len(base.Limits) != 1 || base.Limits[0].Soft != 1 {
		t.Errorf("base modified: %+v", base)
	}
	// error: base untouched, no job
	before := base.Clone()
	j, err := ParseOverride(base, "bad.override", []byte("description changed\nenv C=3\nbogus\n"))
	if j != nil || err == nil || err.Error() != "bad.override:3: Unknown stanza" {
		t.Fatalf("bad override: %v, %v", j, err)
	}
	if !reflect.DeepEqual(base, before) {
		t.Errorf("base modified by failed override")
	}
}

func TestCloneIndependent(t *testing.T) {
	base := parse(t, "env A=1\nenv B=2\nstart on a x\numask 022\nexec foo")
	base.Env = base.Env[:1] // leave spare capacity
	c := base.Clone()
	c.Env = append(c.Env, "C=3")
	c.StartOn.Args[0] = "y"
	*c.Umask = 0
	c.Process[Main].Command = "bar"
	if base.StartOn.Args[0] != "x" || *base.Umask != 022 || base.Process[Main].Command != "foo" {
		t.Errorf("clone shares memory")
	}
	if len(base.Env[:cap(base.Env)]) > 1 && base.Env[:2][1] == "C=3" {
		t.Errorf("clone append wrote into base")
	}
}

// A job's own environment is bounded like an event's (issue 15 item 9).
func TestEnvEntriesCapped(t *testing.T) {
	var b strings.Builder
	for i := 0; i < environ.MaxEntries; i++ {
		fmt.Fprintf(&b, "env K%d=v\n", i)
	}
	if j := parse(t, b.String()+"export A B\n"); len(j.Env) != environ.MaxEntries {
		t.Fatalf("%d env entries", len(j.Env))
	}
	_, err := Parse("test", "/etc/init/test.conf", []byte(b.String()+"env ONE=more\n"))
	want := fmt.Sprintf("/etc/init/test.conf:%d: Too many entries (at most %d)", environ.MaxEntries+1, environ.MaxEntries)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	exp := "export" + strings.Repeat(" X", environ.MaxEntries+1) + "\n"
	if _, err := Parse("test", "/etc/init/test.conf", []byte("env A=1\n"+exp)); err == nil || !strings.HasPrefix(err.Error(), "/etc/init/test.conf:2: Too many entries") {
		t.Fatalf("export: %v", err)
	}
}
