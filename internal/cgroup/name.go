package cgroup

import (
	"encoding/hex"
	"strings"
)

// Escaping of job, instance and process names
//
// Every name becomes exactly one directory name, whatever it contains:
//
//   - ASCII letters, digits, '-' and '_' are kept as they are;
//   - every other byte (including '/', '.', '%', space, control bytes and
//     each byte of a UTF-8 sequence) becomes '%' and two upper-case hex
//     digits: "net/apache" → "net%2Fapache", "eth0.100" → "eth0%2E100";
//   - the empty name (the instance of a job without `instance`) becomes
//     "_", and the name "_" itself becomes "%5F", so the two never meet;
//   - an escaped name longer than MaxComponent bytes is cut to 200 bytes
//     (never inside a %XX) and followed by '~' and 32 hex digits of the
//     SHA-256 of the original name; '~' never appears otherwise.
//
// As '.' is always escaped, a name can be neither "." nor ".." nor clash
// with an interface file of the cgroup filesystem ("cgroup.procs",
// "memory.max", ...), all of which contain a dot. The scheme is injective:
// two different names never share a directory. Unescape reverses it for
// every name that was not shortened.

// MaxComponent is the longest directory name Escape returns.
const MaxComponent = 255

const (
	emptyName = "_"
	keepLen   = 200
)

func keep(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Escape turns any name into a safe, single path component.
func Escape(name string) string {
	if name == "" {
		return emptyName
	}
	if name == emptyName {
		return "%5F"
	}
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	s := b.String()
	if len(s) <= MaxComponent {
		return s
	}
	cut := keepLen
	// Do not split a %XX: back up to its '%'.
	for i := cut - 1; i >= 0 && i >= cut-2; i-- {
		if s[i] == '%' {
			cut = i
			break
		}
	}
	sum := sum256([]byte(name))
	return s[:cut] + "~" + hex.EncodeToString(sum[:16])
}

// Unescape reverses Escape. ok is false for a shortened name (which cannot
// be reversed) and for anything Escape cannot have produced.
func Unescape(s string) (name string, ok bool) {
	if s == emptyName {
		return "", true
	}
	if s == "" || strings.Contains(s, "~") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(s) {
			return "", false
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	name = b.String()
	if Escape(name) != s {
		return "", false
	}
	return name, true
}
