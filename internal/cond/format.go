package cond

import (
	"errors"
	"strings"
)

// RPN operator markers, as in the D-Bus start_on / stop_on properties.
const (
	RPNAnd = "/AND"
	RPNOr  = "/OR"
)

// String renders the condition the way `initctl show-config` does: a single
// event as `NAME arg…`, any operator fully parenthesised, e.g.
// `(A and (B FOO=BAR or starting C x=y))`. Quoting is not preserved.
func (n *Node) String() string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	n.format(&b)
	return b.String()
}

func (n *Node) format(b *strings.Builder) {
	switch n.Op {
	case And, Or:
		b.WriteByte('(')
		n.Left.format(b)
		if n.Op == And {
			b.WriteString(" and ")
		} else {
			b.WriteString(" or ")
		}
		n.Right.format(b)
		b.WriteByte(')')
	default:
		b.WriteString(n.Name)
		for _, a := range n.Args {
			b.WriteByte(' ')
			b.WriteString(a)
		}
	}
}

// RPN returns the tree in post-order: ["/AND"], ["/OR"] for operators and
// [name, args…] for events. A nil tree gives an empty list.
func (n *Node) RPN() [][]string {
	var out [][]string
	n.rpn(&out)
	return out
}

func (n *Node) rpn(out *[][]string) {
	if n == nil {
		return
	}
	switch n.Op {
	case And, Or:
		n.Left.rpn(out)
		n.Right.rpn(out)
		if n.Op == And {
			*out = append(*out, []string{RPNAnd})
		} else {
			*out = append(*out, []string{RPNOr})
		}
	default:
		e := make([]string, 0, 1+len(n.Args))
		e = append(e, n.Name)
		e = append(e, n.Args...)
		*out = append(*out, e)
	}
}

// FromRPN rebuilds a tree from the form RPN returns. An empty list gives a
// nil tree and no error.
func FromRPN(rpn [][]string) (*Node, error) {
	if len(rpn) == 0 {
		return nil, nil
	}
	var stack []*Node
	for _, e := range rpn {
		if len(e) == 0 {
			return nil, errors.New("cond: empty RPN element")
		}
		switch {
		case len(e) == 1 && (e[0] == RPNAnd || e[0] == RPNOr):
			if len(stack) < 2 {
				return nil, errors.New("cond: RPN operator without two operands")
			}
			op := And
			if e[0] == RPNOr {
				op = Or
			}
			l, r := stack[len(stack)-2], stack[len(stack)-1]
			stack = append(stack[:len(stack)-2], &Node{Op: op, Left: l, Right: r})
		default:
			n := &Node{Op: Match, Name: e[0]}
			if len(e) > 1 {
				n.Args = append([]string(nil), e[1:]...)
			}
			stack = append(stack, n)
		}
	}
	if len(stack) != 1 {
		return nil, errors.New("cond: RPN does not describe a single tree")
	}
	return stack[0], nil
}

// Equal reports whether two trees have the same shape, names and arguments.
func (n *Node) Equal(o *Node) bool {
	if n == nil || o == nil {
		return n == o
	}
	if n.Op != o.Op {
		return false
	}
	if n.Op == And || n.Op == Or {
		return n.Left.Equal(o.Left) && n.Right.Equal(o.Right)
	}
	if n.Name != o.Name || len(n.Args) != len(o.Args) {
		return false
	}
	for i := range n.Args {
		if n.Args[i] != o.Args[i] {
			return false
		}
	}
	return true
}
