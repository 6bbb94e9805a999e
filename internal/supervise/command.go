package supervise

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/goupstart/upstart/internal/conf"
)

// Shell is the shell that runs scripts and exec lines with shell characters.
const Shell = "/bin/sh"

// DefaultPath is the PATH used to find a program when the job's environment
// has none (Upstart's PATH for PID 1).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin"

// ScriptFd is the descriptor through which a multi-line script reaches the
// shell.
const ScriptFd = 9

// shellChars are the characters that make an exec line go through the shell.
const shellChars = "~`!$^&*()=|\\{}[];\"'<>?"

// command is what to execute for one process.
type command struct {
	argv   []string // argv[0] is what is looked up in PATH
	script []byte   // non-nil: to be fed to the child on ScriptFd
}

// buildCommand turns a job process into an argv, following Upstart: exec
// lines with shell characters run as `sh -e -c "exec LINE"`, others are
// split on white space; one-line scripts run as `sh -e -c LINE`, longer ones
// are read by `sh -e /proc/self/fd/9` from a pipe whose first line closes
// fd 9 again.
func buildCommand(p *conf.Process) (command, error) {
	if p == nil {
		return command{}, &SpawnError{Op: opExec, Err: errors.New("no such process defined")}
	}
	if !p.Script {
		if strings.ContainsAny(p.Command, shellChars) {
			return command{argv: []string{Shell, "-e", "-c", "exec " + p.Command}}, nil
		}
		argv := strings.Fields(p.Command)
		if len(argv) == 0 {
			return command{}, &SpawnError{Op: opExec, Err: errors.New("empty command")}
		}
		return command{argv: argv}, nil
	}
	body := strings.TrimRight(p.Command, "\n")
	if !strings.Contains(body, "\n") {
		return command{argv: []string{Shell, "-e", "-c", body}}, nil
	}
	script := make([]byte, 0, len("exec 9<&-\n")+len(p.Command)+1)
	script = append(script, "exec 9<&-\n"...)
	script = append(script, p.Command...)
	if !strings.HasSuffix(p.Command, "\n") {
		script = append(script, '\n')
	}
	return command{argv: []string{Shell, "-e", "/proc/self/fd/9"}, script: script}, nil
}

// envPath returns the value of PATH in env, or DefaultPath.
func envPath(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return DefaultPath
}

// lookPath finds file in the directories of path the way execvp does,
// seen from inside root ("" or "/" meaning no chroot) with working
// directory cwd ("" meaning the daemon's). The result is the name to
// execute once inside root and cwd.
func lookPath(root, cwd, file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	var firstErr error = syscall.ENOENT
	sawAccess := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		name := dir + "/" + file
		check := name
		if !strings.HasPrefix(name, "/") && cwd != "" {
			check = filepath.Join(cwd, name)
		}
		st, err := os.Stat(inRoot(root, check))
		if err != nil {
			continue
		}
		if st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return name, nil
		}
		if !sawAccess {
			sawAccess = true
			firstErr = syscall.EACCES
		}
	}
	return "", firstErr
}

// inRoot maps a path seen from inside the chroot root to the daemon's view.
func inRoot(root, name string) string {
	if root == "" || root == "/" {
		return name
	}
	return filepath.Join(root, name)
}
