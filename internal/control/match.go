package control

// Match rules on private connections. Upstart sends every signal to every
// private connection; a client that says what it wants, with the bus's
// own AddMatch (as it would on a bus), gets only that. The bridges use it:
// each wants JobAdded and JobRemoved, and under emulation decoding every
// other signal of a boot cost each of them more than a second of CPU. A
// client that never calls AddMatch still gets everything (Upstart's
// behaviour).

import (
	"strings"
)

// maxMatchRules bounds the rules one connection may hold (dbus-daemon's
// default is far higher; ours are a handful per client).
const maxMatchRules = 64

// matchRule is the part of a D-Bus match rule a signal is tested on.
// Other keys (sender, destination, argN, …) are accepted and ignored, so
// a rule can only let more through than it says, never less.
type matchRule struct {
	text                     string
	typ, iface, member, path string
	pathNamespace            string
}

// parseMatchRule reads key='value' pairs separated by commas.
func parseMatchRule(s string) (matchRule, bool) {
	r := matchRule{text: s}
	rest := strings.TrimSpace(s)
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return r, false
		}
		key := strings.TrimSpace(rest[:eq])
		rest = rest[eq+1:]
		var val strings.Builder
		// A value is a run of quoted and unquoted pieces; \' outside
		// quotes is a quote character (the bus's grammar).
		for rest != "" && rest[0] != ',' {
			switch {
			case rest[0] == '\'':
				end := strings.IndexByte(rest[1:], '\'')
				if end < 0 {
					return r, false
				}
				val.WriteString(rest[1 : end+1])
				rest = rest[end+2:]
			case strings.HasPrefix(rest, `\'`):
				val.WriteByte('\'')
				rest = rest[2:]
			default:
				val.WriteByte(rest[0])
				rest = rest[1:]
			}
		}
		rest = strings.TrimPrefix(rest, ",")
		v := val.String()
		switch key {
		case "type":
			r.typ = v
		case "interface":
			r.iface = v
		case "member":
			r.member = v
		case "path":
			r.path = v
		case "path_namespace":
			r.pathNamespace = v
		}
	}
	return r, true
}

// matches reports whether the signal passes the rule.
func (r matchRule) matches(m outSignal) bool {
	if r.typ != "" && r.typ != "signal" {
		return false
	}
	iface, member := splitMember(m.name)
	if r.iface != "" && r.iface != iface || r.member != "" && r.member != member {
		return false
	}
	if r.path != "" && ObjectPath(r.path) != m.path {
		return false
	}
	if ns := r.pathNamespace; ns != "" && ns != "/" {
		p := string(m.path)
		if p != ns && !strings.HasPrefix(p, ns+"/") {
			return false
		}
	}
	return true
}

// wants reports whether the client is to get the signal: every signal
// until it adds a rule, then those a rule matches.
func (c *client) wants(m outSignal) bool {
	c.matchMu.Lock()
	defer c.matchMu.Unlock()
	if !c.filtered {
		return true
	}
	for _, r := range c.rules {
		if r.matches(m) {
			return true
		}
	}
	return false
}

func mAddMatch(cl *call) ([]any, error) {
	c := cl.o.c
	r, ok := parseMatchRule(cl.body[0].(string))
	if !ok {
		return nil, dbusErr("org.freedesktop.DBus.Error.MatchRuleInvalid", "Invalid match rule: "+r.text)
	}
	c.matchMu.Lock()
	defer c.matchMu.Unlock()
	if len(c.rules) >= maxMatchRules {
		return nil, dbusErr("org.freedesktop.DBus.Error.LimitsExceeded", "Too many match rules on this connection")
	}
	c.rules = append(c.rules, r)
	c.filtered = true
	return nil, nil
}

func mRemoveMatch(cl *call) ([]any, error) {
	c := cl.o.c
	text := cl.body[0].(string)
	c.matchMu.Lock()
	defer c.matchMu.Unlock()
	for i, r := range c.rules {
		if r.text == text {
			c.rules = append(c.rules[:i], c.rules[i+1:]...)
			return nil, nil
		}
	}
	return nil, dbusErr("org.freedesktop.DBus.Error.MatchRuleNotFound", "The given match rule wasn't found and can't be removed")
}
