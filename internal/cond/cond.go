package cond

import (
	"slices"

	"github.com/goupstart/upstart/internal/environ"
)

// A Condition is the run-time state of one condition tree: which operands
// are true, and which events it holds (an event held by a condition cannot
// finish, as in Upstart).
//
// Knowledge is kept (the fix for Upstart's `and` problem): an operand that
// matched a job-state event (starting, started, stopping, stopped of job J,
// instance I) stays true after the condition fires, until the opposite
// transition of that same instance retracts it: started by stopping,
// stopped by starting, starting by stopped, stopping by started. Operands
// that matched any other event are cleared when the condition fires, as in
// Upstart. The condition fires whenever an event matches one of its
// operands and the whole expression is then true, also when that operand
// was true already.
type Condition struct {
	root *Node
	ops  []*operand // the match nodes, in tree order
}

// operand is the state of one match node.
type operand struct {
	node *Node

	// latches is what makes the operand true: for an operand that matched
	// ordinary events, at most one (the first match, as in Upstart); for
	// one that matched job-state events, one per job instance.
	latches []latch
}

type latch struct {
	ev   *Event
	key  instanceKey // set for job-state events
	held bool        // the condition still holds ev
}

type instanceKey struct {
	job, instance string
	ok            bool
}

// retractedBy maps a job-state event name to the name whose operands it
// makes false again.
var retractedBy = map[string]string{
	"stopping": "started",
	"starting": "stopped",
	"stopped":  "starting",
	"started":  "stopping",
}

func jobStateKey(ev *Event) instanceKey {
	if _, ok := retractedBy[ev.Name]; !ok {
		return instanceKey{}
	}
	job, ok := environ.Lookup(ev.Env, "JOB")
	if !ok {
		return instanceKey{}
	}
	inst, _ := environ.Lookup(ev.Env, "INSTANCE")
	return instanceKey{job, inst, true}
}

// New returns the run-time state for the tree root (which may be nil: a
// condition that never fires).
func New(root *Node) *Condition {
	c := &Condition{root: root}
	root.walk(func(n *Node) { c.ops = append(c.ops, &operand{node: n}) })
	return c
}

// walk calls f for every match node under n, in tree order.
func (n *Node) walk(f func(*Node)) {
	if n == nil {
		return
	}
	if n.Op == Match {
		f(n)
		return
	}
	n.Left.walk(f)
	n.Right.walk(f)
}

// EventNames lists the event names the operands of the trees wait for.
func EventNames(trees ...*Node) []string {
	var out []string
	for _, t := range trees {
		t.walk(func(n *Node) { out = append(out, n.Name) })
	}
	return out
}

// Retracting returns the job-state event name that makes an operand named
// name false again ("" for an ordinary event).
func Retracting(name string) string {
	for by, r := range retractedBy {
		if r == name {
			return by
		}
	}
	return ""
}

func (c *Condition) op(n *Node) *operand {
	for _, o := range c.ops {
		if o.node == n {
			return o
		}
	}
	return nil
}

// Root returns the condition's tree.
func (c *Condition) Root() *Node { return c.root }

// Result says what handling one event did.
type Result struct {
	Held     int      // how many operands now hold the event (each holds it once)
	Released []*Event // events the condition no longer holds
	Fired    bool     // the condition is true and an operand matched: act, then call Fire
}

// Handle feeds ev to the condition. expand is the environment that operand
// values are expanded with (nil for `start on`).
func (c *Condition) Handle(ev *Event, expand []string) Result {
	var r Result
	if c.root == nil {
		return r
	}
	key := jobStateKey(ev)
	retracts := ""
	if key.ok {
		retracts = retractedBy[ev.Name]
	}
	matched := false
	for _, op := range c.ops {
		n := op.node
		if retracts != "" && n.Name == retracts {
			op.latches = removeLatch(op.latches, key, &r)
		}
		if !n.Matches(ev, expand) {
			continue
		}
		matched = true
		if key.ok {
			// One latch per instance; a newer event replaces an older one.
			op.latches = removeLatch(op.latches, key, &r)
			op.latches = append(op.latches, latch{ev: ev, key: key, held: true})
			r.Held++
		} else if len(op.latches) == 0 {
			op.latches = append(op.latches, latch{ev: ev, held: true})
			r.Held++
		}
	}
	r.Fired = matched && c.eval(c.root)
	return r
}

func removeLatch(ls []latch, key instanceKey, r *Result) []latch {
	out := ls[:0]
	for _, l := range ls {
		if l.key == key {
			if l.held {
				r.Released = append(r.Released, l.ev)
			}
			continue
		}
		out = append(out, l)
	}
	return out
}

func (c *Condition) eval(n *Node) bool {
	switch n.Op {
	case And:
		return c.eval(n.Left) && c.eval(n.Right)
	case Or:
		return c.eval(n.Left) || c.eval(n.Right)
	default:
		return len(c.op(n).latches) > 0
	}
}

// True reports whether the whole expression is currently true.
func (c *Condition) True() bool { return c.root != nil && c.eval(c.root) }

// Matched returns the events that make the true part of the tree true, in
// tree order (for an operand true through several instances, the newest).
func (c *Condition) Matched() []*Event {
	var out []*Event
	var walk func(n *Node)
	walk = func(n *Node) {
		switch n.Op {
		case And:
			walk(n.Left)
			walk(n.Right)
		case Or:
			if c.eval(n.Left) {
				walk(n.Left)
			}
			if c.eval(n.Right) {
				walk(n.Right)
			}
		default:
			if ls := c.op(n).latches; len(ls) > 0 {
				out = append(out, ls[len(ls)-1].ev)
			}
		}
	}
	if c.root != nil && c.eval(c.root) {
		walk(c.root)
	}
	return out
}

// Fire is called after the owner acted on a fired condition. It clears every
// operand that matched an ordinary event, keeps the truth of operands that
// matched job-state events, and lets go of every held event.
func (c *Condition) Fire() (released []*Event) {
	for _, op := range c.ops {
		out := op.latches[:0]
		for _, l := range op.latches {
			if l.held {
				released = append(released, l.ev)
			}
			if l.key.ok {
				l.held = false
				out = append(out, l)
			}
		}
		op.latches = out
	}
	return released
}

// Reset forgets everything (the owner is going away, or an instance's stop
// condition starts afresh) and returns the events that were held.
func (c *Condition) Reset() (released []*Event) {
	for _, op := range c.ops {
		for _, l := range op.latches {
			if l.held {
				released = append(released, l.ev)
			}
		}
		op.latches = nil
	}
	return released
}

// Held returns every event the condition holds.
func (c *Condition) Held() []*Event {
	var out []*Event
	for _, op := range c.ops {
		for _, l := range op.latches {
			if l.held {
				out = append(out, l.ev)
			}
		}
	}
	return out
}

// Inherit copies the kept knowledge of old (operands made true by job-state
// events the condition no longer holds) into c, a fresh condition from New
// for a reloaded job. An operand of c inherits from the operand of old
// with the same event name and arguments; when several operands are
// written alike, the k-th of c inherits from the k-th of old. Operands of
// old that c no longer has are forgotten, and so is everything of an
// operand that c adds. Held events are not copied: the owner hands those
// to Handle again, so that they stay held exactly once.
func (c *Condition) Inherit(old *Condition) {
	if old == nil || c.root == nil {
		return
	}
	used := make([]bool, len(old.ops))
	for _, op := range c.ops {
		for k, o := range old.ops {
			if used[k] || !sameOperand(op.node, o.node) {
				continue
			}
			used[k] = true
			for _, l := range o.latches {
				if !l.held && l.key.ok {
					op.latches = append(op.latches, l)
				}
			}
			break
		}
	}
}

func sameOperand(a, b *Node) bool {
	return a.Name == b.Name && slices.Equal(a.Args, b.Args)
}
