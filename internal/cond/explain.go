package cond

// Explanation is the state of a condition tree, node by node, for
// `initctl why`: which operands are true and through which events.
type Explanation struct {
	Op          Op
	Left, Right *Explanation
	Node        *Node // the match node (Op == Match)
	True        bool
	// Events make a match operand true: one for an ordinary event, one
	// per job instance for a job-state event. Held tells, for each, that
	// the condition still holds that event (it cannot finish yet).
	Events []*Event
	Held   []bool
}

// Explain returns the condition's state as a tree (nil for no condition).
func (c *Condition) Explain() *Explanation {
	if c == nil || c.root == nil {
		return nil
	}
	var walk func(n *Node) *Explanation
	walk = func(n *Node) *Explanation {
		x := &Explanation{Op: n.Op, True: c.eval(n)}
		if n.Op != Match {
			x.Left, x.Right = walk(n.Left), walk(n.Right)
			return x
		}
		x.Node = n
		for _, l := range c.op(n).latches {
			x.Events = append(x.Events, l.ev)
			x.Held = append(x.Held, l.held)
		}
		return x
	}
	return walk(c.root)
}
