package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCommandsDocumented: every command of initctl's command table has a
// "## NAME" section in initctl(8), and every long option parseArgs knows
// is named there.
func TestCommandsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/man/initctl.8.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, c := range commands {
		if !strings.Contains(page, "\n## "+c.name+"\n") {
			t.Errorf("initctl command %q has no \"## %s\" section in docs/man/initctl.8.md", c.name, c.name)
		}
	}
	// The long options are the case labels of parseArgs' switch on them.
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(x ast.Node) bool {
		fn, ok := x.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "parseArgs" {
			return true
		}
		ast.Inspect(fn, func(y ast.Node) bool {
			cc, ok := y.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, e := range cc.List {
				lit, ok := e.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				if len(s) < 2 { // short options are runes
					continue
				}
				n++
				if !strings.Contains(page, "**--"+s+"**") {
					t.Errorf("initctl option --%s is not in docs/man/initctl.8.md (as **--%s**)", s, s)
				}
			}
			return true
		})
		return false
	})
	if n < 10 {
		t.Fatalf("found only %d long options in parseArgs", n)
	}
}
