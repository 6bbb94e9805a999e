// Command init-checkconf checks Upstart job files: each FILE is parsed as a
// job (named after the file) and each script section is given to
// `/bin/sh -n`. Problems go to stderr as FILE:LINE: message; a good file
// prints "FILE: syntax ok". The exit status is 1 if any file had a problem.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/goupstart/upstart/internal/conf"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init-checkconf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	debug := fs.Bool("d", false, "show the parsed job of each good file")
	noShell := fs.Bool("s", false, "do not check script sections with /bin/sh -n")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: init-checkconf [-d] [-s] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 1
	}
	shell := "/bin/sh"
	if *noShell {
		shell = ""
	}
	status := 0
	for _, path := range fs.Args() {
		j, errs := conf.CheckFile(path, shell)
		for _, err := range errs {
			fmt.Fprintln(stderr, err)
		}
		if len(errs) > 0 {
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: syntax ok\n", path)
		if *debug {
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
