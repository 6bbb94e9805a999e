package conf

import (
	"time"

	"github.com/goupstart/upstart/internal/cond"
)

// ProcessType names one of a job's processes. The order is the order in
// which Upstart lists processes (status lines, the D-Bus processes property).
type ProcessType int

const (
	Main ProcessType = iota
	PreStart
	PostStart
	PreStop
	PostStop
	NumProcessTypes
)

var processNames = [...]string{"main", "pre-start", "post-start", "pre-stop", "post-stop"}

func (p ProcessType) String() string {
	if p >= 0 && int(p) < len(processNames) {
		return processNames[p]
	}
	return "unknown"
}

// Process is the definition of one job process.
type Process struct {
	Script  bool   `json:",omitempty"` // true: Command is a script body run by /bin/sh -e
	Command string // exec: the raw rest of the line, unquoted; script: the body
	Line    int    `json:",omitempty"` // line of the stanza, for messages
}

// Action is a named custom process of a job.
type Action struct {
	Name    string
	Process *Process
}

// Expect is how the main process signals that it is ready.
type Expect int

const (
	ExpectNone Expect = iota
	ExpectStop
	ExpectDaemon
	ExpectFork
	ExpectExit // `expect exit N`
	// ExpectEvent: `expect event COND` and its sugar (`expect notify`,
	// `expect fd N`, `expect file PATH`, `expect socket …`, `expect dbus
	// NAME`): the job is ready when ExpectOn matches.
	ExpectEvent
)

// ReadyEvent is the event the readiness watchers of the `expect` sugar
// emit: ready JOB=… INSTANCE=… SOURCE=notify|fd|file|socket|dbus (and a
// detail of the source: FILE, PROTO and ADDR, NAME, FD).
const ReadyEvent = "ready"

// Console is where a job's standard streams go.
type Console int

const (
	ConsoleDefault Console = iota // no stanza: the daemon's --default-console
	ConsoleLog
	ConsoleNone
	ConsoleOutput
	ConsoleOwner
)

// Limit is one `limit` stanza. Unlimited is ^uint64(0) (RLIM_INFINITY).
type Limit struct {
	Resource   int // RLIMIT_* number
	Soft, Hard uint64
}

// Cgroup is one `cgroup` stanza.
type Cgroup struct {
	Controller, Name, Key, Value string
}

// Job is a parsed job definition (one .conf file, with its .override
// applied). It is immutable once parsed: a changed file yields a new Job.
// The json tags keep the state document of a re-exec (internal/state)
// small: a definition is mostly empty fields.
type Job struct {
	Name string `json:",omitempty"` // from the path relative to its conf dir, without .conf: "net/apache"
	Path string `json:",omitempty"` // the .conf file it came from

	Description, Author, Version, Usage string `json:",omitempty"`

	StartOn, StopOn *cond.Node `json:",omitempty"` // nil: none
	Emits           []string   `json:",omitempty"`
	Instance        string     `json:",omitempty"` // template, expanded with the start environment

	Process [NumProcessTypes]*Process `json:",omitempty"` // nil: not defined

	Task    bool `json:",omitempty"`
	Respawn bool `json:",omitempty"`
	// RespawnLimit respawns within RespawnInterval stop the job; 0 in either
	// means no limit. Defaults 10 and 5s.
	RespawnLimit    int           `json:",omitempty"`
	RespawnInterval time.Duration `json:",omitempty"`
	NormalExit      []int         `json:",omitempty"` // exit status, or signal<<8

	Expect Expect `json:",omitempty"`
	// ExpectExits is how many processes of the main process tree must
	// exit before the job is running (`expect exit N`; fork is 1, daemon
	// is 2); the process that remains is the main process.
	ExpectExits int `json:",omitempty"`
	// ExpectTimeout bounds the wait for `expect` readiness; past it the
	// start fails (`expect timeout SECONDS`, default 30 s).
	ExpectTimeout time.Duration `json:",omitempty"`
	KillTimeout   time.Duration `json:",omitempty"` // default 5s
	KillSignal    int           `json:",omitempty"` // default SIGTERM
	ReloadSignal  int           `json:",omitempty"` // default SIGHUP

	// ExpectOn is the readiness condition of ExpectEvent: the `start on`
	// language, $VAR expanded from the instance's environment.
	ExpectOn *cond.Node `json:",omitempty"`
	// ExpectWatch names the watcher of the sugar that produces the ready
	// event: ["notify"], ["fd", "N"], ["file", PATH], ["socket", PROTO,
	// ADDR], ["dbus", NAME]; nil for a plain `expect event`.
	ExpectWatch []string `json:",omitempty"`
	// PidFile is `pid file PATH` (ours): when the main process of a
	// running instance exits and hands over to a process it forked, the
	// pid this file names is the new main process (if it is one of the
	// instance's); "" means the oldest remaining one.
	PidFile string `json:",omitempty"`
	// Watchdog is the `watchdog SECONDS` interval: a job with a notify
	// socket must send WATCHDOG=1 at least this often once running.
	Watchdog time.Duration `json:",omitempty"`

	Console Console `json:",omitempty"`
	// LogPipe: `console log pipe`, output is logged through a pipe
	// instead of a pty (an extension; Console is ConsoleLog).
	LogPipe bool     `json:",omitempty"`
	Env     []string `json:",omitempty"` // "KEY=VALUE" or "KEY" (copy from init's environment)
	Export  []string `json:",omitempty"`

	Umask    *uint32 `json:",omitempty"` // nil: not set
	Nice     *int    `json:",omitempty"`
	OOMScore *int    `json:",omitempty"` // oom_score_adj, -1000..1000 (legacy `oom` converted)
	Limits   []Limit `json:",omitempty"`

	Chroot, Chdir, Setuid, Setgid string   `json:",omitempty"`
	ApparmorLoad, ApparmorSwitch  string   `json:",omitempty"`
	Cgroups                       []Cgroup `json:",omitempty"`
	Debug                         bool     `json:",omitempty"`

	// Actions are named custom process types (`action NAME exec …` or
	// `action NAME script … end script`), run by `initctl action JOB NAME`.
	Actions []Action `json:",omitempty"`

	// ManualBy is the override file that took the job's `start on` away
	// (with `manual`), for `initctl why`.
	ManualBy string `json:",omitempty"`

	// Chromium OS extensions.
	Import   []string `json:",omitempty"` // keys accepted from the starting event or start command
	Tmpfiles []string `json:",omitempty"` // paths for `systemd-tmpfiles --create` before pre-start
}
