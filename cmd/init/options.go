package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/goupstart/upstart/internal/conf"
)

// options are init's command line. Parsing follows libnih: `--opt=VAL` or
// `--opt VAL`, and unknown options and plain arguments are ignored because
// the kernel passes its own command line to PID 1.
type options struct {
	user, session                     bool
	confdirs, prependDirs, appendDirs []string
	startupEvent                      string
	noStartupEvent                    bool
	logdir                            string
	noLog                             bool
	defaultConsole                    conf.Console
	noDBus, noInheritEnv, noCgroups   bool
	priority                          string
	version, help                     bool
	restart                           bool
	stateFD                           int
	logEvents                         bool
	writeStateFile                    bool

	// The Chromium OS fork's rules (--chromeos and its parts).
	importDeny, stripInitKeys bool
	defaultOOM                *int

	// cgroupName: the cgroup tree's name chosen by the image before a
	// re-exec (cgroups.go).
	cgroupName string

	// unimplemented are the Upstart options given that we do not
	// implement; they are logged once at startup.
	unimplemented []string

	// PID-1 duties (boot.go, halt.go).
	mountTmp, noCgroupMount bool
	jobPath                 string // PATH of jobs ("": the default)
	daemonLog               string // kmsg, stderr or a file ("": by mode)
}

// initOption is one option of the table that drives parsing and --help.
type initOption struct {
	short byte
	long  string // with its "--"
	arg   string // the argument's name; "" for a flag
	help  string // "" hides it from --help
	set   func(o *options, val string) error
}

// initOptions lists Upstart 1.13's options in its order, then ours, then
// the ones libnih gives every program (as `init --help` prints them).
var initOptions = []initOption{
	{0, "--append-confdir", "DIR", "specify additional directory to load configuration files from",
		func(o *options, v string) error { o.appendDirs = append(o.appendDirs, v); return nil }},
	{0, "--chroot-sessions", "", "enable chroot sessions (not implemented: ignored)", unimplemented("--chroot-sessions")},
	{0, "--confdir", "DIR", "specify alternative directory to load configuration files from",
		func(o *options, v string) error { o.confdirs = append(o.confdirs, v); return nil }},
	{0, "--default-console", "VALUE", "default value for console stanza", func(o *options, v string) error {
		c, ok := map[string]conf.Console{"none": conf.ConsoleNone, "output": conf.ConsoleOutput,
			"owner": conf.ConsoleOwner, "log": conf.ConsoleLog}[v]
		if !ok {
			return fmt.Errorf("invalid default console: %s", v)
		}
		o.defaultConsole = c
		return nil
	}},
	{0, "--logdir", "DIR", "specify alternative directory to store job output logs in",
		func(o *options, v string) error { o.logdir = v; return nil }},
	{0, "--no-cgroups", "", "do not support cgroups", flag(func(o *options) { o.noCgroups = true })},
	{0, "--no-dbus", "", "do not connect to a D-Bus bus", flag(func(o *options) { o.noDBus = true })},
	{0, "--no-inherit-env", "", "jobs will not inherit environment of init", flag(func(o *options) { o.noInheritEnv = true })},
	{0, "--no-log", "", "disable job logging", flag(func(o *options) { o.noLog = true })},
	{0, "--no-sessions", "", "disable user and chroot sessions (not implemented: ignored)", unimplemented("--no-sessions")},
	{0, "--no-startup-event", "", "do not emit any startup event (for testing)", flag(func(o *options) { o.noStartupEvent = true })},
	{0, "--prepend-confdir", "DIR", "specify additional initial directory to load configuration files from",
		func(o *options, v string) error { o.prependDirs = append(o.prependDirs, v); return nil }},
	{0, "--restart", "", "flag a re-exec has occurred", flag(func(o *options) { o.restart = true })},
	{0, "--state-fd", "FD", "specify file descriptor to read serialisation data from", func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("illegal argument: %s", v)
		}
		o.stateFD = n
		return nil
	}},
	{0, "--session", "", "use D-Bus session bus rather than system bus (for testing)", flag(func(o *options) { o.session = true })},
	{0, "--startup-event", "NAME", "specify an alternative initial event (for testing)",
		func(o *options, v string) error { o.startupEvent = v; return nil }},
	{0, "--user", "", "start in user mode (as used for user sessions)", flag(func(o *options) { o.user = true })},
	{0, "--write-state-file", "", "attempt to write state file on every re-exec", flag(func(o *options) { o.writeStateFile = true })},
	// Ours.
	{0, "--cgroup-name", "NAME", "name of PID 1's cgroup tree (passed on by a re-exec)",
		func(o *options, v string) error { o.cgroupName = v; return nil }},
	{0, "--log-events", "", "log every event to LOGDIR/events.log", flag(func(o *options) { o.logEvents = true })},
	{0, "--chromeos", "", "the Chromium OS fork's rules: --import-default-deny and --strip-init-env",
		flag(func(o *options) { o.importDeny, o.stripInitKeys = true, true })},
	{0, "--import-default-deny", "", "a job takes from the event or request that starts or stops it only the variables its import stanzas name",
		flag(func(o *options) { o.importDeny = true })},
	{0, "--strip-init-env", "", "drop JOB, INSTANCE, RESULT, PROCESS, EXIT_STATUS, EXIT_SIGNAL and UPSTART_* from emitted events' environment",
		flag(func(o *options) { o.stripInitKeys = true })},
	{0, "--default-oom-score", "N", "OOM score adjustment (-1000..1000) of jobs without an oom score stanza", func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1000 || n > 1000 {
			return fmt.Errorf("illegal argument: %s", v)
		}
		o.defaultOOM = &n
		return nil
	}},
	{0, "--mount-tmp", "", "PID 1: mount a tmpfs on /tmp if nothing is there", flag(func(o *options) { o.mountTmp = true })},
	{0, "--no-cgroup-mount", "", "PID 1: leave /sys/fs/cgroup alone (the system builds its own hierarchy there)",
		flag(func(o *options) { o.noCgroupMount = true })},
	{0, "--job-path", "PATH", "PATH in jobs' environment", func(o *options, v string) error { o.jobPath = v; return nil }},
	{0, "--daemon-log", "TARGET", "where the daemon logs: kmsg, stderr or a file (default: kmsg as PID 1 of a machine, else stderr)",
		func(o *options, v string) error { o.daemonLog = v; return nil }},
	// libnih's.
	{'q', "--quiet", "", "reduce output to errors only", flag(func(o *options) { o.priority = "error" })},
	{'v', "--verbose", "", "increase output to include informational messages", flag(func(o *options) { o.priority = "info" })},
	{0, "--debug", "", "", flag(func(o *options) { o.priority = "debug" })},
	{0, "--help", "", "display this help and exit", flag(func(o *options) { o.help = true })},
	{0, "--version", "", "output version information and exit", flag(func(o *options) { o.version = true })},
}

func flag(f func(o *options)) func(*options, string) error {
	return func(o *options, _ string) error { f(o); return nil }
}

func unimplemented(name string) func(*options, string) error {
	return func(o *options, _ string) error {
		for _, u := range o.unimplemented {
			if u == name {
				return nil
			}
		}
		o.unimplemented = append(o.unimplemented, name)
		return nil
	}
}

func findOption(long string, short byte) *initOption {
	for i := range initOptions {
		if o := &initOptions[i]; long != "" && o.long == long || short != 0 && o.short == short {
			return o
		}
	}
	return nil
}

func parseOptions(args []string) (*options, error) {
	o := &options{startupEvent: "startup", priority: "message", stateFD: -1}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		var opts []*initOption
		val, hasVal := "", false
		switch {
		case strings.HasPrefix(a, "--"):
			var name string
			name, val, hasVal = strings.Cut(a, "=")
			if opt := findOption(name, 0); opt != nil {
				opts = append(opts, opt)
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				if opt := findOption("", a[j]); opt != nil {
					opts = append(opts, opt)
				}
			}
		}
		// An unknown option (or argument) is ignored, as libnih's
		// catch-all entry in Upstart's table does.
		for _, opt := range opts {
			if opt.arg != "" && !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("missing argument: %s", a)
				}
				i++
				val = args[i]
			}
			if err := opt.set(o, val); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

// printUsage prints `init --help` as libnih lays out an option table.
func printUsage() {
	var b strings.Builder
	b.WriteString("Usage: init [OPTION]...\nProcess management daemon.\n\nOptions:\n")
	screen := 80
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		screen = n
	}
	width := max(screen, 50) - 31
	for _, o := range initOptions {
		if o.help == "" {
			continue
		}
		line := "  "
		if o.short != 0 {
			line += "-" + string(o.short) + ", "
		} else {
			line += "    "
		}
		line += o.long
		if o.arg != "" {
			line += "=" + o.arg
		}
		b.WriteString(line)
		used := len(line)
		for _, l := range strings.Split(wrap(o.help, width, 2), "\n") {
			if used > 28 {
				b.WriteString("\n")
				used = 0
			}
			b.WriteString(strings.Repeat(" ", 30-used) + l + "\n")
			used = 0
		}
	}
	b.WriteString("\n")
	b.WriteString(wrap("This daemon is normally run by the kernel as process 1, or by a user "+
		"with --user as the init of a session.", screen-1, 0) + "\n\n")
	b.WriteString("Report bugs to <upstart-devel@lists.ubuntu.com>\n")
	fmt.Print(b.String())
}

// wrap breaks text at blanks into lines of at most width columns, lines
// after the first indented by indent (the layout of libnih's help).
func wrap(text string, width, indent int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = strings.Repeat(" ", indent) + w
		}
	}
	return strings.Join(append(lines, line), "\n")
}
