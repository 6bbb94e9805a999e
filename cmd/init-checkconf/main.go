// Command init-checkconf checks Upstart job files: each FILE is parsed as a
// job (named after the file) and each script section is given to
// `/bin/sh -n`. It takes Upstart's options and prints Upstart's lines: a
// good file gives "File FILE: syntax ok" on stdout; a bad one "ERROR: File
// FILE: syntax invalid:" on stderr followed by one FILE:LINE: message line
// per problem (our addition). The exit status is 1 if any file had a
// problem.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/goupstart/upstart/internal/conf"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: init-checkconf [options] -f <conf_file>
       init-checkconf [options]    <conf_file>

Checks that each job configuration file parses as Upstart's init(8) does
and that its script sections are valid shell.

Options:

 -d, --debug              : Show the parsed job of each good file.
 -f <conf_file>,
 --file=<conf_file>       : Job configuration file to check.
 -i, --ignore-events=<events>
                          : Accepted for compatibility; events are not
                            checked (the file is checked on its own).
 -s, --noscript           : Do not check script sections with /bin/sh -n.
 -w, --initctl-path=<path>: Accepted for compatibility; unused.
 -x, --upstart-path=<path>: Accepted for compatibility; unused (no
                            daemon is started).
 -h, --help               : This help.

Exit status is zero on success, 1 on failure.
`

func run(args []string, stdout, stderr io.Writer) int {
	var files []string
	debug, noShell := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := a, "", false
		if strings.HasPrefix(a, "--") {
			name, val, hasVal = strings.Cut(a, "=")
		}
		value := func() (string, bool) {
			if hasVal {
				return val, true
			}
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "init-checkconf: %s needs a value\n\n%s", a, usage)
				return "", false
			}
			i++
			return args[i], true
		}
		switch name {
		case "-d", "--debug":
			debug = true
		case "-s", "--noscript":
			noShell = true
		case "-h", "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case "-f", "--file":
			v, ok := value()
			if !ok {
				return 1
			}
			files = append(files, v)
		case "-i", "--ignore-events", "-w", "--initctl-path", "-x", "--upstart-path":
			if _, ok := value(); !ok {
				return 1
			}
		case "--":
			files = append(files, args[i+1:]...)
			i = len(args)
		default:
			if strings.HasPrefix(a, "-") && a != "-" {
				fmt.Fprintf(stderr, "init-checkconf: invalid option: %s\n\n%s", a, usage)
				return 1
			}
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "init-checkconf: no file given\n\n%s", usage)
		return 1
	}
	shell := "/bin/sh"
	if noShell {
		shell = ""
	}
	status := 0
	for _, path := range files {
		j, errs := conf.CheckFile(path, shell)
		if len(errs) > 0 {
			fmt.Fprintf(stderr, "ERROR: File %s: syntax invalid:\n", path)
			for _, err := range errs {
				fmt.Fprintln(stderr, err)
			}
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "File %s: syntax ok\n", path)
		if debug {
			showJob(stdout, j)
		}
	}
	return status
}

func showJob(w io.Writer, j *conf.Job) {
	fmt.Fprintln(w, j.Name)
	for _, e := range j.Emits {
		fmt.Fprintf(w, "  emits %s\n", e)
	}
	if j.StartOn != nil {
		fmt.Fprintf(w, "  start on %s\n", j.StartOn)
	}
	if j.StopOn != nil {
		fmt.Fprintf(w, "  stop on %s\n", j.StopOn)
	}
}
