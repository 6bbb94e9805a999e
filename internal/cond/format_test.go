package cond

import (
	"reflect"
	"testing"
)

func TestString(t *testing.T) {
	a := &Node{Op: Match, Name: "A"}
	b := &Node{Op: Match, Name: "B", Args: []string{"FOO=BAR"}}
	c := &Node{Op: Match, Name: "starting", Args: []string{"C", "x=y"}}
	n := &Node{Op: And, Left: a, Right: &Node{Op: Or, Left: b, Right: c}}
	if got, want := n.String(), "(A and (B FOO=BAR or starting C x=y))"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := c.String(); got != "starting C x=y" {
		t.Errorf("String = %q", got)
	}
	var nilNode *Node
	if nilNode.String() != "" {
		t.Error("nil String not empty")
	}
}

func TestRPN(t *testing.T) {
	n, err := Parse(toks("A x or B and (C K=V or D)"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"A", "x"}, {"B"}, {RPNOr}, {"C", "K=V"}, {"D"}, {RPNOr}, {RPNAnd}}
	got := n.RPN()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RPN = %v, want %v", got, want)
	}
	back, err := FromRPN(got)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(n) {
		t.Fatalf("FromRPN round trip: %s != %s", back, n)
	}
	if single := (&Node{Name: "startup"}).RPN(); !reflect.DeepEqual(single, [][]string{{"startup"}}) {
		t.Errorf("single RPN = %v", single)
	}
}

func TestFromRPNErrors(t *testing.T) {
	bad := [][][]string{
		{{RPNAnd}},
		{{"a"}, {RPNOr}},
		{{"a"}, {"b"}},
		{{}},
	}
	for _, r := range bad {
		if n, err := FromRPN(r); err == nil {
			t.Errorf("FromRPN(%v) = %s, want error", r, n)
		}
	}
	if n, err := FromRPN(nil); n != nil || err != nil {
		t.Errorf("FromRPN(nil) = %v, %v", n, err)
	}
}

func TestEqual(t *testing.T) {
	x, _ := Parse(toks("a b or c"))
	y, _ := Parse(toks("a b or c"))
	z, _ := Parse(toks("a b and c"))
	w, _ := Parse(toks("a x or c"))
	if !x.Equal(y) || x.Equal(z) || x.Equal(w) || x.Equal(nil) {
		t.Error("Equal wrong")
	}
}
