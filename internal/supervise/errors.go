package supervise

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
)

// SpawnError is a failure that happened before the job's own program ran.
// It is returned by Spawn (when the failure is known before or during the
// fork) or carried by Exit.SpawnErr (when a pre-exec process reports it).
//
// Error() reads like Upstart's reasons: "unable to execute: no such file or
// directory", "unable to change working directory: ...", "unable to find
// setuid user".
type SpawnError struct {
	Op  string // what was being done: "execute", "change working directory", ...
	Err error  // the cause; may be nil (e.g. an unknown user)
}

func (e *SpawnError) Error() string {
	if e.Err == nil {
		return "unable to " + e.Op
	}
	return "unable to " + e.Op + ": " + e.Err.Error()
}

func (e *SpawnError) Unwrap() error { return e.Err }

// The operations named in SpawnError.Op.
const (
	opExec      = "execute"
	opChdir     = "change working directory"
	opChroot    = "change root directory"
	opRlimit    = "set resource limit"
	opUmask     = "set file creation mask"
	opNice      = "set process priority"
	opOOM       = "set oom score adjustment"
	opSetgroups = "set supplementary group IDs"
	opSetgid    = "set group ID"
	opSetuid    = "set user ID"
	opUser      = "find setuid user"
	opGroup     = "find setgid group"
	opPreExec   = "prepare process"
	opConsole   = "open console"
	opLog       = "set up output logging"
	opCgroup    = "enter cgroup"
	opSecurity  = "switch security profile" // Upstart's words
	opLoad      = "load security profile"
)

// encodeChildErr turns a failure in the pre-exec process into the bytes
// written to the status pipe: "ERRNO OP". ERRNO is 0 when the cause is not
// an errno; the text of the cause then follows OP after a NUL.
func encodeChildErr(op string, err error) []byte {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return []byte(strconv.Itoa(int(errno)) + " " + op)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return []byte("0 " + op + "\x00" + msg)
}

// decodeChildErr is the inverse of encodeChildErr.
func decodeChildErr(b []byte) error {
	s := string(b)
	num, rest, ok := strings.Cut(s, " ")
	n, convErr := strconv.Atoi(num)
	if !ok || convErr != nil {
		return &SpawnError{Op: opPreExec, Err: errors.New("malformed report from pre-exec process: " + strconv.Quote(s))}
	}
	if n != 0 {
		return &SpawnError{Op: rest, Err: syscall.Errno(n)}
	}
	op, msg, _ := strings.Cut(rest, "\x00")
	var cause error
	if msg != "" {
		cause = errors.New(msg)
	}
	return &SpawnError{Op: op, Err: cause}
}

// Transient reports whether a spawn failed only for want of file
// descriptors (EMFILE, ENFILE): the engine tries such a spawn again later
// instead of failing the job.
func Transient(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
