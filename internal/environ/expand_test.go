package environ

import (
	"strconv"
	"strings"
	"testing"
)

// The expansion as it was written before it became one pass (issue 15
// item 9): the reference the fuzzer compares Expand with.
func expandRef(s string, env []string) (string, error) {
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
			end, err := matchBraceRef(s, i+1)
			if err != nil {
				return "", err
			}
			v, err := expandBracedRef(s[i+2:end], env)
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
func matchBraceRef(s string, open int) (int, error) {
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

func expandBracedRef(inner string, env []string) (string, error) {
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
	return expandRef(rest, env)
}

var fuzzEnv = []string{"A=a", "EMPTY=", "B=b${A}", "LONG=" + strings.Repeat("x", 10)}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$A", "${A}", "${MISSING:-${A:+z}}", "${EMPTY-q}", "x{y}$", "${A:-{}}", "${", "${}}", "$$A{${B+${C-}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Expand(s, fuzzEnv)
		if err == ErrTooDeep {
			return // the reference has no bound
		}
		want, werr := expandRef(s, fuzzEnv)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) || got != want {
			t.Fatalf("Expand(%q) = %q, %v; reference %q, %v", s, got, err, want, werr)
		}
	})
}

func TestExpandNesting(t *testing.T) {
	nest := func(n int) string {
		return strings.Repeat("${M:-", n) + "$A" + strings.Repeat("}", n)
	}
	if got, err := Expand(nest(MaxNesting), fuzzEnv); err != nil || got != "a" {
		t.Fatalf("nesting %d: %q, %v", MaxNesting, got, err)
	}
	if _, err := Expand(nest(MaxNesting+1), fuzzEnv); err != ErrTooDeep {
		t.Fatalf("nesting %d: %v, want %v", MaxNesting+1, err, ErrTooDeep)
	}
	// Skipped words are not expanded, so their depth does not count.
	if got, err := Expand("${A:-"+nest(10*MaxNesting)+"}", fuzzEnv); err != nil || got != "a" {
		t.Fatalf("skipped deep word: %q, %v", got, err)
	}
}

func TestMergeLarge(t *testing.T) {
	var env, add []string
	for i := 0; i < 3000; i++ {
		env = append(env, "K"+strconv.Itoa(i)+"=old")
		add = append(add, "K"+strconv.Itoa(2*i)+"=new")
	}
	got := Merge(append([]string(nil), env...), add...)
	if len(got) != 4500 || got[0] != "K0=new" || got[1] != "K1=old" || got[3000] != "K3000=new" {
		t.Fatalf("Merge: %d entries, %q %q %q", len(got), got[0], got[1], got[3000])
	}
	b := NewBuilder(got)
	b.Unset("K1")
	b.Set("K1=again")
	if l := b.List(); len(l) != 4500 || l[len(l)-1] != "K1=again" || l[1] != "K2=new" {
		t.Fatalf("Builder: %d entries, last %q", len(l), l[len(l)-1])
	}
}

func BenchmarkMerge60000(b *testing.B) {
	var add []string
	for i := 0; i < 60000; i++ {
		add = append(add, "K"+strings.Repeat("k", i%7)+string(rune('a'+i%26))+strconv.Itoa(i)+"=v")
	}
	for b.Loop() {
		Merge([]string{"PATH=/bin"}, add...)
	}
}

func BenchmarkExpandNested(b *testing.B) {
	s := strings.Repeat("${M:-", MaxNesting) + "$A" + strings.Repeat("}", MaxNesting)
	s = strings.Repeat(s, 1000)
	for b.Loop() {
		Expand(s, fuzzEnv)
	}
}
