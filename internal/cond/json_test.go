package cond

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestJSONFlat(t *testing.T) {
	n := &Node{Op: And,
		Left:  &Node{Op: Or, Left: &Node{Name: "/AND"}, Right: &Node{Name: "B", Args: []string{"FOO=BAR"}}},
		Right: &Node{Name: "starting", Args: []string{"C", "x=y"}}}
	b, err := json.Marshal(struct{ C *Node }{n})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"C":[["/AND"],["B","FOO=BAR"],"or",["starting","C","x=y"],"and"]}`; string(b) != want {
		t.Fatalf("flat form %s, want %s", b, want)
	}
	var back struct{ C *Node }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.C.Equal(n) {
		t.Fatalf("round trip: %s != %s", back.C, n)
	}
	// nil stays absent.
	var none struct{ C *Node }
	if err := json.Unmarshal([]byte(`{"C":null}`), &none); err != nil || none.C != nil {
		t.Fatalf("null: %v %v", none.C, err)
	}
}

// The nested form of state format 1 is still read.
func TestJSONNestedFormat1(t *testing.T) {
	old := `{"Op":1,"Left":{"Name":"A","Args":["x"]},"Right":{"Op":2,"Left":{"Name":"B"},"Right":{"Name":"C"}}}`
	var n Node
	if err := json.Unmarshal([]byte(old), &n); err != nil {
		t.Fatal(err)
	}
	if got := n.String(); got != "(A x and (B or C))" {
		t.Fatalf("format 1 read as %s", got)
	}
	for _, bad := range []string{`{"Op":1,"Left":{"Name":"A"}}`, `[]`, `[["a"],"and"]`, `[["a"],["b"],"xor"]`, `[[]]`, `[["a"],["b"]]`, `[7]`, `"a"`} {
		var n Node
		if err := json.Unmarshal([]byte(bad), &n); err == nil {
			t.Errorf("%s decoded to %s", bad, n.String())
		}
	}
}

// A condition as long as a job file may make goes through JSON whatever
// its depth: the nested form stopped at Go's 10 000 levels.
func TestJSONDeep(t *testing.T) {
	var toks []Token
	for k := 0; k < 12500; k++ {
		if k > 0 {
			toks = append(toks, Token{Text: "or", Line: 1})
		}
		toks = append(toks, Token{Text: fmt.Sprintf("e%d", k), Line: 1})
	}
	n, err := Parse(toks)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "[") > 12501 {
		t.Fatalf("not flat: %.200s", b)
	}
	var back *Node
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(n) {
		t.Fatal("deep tree changed through JSON")
	}
}
