// Package cond holds `start on` / `stop on` expressions: their syntax tree,
// their parser, and the run-time state that decides when a condition fires.
package cond

// Op is the kind of a node in a condition tree.
type Op int

const (
	Match Op = iota // an event operand: Name Args...
	And
	Or
)

// Node is one node of a condition tree. And/Or nodes have Left and Right;
// Match nodes have Name and Args (exactly as written, dequoted, unexpanded).
type Node struct {
	Op          Op       `json:",omitempty"`
	Left, Right *Node    `json:",omitempty"`
	Name        string   `json:",omitempty"`
	Args        []string `json:",omitempty"`
}

// Token is one dequoted word of a condition with the line it came from, as
// the job-file lexer produces it. Quoted is true when any part of the word
// was quoted or escaped: a quoted "and" or "(" is an ordinary word, not an
// operator or a parenthesis.
type Token struct {
	Text   string
	Line   int
	Quoted bool
}
