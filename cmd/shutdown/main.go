// Command shutdown is the system V style tools of Upstart in one binary,
// chosen by the name it is run as (symlinks): shutdown, reboot, halt,
// poweroff, telinit and runlevel. They change runlevels by emitting the
// `runlevel` event to init over its private D-Bus socket, as Upstart's
// do, and keep utmp/wtmp up to date.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/utmp"
)

// tool is one personality's run function.
type tool func(t *env, args []string) int

var tools = map[string]tool{
	"shutdown": runShutdown,
	"reboot":   runReboot,
	"halt":     runReboot,
	"poweroff": runReboot,
	"telinit":  runTelinit,
	"runlevel": runRunlevel,
}

// env is what a tool sees of the world; tests replace parts of it.
type env struct {
	prog           string
	stdout, stderr io.Writer
	getenv         func(string) string
	geteuid        func() int
	utmp, wtmp     string
	address        string // init's private socket
	verbose        bool
	quiet          bool
}

func main() {
	prog := filepath.Base(os.Args[0])
	run, ok := tools[prog]
	if !ok {
		// Run as the binary's own name or anything else: the first
		// argument may name the tool (shutdown reboot -f).
		if len(os.Args) > 1 {
			if r, ok := tools[os.Args[1]]; ok {
				prog, run = os.Args[1], r
				os.Args = os.Args[1:]
			}
		}
		if run == nil {
			prog, run = "shutdown", runShutdown
		}
	}
	t := &env{prog: prog, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, geteuid: os.Geteuid,
		utmp: utmp.UtmpFile, wtmp: utmp.WtmpFile, address: control.SystemAddress}
	os.Exit(run(t, os.Args[1:]))
}

// errorf prints "PROG: message", as libnih's tools do.
func (t *env) errorf(format string, a ...any) {
	fmt.Fprintf(t.stderr, "%s: %s\n", t.prog, fmt.Sprintf(format, a...))
}

// infof prints a message only with --verbose.
func (t *env) infof(format string, a ...any) {
	if t.verbose {
		t.errorf(format, a...)
	}
}

// usageFail reports a command line error with libnih's hint; exit 1.
func (t *env) usageFail(format string, a ...any) int {
	fmt.Fprintf(t.stderr, "%s: %s\n", t.prog, fmt.Sprintf(format, a...))
	fmt.Fprintf(t.stderr, "Try `%s --help' for more information.\n", t.prog)
	return 1
}

// needRoot refuses a caller that is not root, with Upstart's message.
func (t *env) needRoot() bool {
	if t.geteuid() != 0 {
		t.errorf("Need to be root")
		return false
	}
	return true
}

// option is one command line option in libnih's style: a short letter, a
// long name (either may be empty), whether it takes a value, and what to
// do with it.
type option struct {
	short rune
	long  string
	arg   string // value name for --help; "" means no value
	help  string
	set   func(val string)
}

// parse parses args as libnih does: options and arguments may mix;
// short options bundle (-rf), take a value attached or as the next
// argument; long ones as --name=VALUE or --name VALUE; "--" ends the
// options. -q/--quiet, -v/--verbose, --help and --version are added.
// It returns the arguments, or ok false after printing the error (or the
// help or version, exit code then in code).
func (t *env) parse(args []string, opts []option, usage, synopsis, help string) (rest []string, code int, ok bool) {
	showHelp, showVersion := false, false
	opts = append(opts,
		option{'q', "quiet", "", "reduce output to errors only", func(string) { t.quiet = true }},
		option{'v', "verbose", "", "increase output to include informational messages", func(string) { t.verbose = true }},
		option{0, "help", "", "display this help and exit", func(string) { showHelp = true }},
		option{0, "version", "", "output version information and exit", func(string) { showVersion = true }},
	)
	byShort := map[rune]*option{}
	byLong := map[string]*option{}
	for i := range opts {
		o := &opts[i]
		if o.short != 0 {
			byShort[o.short] = o
		}
		if o.long != "" {
			byLong[o.long] = o
		}
	}
	set := func(o *option, v string) {
		if o.set != nil {
			o.set(v)
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := byLong[name]
			if o == nil {
				return nil, t.usageFail("invalid option: %s", a), false
			}
			if o.arg == "" {
				if hasVal {
					return nil, t.usageFail("unexpected argument: %s", a), false
				}
			} else if !hasVal {
				if i+1 >= len(args) {
					return nil, t.usageFail("missing argument: %s", a), false
				}
				i++
				val = args[i]
			}
			set(o, val)
		case len(a) > 1 && a[0] == '-':
			for k, c := range a[1:] {
				o := byShort[c]
				if o == nil {
					return nil, t.usageFail("invalid option: -%c", c), false
				}
				if o.arg == "" {
					set(o, "")
					continue
				}
				val := a[2+k:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, t.usageFail("missing argument: -%c", c), false
					}
					i++
					val = args[i]
				}
				set(o, val)
				break
			}
		default:
			rest = append(rest, a)
		}
	}
	if showHelp {
		fmt.Fprintf(t.stdout, "Usage: %s [OPTION]... %s\n%s\n\nOptions:\n", t.prog, usage, synopsis)
		for _, o := range opts {
			s := "    "
			if o.short != 0 {
				s = fmt.Sprintf("-%c", o.short)
				if o.long != "" {
					s += ", "
				} else {
					s += "  "
				}
			}
			if o.long != "" {
				s += "--" + o.long
				if o.arg != "" {
					s += "=" + o.arg
				}
			} else if o.arg != "" {
				s += " " + o.arg
			}
			if o.help == "" {
				continue
			}
			fmt.Fprintf(t.stdout, "  %-28s %s\n", s, o.help)
		}
		if help != "" {
			fmt.Fprintf(t.stdout, "\n%s\n", help)
		}
		return nil, 0, false
	}
	if showVersion {
		fmt.Fprintf(t.stdout, "%s (upstart 1.13.2)\n", t.prog)
		return nil, 0, false
	}
	return rest, 0, true
}

// ignored is the setter of a compatibility option that does nothing.
func ignored(string) {}
