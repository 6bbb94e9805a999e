// Package environ handles KEY=VALUE environment lists the way Upstart does:
// ordered, later entries replacing earlier ones of the same key, and the
// $VAR / ${VAR:-default} expansion used by `instance` and `stop on`.
package environ

import (
	"errors"
	"strings"
)

// MaxEntries bounds every environment list that comes from outside: an
// event's, a start/stop/restart request's, and a job's own `env` and
// `export` stanzas. Merging is linear, so the bound is about memory, and
// it is far above what any real job or event uses.
const MaxEntries = 4096

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

// Merge sets every entry of add into env, in order. It takes time linear
// in len(env)+len(add) (an event or a job may bring thousands of entries).
func Merge(env []string, add ...string) []string {
	if len(add) <= 4 {
		for _, e := range add {
			env = Set(env, e)
		}
		return env
	}
	b := NewBuilder(env)
	for _, e := range add {
		b.Set(e)
	}
	return b.List()
}

// A Builder applies many changes to an environment list in time linear in
// their number, keeping the order of first appearance as Set does.
type Builder struct {
	env  []string       // "" marks an unset entry
	pos  map[string]int // key → index in env
	gone int
}

// NewBuilder starts from a copy of env.
func NewBuilder(env []string) *Builder {
	b := &Builder{env: make([]string, 0, len(env)+8), pos: make(map[string]int, len(env)+8)}
	for _, e := range env {
		b.Set(e)
	}
	return b
}

// Set adds or replaces entry (KEY=VALUE).
func (b *Builder) Set(entry string) {
	k := Key(entry)
	if i, ok := b.pos[k]; ok {
		b.env[i] = entry
		return
	}
	b.pos[k] = len(b.env)
	b.env = append(b.env, entry)
}

// Lookup returns the value of key.
func (b *Builder) Lookup(key string) (string, bool) {
	if i, ok := b.pos[key]; ok {
		return b.env[i][len(key)+1:], true
	}
	return "", false
}

// Unset removes key.
func (b *Builder) Unset(key string) {
	if i, ok := b.pos[key]; ok {
		b.env[i] = ""
		delete(b.pos, key)
		b.gone++
	}
}

// List returns the environment.
func (b *Builder) List() []string {
	if b.gone == 0 {
		return b.env
	}
	out := make([]string, 0, len(b.env)-b.gone)
	for _, e := range b.env {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
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

// MaxNesting bounds how deeply ${...} may nest in one string (a deeper one
// is ErrTooDeep): expansion recurses once per level.
const MaxNesting = 64

// ErrTooDeep is returned for ${...} nested deeper than MaxNesting.
var ErrTooDeep = errors.New("Expansion nested too deeply")

// Expand expands $NAME, ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word}
// and ${NAME+word} in s with the values of env. Words may themselves contain
// references. "${}" is a literal "$"; a "$" not followed by a name or "{" is
// kept as it is. The braces of s are matched once, so the time is linear in
// len(s) times the cost of a lookup, however deeply words nest.
func Expand(s string, env []string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	x := expander{s: s, env: env, match: matchBraces(s)}
	var b strings.Builder
	if err := x.expand(&b, 0, len(s), 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// matchBraces returns, for every '{' of s, the index of the '}' that
// closes it (-1 when none does).
func matchBraces(s string) []int {
	var match []int
	var open []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if match == nil {
				match = make([]int, len(s))
			}
			match[i] = -1
			open = append(open, i)
		case '}':
			if n := len(open); n > 0 {
				match[open[n-1]] = i
				open = open[:n-1]
			}
		}
	}
	return match
}

type expander struct {
	s     string
	env   []string
	match []int
}

// expand writes the expansion of s[lo:hi] to b.
func (x *expander) expand(b *strings.Builder, lo, hi, depth int) error {
	s := x.s
	for i := lo; i < hi; {
		c := s[i]
		if c != '$' || i+1 >= hi {
			b.WriteByte(c)
			i++
			continue
		}
		n := s[i+1]
		switch {
		case n == '{':
			end := x.match[i+1]
			if end < 0 || end >= hi {
				return ErrMismatchedBraces
			}
			if err := x.braced(b, i+2, end, depth+1); err != nil {
				return err
			}
			i = end + 1
		case isNameStart(n):
			j := i + 1
			for j < hi && isNameChar(s[j]) {
				j++
			}
			name := s[i+1 : j]
			v, ok := Lookup(x.env, name)
			if !ok {
				return &UnknownParameterError{name}
			}
			b.WriteString(v)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return nil
}

// braced writes the expansion of the inside of ${...}, s[lo:hi].
func (x *expander) braced(b *strings.Builder, lo, hi, depth int) error {
	if depth > MaxNesting {
		return ErrTooDeep
	}
	s := x.s
	if lo == hi {
		b.WriteByte('$')
		return nil
	}
	j := lo
	for j < hi && isNameChar(s[j]) {
		j++
	}
	name := s[lo:j]
	if name == "" || !isNameStart(name[0]) {
		return ErrExpectedOperator
	}
	val, ok := Lookup(x.env, name)
	if j == hi {
		if !ok {
			return &UnknownParameterError{name}
		}
		b.WriteString(val)
		return nil
	}
	colon := s[j] == ':'
	if colon {
		j++
	}
	if j == hi || (s[j] != '-' && s[j] != '+') {
		return ErrExpectedOperator
	}
	plus := s[j] == '+'
	set := ok && (!colon || val != "")
	if useWord := plus == set; !useWord { // "-": word when unset; "+": word when set
		if !plus {
			b.WriteString(val)
		}
		return nil
	}
	return x.expand(b, j+1, hi, depth)
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }
