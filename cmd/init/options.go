package main

import (
	"fmt"
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
	// cgroupName: the cgroup tree's name chosen by the image before a
	// re-exec (cgroups.go).
	cgroupName string
}

var valueOpts = map[string]bool{
	"--confdir": true, "--prepend-confdir": true, "--append-confdir": true,
	"--startup-event": true, "--logdir": true, "--default-console": true, "--state-fd": true, "--cgroup-name": true,
}

func parseOptions(args []string) (*options, error) {
	o := &options{startupEvent: "startup", priority: "message", stateFD: -1}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		if valueOpts[name] && !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s: missing argument", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "--user":
			o.user = true
		case "--session":
			o.session = true
		case "--confdir":
			o.confdirs = append(o.confdirs, val)
		case "--prepend-confdir":
			o.prependDirs = append(o.prependDirs, val)
		case "--append-confdir":
			o.appendDirs = append(o.appendDirs, val)
		case "--startup-event":
			o.startupEvent = val
		case "--no-startup-event":
			o.noStartupEvent = true
		case "--logdir":
			o.logdir = val
		case "--no-log":
			o.noLog = true
		case "--default-console":
			c, ok := map[string]conf.Console{"none": conf.ConsoleNone, "output": conf.ConsoleOutput,
				"owner": conf.ConsoleOwner, "log": conf.ConsoleLog}[val]
			if !ok {
				return nil, fmt.Errorf("invalid default console: %s", val)
			}
			o.defaultConsole = c
		case "--no-dbus":
			o.noDBus = true
		case "--no-inherit-env":
			o.noInheritEnv = true
		case "--no-cgroups":
			o.noCgroups = true
		case "--log-events":
			o.logEvents = true
		case "-q", "--quiet":
			o.priority = "error"
		case "-v", "--verbose":
			o.priority = "info"
		case "--debug":
			o.priority = "debug"
		case "--version":
			o.version = true
		case "--help":
			o.help = true
		case "--restart":
			o.restart = true
		case "--state-fd":
			fmt.Sscan(val, &o.stateFD)
		case "--write-state-file":
			o.writeStateFile = true
		case "--cgroup-name":
			o.cgroupName = val
		}
	}
	return o, nil
}

const usage = `Usage: init [OPTION]...
Process management daemon.

Options:
      --user                  start in user (session) mode
      --session               use the D-Bus session bus
      --confdir=DIR           configuration directory (repeatable)
      --prepend-confdir=DIR   directory searched before the others
      --append-confdir=DIR    directory searched after the others
      --startup-event=NAME    emit NAME instead of startup
      --no-startup-event      emit no initial event
      --logdir=DIR            directory for job output logs
      --no-log                disable job output logging
      --default-console=VALUE none, output, owner or log
      --no-dbus               do not connect to a D-Bus bus
      --no-inherit-env        jobs do not inherit init's environment
      --log-events            log every event to LOGDIR/events.log
      --write-state-file      write LOGDIR/upstart.state at every re-exec
      --cgroup-name=NAME      name of PID 1's cgroup tree (passed on by a re-exec)
  -q, --quiet                 reduce output to errors only
  -v, --verbose               increase output to include informational messages
      --debug                 enable debugging output
      --help                  display this help and exit
      --version               output version information and exit
`
