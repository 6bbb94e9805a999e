// Command initctl controls an Upstart init daemon over its D-Bus API. When
// invoked as start, stop, restart, reload or status it acts as that command.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control"
)

func main() {
	os.Exit(run(os.Args, os.LookupEnv, os.Stdout, os.Stderr))
}

// env is what a command sees of its invocation.
type env struct {
	prog    string
	lookup  func(string) (string, bool)
	stdout  io.Writer
	stderr  io.Writer
	quiet   bool
	verbose bool

	conn      connOpts
	noWait    bool
	global    bool
	retain    bool
	enum      bool
	warn      bool
	ignore    []string
	separator string // monitor
	dial      func() (*client, error)
	c         *client
}

func (e *env) getenv(name string) string {
	v, _ := e.lookup(name)
	return v
}

// usageError is a command line mistake: reported with the --help hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type command struct {
	name    string
	args    string // usage after "[OPTION]...", as libnih prints it
	summary string
	opts    string // command options accepted: n (no-wait), e, g, r, i, w, s
	run     func(e *env, args []string) error
	group   string // "Job", "Event", "Environment" or "" (other)
	help    string // the text after the options in `COMMAND --help`
	optHelp map[byte]string
}

var commands []command

// The text of Upstart 1.13's command table (usage, synopsis, help) is what
// `initctl help` and `COMMAND --help` print, byte for byte; the commands
// that are ours (action, monitor) come after Upstart's in "Other".
const (
	groupJob = "Job"
	groupEv  = "Event"
	groupEnv = "Environment"
)

func init() {
	gOpt := map[byte]string{'g': "apply to global job environment table"}
	commands = []command{
		{"start", "JOB [KEY=VALUE]...", "Start job.", "n", cmdStart, groupJob,
			"JOB is the name of the job that is to be started, this may be followed by zero or more environment variables to be defined in the new job.\n\nThe environment may also serve to distinguish between job instances, and thus decide whether a new instance will be started or an error returned if an existing instance is already running.",
			map[byte]string{'n': "do not wait for job to start before exiting"}},
		{"stop", "JOB [KEY=VALUE]...", "Stop job.", "n", cmdStop, groupJob,
			"JOB is the name of the job that is to be stopped, this may be followed by zero or more environment variables to be passed to the job's pre-stop and post-stop processes.\n\nThe environment also serves to distinguish between job instances, and thus decide which of multiple instances will be stopped.",
			map[byte]string{'n': "do not wait for job to stop before exiting"}},
		{"restart", "JOB [KEY=VALUE]...", "Restart job.", "n", cmdRestart, groupJob,
			"JOB is the name of the job that is to be restarted, this may be followed by zero or more environment variables to be defined in the job after restarting.\n\nThe environment also serves to distinguish between job instances, and thus decide which of multiple instances will be restarted.",
			map[byte]string{'n': "do not wait for job to restart before exiting"}},
		{"reload", "JOB [KEY=VALUE]...", "Send HUP signal to job.", "", cmdReload, groupJob,
			"JOB is the name of the job that is to be sent the signal, this may be followed by zero or more environment variables to distinguish between job instances.\n", nil},
		{"status", "JOB [KEY=VALUE]...", "Query status of job.", "", cmdStatus, groupJob,
			"JOB is the name of the job that is to be queried, this may be followed by zero or more environment variables to distguish between job instances.\n", nil},
		{"list", "", "List known jobs.", "", cmdList, groupJob,
			"The known jobs and their current status will be output.", nil},
		{"emit", "EVENT [KEY=VALUE]...", "Emit an event.", "n", cmdEmit, groupEv,
			"EVENT is the name of an event the init daemon should emit, this may be followed by zero or more environment variables to be included in the event.\n",
			map[byte]string{'n': "do not wait for event to finish before exiting"}},
		{"reload-configuration", "", "Reload the configuration of the init daemon.", "", cmdReloadConfiguration, "", "", nil},
		{"version", "", "Request the version of the init daemon.", "", cmdVersion, "", "", nil},
		{"log-priority", "[PRIORITY]", "Change the minimum priority of log messages from the init daemon.", "", cmdLogPriority, "",
			"PRIORITY may be one of:\n  `debug' (messages useful for debugging upstart are logged, equivalent to --debug on kernel command-line);\n  `info' (messages about job goal and state changes, as well as event emissions are logged, equivalent to --verbose on the kernel command-line);\n  `message' (informational and debugging messages are suppressed, the default);   `warn' (ordinary messages are suppressed whilst still logging warnings and errors);\n  `error' (only errors are logged, equivalent to --quiet on the kernel command-line) or\n  `fatal' (only fatal errors are logged).\n\nWithout arguments, this outputs the current log priority.", nil},
		{"show-config", "[CONF]", "Show emits, start on and stop on details for job configurations.", "e", cmdShowConfig, "",
			"If CONF specified, show configuration details for single job configuration, else show details for all jobs configurations.\n",
			map[byte]string{'e': "enumerate list of events and jobs causing job created from job config to start/stop"}},
		{"check-config", "[CONF]", "Check for unreachable jobs/event conditions.", "iw", cmdCheckConfig, "",
			"List all jobs and events which cannot be satisfied by currently available job configuration files.",
			map[byte]string{'i': "ignore specified list of events (comma-separated)", 'w': "Generate warning for any unreachable events/jobs"}},
		{"get-env", "VARIABLE", "Retrieve value of a job environment variable.", "g", cmdGetEnv, groupEnv,
			"Display the value of a variable from the job environment table.", gOpt},
		{"list-env", "", "Show all job environment variables.", "g", cmdListEnv, groupEnv,
			"Displays sorted list of variables and their values from the job environment table.", gOpt},
		{"reset-env", "VARIABLE", "Revert all job environment variable changes.", "g", cmdResetEnv, groupEnv,
			"Discards all changes make to the job environment table, setting it back to its default value.", gOpt},
		{"set-env", "VARIABLE[=VALUE]", "Set one or more job environment variables.", "gr", cmdSetEnv, groupEnv,
			"Adds or updates variables in the job environment table.",
			map[byte]string{'g': gOpt['g'], 'r': "do not replace the value of the variable if already set"}},
		{"unset-env", "VARIABLE", "Remove one or more job environment variables.", "g", cmdUnsetEnv, groupEnv,
			"Discards variables from the job environment table.", gOpt},
		{"usage", "JOB", "Show job usage message if available.", "", cmdUsage, "",
			"JOB is the name of the job which usage is to be shown.\n", nil},
		{"notify-cgroup-manager-address", "", "Inform Upstart of D-Bus address cgroup manager is available on.", "", cmdNotifyCGroupManagerAddress, "",
			"Run to allow Upstart to provide cgroup stanza support.", nil},
		{"notify-dbus-address", "", "Inform Upstart of D-Bus address to connect to.", "", cmdNotifyDBusAddress, "",
			"Run to allow Upstart to provide services over D-Bus.", nil},
		{"notify-disk-writeable", "", "Inform Upstart that disk is now writeable.", "", cmdNotifyDiskWriteable, "",
			"Run to ensure output from jobs ending before disk is writeable are flushed to disk.", nil},
		{"list-sessions", "", "List all sessions.", "", cmdListSessions, "",
			"Displays list of running Session Init sessions", nil},
		// Ours, not Upstart's.
		{"action", "JOB NAME [KEY=VALUE]...", "Run a custom action of a running job.", "", cmdAction, "",
			"Starts the process `action NAME' of the job's running instance (chosen by the environment as for status) and prints its pid.", nil},
		{"monitor", "", "Print each event as it is emitted, until interrupted.", "s", cmdMonitor, "",
			"Prints the name and environment of every event the init daemon emits.",
			map[byte]string{'s': "separator between the fields of an event (default a space)"}},
		{"why", "JOB [KEY=VALUE]...", "Explain why a job is or is not running.", "", cmdWhy, "",
			"Shows the job's start on (stop on, when it runs) condition with what made each operand true, the events it holds, and what it waits for.", nil},
		{"boot-chart", "", "Write an SVG timeline of the jobs since the daemon started.", "", cmdBootChart, "",
			"Writes the chart to standard output.", nil},
		{"blame", "", "List jobs by the time they took to start.", "", cmdBlame, "",
			"Lists the job instances started since the daemon started, the slowest first.", nil},
		{"disable-respawn", "", "Stop every job from respawning (Chromium OS, for the shutdown).", "", cmdDisableRespawn, "",
			"From now on no job respawns; a job whose process ends is stopped as if it had no respawn stanza.", nil},
		// libnih adds this one to every command table.
		{"help", "", "display list of commands", "", nil, "", "", nil},
	}
}

func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// run is initctl's main; it returns the exit status.
func run(argv []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	prog := "initctl"
	if len(argv) > 0 {
		prog = filepath.Base(argv[0])
	}
	e := &env{prog: prog, lookup: lookup, stdout: stdout, stderr: stderr}
	e.dial = func() (*client, error) { return connect(e.conn, e.getenv) }

	var cmd *command
	if c := findCommand(prog); c != nil && isSymlinkName(prog) {
		cmd = c
	}
	var args []string
	if len(argv) > 1 {
		args = argv[1:]
	}
	cmd, positional, exit, err := parseArgs(e, cmd, args)
	if err != nil {
		return e.fail(err)
	}
	if exit >= 0 {
		return exit
	}
	if cmd == nil {
		return e.fail(usageError{"missing command"})
	}
	defer func() {
		if e.c != nil {
			e.c.close()
		}
	}()
	if cmd.name == "help" {
		e.commandHelp()
		return 0
	}
	if err := cmd.run(e, positional); err != nil {
		return e.fail(err)
	}
	return 0
}

func isSymlinkName(p string) bool {
	switch p {
	case "start", "stop", "restart", "reload", "status":
		return true
	}
	return false
}

// fail reports err as initctl does and returns the exit status 1.
func (e *env) fail(err error) int {
	if errors.Is(err, errSilent) {
		return 1
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "%s: %s\n", e.prog, ue.msg)
		fmt.Fprintf(e.stderr, "Try `%s --help' for more information.\n", e.prog)
		return 1
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", e.prog, err.Error())
	return 1
}

// out prints one line of normal output (suppressed by --quiet).
func (e *env) out(s string) {
	if !e.quiet {
		fmt.Fprintln(e.stdout, s)
	}
}

// info prints an informational message (shown with --verbose).
func (e *env) info(s string) {
	fmt.Fprintln(e.stdout, s)
}

// client connects on first use.
func (e *env) client() (*client, error) {
	if e.c == nil {
		c, err := e.dial()
		if err != nil {
			return nil, err
		}
		e.c = c
	}
	return e.c, nil
}

// parseArgs handles global and command options, which may be mixed
// (command options only after the command). exit >= 0 means: done.
func parseArgs(e *env, cmd *command, args []string) (*command, []string, int, error) {
	var positional []string
	cmdOpt := func(letter byte, spelled string) error {
		if cmd == nil || !strings.ContainsRune(cmd.opts, rune(letter)) {
			return usageError{"invalid option: " + spelled}
		}
		return nil
	}
	addPositional := func(a string) error {
		if cmd == nil {
			cmd = findCommand(a)
			if cmd == nil {
				return usageError{"invalid command: " + a}
			}
			return nil
		}
		positional = append(positional, a)
		return nil
	}
	// The boolean command options, by their short and long names.
	flags := boolFlags{
		{'n', "no-wait", &e.noWait},
		{'e', "enumerate", &e.enum},
		{'g', "global", &e.global},
		{'r', "retain", &e.retain},
		{'w', "warn", &e.warn},
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			for _, p := range args[i+1:] {
				if err := addPositional(p); err != nil {
					return nil, nil, -1, err
				}
			}
			break
		}
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a[2:], "=")
			needValue := func() (string, error) {
				if hasValue {
					return value, nil
				}
				if i+1 >= len(args) {
					return "", usageError{"missing argument: " + a}
				}
				i++
				return args[i], nil
			}
			var err error
			switch name {
			case "user":
				e.conn.user = true
			case "session":
				e.conn.session = true
			case "system":
				e.conn.system = true
			case "dest":
				e.conn.dest, err = needValue()
			case "quiet":
				e.quiet = true
			case "verbose", "debug":
				e.verbose = true
			case "help":
				e.optionHelp(cmd)
				return cmd, nil, 0, nil
			case "version":
				fmt.Fprintf(e.stdout, "%s (upstart 1.13.2)\n", e.prog)
				return cmd, nil, 0, nil
			case "no-wait", "enumerate", "global", "retain", "warn":
				f := flags.byLong(name)
				if err = cmdOpt(f.short, a); err == nil {
					*f.set = true
				}
			case "separator":
				if err = cmdOpt('s', a); err == nil {
					e.separator, err = needValue()
				}
			case "ignore-events":
				if err = cmdOpt('i', a); err == nil {
					var v string
					if v, err = needValue(); err == nil {
						e.ignore = append(e.ignore, strings.Split(v, ",")...)
					}
				}
			default:
				err = usageError{"invalid option: " + a}
			}
			if err != nil {
				return nil, nil, -1, err
			}
			continue
		}
		if len(a) > 1 && a[0] == '-' {
			for j := 1; j < len(a); j++ {
				var err error
				switch a[j] {
				case 'q':
					e.quiet = true
				case 'v':
					e.verbose = true
				case 'n', 'e', 'g', 'r', 'w':
					f := flags.byShort(a[j])
					if err = cmdOpt(f.short, "-"+string(a[j])); err == nil {
						*f.set = true
					}
				case 's':
					if err = cmdOpt('s', "-s"); err != nil {
						break
					}
					v := a[j+1:]
					if v == "" {
						if i+1 >= len(args) {
							err = usageError{"missing argument: -s"}
							break
						}
						i++
						v = args[i]
					}
					e.separator = v
					j = len(a)
				case 'i':
					if err = cmdOpt('i', "-i"); err != nil {
						break
					}
					v := a[j+1:]
					if v == "" {
						if i+1 >= len(args) {
							err = usageError{"missing argument: -i"}
							break
						}
						i++
						v = args[i]
					}
					e.ignore = append(e.ignore, strings.Split(v, ",")...)
					j = len(a)
				default:
					err = usageError{"invalid option: -" + string(a[j])}
				}
				if err != nil {
					return nil, nil, -1, err
				}
			}
			continue
		}
		if err := addPositional(a); err != nil {
			return nil, nil, -1, err
		}
	}
	return cmd, positional, -1, nil
}

func progPrefix(prog string, cmd *command) string {
	if prog == cmd.name {
		return prog
	}
	return prog + " " + cmd.name
}

// inJob returns the caller's own job and instance when run inside a job.
func (e *env) inJob() (job, instance string, ok bool) {
	job, hasJob := e.lookup("UPSTART_JOB")
	// UPSTART_INSTANCE is set, possibly empty, for every job process.
	instance, hasInst := e.lookup("UPSTART_INSTANCE")
	return job, instance, hasJob && hasInst
}

// ownInstance resolves the caller's own instance (start/stop without JOB).
func (e *env) ownInstance(c *client, job, instance string) (dbus.ObjectPath, error) {
	jp, err := c.getJobByName(job)
	if err != nil {
		return "", err
	}
	var ip dbus.ObjectPath
	err = c.callStore(jp, control.JobIface, "GetInstanceByName", []any{instance}, &ip)
	return ip, err
}

// job connects and finds the job named name.
func (e *env) job(name string) (*client, dbus.ObjectPath, error) {
	c, err := e.client()
	if err != nil {
		return nil, "", err
	}
	jp, err := c.getJobByName(name)
	return c, jp, err
}

// printStatus prints the status line(s) of the instance at ip of job.
func (e *env) printStatus(job string, ip dbus.ObjectPath) error {
	st, err := e.c.instanceStatus(job, ip, e.verbose)
	if err != nil {
		return err
	}
	e.out(st)
	return nil
}

func envArgs(args []string) []string {
	if len(args) == 0 {
		return []string{}
	}
	return args
}

func cmdStart(e *env, args []string) error {
	return startStop(e, args, "Start")
}

func cmdStop(e *env, args []string) error {
	return startStop(e, args, "Stop")
}

func startStop(e *env, args []string, method string) error {
	var job string
	var ip dbus.ObjectPath
	if len(args) == 0 {
		j, inst, ok := e.inJob()
		if !ok {
			return usageError{"missing job name"}
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		if ip, err = e.ownInstance(c, j, inst); err != nil {
			return err
		}
		// From inside the job: never wait (it would wait for itself).
		if _, err := c.call(ip, control.InstanceIface, method, false); err != nil {
			return err
		}
		job = j
	} else {
		job = args[0]
		c, jp, err := e.job(job)
		if err != nil {
			return err
		}
		env := envArgs(args[1:])
		if method == "Start" {
			if err := c.callStore(jp, control.JobIface, "Start", []any{env, !e.noWait}, &ip); err != nil {
				return err
			}
		} else {
			if err := c.callStore(jp, control.JobIface, "GetInstance", []any{env}, &ip); err != nil {
				return err
			}
			if _, err := c.call(jp, control.JobIface, "Stop", env, !e.noWait); err != nil {
				return err
			}
		}
	}
	return e.printStatus(job, ip)
}

func cmdRestart(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing job name"}
	}
	c, jp, err := e.job(args[0])
	if err != nil {
		return err
	}
	var ip dbus.ObjectPath
	if err := c.callStore(jp, control.JobIface, "Restart", []any{envArgs(args[1:]), !e.noWait}, &ip); err != nil {
		return err
	}
	return e.printStatus(args[0], ip)
}

func cmdReload(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing job name"}
	}
	c, jp, err := e.job(args[0])
	if err != nil {
		return err
	}
	var ip dbus.ObjectPath
	if err := c.callStore(jp, control.JobIface, "GetInstance", []any{envArgs(args[1:])}, &ip); err != nil {
		return err
	}
	_, err = c.call(ip, control.InstanceIface, "Reload")
	if dbusErrorName(err) != "org.freedesktop.DBus.Error.UnknownMethod" {
		return err
	}
	// An older daemon without Reload: signal the main process ourselves.
	v, err := c.property(ip, control.InstanceIface, "processes")
	if err != nil {
		return err
	}
	for _, p := range parseProcesses(v.Value()) {
		if p.name == "main" {
			return syscall.Kill(int(p.pid), syscall.SIGHUP)
		}
	}
	return fmt.Errorf("Job is not running: %s", args[0])
}

func cmdStatus(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing job name"}
	}
	c, jp, err := e.job(args[0])
	if err != nil {
		return err
	}
	var ip dbus.ObjectPath
	err = c.callStore(jp, control.JobIface, "GetInstance", []any{envArgs(args[1:])}, &ip)
	if dbusErrorName(err) == api.ErrUnknownInstance {
		e.out(stoppedStatus(args[0]))
		return nil
	}
	if err != nil {
		return err
	}
	if err := e.printStatus(args[0], ip); err != nil {
		return err
	}
	if e.verbose {
		// Our extension: how the daemon knows the processes listed.
		if v, err := c.property(ip, control.ExtInstanceIface, "tracking"); err == nil {
			e.out(fmt.Sprintf("\ttracking: %v", v.Value()))
		}
		// Readiness (expect event, notify, …): what it waits for, and
		// the last STATUS= of a notify job.
		for _, p := range []string{"awaiting", "status"} {
			if v, err := c.property(ip, control.ExtInstanceIface, p); err == nil {
				if s, _ := v.Value().(string); s != "" {
					e.out(fmt.Sprintf("\t%s: %s", p, s))
				}
			}
		}
	}
	return nil
}

// cmdAction runs a custom action of a running instance (our extension).
func cmdAction(e *env, args []string) error {
	if len(args) < 2 {
		return usageError{"missing job name or action name"}
	}
	c, jp, err := e.job(args[0])
	if err != nil {
		return err
	}
	var ip dbus.ObjectPath
	if err := c.callStore(jp, control.JobIface, "GetInstance", []any{envArgs(args[2:])}, &ip); err != nil {
		return err
	}
	var pid int32
	if err := c.callStore(ip, control.ExtInstanceIface, "Action", []any{args[1]}, &pid); err != nil {
		return err
	}
	e.out(fmt.Sprintf("%s process %d", args[1], pid))
	return nil
}

func cmdList(e *env, args []string) error {
	if len(args) > 0 {
		return usageError{"unexpected argument"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if done, err := listAll(e, c); done {
		return err
	}
	var jobs []dbus.ObjectPath
	if err := c.callStore(control.ManagerPath, control.ManagerIface, "GetAllJobs", nil, &jobs); err != nil {
		return err
	}
	// The calls for a batch of jobs are all sent before the first reply is
	// read: with 1000 jobs, round trips one at a time would be most of
	// the time. The output is the same, in the same order.
	const batch = 128
	for len(jobs) > 0 {
		n := min(batch, len(jobs))
		if err := listBatch(e, c, jobs[:n]); err != nil {
			return err
		}
		jobs = jobs[n:]
	}
	return nil
}

// listAll prints the list from one call of our GetAllStatus
// (org.goupstart.Manager1): with a thousand jobs, the 1 + 3 per job calls
// of Upstart's API cost more than everything else. done is false when the
// daemon has no such method (Upstart itself) or a bus policy refuses it:
// the list is then built from Upstart's calls, with the same output. Any
// other error (the daemon refusing the caller) is the answer.
func listAll(e *env, c *client) (done bool, err error) {
	body, err := c.call(control.ManagerPath, control.ExtManagerIface, "GetAllStatus", e.verbose)
	if err != nil {
		switch dbusErrorName(err) {
		case "org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownInterface",
			"org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.AccessDenied",
			control.ErrNotSupported:
			return false, nil
		}
		return true, err
	}
	var doc string
	var jobs control.StatusList
	if err := dbus.Store(body, &doc); err != nil {
		return true, fmt.Errorf("invalid reply to GetAllStatus: %w", err)
	}
	if err := json.Unmarshal([]byte(doc), &jobs); err != nil {
		return true, fmt.Errorf("invalid reply to GetAllStatus: %w", err)
	}
	conv := func(ps []control.Process) []proc {
		out := make([]proc, len(ps))
		for k, p := range ps {
			out[k] = proc{p.Name, p.Pid}
		}
		return out
	}
	var b strings.Builder
	for _, j := range jobs {
		if len(j.Instances) == 0 {
			b.WriteString(stoppedStatus(j.Name) + "\n")
		}
		for _, in := range j.Instances {
			procs := conv(in.Processes)
			b.WriteString(formatStatus(j.Name, in.Name, in.Goal, in.State, procs))
			if e.verbose {
				b.WriteString(formatMembers(procs, conv(in.Members)))
			}
			b.WriteString("\n")
		}
	}
	if b.Len() > 0 {
		e.out(strings.TrimSuffix(b.String(), "\n"))
	}
	return true, nil
}

func listBatch(e *env, c *client, jobs []dbus.ObjectPath) error {
	type pending struct{ name, insts <-chan *dbus.Call }
	p := make([]pending, len(jobs))
	for i, jp := range jobs {
		p[i].name = c.send(jp, control.PropertiesIface, "Get", control.JobIface, "name")
		p[i].insts = c.send(jp, control.JobIface, "GetAllInstances")
	}
	// Replies are taken in order; the first error ends the output where
	// one call after the other would have ended it.
	type jobInsts struct {
		name   string
		status []<-chan *dbus.Call
	}
	got := make([]jobInsts, 0, len(jobs))
	var jobErr error
	for i := range p {
		nc, ic := <-p[i].name, <-p[i].insts
		if jobErr != nil {
			continue // drain the batch's replies
		}
		var j jobInsts
		var insts []dbus.ObjectPath
		jobErr = storeString(nc, &j.name)
		if jobErr == nil && ic.Err != nil {
			jobErr = ic.Err
		}
		if jobErr == nil {
			jobErr = dbus.Store(ic.Body, &insts)
		}
		if jobErr != nil {
			continue
		}
		for _, ip := range insts {
			j.status = append(j.status, c.send(ip, control.PropertiesIface, "GetAll", statusIface(e.verbose)))
		}
		got = append(got, j)
	}
	var err error
	for _, j := range got {
		if len(j.status) == 0 && err == nil {
			e.out(stoppedStatus(j.name))
		}
		for _, r := range j.status {
			st, serr := instanceStatusReply(j.name, r, e.verbose)
			if err == nil && serr != nil {
				err = serr
			}
			if err == nil {
				e.out(st)
			}
		}
	}
	if err != nil {
		return err
	}
	return jobErr
}

// storeString takes a string out of the reply to Properties.Get.
func storeString(call *dbus.Call, s *string) error {
	if call.Err != nil {
		return call.Err
	}
	var v dbus.Variant
	if err := dbus.Store(call.Body, &v); err != nil {
		return err
	}
	var ok bool
	if *s, ok = v.Value().(string); !ok {
		return fmt.Errorf("property has type %s, not s", v.Signature())
	}
	return nil
}

func cmdEmit(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing event name"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "EmitEvent", args[0], envArgs(args[1:]), !e.noWait)
	return err
}

func cmdReloadConfiguration(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "ReloadConfiguration")
	return err
}

func cmdVersion(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	v, err := c.stringProperty(control.ManagerPath, control.ManagerIface, "version")
	if err != nil {
		return err
	}
	e.out(v)
	return nil
}

func cmdLogPriority(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		v, err := c.stringProperty(control.ManagerPath, control.ManagerIface, "log_priority")
		if err != nil {
			return err
		}
		e.out(v)
		return nil
	}
	switch args[0] {
	case "debug", "info", "message", "warn", "error", "fatal":
	default:
		return errors.New("The log priority given was not recognised")
	}
	_, err = c.call(control.ManagerPath, control.PropertiesIface, "Set", control.ManagerIface, "log_priority", dbus.MakeVariant(args[0]))
	return err
}

func cmdUsage(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing job name"}
	}
	c, jp, err := e.job(args[0])
	if err != nil {
		return err
	}
	u, err := c.stringProperty(jp, control.JobIface, "usage")
	if err != nil {
		return err
	}
	e.out("Usage: " + u)
	return nil
}

// jobDetails selects the environment table: the caller's instance when run
// inside a job, else (or with -g) the global one.
func (e *env) jobDetails() []string {
	if e.global {
		return []string{}
	}
	if job, inst, ok := e.inJob(); ok {
		return []string{job, inst}
	}
	return []string{}
}

func cmdGetEnv(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing variable name"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	var v string
	if err := c.callStore(control.ManagerPath, control.ManagerIface, "GetEnv", []any{e.jobDetails(), args[0]}, &v); err != nil {
		return err
	}
	e.out(v)
	return nil
}

func cmdSetEnv(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing variable value"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "SetEnvList", e.jobDetails(), args, !e.retain)
	return err
}

func cmdUnsetEnv(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing variable name"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "UnsetEnvList", e.jobDetails(), args)
	return err
}

func cmdListEnv(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	var vars []string
	if err := c.callStore(control.ManagerPath, control.ManagerIface, "ListEnv", []any{e.jobDetails()}, &vars); err != nil {
		return err
	}
	sort.Strings(vars)
	for _, v := range vars {
		e.out(v)
	}
	return nil
}

func cmdResetEnv(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "ResetEnv", e.jobDetails())
	return err
}

func cmdNotifyDiskWriteable(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "NotifyDiskWriteable")
	return err
}

// cmdDisableRespawn: no job respawns from now on (Chromium OS's
// chromeos_shutdown uses it so that nothing comes back while the system
// goes down).
func cmdDisableRespawn(e *env, args []string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ExtManagerIface, "DisableRespawn")
	return err
}

func cmdNotifyDBusAddress(e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing D-Bus address"}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	_, err = c.call(control.ManagerPath, control.ManagerIface, "NotifyDBusAddress", args[0])
	return err
}

// boolFlag is a command option that only switches something on.
type boolFlag struct {
	short byte
	long  string
	set   *bool
}

type boolFlags []boolFlag

func (fs boolFlags) byLong(name string) boolFlag {
	for _, f := range fs {
		if f.long == name {
			return f
		}
	}
	panic("initctl: no option --" + name)
}

func (fs boolFlags) byShort(c byte) boolFlag {
	for _, f := range fs {
		if f.short == c {
			return f
		}
	}
	panic("initctl: no option -" + string(c))
}
