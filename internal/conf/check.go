package conf

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// JobNameFromFile is the job name init-checkconf gives a file: its base
// name without the .conf (or .override) extension.
func JobNameFromFile(path string) string {
	base := filepath.Base(path)
	if name, _, ok := SplitName(base); ok {
		return name
	}
	return base
}

// CheckFile parses the job file at path and, unless shell is "", runs
// `shell -n` on each script section. It returns the job (nil if it did not
// parse) and every problem found, each reported as PATH:LINE: message.
func CheckFile(path, shell string) (*Job, []error) {
	data, err := readFile(path, true)
	if err != nil {
		return nil, []error{err}
	}
	j, err := Parse(JobNameFromFile(path), path, data)
	if err != nil {
		return nil, []error{err}
	}
	if shell == "" {
		return j, nil
	}
	var errs []error
	for pt, p := range j.Process {
		if p == nil || !p.Script {
			continue
		}
		if msg := shellCheck(shell, p.Command); msg != "" {
			errs = append(errs, &Error{Path: path, Line: p.Line,
				Msg: fmt.Sprintf("%s script: shell syntax error: %s", processLabel(ProcessType(pt)), msg)})
		}
	}
	return j, errs
}

func processLabel(pt ProcessType) string {
	if pt == Main {
		return "main"
	}
	return pt.String()
}

// shellCheck runs `shell -n` on script and returns its complaint, or "".
func shellCheck(shell, script string) string {
	cmd := exec.Command(shell, "-n")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		if msg == "" {
			msg = err.Error()
		}
		return msg
	}
	return ""
}
