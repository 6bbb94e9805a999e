package control

import (
	"strings"
)

// D-Bus names and paths of the Upstart API (interface version 0_6). The
// paths are untyped: tools hand them to godbus as dbus.ObjectPath.
const (
	BusName       = "com.ubuntu.Upstart"
	ManagerPath   = "/com/ubuntu/Upstart"
	JobsPath      = "/com/ubuntu/Upstart/jobs"
	ManagerIface  = "com.ubuntu.Upstart0_6"
	JobIface      = "com.ubuntu.Upstart0_6.Job"
	InstanceIface = "com.ubuntu.Upstart0_6.Instance"
	// ExtInstanceIface holds our additions to an instance, kept apart so
	// that Upstart's own interfaces stay exactly as Upstart defines them.
	ExtInstanceIface = "org.goupstart.Instance1"
	// ExtManagerIface holds our additions to the manager: DisableRespawn
	// and Shutdown.
	ExtManagerIface = "org.goupstart.Manager1"
	PropertiesIface = "org.freedesktop.DBus.Properties"
	IntrospectIface = "org.freedesktop.DBus.Introspectable"
	PeerIface       = "org.freedesktop.DBus.Peer"

	// SystemAddress is the private socket of the system instance.
	SystemAddress = "unix:abstract=/com/ubuntu/upstart"
)

const hexDigits = "0123456789abcdef"

// EscapeElement turns an arbitrary string into one object path element:
// ASCII letters and digits are kept, every other byte becomes '_' and two
// lower-case hex digits, and the empty string becomes "_".
func EscapeElement(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// UnescapeElement reverses EscapeElement. ok is false when e could not
// have been produced by EscapeElement.
func UnescapeElement(e string) (s string, ok bool) {
	if e == "_" {
		return "", true
	}
	if e == "" {
		return "", false
	}
	b := make([]byte, 0, len(e))
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b = append(b, c)
		case c == '_' && i+2 < len(e):
			hi, lo := unhex(e[i+1]), unhex(e[i+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			v := byte(hi<<4 | lo)
			if v >= 'A' && v <= 'Z' || v >= 'a' && v <= 'z' || v >= '0' && v <= '9' {
				return "", false // never escaped, so not canonical
			}
			b = append(b, v)
			i += 2
		default:
			return "", false
		}
	}
	return string(b), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// JobPath is the object path of a job class.
func JobPath(job string) ObjectPath {
	return JobsPath + "/" + ObjectPath(EscapeElement(job))
}

// InstancePath is the object path of an instance of a job ("" for a singleton).
func InstancePath(job, instance string) ObjectPath {
	return JobPath(job) + "/" + ObjectPath(EscapeElement(instance))
}

// SplitPath decodes a job or instance object path. hasInstance tells whether
// the path names an instance.
func SplitPath(p ObjectPath) (job, instance string, hasInstance, ok bool) {
	rest, found := strings.CutPrefix(string(p), string(JobsPath)+"/")
	if !found {
		return "", "", false, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 2 {
		return "", "", false, false
	}
	job, ok = UnescapeElement(parts[0])
	if !ok || job == "" {
		return "", "", false, false
	}
	if len(parts) == 1 {
		return job, "", false, true
	}
	instance, ok = UnescapeElement(parts[1])
	if !ok {
		return "", "", false, false
	}
	return job, instance, true, true
}
