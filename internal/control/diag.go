package control

import (
	"encoding/json"

	"github.com/goupstart/upstart/internal/api"
)

// DiagIface is our diagnostics interface on the manager object: `initctl
// why`, `boot-chart` and `blame` use it; any D-Bus client may.
const DiagIface = "org.goupstart.Diagnostics1"

// Diagnoser serves DiagIface. Both answers are JSON documents (the types
// api.WhyReport and api.Timeline), so that a client needs no D-Bus
// structure of ours to read them.
type Diagnoser interface {
	Why(job string, env []string) (api.WhyReport, error)
	Timeline() api.Timeline
}

var diagSpec = &ifaceSpec{
	name: DiagIface,
	methods: []methodSpec{
		{name: "Why", in: []arg{{"job", "s"}, {"env", "as"}}, out: []arg{{"report", "s"}}, fn: mWhy},
		{name: "Timeline", out: []arg{{"timeline", "s"}}, fn: mTimeline},
	},
}

func diagnoser(cl *call) (Diagnoser, error) {
	d, ok := cl.backend().(Diagnoser)
	if !ok {
		return nil, NewError(ErrNotSupported, []any{"diagnostics are not supported"})
	}
	return d, nil
}

func jsonReply(v any) ([]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, NewError(ErrFailed, []any{err.Error()})
	}
	return []any{string(b)}, nil
}

func mWhy(cl *call) ([]any, error) {
	d, err := diagnoser(cl)
	if err != nil {
		return nil, err
	}
	r, err := d.Why(cl.str(0), cl.strs(1))
	if err != nil {
		return nil, err
	}
	return jsonReply(r)
}

func mTimeline(cl *call) ([]any, error) {
	d, err := diagnoser(cl)
	if err != nil {
		return nil, err
	}
	return jsonReply(d.Timeline())
}
