package environ

import (
	"errors"
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := []string{"FOO=foo", "EMPTY=", "BAR=bar/baz"}
	tests := []struct {
		in, want string
		err      string
	}{
		{"plain", "plain", ""},
		{"$FOO", "foo", ""},
		{"x$FOO-y", "xfoo-y", ""},
		{"${FOO}x", "foox", ""},
		{"${MISSING:-dflt}", "dflt", ""},
		{"${EMPTY:-dflt}", "dflt", ""},
		{"${EMPTY-dflt}", "", ""},
		{"${MISSING-d$FOO}", "dfoo", ""},
		{"${FOO:+alt}", "alt", ""},
		{"${EMPTY:+alt}", "", ""},
		{"${EMPTY+alt}", "alt", ""},
		{"${MISSING+alt}", "", ""},
		{"${}", "$", ""},
		{"$", "$", ""},
		{"a$ b", "a$ b", ""},
		{"$1", "$1", ""},
		{"$MISSING", "", "Unknown parameter: MISSING"},
		{"${MISSING}", "", "Unknown parameter: MISSING"},
		{"${FOO", "", "Mismatched braces"},
		{"${FOO*x}", "", "Expected operator"},
		{"${MISSING:-${FOO}}", "foo", ""},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, env)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	var u *UnknownParameterError
	if _, err := Expand("$NOPE", nil); !errors.As(err, &u) || u.Name != "NOPE" {
		t.Errorf("want UnknownParameterError NOPE, got %v", err)
	}
}

func TestSetUnset(t *testing.T) {
	env := []string{"A=1", "FOO=x", "B=2"}
	env = Set(env, "FOO=y")
	env = Set(env, "C=3")
	if want := []string{"A=1", "FOO=y", "B=2", "C=3"}; !reflect.DeepEqual(env, want) {
		t.Fatalf("Set: %v", env)
	}
	env = Unset(env, "FO") // a prefix must not remove FOO (Upstart bug)
	env = Unset(env, "A")
	if want := []string{"FOO=y", "B=2", "C=3"}; !reflect.DeepEqual(env, want) {
		t.Fatalf("Unset: %v", env)
	}
	if v, ok := Lookup(env, "FOO"); !ok || v != "y" {
		t.Fatalf("Lookup FOO = %q %v", v, ok)
	}
	if _, ok := Lookup(env, "FO"); ok {
		t.Fatal("Lookup of a prefix found something")
	}
}
