package control

import "fmt"

// The D-Bus value types of the wire format (wire.go), our own so that the
// daemon links no D-Bus library: godbus's package, even unused but for
// its types, kept its transports and with them the network resolver
// (docs/decisions.md, "The daemon's memory"). Tools convert where they
// hand these to godbus (a path is dbus.ObjectPath(p)).

// ObjectPath is a D-Bus object path.
type ObjectPath string

// Variant is a D-Bus variant: a value of one of the types wire.go encodes.
type Variant struct{ v any }

// MakeVariant wraps v in a variant.
func MakeVariant(v any) Variant { return Variant{v} }

// Value is the variant's content.
func (v Variant) Value() any { return v.v }

// String shows the content, for messages.
func (v Variant) String() string { return fmt.Sprintf("<%v>", v.v) }

// UnixFD is a file descriptor received with a message (its 'h' argument
// once resolved); UnixFDIndex is the argument as sent, an index into the
// message's descriptors.
type (
	UnixFD      int32
	UnixFDIndex uint32
)

// Error is a D-Bus error reply: its name and body (a message first).
type Error struct {
	Name string
	Body []any
}

// NewError makes an error reply.
func NewError(name string, body []any) *Error { return &Error{Name: name, Body: body} }

// Error is the error's message, or its name when it has none.
func (e Error) Error() string {
	if len(e.Body) > 0 {
		if s, ok := e.Body[0].(string); ok {
			return s
		}
	}
	return e.Name
}

// unknownMemberError is the answer to a Peer method we do not have, in
// godbus's words (as it answered before the private connections were ours).
func unknownMemberError(member string) *Error {
	return NewError("org.freedesktop.DBus.Error.UnknownMethod", []any{fmt.Sprintf("Unknown / invalid method '%s'", member)})
}

// validSignature reports whether s is a sequence of complete D-Bus types
// as godbus accepted them (it let an empty struct "()" pass): at most 255
// bytes, containers nested at most 32 deep of each kind.
func validSignature(s string) bool {
	if len(s) > 255 {
		return false
	}
	for s != "" {
		var ok bool
		if s, ok = oneType(s, 0, 0, 0); !ok {
			return false
		}
	}
	return true
}

// oneType checks the complete type s starts with and returns the rest;
// arrays, structs and dict entries count the enclosing containers.
func oneType(s string, arrays, structs, dicts int) (string, bool) {
	if s == "" || arrays > 32 || structs > 32 || dicts > 32 {
		return "", false
	}
	switch s[0] {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'g', 'o', 'v', 'h':
		return s[1:], true
	case 'a':
		if len(s) > 1 && s[1] == '{' {
			end := closing(s[1:], '{', '}')
			if end < 0 {
				return "", false
			}
			inner, rest := s[2:end+1], s[end+2:]
			if inner == "" {
				return "", false
			}
			if _, ok := oneType(inner[:1], arrays+1, structs, dicts+1); !ok {
				return "", false
			}
			left, ok := oneType(inner[1:], arrays+1, structs, dicts+1)
			if !ok || left != "" {
				return "", false
			}
			return rest, true
		}
		return oneType(s[1:], arrays+1, structs, dicts)
	case '(':
		end := closing(s, '(', ')')
		if end < 0 {
			return "", false
		}
		inner, rest := s[1:end], s[end+1:]
		for inner != "" {
			var ok bool
			if inner, ok = oneType(inner, arrays, structs+1, dicts); !ok {
				return "", false
			}
		}
		return rest, true
	}
	return "", false
}

// closing finds the bracket that closes the one s starts with (-1: none).
func closing(s string, open, close byte) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case open:
			n++
		case close:
			n--
		}
		if n == 0 {
			return i
		}
	}
	return -1
}
