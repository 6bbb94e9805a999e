package api

import "time"

// Our diagnostics (`initctl why`, `boot-chart`, `blame`): what the engine
// knows and the control server passes on, as JSON, on the interface
// org.goupstart.Diagnostics1.

// WhyReport says why an instance is or is not running.
type WhyReport struct {
	Job      string
	Instance string `json:",omitempty"`
	Goal     string // "stop" and State "waiting" when there is no instance
	State    string
	// Kind is "start on" (the instance is not running, or not there) or
	// "stop on" (its goal is start); Condition is that condition's state,
	// nil when there is none.
	Kind      string
	Condition *WhyNode `json:",omitempty"`
	// Manual: the job has no `start on` (the stanza `manual`, or an
	// override that took it away); it starts only when asked.
	Manual bool `json:",omitempty"`
	// ManualBy is the override file that disabled the job's `start on`.
	ManualBy string `json:",omitempty"`
	// Blocked are the events that wait for this job: held by its
	// condition until it fires, or started/stopped it and wait until it
	// comes to rest. Hook is the job's own starting/stopping event it
	// waits on.
	Blocked []WhyEvent `json:",omitempty"`
	Hook    *WhyEvent  `json:",omitempty"`
	// Waiting describes what the instance waits for now (a process,
	// readiness, the kill timeout), "" when it rests.
	Waiting string `json:",omitempty"`
	// LastStop is the `stopped` event of the last instance that ended,
	// RespawnLimit true when that end was the respawn limit.
	LastStop     *WhyEvent `json:",omitempty"`
	RespawnLimit bool      `json:",omitempty"`
	// Instances lists the job's other instances.
	Instances []string `json:",omitempty"`
}

// WhyNode is one node of a condition: "and", "or", or an operand (Match,
// as written in the job file) with the events that make it true.
type WhyNode struct {
	Op          string
	Left, Right *WhyNode   `json:",omitempty"`
	Match       string     `json:",omitempty"`
	True        bool       `json:",omitempty"`
	By          []WhyEvent `json:",omitempty"`
}

// WhyEvent is an event as the diagnostics show it. At is when it was
// emitted (zero if unknown, e.g. from before a re-exec).
type WhyEvent struct {
	Name string
	Env  []string  `json:",omitempty"`
	At   time.Time `json:",omitempty"`
	// Held: a condition or an instance still holds the event, so it has
	// not finished.
	Held bool `json:",omitempty"`
}

// Timeline is what the daemon recorded since it started, for the boot
// chart and blame: every state change of every instance, up to a bound
// (Dropped counts those not kept).
type Timeline struct {
	Start   time.Time // the daemon's start (its first record)
	Now     time.Time
	Records []StateRecord
	Dropped int `json:",omitempty"`
}

// StateRecord is one state change. For the change to "starting", Cause
// names the events that started the instance (their names, space
// separated, "" when started by a request) and CauseAt is when the first
// of them was emitted.
type StateRecord struct {
	At       time.Time
	Job      string
	Instance string `json:",omitempty"`
	State    string
	Task     bool      `json:",omitempty"` // the job is a task
	Cause    string    `json:",omitempty"`
	CauseAt  time.Time `json:",omitempty"`
}
