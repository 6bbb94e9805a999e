package state

import (
	"bytes"
	"testing"
)

// A document the daemon cannot read is refused with an error, never a
// panic (it comes from another binary, perhaps a newer or broken one);
// what decodes encodes again. (The fixtures are no seeds: inputs of their
// size stall the fuzzer; TestFixturesDecode reads them.)
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"version":2,"daemon":{"listener_fd":3},"engine":{"defs":[{"Name":"c","StartOn":[["started","a"],["b","X=1"],"and"]}],` +
			`"events":[{"name":"go","env":["A=1"],"queued":true,"progress":"pending","fd":-1}],` +
			`"classes":[{"name":"c","def":0,"next":-1,"start":[{"operand":0,"event":0}],"instances":[{"name":"","def":0,"goal":"start","state":"running","pids":{"main":7},"hook":-1}]}]},` +
			`"reaped":[{"pid":7,"status":256,"spawn_err":"x","orphan":true}],"logger":{"readers":[{"file":"c.log","fd":5}]}}`,
		`{"version":1,"engine":{"defs":[{"StartOn":{"Op":1,"Left":{"Name":"a"},"Right":{"Op":2,"Left":{"Name":"b"},"Right":{"Name":"c","Args":["x"]}}}}]}}`,
		`{"version":3,"engine":{"envs":[["A=1"],[]],"events":[{"name":"go","env_ref":1,"queued":true,"progress":"pending","fd":-1}],` +
			`"defs":[{"Name":"c"}],"classes":[{"name":"c","def":0,"next":-1,"instances":[{"name":"","def":0,"goal":"start","state":"running","env_ref":1,"stop_env_ref":2,"hook":-1}]}]}}`,
		`{"version":99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		if _, err := Encode(d); err != nil {
			t.Fatalf("decoded but does not encode: %v", err)
		}
	})
}

// The binary format (4): a broken document is an error, never a panic
// nor an allocation out of proportion to its size; what decodes encodes
// to a document that decodes and encodes to the same bytes again.
func FuzzDecodeBinary(f *testing.F) {
	for _, d := range []*Document{fullDoc(), benchDoc(2), {Daemon: Daemon{ListenerFD: -1}}} {
		b, err := Encode(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(magic + "\x63"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil || !IsBinary(b) {
			return
		}
		b2, err := Encode(d)
		if err != nil {
			t.Fatalf("decoded but does not encode: %v", err)
		}
		d2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded document refused: %v", err)
		}
		b3, _ := Encode(d2)
		if !bytes.Equal(b2, b3) {
			t.Fatalf("encodings differ:\n%q\n%q", b2, b3)
		}
	})
}
