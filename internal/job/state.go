// Package job holds the vocabulary of Upstart's job state machine: goals,
// states, and the next-state table. It is pure: the engine owns instances
// and applies the table.
package job

// Goal is where an instance is heading.
type Goal int

const (
	GoalStop Goal = iota
	GoalStart
	// GoalRespawn is transient: the main process died while a post-start
	// or pre-stop process still ran; the job respawns once that ends.
	GoalRespawn
)

var goalNames = [...]string{"stop", "start", "respawn"}

func (g Goal) String() string { return goalNames[g] }

// ParseGoal returns the goal named s.
func ParseGoal(s string) (Goal, bool) {
	for i, n := range goalNames {
		if n == s {
			return Goal(i), true
		}
	}
	return 0, false
}

// State is where an instance is. The momentary states (…-spawning,
// …-starting, …-stopping with "ing" before the process name) are entered
// and left within one step; they are visible only in StateChanged signals.
type State int

const (
	Waiting State = iota
	Starting
	SecuritySpawning
	Security
	PreStarting
	PreStart
	Spawning
	Spawned
	PostStarting
	PostStart
	Running
	PreStopping
	PreStop
	Stopping
	Killed
	PostStopping
	PostStop
	// Tmpfiles (the Chromium OS fork's) comes between starting and
	// security-spawning, for jobs with a tmpfiles stanza only; it is last
	// here so that the other states keep their numbers.
	Tmpfiles
)

var stateNames = [...]string{
	"waiting", "starting", "security-spawning", "security", "pre-starting",
	"pre-start", "spawning", "spawned", "post-starting", "post-start",
	"running", "pre-stopping", "pre-stop", "stopping", "killed",
	"post-stopping", "post-stop", "tmpfiles",
}

func (s State) String() string { return stateNames[s] }

// ParseState returns the state named s.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// Next returns the state that follows s for goal g, and the goal the
// instance has afterwards (a respawn goal turns back into start). mainAlive
// says whether the main process is still running (it decides whether a stop
// from running goes through pre-stop). ok is false where the table has no
// entry (waiting with goal stop: an instance at rest).
func Next(s State, g Goal, mainAlive bool) (next State, goal Goal, ok bool) {
	goal = g
	switch s {
	case Waiting:
		if g == GoalStart {
			return Starting, goal, true
		}
		return Waiting, goal, false
	case Starting, Tmpfiles, SecuritySpawning, Security, PreStarting, PreStart, Spawning, Spawned, PostStarting:
		if g == GoalStop {
			return Stopping, goal, true
		}
		return startPath[s], goal, true
	case PostStart, PreStop:
		switch g {
		case GoalStop:
			return Stopping, goal, true
		case GoalRespawn:
			return Stopping, GoalStart, true
		}
		if s == PostStart {
			return Running, goal, true
		}
		return Running, goal, true // start during pre-stop cancels the stop
	case Running:
		if g == GoalStop && mainAlive {
			return PreStopping, goal, true
		}
		return Stopping, goal, true // goal start: the respawn path
	case PreStopping:
		return PreStop, goal, true
	case Stopping:
		return Killed, goal, true
	case Killed:
		return PostStopping, goal, true
	case PostStopping:
		return PostStop, goal, true
	case PostStop:
		if g == GoalStop {
			return Waiting, goal, true
		}
		return Starting, GoalStart, true
	}
	return s, goal, false
}

var startPath = map[State]State{
	Starting:         Tmpfiles,
	Tmpfiles:         SecuritySpawning,
	SecuritySpawning: Security,
	Security:         PreStarting,
	PreStarting:      PreStart,
	PreStart:         Spawning,
	Spawning:         Spawned,
	Spawned:          PostStarting,
	PostStarting:     PostStart,
}
