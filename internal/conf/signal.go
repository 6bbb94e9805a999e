package conf

import (
	"strings"

	"golang.org/x/sys/unix"
)

// signalNames are the names init(5) accepts, without the SIG prefix.
var signalNames = map[string]int{
	"HUP": int(unix.SIGHUP), "INT": int(unix.SIGINT), "QUIT": int(unix.SIGQUIT),
	"ILL": int(unix.SIGILL), "TRAP": int(unix.SIGTRAP), "ABRT": int(unix.SIGABRT),
	"IOT": int(unix.SIGIOT), "BUS": int(unix.SIGBUS), "FPE": int(unix.SIGFPE),
	"KILL": int(unix.SIGKILL), "USR1": int(unix.SIGUSR1), "SEGV": int(unix.SIGSEGV),
	"USR2": int(unix.SIGUSR2), "PIPE": int(unix.SIGPIPE), "ALRM": int(unix.SIGALRM),
	"TERM": int(unix.SIGTERM), "STKFLT": int(unix.SIGSTKFLT), "CHLD": int(unix.SIGCHLD),
	"CLD": int(unix.SIGCHLD), "CONT": int(unix.SIGCONT), "STOP": int(unix.SIGSTOP),
	"TSTP": int(unix.SIGTSTP), "TTIN": int(unix.SIGTTIN), "TTOU": int(unix.SIGTTOU),
	"URG": int(unix.SIGURG), "XCPU": int(unix.SIGXCPU), "XFSZ": int(unix.SIGXFSZ),
	"VTALRM": int(unix.SIGVTALRM), "PROF": int(unix.SIGPROF), "WINCH": int(unix.SIGWINCH),
	"IO": int(unix.SIGIO), "POLL": int(unix.SIGPOLL), "PWR": int(unix.SIGPWR),
	"SYS": int(unix.SIGSYS),
}

// SignalByName returns the number of a signal named with or without the
// SIG prefix ("TERM", "SIGTERM"; case matters). Numbers are not names.
func SignalByName(s string) (int, bool) {
	n, ok := signalNames[strings.TrimPrefix(s, "SIG")]
	return n, ok
}
