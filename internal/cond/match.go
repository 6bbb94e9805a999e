package cond

import (
	"strings"

	"github.com/goupstart/upstart/internal/environ"
)

// Event is what a condition sees of an event.
type Event struct {
	Name string
	Env  []string // KEY=VALUE, in the order the event carries them
	Ref  any      // the owner's handle on the event; conditions never look at it
}

// splitArg splits a KEY=VALUE or KEY!=VALUE operand argument. The split
// point is the first "!=" anywhere in the argument, else the first "=".
func splitArg(arg string) (key, val string, neg, named bool) {
	if i := strings.Index(arg, "!="); i >= 0 {
		return arg[:i], arg[i+2:], true, true
	}
	if i := strings.IndexByte(arg, '='); i >= 0 {
		return arg[:i], arg[i+1:], false, true
	}
	return "", arg, false, false
}

// Matches reports whether ev satisfies the match node n. Operand values are
// expanded with expand first (the instance environment for `stop on`, nil
// for `start on`, where any $VAR reference therefore never matches).
func (n *Node) Matches(ev *Event, expand []string) bool {
	if n.Op != Match || n.Name != ev.Name {
		return false
	}
	for i, arg := range n.Args {
		key, pattern, neg, named := splitArg(arg)
		var val string
		if named {
			v, ok := environ.Lookup(ev.Env, key)
			if !ok {
				return false
			}
			val = v
		} else {
			if i >= len(ev.Env) {
				return false
			}
			e := ev.Env[i]
			if j := strings.IndexByte(e, '='); j >= 0 {
				val = e[j+1:]
			} else {
				val = e
			}
		}
		p, err := environ.Expand(pattern, expand)
		if err != nil {
			return false
		}
		if FnMatch(p, val) == neg {
			return false
		}
	}
	return true
}

// FnMatch is fnmatch(3) with no flags: '*' and '?' match any byte including
// '/', brackets hold classes with '!' or '^' negation and ranges, and a
// backslash quotes the next character.
func FnMatch(pattern, s string) bool {
	px, sx := 0, 0
	// Backtracking point for the last '*'.
	starP, starS := -1, 0
	for sx < len(s) || px < len(pattern) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, next, valid := matchClass(pattern, px, s[sx]); valid {
						if ok {
							px = next
							sx++
							continue
						}
					} else if s[sx] == '[' { // unterminated class: literal '['
						px++
						sx++
						continue
					}
				}
			case '\\':
				if px+1 < len(pattern) {
					if sx < len(s) && s[sx] == pattern[px+1] {
						px += 2
						sx++
						continue
					}
				} else if sx < len(s) && s[sx] == '\\' {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS++
			px, sx = starP+1, starS
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the bracket expression at pattern[open].
// valid is false when the expression is not terminated.
func matchClass(pattern string, open int, c byte) (ok bool, next int, valid bool) {
	i := open + 1
	neg := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(pattern) {
		lo := pattern[i]
		if lo == ']' && !first {
			return ok != neg, i + 1, true
		}
		first = false
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			if hi == '\\' && i+3 < len(pattern) {
				i++
				hi = pattern[i+2]
			}
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, 0, false
}
