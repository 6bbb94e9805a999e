package job

import "testing"

// The whole next-state table of reference §2.2.
func TestNext(t *testing.T) {
	type row struct {
		s         State
		g         Goal
		alive     bool
		want      State
		wantGoal  Goal
		wantValid bool
	}
	rows := []row{
		{Waiting, GoalStart, false, Starting, GoalStart, true},
		{Waiting, GoalStop, false, Waiting, GoalStop, false},
		{Starting, GoalStart, false, Tmpfiles, GoalStart, true},
		{Tmpfiles, GoalStart, false, SecuritySpawning, GoalStart, true},
		{Tmpfiles, GoalStop, false, Stopping, GoalStop, true},
		{Starting, GoalStop, false, Stopping, GoalStop, true},
		{SecuritySpawning, GoalStart, false, Security, GoalStart, true},
		{Security, GoalStart, false, PreStarting, GoalStart, true},
		{Security, GoalStop, false, Stopping, GoalStop, true},
		{PreStarting, GoalStart, false, PreStart, GoalStart, true},
		{PreStart, GoalStart, false, Spawning, GoalStart, true},
		{PreStart, GoalStop, false, Stopping, GoalStop, true},
		{Spawning, GoalStart, false, Spawned, GoalStart, true},
		{Spawned, GoalStart, true, PostStarting, GoalStart, true},
		{Spawned, GoalStop, true, Stopping, GoalStop, true},
		{PostStarting, GoalStart, true, PostStart, GoalStart, true},
		{PostStart, GoalStart, true, Running, GoalStart, true},
		{PostStart, GoalStop, true, Stopping, GoalStop, true},
		{PostStart, GoalRespawn, false, Stopping, GoalStart, true},
		{Running, GoalStart, false, Stopping, GoalStart, true},
		{Running, GoalStop, true, PreStopping, GoalStop, true},
		{Running, GoalStop, false, Stopping, GoalStop, true},
		{PreStopping, GoalStop, true, PreStop, GoalStop, true},
		{PreStopping, GoalStart, true, PreStop, GoalStart, true},
		{PreStop, GoalStart, true, Running, GoalStart, true},
		{PreStop, GoalStop, true, Stopping, GoalStop, true},
		{PreStop, GoalRespawn, false, Stopping, GoalStart, true},
		{Stopping, GoalStart, false, Killed, GoalStart, true},
		{Stopping, GoalStop, false, Killed, GoalStop, true},
		{Killed, GoalStop, false, PostStopping, GoalStop, true},
		{PostStopping, GoalStop, false, PostStop, GoalStop, true},
		{PostStop, GoalStart, false, Starting, GoalStart, true},
		{PostStop, GoalStop, false, Waiting, GoalStop, true},
	}
	for _, r := range rows {
		got, goal, ok := Next(r.s, r.g, r.alive)
		if got != r.want || goal != r.wantGoal || ok != r.wantValid {
			t.Errorf("Next(%v, %v, %v) = %v, %v, %v; want %v, %v, %v",
				r.s, r.g, r.alive, got, goal, ok, r.want, r.wantGoal, r.wantValid)
		}
	}
}

func TestNames(t *testing.T) {
	for s := Waiting; s <= PostStop; s++ {
		if p, ok := ParseState(s.String()); !ok || p != s {
			t.Errorf("state %d round trip: %v %v", s, p, ok)
		}
	}
	for g := GoalStop; g <= GoalRespawn; g++ {
		if p, ok := ParseGoal(g.String()); !ok || p != g {
			t.Errorf("goal %d round trip", g)
		}
	}
}
