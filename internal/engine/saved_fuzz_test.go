package engine

import (
	"testing"

	"github.com/goupstart/upstart/internal/state"
)

// Restoring a document that decodes but does not hold together is an
// error, never a panic: the next image of PID 1 restores on its loop.
func FuzzRestore(f *testing.F) {
	seed := []byte(`{"version":2,"engine":{"defs":[{"Name":"c","StartOn":[["started","a"],["b","X=1"],"and"],"StopOn":[["x"]]}],` +
		`"events":[{"name":"started","env":["JOB=a","INSTANCE="],"queued":true,"progress":"pending","fd":-1,"blockers":1}],` +
		`"classes":[{"name":"c","def":0,"next":-1,"start":[{"operand":0,"event":0,"held":true}],"instances":[{"name":"","def":0,"goal":"start",` +
		`"state":"pre-start","pids":{"pre-start":7},"hook":0,"holding":[0],"stop":[{"operand":0,"event":0}],"members":[{"pid":9,"name":"main"}],` +
		`"kill_deadline":"2020-01-01T00:00:00Z","action_pids":{"reload":11},"aux_pid":12}]}]}}`)
	f.Add(seed)
	// The same document in the binary format (4).
	if d, err := state.Decode(seed); err == nil {
		if b, err := state.Encode(d); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := state.Decode(b)
		if err != nil {
			return
		}
		h := newHarness(t)
		if h.e.Restore(&d.Engine, nil) == nil {
			h.e.Snapshot(nil)
		}
	})
}
