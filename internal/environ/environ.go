// Package environ handles KEY=VALUE environment lists the way Upstart does:
// ordered, later entries replacing earlier ones of the same key, and the
// $VAR / ${VAR:-default} expansion used by `instance` and `stop on`.
package environ

import (
	"errors"
	"strings"
)

// Key returns the KEY of a KEY=VALUE entry (the whole entry if it has no '=').
func Key(entry string) string {
	if i := strings.IndexByte(entry, '='); i >= 0 {
		return entry[:i]
	}
	return entry
}

// Lookup returns the value of key in env.
func Lookup(env []string, key string) (string, bool) {
	for _, e := range env {
		if len(e) > len(key) && e[len(key)] == '=' && e[:len(key)] == key {
			return e[len(key)+1:], true
		}
	}
	return "", false
}

// index returns the position of key in env, or -1.
func index(env []string, key string) int {
	for i, e := range env {
		if Key(e) == key {
			return i
		}
	}
	return -1
}

// Set adds entry (KEY=VALUE) to env, replacing an entry with the same key in
// place so that the order of first appearance is kept.
func Set(env []string, entry string) []string {
	if i := index(env, Key(entry)); i >= 0 {
		env[i] = entry
		return env
	}
	return append(env, entry)
}

// Merge sets every entry of add into env, in order.
func Merge(env []string, add ...string) []string {
	for _, e := range add {
		env = Set(env, e)
	}
	return env
}

// Unset removes key from env. Unlike Upstart's environ_remove, only the
// exact key is removed (not every key it is a prefix of).
func Unset(env []string, key string) []string {
	out := env[:0]
	for _, e := range env {
		if Key(e) != key {
			out = append(out, e)
		}
	}
	return out
}

// Valid reports whether entry is a KEY=VALUE pair with a non-empty key.
func Valid(entry string) bool {
	i := strings.IndexByte(entry, '=')
	return i > 0
}

// Expansion errors, with Upstart's messages.
var (
	ErrExpectedOperator = errors.New("Expected operator")
	ErrMismatchedBraces = errors.New("Mismatched braces")
)

// UnknownParameterError is returned for a $NAME that env does not define.
type UnknownParameterError struct{ Name string }

func (e *UnknownParameterError) Error() string { return "Unknown parameter: " + e.Name }

// Expand expands $NAME, ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word}
// and ${NAME+word} in s with the values of env. Words may themselves contain
// references. "${}" is a literal "$"; a "$" not followed by a name or "{" is
// kept as it is.
func Expand(s string, env []string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		n := s[i+1]
		switch {
		case n == '{':
			end, err := matchBrace(s, i+1)
			if err != nil {
				return "", err
			}
			v, err := expandBraced(s[i+2:end], env)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		case isNameStart(n):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			name := s[i+1 : j]
			v, ok := Lookup(env, name)
			if !ok {
				return "", &UnknownParameterError{name}
			}
			b.WriteString(v)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// matchBrace returns the index of the '}' closing the '{' at open.
func matchBrace(s string, open int) (int, error) {
	depth := 0
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, ErrMismatchedBraces
}

func expandBraced(inner string, env []string) (string, error) {
	if inner == "" {
		return "$", nil
	}
	j := 0
	for j < len(inner) && isNameChar(inner[j]) {
		j++
	}
	name := inner[:j]
	if name == "" || !isNameStart(name[0]) {
		return "", ErrExpectedOperator
	}
	rest := inner[j:]
	val, ok := Lookup(env, name)
	if rest == "" {
		if !ok {
			return "", &UnknownParameterError{name}
		}
		return val, nil
	}
	var op string
	switch {
	case strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, ":+"):
		op, rest = rest[:2], rest[2:]
	case rest[0] == '-' || rest[0] == '+':
		op, rest = rest[:1], rest[1:]
	default:
		return "", ErrExpectedOperator
	}
	set := ok
	if op[0] == ':' {
		set = ok && val != ""
	}
	useWord := (op[len(op)-1] == '-') != set // "-": word when unset; "+": word when set
	if !useWord {
		if op[len(op)-1] == '+' {
			return "", nil
		}
		return val, nil
	}
	return Expand(rest, env)
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }
