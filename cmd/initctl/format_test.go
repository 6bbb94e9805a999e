package main

import (
	"strings"
	"testing"
)

// Output formats of the commands the other tests leave out.

func TestFormatEvent(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"startup", nil, "startup"},
		{"started", []string{"JOB=svc", "INSTANCE="}, "started JOB='svc' INSTANCE=''"},
		{"hello", []string{"A=b c", "X=1=2"}, "hello A='b c' X='1=2'"},
	} {
		if got := formatEvent(c.name, c.env); got != c.want {
			t.Errorf("formatEvent(%q, %q) = %q, want %q", c.name, c.env, got, c.want)
		}
	}
}

func TestNotifyCommands(t *testing.T) {
	h := newHarness(t)
	// The fake backend has neither capability: the daemon's error shows.
	h.expect(t, a("initctl", "notify-dbus-address", "unix:path=/x"), "",
		"initctl: NotifyDBusAddress is not supported by this init daemon\n", 1)
	h.expect(t, a("initctl", "notify-cgroup-manager-address", "unix:path=/x"), "",
		"initctl: NotifyCGroupManagerAddress is not supported by this init daemon\n", 1)
	h.expect(t, a("initctl", "notify-dbus-address"), "",
		"initctl: missing D-Bus address\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "monitor", "extra"), "",
		"initctl: unexpected argument\nTry `initctl --help' for more information.\n", 1)
	h.expect(t, a("initctl", "monitor", "-x"), "",
		"initctl: invalid option: -x\nTry `initctl --help' for more information.\n", 1)
}

// The help texts, as libnih lays out Upstart 1.13's initctl tables on an
// 80-column screen (issue 13 item 4).
const wantCommandHelp = `Job commands:
  start                       Start job.
  stop                        Stop job.
  restart                     Restart job.
  reload                      Send HUP signal to job.
  status                      Query status of job.
  list                        List known jobs.

Event commands:
  emit                        Emit an event.

Environment commands:
  get-env                     Retrieve value of a job environment variable.
  list-env                    Show all job environment variables.
  reset-env                   Revert all job environment variable changes.
  set-env                     Set one or more job environment variables.
  unset-env                   Remove one or more job environment variables.

Other commands:
  reload-configuration        Reload the configuration of the init daemon.
  version                     Request the version of the init daemon.
  log-priority                Change the minimum priority of log messages from
                                the init daemon.
  show-config                 Show emits, start on and stop on details for job
                                configurations.
  check-config                Check for unreachable jobs/event conditions.
  usage                       Show job usage message if available.
  notify-cgroup-manager-address
                              Inform Upstart of D-Bus address cgroup manager is
                                available on.
  notify-dbus-address         Inform Upstart of D-Bus address to connect to.
  notify-disk-writeable       Inform Upstart that disk is now writeable.
  list-sessions               List all sessions.
  action                      Run a custom action of a running job.
  monitor                     Print each event as it is emitted, until
                                interrupted.
  why                         Explain why a job is or is not running.
  boot-chart                  Write an SVG timeline of the jobs since the daemon
                                started.
  blame                       List jobs by the time they took to start.
  disable-respawn             Stop every job from respawning (Chromium OS, for
                                the shutdown).
  help                        display list of commands

For more information on a command, try ` + "`initctl COMMAND --help'" + `.
`

const wantGlobalOptions = `Options:
      --session               use D-Bus session bus to connect to init daemon
                                (for testing)
      --system                use D-Bus system bus to connect to init daemon
      --dest=NAME             destination well-known name on D-Bus bus
      --user                  run in user mode (as used for user sessions)
  -q, --quiet                 reduce output to errors only
  -v, --verbose               increase output to include informational messages
      --help                  display this help and exit
      --version               output version information and exit

`

func TestHelpAndVersion(t *testing.T) {
	h := newHarness(t)
	h.expect(t, a("initctl", "--version"), "initctl (upstart 1.13.2)\n", "", 0)
	h.expect(t, a("status", "--version"), "status (upstart 1.13.2)\n", "", 0)
	h.expect(t, a("initctl", "help"), wantCommandHelp, "", 0)
	h.expect(t, a("initctl", "--help"), "Usage: initctl [OPTION]... COMMAND [OPTION]... [ARG]...\n\n"+wantGlobalOptions+
		"For a list of commands, try `initctl help'.\n\nReport bugs to <upstart-devel@lists.ubuntu.com>\n", "", 0)
	startHelp := "Start job.\n\nOptions:\n  -n, --no-wait               do not wait for job to start before exiting\n" +
		strings.TrimPrefix(wantGlobalOptions, "Options:\n") +
		"JOB is the name of the job that is to be started, this may be followed by zero\n" +
		"or more environment variables to be defined in the new job.\n\n" +
		"The environment may also serve to distinguish between job instances, and thus\n" +
		"decide whether a new instance will be started or an error returned if an\n" +
		"existing instance is already running.\n\nReport bugs to <upstart-devel@lists.ubuntu.com>\n"
	h.expect(t, a("initctl", "start", "--help"), "Usage: initctl start [OPTION]... JOB [KEY=VALUE]...\n"+startHelp, "", 0)
	h.expect(t, a("start", "--help"), "Usage: start [OPTION]... JOB [KEY=VALUE]...\n"+startHelp, "", 0)
	// A help text ending in a newline leaves an empty line before the
	// bug address, as libnih prints it.
	h.expect(t, a("initctl", "list", "--help"), "Usage: initctl list [OPTION]...\nList known jobs.\n\n"+wantGlobalOptions+
		"The known jobs and their current status will be output.\n\nReport bugs to <upstart-devel@lists.ubuntu.com>\n", "", 0)
	out, _, _ := h.run("initctl", "reload", "--help")
	if !strings.HasSuffix(out, "job instances.\n\n\nReport bugs to <upstart-devel@lists.ubuntu.com>\n") {
		t.Errorf("reload --help: %q", out)
	}
	out, _, _ = h.run("initctl", "check-config", "--help")
	if !strings.Contains(out, "  -i, --ignore-events=EVENT_LIST\n                              ignore specified list of events (comma-separated)\n") {
		t.Errorf("check-config --help: %q", out)
	}
	h.expect(t, a("initctl"), "", "initctl: missing command\nTry `initctl --help' for more information.\n", 1)
}

func TestWrapText(t *testing.T) {
	cases := []struct {
		in                   string
		width, first, indent int
		want                 string
	}{
		{"aaa bbb ccc", 7, 0, 0, "aaa bbb\nccc"},
		{"aaa bbb ccc", 7, 0, 2, "aaa bbb\n  ccc"},
		{"abcdefghij", 4, 0, 0, "abcd\nefgh\nij"},         // a word longer than a line is cut
		{"ab\ncd ef gh", 5, 0, 2, "ab\n  cd\n  ef\n  gh"}, // the indent counts
		{"a\tb", 10, 2, 0, "  a b"},
	}
	for _, c := range cases {
		if got := wrapText(c.in, c.width, c.first, c.indent); got != c.want {
			t.Errorf("wrapText(%q, %d, %d, %d) = %q, want %q", c.in, c.width, c.first, c.indent, got, c.want)
		}
	}
}
