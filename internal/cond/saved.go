package cond

import "fmt"

// Latch is one latch of a condition as it is saved across a re-exec: the
// operand (a match node, by its index in tree order), the event that made
// it true, and whether the condition still holds that event.
type Latch struct {
	Operand int
	Event   *Event
	Held    bool
}

// Latches returns the condition's latches, operand by operand.
func (c *Condition) Latches() []Latch {
	var out []Latch
	for k, op := range c.ops {
		for _, l := range op.latches {
			out = append(out, Latch{Operand: k, Event: l.ev, Held: l.held})
		}
	}
	return out
}

// RestoreLatches replaces the condition's state with saved latches (a fresh
// condition from New, in a new process image). The instance key of a
// job-state event is derived from the event again. An operand index out of
// range, or an event that does not match its operand's name, is an error
// and leaves the condition unchanged.
func (c *Condition) RestoreLatches(ls []Latch) error {
	for _, l := range ls {
		if l.Operand < 0 || l.Operand >= len(c.ops) {
			return fmt.Errorf("latch for operand %d of a condition with %d", l.Operand, len(c.ops))
		}
		if l.Event == nil || l.Event.Name != c.ops[l.Operand].node.Name {
			return fmt.Errorf("latch of operand %q holds no event of that name", c.ops[l.Operand].node.Name)
		}
	}
	for _, op := range c.ops {
		op.latches = nil
	}
	for _, l := range ls {
		op := c.ops[l.Operand]
		op.latches = append(op.latches, latch{ev: l.Event, key: jobStateKey(l.Event), held: l.Held})
	}
	return nil
}
