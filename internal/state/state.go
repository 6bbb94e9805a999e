// Package state is the document a daemon passes to its next image across a
// stateful re-exec: the engine's classes, instances and events, the
// logger's open ptys and unwritten output, and the daemon's own settings,
// versioned: binary since format 4 (what a re-exec passes), JSON before
// (still read, and still what GetState answers).
//
// Rules, so that an upgrade (and a downgrade that is refused cleanly)
// works: the version says which format a document is in; this binary reads
// every version up to Version and refuses a newer one (the daemon then
// writes the document to a file for post-mortem and re-execs statelessly);
// enumerations are written as names, not numbers, where the state names
// them (goals, states, progress, process types); references between
// objects are indexes into the document's arrays. testdata holds a document
// of every version written so far, and the tests read all of them.
package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/goupstart/upstart/internal/conf"
)

// Version is the format this binary writes. Format 2: conditions are
// written flat (cond.Node's JSON), and exits reaped but not yet handled
// by the previous image are passed on (Document.Reaped). Format 3: each
// distinct environment list is written once, in Engine.Envs, and
// instances and events refer to it (a thousand instances of a session
// carry the same 40 variables: they were most of a format 2 document);
// zero times and exits are left out. Format 4 is format 3's content in
// a compact binary form (binary.go): JSON took most of a re-exec's time.
const Version = 4

// JSONVersion is the format of the JSON document (EncodeJSON). The JSON
// formats 1 to JSONVersion are read.
const JSONVersion = 3

// ErrNewer is returned for a document written by a newer binary.
var ErrNewer = errors.New("state was written by a newer version")

// Document is everything passed across a re-exec.
type Document struct {
	Version int       `json:"version"`
	Written time.Time `json:"written"`
	Daemon  Daemon    `json:"daemon"`
	Engine  Engine    `json:"engine"`
	// Logger is the logger's handover (logger.Handover), kept opaque here
	// so that this package does not depend on the logger's internals.
	Logger json.RawMessage `json:"logger,omitempty"`
	// Reaped are exits the previous image collected after it stopped
	// reaping and did not handle: the next image handles them first, so
	// that what they start is spawned there (format 2).
	Reaped []Reaped `json:"reaped,omitempty"`
	// Ready is the readiness watchers' handover (ready.Handover): the
	// notify sockets kept open across the exec. Optional.
	Ready json.RawMessage `json:"ready,omitempty"`
}

// Reaped is one exit collected by the supervisor (supervise.Exit).
type Reaped struct {
	Pid      int    `json:"pid"`
	Status   uint32 `json:"status"`
	SpawnErr string `json:"spawn_err,omitempty"` // set: the job's program never ran
	Orphan   bool   `json:"orphan,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
	Stopped  bool   `json:"stopped,omitempty"`
}

// Daemon is the daemon's own state.
type Daemon struct {
	// ListenerFD is the private control socket, open across the exec (-1:
	// none); clients connected to it reconnect.
	ListenerFD int `json:"listener_fd"`
	// BusAddress is a session's bus address learnt from
	// notify-dbus-address (empty: none).
	BusAddress  string `json:"bus_address,omitempty"`
	LogPriority string `json:"log_priority,omitempty"`
	// PidTracked names the instances whose processes the daemon tracked
	// by pid although it had a cgroup hierarchy (they started before it
	// had one). Format 3; a document of an earlier format does not say,
	// and the next image looks at where the instances' processes are.
	PidTracked []InstanceRef `json:"pid_tracked,omitempty"`
	// CgroupInotifyFD is the cgroup manager's inotify descriptor, open
	// across the exec with its watches (0: none, a new one is made).
	// Format 4.
	CgroupInotifyFD int `json:"cgroup_inotify_fd,omitempty"`
}

// InstanceRef names an instance.
type InstanceRef struct {
	Job      string `json:"job"`
	Instance string `json:"instance"`
}

// Engine is the engine's state.
type Engine struct {
	Env []string `json:"env"` // the global job environment
	// Defs are the job definitions in use, referred to by index: a class's
	// current (and next) one and those running instances started with.
	Defs []*conf.Job `json:"defs"`
	// Events are the queue, in order, followed by finished events that
	// conditions still know of (Queued false).
	Events  []Event `json:"events"`
	Classes []Class `json:"classes"`
	// RespawnDisabled: initctl disable-respawn was used.
	RespawnDisabled bool `json:"respawn_disabled,omitempty"`
	// ReadyNextID is the last readiness watch id given out (optional).
	ReadyNextID uint64 `json:"ready_next_id,omitempty"`
	// Envs are the distinct environment lists of instances and events
	// (format 3), referred to by their index + 1 (EnvRef and friends; 0:
	// none). Encode fills it and Decode resolves it: the engine sees the
	// lists in place.
	Envs [][]string `json:"envs,omitempty"`
}

// Event is one event.
type Event struct {
	Name     string   `json:"name"`
	Env      []string `json:"env,omitempty"`
	EnvRef   int      `json:"env_ref,omitempty"` // format 3: Engine.Envs[EnvRef-1]
	Queued   bool     `json:"queued"`
	Progress string   `json:"progress"` // "pending", "handling" or "finished"
	Failed   bool     `json:"failed,omitempty"`
	Blockers int      `json:"blockers"`
	// FD is the file of EmitEventWithFile, open across the exec (-1: none).
	FD int `json:"fd"`
}

// Latch is one latch of a condition (see cond.Latch).
type Latch struct {
	Operand int  `json:"operand"`
	Event   int  `json:"event"`
	Held    bool `json:"held,omitempty"`
}

// Class is a job class.
type Class struct {
	Name      string     `json:"name"`
	Def       int        `json:"def"`
	Next      int        `json:"next"` // -1: none
	Deleted   bool       `json:"deleted,omitempty"`
	Start     []Latch    `json:"start,omitempty"`
	Instances []Instance `json:"instances,omitempty"`
}

// Instance is a job instance.
type Instance struct {
	Name  string `json:"name"`
	Def   int    `json:"def"`
	Goal  string `json:"goal"`
	State string `json:"state"`

	Env      []string `json:"env,omitempty"`
	StartEnv []string `json:"start_env,omitempty"` // null: none pending
	StopEnv  []string `json:"stop_env,omitempty"`
	// Format 3: the lists above by reference, Engine.Envs[ref-1] (0:
	// null).
	EnvRef      int     `json:"env_ref,omitempty"`
	StartEnvRef int     `json:"start_env_ref,omitempty"`
	StopEnvRef  int     `json:"stop_env_ref,omitempty"`
	Stop        []Latch `json:"stop,omitempty"`

	Pids    map[string]int `json:"pids,omitempty"` // by process type name
	AuxPid  int            `json:"aux_pid,omitempty"`
	Hook    int            `json:"hook"` // event index, -1: none
	Holding []int          `json:"holding,omitempty"`

	Failed       bool  `json:"failed,omitempty"`
	Failure      Exit  `json:"failure,omitzero"`
	LastMain     Exit  `json:"last_main,omitzero"`
	DeferredMain *Exit `json:"deferred_main,omitempty"`

	RespawnCount   int       `json:"respawn_count,omitempty"`
	RespawnTime    time.Time `json:"respawn_time,omitzero"`
	KillDeadline   time.Time `json:"kill_deadline,omitzero"`   // zero: no kill timer
	ExpectDeadline time.Time `json:"expect_deadline,omitzero"` // zero: no expect timer
	ExpectExits    int       `json:"expect_exits,omitempty"`

	Members    []Member       `json:"members,omitempty"`
	Sessions   map[int]string `json:"sessions,omitempty"`
	ActionPids map[string]int `json:"action_pids,omitempty"`

	// Ready is the readiness state of `expect event` and its sugar
	// (optional: absent for jobs that use none of it).
	Ready *Ready `json:"ready,omitempty"`

	// FDs are the descriptors of the sockets the instance was started
	// with (socket activation), open in the next image (optional).
	FDs []int `json:"fds,omitempty"`
}

// Ready is an instance's readiness state. The wait's deadline is
// ExpectDeadline.
type Ready struct {
	ID      uint64  `json:"id,omitempty"` // the watch id (0: none)
	Waiting bool    `json:"waiting,omitempty"`
	Latches []Latch `json:"latches,omitempty"` // of the expect event condition
	Status  string  `json:"status,omitempty"`
	Errno   int     `json:"errno,omitempty"`

	Reloading bool `json:"reloading,omitempty"`
	Stopping  bool `json:"stopping,omitempty"`
	// Watchdog is the interval in force (ns); WatchdogDeadline is zero
	// when no deadline runs.
	Watchdog         time.Duration `json:"watchdog,omitempty"`
	WatchdogDeadline time.Time     `json:"watchdog_deadline,omitzero"`
}

// Exit is how a process ended.
type Exit struct {
	Type     string `json:"type"` // process type name
	Name     string `json:"name"` // PROCESS= value
	Status   uint32 `json:"status"`
	SpawnErr bool   `json:"spawn_err,omitempty"`
	Set      bool   `json:"set,omitempty"`
}

// Member is a tracked process the engine did not spawn.
type Member struct {
	Pid  int    `json:"pid"`
	Name string `json:"name"`
}

// Encode writes the document in the current format (binary, format 4),
// as a re-exec passes it. d is not changed but for its version.
func Encode(d *Document) ([]byte, error) {
	d.Version = Version
	return encodeBinary(d), nil
}

// EncodeJSON writes the document as JSON (format JSONVersion), as D-Bus
// GetState answers it and --write-state-file writes it: for people and
// tools. d is not changed.
func EncodeJSON(d *Document) ([]byte, error) {
	out := *d
	out.Version = JSONVersion
	out.Engine = shareEnvs(d.Engine)
	b, err := json.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// shareEnvs returns e with every environment list of its instances and
// events moved into e.Envs, once per distinct content (format 3). The
// instance and event arrays are copied; the lists are not.
func shareEnvs(e Engine) Engine {
	var x envIndex
	ref := x.ref
	events := make([]Event, len(e.Events))
	for k, ev := range e.Events {
		ev.EnvRef, ev.Env = ref(ev.Env), nil
		events[k] = ev
	}
	e.Events = events
	classes := make([]Class, len(e.Classes))
	for k, c := range e.Classes {
		if len(c.Instances) > 0 {
			insts := make([]Instance, len(c.Instances))
			for j, in := range c.Instances {
				in.EnvRef, in.Env = ref(in.Env), nil
				in.StartEnvRef, in.StartEnv = ref(in.StartEnv), nil
				in.StopEnvRef, in.StopEnv = ref(in.StopEnv), nil
				insts[j] = in
			}
			c.Instances = insts
		}
		classes[k] = c
	}
	e.Classes = classes
	e.Envs = x.envs
	return e
}

// envIndex gives each distinct environment list a reference (index + 1
// into envs; 0 for nil), in the order it is asked.
type envIndex struct {
	index map[string]int
	key   []byte
	envs  [][]string
}

func (x *envIndex) ref(env []string) int {
	if env == nil {
		return 0
	}
	// The key holds each entry's length, so that no two lists share one.
	x.key = x.key[:0]
	for _, kv := range env {
		x.key = binary.AppendUvarint(x.key, uint64(len(kv)))
		x.key = append(x.key, kv...)
	}
	if k, ok := x.index[string(x.key)]; ok {
		return k
	}
	if x.index == nil {
		x.index = map[string]int{}
	}
	x.envs = append(x.envs, env)
	x.index[string(x.key)] = len(x.envs)
	return len(x.envs)
}

// resolveEnvs puts the lists of e.Envs back in place (a copy each: the
// engine changes an instance's list in place).
func resolveEnvs(e *Engine) error {
	get := func(ref int, inline []string) ([]string, error) {
		switch {
		case ref == 0:
			return inline, nil
		case ref < 0 || ref > len(e.Envs):
			return nil, fmt.Errorf("environment %d of %d", ref, len(e.Envs))
		}
		return append(make([]string, 0, len(e.Envs[ref-1])), e.Envs[ref-1]...), nil
	}
	var err error
	for k := range e.Events {
		ev := &e.Events[k]
		if ev.Env, err = get(ev.EnvRef, ev.Env); err != nil {
			return fmt.Errorf("event %s: %w", ev.Name, err)
		}
		ev.EnvRef = 0
	}
	for k := range e.Classes {
		for j := range e.Classes[k].Instances {
			in := &e.Classes[k].Instances[j]
			for _, f := range []struct {
				ref  *int
				list *[]string
			}{{&in.EnvRef, &in.Env}, {&in.StartEnvRef, &in.StartEnv}, {&in.StopEnvRef, &in.StopEnv}} {
				if *f.list, err = get(*f.ref, *f.list); err != nil {
					return fmt.Errorf("instance %s (%s): %w", e.Classes[k].Name, in.Name, err)
				}
				*f.ref = 0
			}
		}
	}
	e.Envs = nil
	return nil
}

// Decode reads a document of any version up to Version, binary or JSON.
func Decode(b []byte) (*Document, error) {
	if IsBinary(b) {
		d, version, err := decodeBinary(b)
		switch {
		case version > Version:
			return nil, fmt.Errorf("%w (format %d; this binary reads up to %d)", ErrNewer, version, Version)
		case err != nil:
			return nil, fmt.Errorf("decode state (format %d): %w", version, err)
		}
		if err := resolveEnvs(&d.Engine); err != nil {
			return nil, fmt.Errorf("decode state (format %d): %w", version, err)
		}
		return d, nil
	}
	// One pass in the usual case (the document is megabytes with a
	// thousand jobs); the version alone only when that pass fails, to tell
	// a newer format from a broken one.
	var d Document
	err := json.Unmarshal(b, &d)
	version := d.Version
	if err != nil {
		var head struct {
			Version int `json:"version"`
		}
		if json.Unmarshal(b, &head) != nil {
			return nil, fmt.Errorf("decode state: %w", err)
		}
		version = head.Version
	}
	switch {
	case version > Version:
		return nil, fmt.Errorf("%w (format %d; this binary reads up to %d)", ErrNewer, version, Version)
	case version < 1:
		return nil, fmt.Errorf("decode state: no format version")
	case version > JSONVersion:
		return nil, fmt.Errorf("decode state: format %d is not written as JSON", version)
	case err != nil:
		return nil, fmt.Errorf("decode state (format %d): %w", version, err)
	}
	if err := resolveEnvs(&d.Engine); err != nil {
		return nil, fmt.Errorf("decode state (format %d): %w", version, err)
	}
	return &d, nil
}
