package cond

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A tree is written to JSON flat, in post-order (the order of RPN): each
// element is either an operand, as an array [name, args…], or an
// operator, as the string "and" or "or". A nested form would be as deep as
// the expression is long, and decoders refuse deep documents (Go's
// encoding/json stops at 10 000 levels): a `start on` of 12 000 operands
// must survive a re-exec. Unlike RPN's "/AND" marker, a string can never
// be taken for an event name.
//
// The nested object form of state format 1 ({"Op":1,"Left":…,"Right":…},
// {"Name":…,"Args":…}) is still read.

const (
	jsonAnd = "and"
	jsonOr  = "or"
)

// MarshalJSON writes the tree in the flat form.
func (n *Node) MarshalJSON() ([]byte, error) {
	if n == nil {
		return []byte("null"), nil
	}
	var out []any
	n.flat(&out)
	return json.Marshal(out)
}

func (n *Node) flat(out *[]any) {
	switch n.Op {
	case And, Or:
		n.Left.flat(out)
		n.Right.flat(out)
		if n.Op == And {
			*out = append(*out, jsonAnd)
		} else {
			*out = append(*out, jsonOr)
		}
	default:
		e := make([]string, 0, 1+len(n.Args))
		*out = append(*out, append(append(e, n.Name), n.Args...))
	}
}

// nested is the format-1 form of a node.
type nested struct {
	Op          Op
	Left, Right *Node
	Name        string
	Args        []string
}

// UnmarshalJSON reads the flat form, or the nested form of format 1.
func (n *Node) UnmarshalJSON(b []byte) error {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	if len(b) > 0 && b[0] == '{' {
		var v nested
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		if (v.Op == And || v.Op == Or) && (v.Left == nil || v.Right == nil) {
			return errors.New("cond: operator without two operands")
		}
		*n = Node{Op: v.Op, Left: v.Left, Right: v.Right, Name: v.Name, Args: v.Args}
		return nil
	}
	// One pass of the decoder for the whole list (a re-exec reads a
	// thousand of these): operators come as strings, operands as arrays.
	var items []any
	if err := json.Unmarshal(b, &items); err != nil {
		return fmt.Errorf("cond: %w", err)
	}
	var stack []*Node
	for _, it := range items {
		if word, ok := it.(string); ok {
			if word != jsonAnd && word != jsonOr {
				return fmt.Errorf("cond: unknown operator %q", word)
			}
			if len(stack) < 2 {
				return errors.New("cond: operator without two operands")
			}
			op := And
			if word == jsonOr {
				op = Or
			}
			l, r := stack[len(stack)-2], stack[len(stack)-1]
			stack = append(stack[:len(stack)-2], &Node{Op: op, Left: l, Right: r})
			continue
		}
		list, _ := it.([]any)
		e := make([]string, len(list))
		for k, w := range list {
			var ok bool
			if e[k], ok = w.(string); !ok {
				list = nil
				break
			}
		}
		if len(list) == 0 {
			bad, _ := json.Marshal(it)
			return fmt.Errorf("cond: bad operand %.40s", bad)
		}
		m := &Node{Op: Match, Name: e[0]}
		if len(e) > 1 {
			m.Args = e[1:]
		}
		stack = append(stack, m)
	}
	if len(stack) != 1 {
		return errors.New("cond: the flat form does not describe a single tree")
	}
	*n = *stack[0]
	return nil
}
