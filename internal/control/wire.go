package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The D-Bus wire format for private connections, without reflection.
//
// Incoming messages are decoded here and only here (godbus never sees
// what a peer sends): first the header (decodeHeader), then, once the
// signature was checked against the method called, the body
// (decodeBody). The body decoder knows the types our methods take: basic
// types, arrays of strings or object paths, and variants holding one of
// those. Strings must be UTF-8 without NUL; arrays hold at most
// maxArrayElems elements; a message is at most maxIncoming bytes (see the
// bounds in docs/decisions.md). Outgoing messages are encoded here for the
// types our methods and signals return (anything else is a bug of ours: see unencodable).

// Message types and flags (D-Bus specification).
const (
	msgMethodCall  = 1
	msgMethodReply = 2
	msgError       = 3
	msgSignal      = 4

	flagNoReplyExpected = 0x1
	validFlags          = 0x1 | 0x2 | 0x4

	// maxMessage is the specification's limit, for what we send (GetState
	// with many jobs is large).
	maxMessage = 1 << 27
	// maxIncoming bounds what a peer may send us in one message. No call
	// of the API needs more: the largest is an environment list (EmitEvent,
	// Start, SetEnvList), and what exec(2) passes to a job is itself held
	// to 2 MiB in all and 128 KiB per entry by Linux.
	maxIncoming = 1 << 20
	// maxArrayElems bounds the elements of one array argument.
	maxArrayElems = 16384
)

// Header field codes.
const (
	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSender      = 7
	fieldSignature   = 8
	fieldUnixFDs     = 9
)

var le = binary.LittleEndian

// msgIn is a decoded incoming message.
type msgIn struct {
	typ, flags  byte
	serial      uint32
	path        ObjectPath
	iface       string
	member      string
	errName     string
	sender      string
	sig         string
	nfds        uint32
	replySerial uint32 // replies and errors (bus connections)
	body        []any

	raw    []byte // the whole message (valid until the next read)
	bodyAt int    // where the body starts in raw
	be     bool   // big-endian
}

var errBadMessage = errors.New("invalid D-Bus message")

// messageLength returns the total length of the message whose first 16
// bytes are b, refusing one longer than limit.
func messageLength(b []byte, limit int) (int, error) {
	var order binary.ByteOrder
	switch b[0] {
	case 'l':
		order = binary.LittleEndian
	case 'B':
		order = binary.BigEndian
	default:
		return 0, fmt.Errorf("%w: invalid byte order", errBadMessage)
	}
	blen, hlen := uint64(order.Uint32(b[4:])), uint64(order.Uint32(b[12:]))
	if blen+hlen+16 > uint64(limit) {
		return 0, fmt.Errorf("%w: message of %d bytes is longer than the limit of %d", errBadMessage, blen+hlen+16, limit)
	}
	return int(16 + (hlen+7)&^7 + blen), nil
}

// decodeFast decodes a whole message (header and body); false when it is
// invalid or has a body of types decodeBody does not know.
func decodeFast(b []byte, m *msgIn) bool {
	return decodeHeader(b, m) && decodeBody(m) == nil
}

// decodeHeader decodes the header of the whole message b (at least 16
// bytes): false when it is invalid. The body is left for decodeBody.
func decodeHeader(b []byte, m *msgIn) (ok bool) {
	return decodeHeaderOf(b, m, false)
}

// decodeHeaderOf is decodeHeader; with replies set it also accepts method
// replies and errors (on a bus connection, the answers to our calls).
func decodeHeaderOf(b []byte, m *msgIn, replies bool) (ok bool) {
	if len(b) < 16 || b[0] != 'l' && b[0] != 'B' || b[3] != 1 {
		return false
	}
	m.be = b[0] == 'B'
	m.raw = b
	m.typ, m.flags = b[1], b[2]
	d := dec{b: b[:16], be: m.be, pos: 4}
	blen := int(d.u32())
	m.serial = d.u32()
	hlen := int(d.u32())
	if hlen > len(b)-16 {
		return false
	}
	d = dec{b: b[:16+hlen], pos: 16, be: m.be}
	var seen uint16
	for d.pos < len(d.b) && !d.bad {
		d.align(8)
		if d.pos+4 > len(d.b) {
			return false
		}
		code, sl, sc, nul := d.b[d.pos], d.b[d.pos+1], d.b[d.pos+2], d.b[d.pos+3]
		d.pos += 4
		if sl != 1 || nul != 0 {
			return false
		}
		want := byte(0)
		switch code {
		case fieldPath:
			want = 'o'
		case fieldInterface, fieldMember, fieldErrorName, fieldDestination, fieldSender:
			want = 's'
		case fieldReplySerial, fieldUnixFDs:
			want = 'u'
		case fieldSignature:
			want = 'g'
		}
		if want == 0 || sc != want || seen&(1<<code) != 0 {
			return false
		}
		seen |= 1 << code
		switch code {
		case fieldPath:
			m.path = ObjectPath(d.name())
		case fieldInterface:
			m.iface = d.name()
		case fieldMember:
			m.member = d.name()
		case fieldErrorName:
			m.errName = d.str()
		case fieldDestination:
			d.str()
		case fieldSender:
			m.sender = d.str()
		case fieldReplySerial:
			m.replySerial = d.u32()
		case fieldUnixFDs:
			m.nfds = d.u32()
		case fieldSignature:
			m.sig = d.sigStr()
		}
	}
	if d.bad || d.badText || m.flags&^validFlags != 0 {
		return false
	}
	switch m.typ {
	case msgMethodCall:
		if seen&(1<<fieldPath|1<<fieldMember) != 1<<fieldPath|1<<fieldMember {
			return false
		}
	case msgSignal:
		if seen&(1<<fieldPath|1<<fieldInterface|1<<fieldMember) != 1<<fieldPath|1<<fieldInterface|1<<fieldMember {
			return false
		}
	case msgMethodReply, msgError:
		// Never expected on a private connection: ignored.
		if !replies || seen&(1<<fieldReplySerial) == 0 || m.typ == msgError && seen&(1<<fieldErrorName) == 0 {
			return false
		}
		m.bodyAt = (16 + hlen + 7) &^ 7
		return m.bodyAt+blen == len(b) && (blen == 0 || m.sig != "")
	default:
		return false
	}
	if !validPath(string(m.path)) || seen&(1<<fieldInterface) != 0 && !validInterface(m.iface) || !validMember(m.member) {
		return false
	}
	m.bodyAt = (16 + hlen + 7) &^ 7
	if m.bodyAt+blen != len(b) || blen > 0 && m.sig == "" {
		return false
	}
	return true
}

// Errors of decodeBody: the caller answers them with InvalidArgs.
var (
	errBodyMalformed = errors.New("malformed message body")
	errBodyTypes     = errors.New("argument types not supported")
	errBodyText      = errors.New("a string argument is not UTF-8 or holds a NUL byte")
	errBodyArray     = fmt.Errorf("an array argument has more than %d elements", maxArrayElems)
)

// decodeBody decodes the body of a message decodeHeader accepted.
func decodeBody(m *msgIn) error {
	if m.sig == "" {
		return nil
	}
	body := dec{b: m.raw[m.bodyAt:], be: m.be}
	m.body = make([]any, 0, len(m.sig))
	sig := m.sig
	for i := 0; i < len(sig); i++ {
		v, n, err := body.value(sig[i:])
		if err != nil {
			return err
		}
		i += n - 1
		m.body = append(m.body, v)
	}
	if body.pos != len(body.b) {
		return errBodyMalformed
	}
	return nil
}

// value decodes one value of the first complete type of sig and returns
// it with the length of that type's signature.
func (d *dec) value(sig string) (v any, n int, err error) {
	n = 1
	switch sig[0] {
	case 's':
		v = d.str()
	case 'o':
		s := d.str()
		if !d.bad && !validPath(s) {
			return nil, 0, errBodyMalformed
		}
		v = ObjectPath(s)
	case 'b':
		switch d.u32() {
		case 0:
			v = false
		case 1:
			v = true
		default:
			return nil, 0, errBodyMalformed
		}
	case 'u':
		v = d.u32()
	case 'i':
		v = int32(d.u32())
	case 'h':
		v = UnixFDIndex(d.u32())
	case 'y':
		if d.pos >= len(d.b) {
			return nil, 0, errBodyMalformed
		}
		v = d.b[d.pos]
		d.pos++
	case 'a':
		if len(sig) < 2 || sig[1] != 's' && sig[1] != 'o' {
			return nil, 0, errBodyTypes
		}
		n = 2
		size := int(d.u32())
		end := d.pos + size
		if d.bad || size > len(d.b)-d.pos {
			return nil, 0, errBodyMalformed
		}
		ss := []string{}
		for d.pos < end && !d.bad {
			if len(ss) == maxArrayElems {
				return nil, 0, errBodyArray
			}
			ss = append(ss, d.str())
		}
		if d.pos != end {
			return nil, 0, errBodyMalformed
		}
		if sig[1] == 's' {
			v = ss
			break
		}
		ps := make([]ObjectPath, len(ss))
		for j, s := range ss {
			if !validPath(s) {
				return nil, 0, errBodyMalformed
			}
			ps[j] = ObjectPath(s)
		}
		v = ps
	case 'v':
		// A variant of one of the types above, not of another variant.
		inner := d.sigStr()
		if d.bad || d.badText {
			break
		}
		if inner == "" || inner[0] == 'v' {
			return nil, 0, errBodyTypes
		}
		x, k, err := d.value(inner)
		if err != nil {
			return nil, 0, err
		}
		if k != len(inner) {
			return nil, 0, errBodyTypes
		}
		v = MakeVariant(x)
	default:
		return nil, 0, errBodyTypes
	}
	if d.badText {
		return nil, 0, errBodyText
	}
	if d.bad {
		return nil, 0, errBodyMalformed
	}
	return v, n, nil
}

// peekFDs reads the unix_fds header field of a message decodeHeader
// refused (to release the message's fds), 0 when it cannot be found.
func peekFDs(b []byte) uint32 {
	if len(b) < 16 || b[0] != 'l' && b[0] != 'B' {
		return 0
	}
	be := b[0] == 'B'
	hd := dec{b: b[:16], be: be, pos: 12}
	hlen := int(hd.u32())
	if hlen > len(b)-16 {
		return 0
	}
	d := dec{b: b[:16+hlen], pos: 16, be: be}
	for d.pos < len(d.b) && !d.bad {
		d.align(8)
		if d.pos+4 > len(d.b) || d.b[d.pos+1] != 1 || d.b[d.pos+3] != 0 {
			return 0
		}
		code, sc := d.b[d.pos], d.b[d.pos+2]
		d.pos += 4
		switch sc {
		case 'o', 's':
			d.str()
		case 'u':
			v := d.u32()
			if code == fieldUnixFDs && !d.bad {
				return v
			}
		case 'g':
			d.sigStr()
		default:
			return 0
		}
	}
	return 0
}

type dec struct {
	b       []byte
	pos     int
	be      bool
	bad     bool // malformed
	badText bool // a string that is not UTF-8, or holds a NUL
}

func (d *dec) align(n int) { d.pos = (d.pos + n - 1) &^ (n - 1) }

func (d *dec) u32() uint32 {
	d.align(4)
	if d.pos+4 > len(d.b) {
		d.bad = true
		return 0
	}
	var v uint32
	if d.be {
		v = binary.BigEndian.Uint32(d.b[d.pos:])
	} else {
		v = le.Uint32(d.b[d.pos:])
	}
	d.pos += 4
	return v
}

func (d *dec) str() string {
	raw, ok := d.rawStr()
	if !ok {
		return ""
	}
	return string(raw)
}

// rawStr decodes a string in place (valid until the buffer is reused).
func (d *dec) rawStr() ([]byte, bool) {
	n := int(d.u32())
	if d.bad || n < 0 || n >= len(d.b)-d.pos || d.b[d.pos+n] != 0 {
		d.bad = true
		return nil, false
	}
	raw := d.b[d.pos : d.pos+n]
	if !validText(raw) {
		d.badText = true
	}
	d.pos += n + 1
	return raw, true
}

// validText: UTF-8 without NUL, as the specification wants of strings.
// name is str for a header's path, interface or member: the names our
// objects answer to are returned without a copy (one allocation less per
// field of every call).
func (d *dec) name() string {
	raw, ok := d.rawStr()
	if !ok {
		return ""
	}
	if k, ok := knownNames[string(raw)]; ok {
		return k
	}
	return string(raw)
}

// knownNames are the paths, interfaces and members calls name most.
var knownNames = func() map[string]string {
	m := map[string]string{}
	// (The two emit members end their lines: docs_test reads a name
	// quoted after them as an event the code emits.)
	for _, s := range []string{"/", string(ManagerPath), ManagerIface, JobIface, InstanceIface, PeerIface,
		"org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Introspectable", "EmitEvent",
		"GetJobByName", "GetAllJobs", "GetInstance", "GetInstanceByName", "EmitEventWithFile",
		"GetAllInstances", "Start", "Stop", "Restart", "Reload", "Get", "GetAll", "Set", "Introspect", "Ping",
		"GetMachineId", "GetEnv", "SetEnv", "UnsetEnv", "ListEnv", "ResetEnv"} {
		m[s] = s
	}
	return m
}()

// validPath is ObjectPath.IsValid without its allocation: "/" or
// "/"-separated non-empty elements of [A-Za-z0-9_].
func validPath(s string) bool {
	if s == "/" {
		return true
	}
	if len(s) < 2 || s[0] != '/' || s[len(s)-1] == '/' {
		return false
	}
	prev := byte('/')
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			if prev == '/' {
				return false
			}
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		default:
			return false
		}
		prev = c
	}
	return true
}

func validText(b []byte) bool {
	for _, c := range b {
		if c == 0 || c >= 0x80 {
			return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
		}
	}
	return true
}

func (d *dec) sigStr() string {
	if d.pos >= len(d.b) {
		d.bad = true
		return ""
	}
	n := int(d.b[d.pos])
	d.pos++
	if n >= len(d.b)-d.pos || d.b[d.pos+n] != 0 {
		d.bad = true
		return ""
	}
	s := string(d.b[d.pos : d.pos+n])
	d.pos += n + 1
	if !validSignature(s) {
		d.bad = true
	}
	return s
}

func memberChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_'
}

// validMember and validInterface are godbus's rules.
func validMember(s string) bool {
	if len(s) == 0 || len(s) > 255 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !memberChar(s[i]) {
			return false
		}
	}
	return true
}

func validInterface(s string) bool {
	if len(s) == 0 || len(s) > 255 || s[0] == '.' {
		return false
	}
	elems, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if !memberChar(s[i]) {
				return false
			}
			continue
		}
		if i == start || s[start] >= '0' && s[start] <= '9' {
			return false
		}
		elems++
		start = i + 1
	}
	return elems >= 2
}

// Encoding.

type enc struct {
	b    []byte
	base int // where the message starts: alignment is relative to it
}

func (e *enc) align(n int) {
	for (len(e.b)-e.base)%n != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *enc) u32(v uint32) {
	e.align(4)
	e.b = le.AppendUint32(e.b, v)
}

func (e *enc) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

func (e *enc) sig(s string) {
	e.b = append(e.b, byte(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

// array writes an array whose elements are aligned to al, written by elems.
func (e *enc) array(al int, elems func()) {
	e.u32(0)
	at := len(e.b) - 4
	e.align(al)
	start := len(e.b)
	elems()
	le.PutUint32(e.b[at:], uint32(len(e.b)-start))
}

// sigOf is the D-Bus signature of a value of one of the types encodeValue
// knows; ok is false for any other type.
func sigOf(v any) (string, bool) {
	switch v.(type) {
	case string:
		return "s", true
	case ObjectPath:
		return "o", true
	case bool:
		return "b", true
	case int32:
		return "i", true
	case uint32:
		return "u", true
	case []string:
		return "as", true
	case []ObjectPath:
		return "ao", true
	case [][]string:
		return "aas", true
	case []procEntry:
		return "a(si)", true
	case Variant:
		return "v", true
	case map[string]Variant:
		return "a{sv}", true
	case map[string]string:
		return "a{ss}", true
	}
	return "", false
}

// value encodes v (of a type sigOf knows); false if something inside it
// (a variant's content) is of another type.
func (e *enc) value(v any) bool {
	switch x := v.(type) {
	case string:
		e.str(x)
	case ObjectPath:
		e.str(string(x))
	case bool:
		b := uint32(0)
		if x {
			b = 1
		}
		e.u32(b)
	case int32:
		e.u32(uint32(x))
	case uint32:
		e.u32(x)
	case []string:
		e.array(4, func() {
			for _, s := range x {
				e.str(s)
			}
		})
	case []ObjectPath:
		e.array(4, func() {
			for _, s := range x {
				e.str(string(s))
			}
		})
	case [][]string:
		e.array(4, func() {
			for _, ss := range x {
				e.value(ss)
			}
		})
	case []procEntry:
		e.array(8, func() {
			for _, p := range x {
				e.align(8)
				e.str(p.Name)
				e.u32(uint32(p.Pid))
			}
		})
	case Variant:
		inner := x.Value()
		s, ok := sigOf(inner)
		if !ok {
			return false
		}
		e.sig(s)
		return e.value(inner)
	case map[string]Variant:
		ok := true
		e.array(8, func() {
			for k, val := range x {
				e.align(8)
				e.str(k)
				ok = ok && e.value(val)
			}
		})
		return ok
	case map[string]string:
		e.array(8, func() {
			for k, val := range x {
				e.align(8)
				e.str(k)
				e.str(val)
			}
		})
	default:
		return false
	}
	return true
}

// appendMessage appends an outgoing message (reply, error or signal) to b.
// For a reply or error, replySerial and dest (may be "") are set; for an
// error errName; for a signal path, iface and member.
func appendMessage(b []byte, typ byte, serial uint32, o outMsg) []byte {
	base := len(b)
	sig := ""
	for _, v := range o.body {
		s, ok := sigOf(v)
		if !ok {
			return unencodable(b, typ, serial, o, fmt.Sprintf("a value of type %T", v))
		}
		sig += s
	}
	e := enc{b: b, base: base}
	e.b = append(e.b, 'l', typ, 0, 1, 0, 0, 0, 0)
	e.b = le.AppendUint32(e.b, serial)
	e.b = le.AppendUint32(e.b, 0) // header fields length
	hstart := len(e.b)
	field := func(code, t byte) {
		e.align(8)
		e.b = append(e.b, code, 1, t, 0)
	}
	if o.path != "" {
		field(fieldPath, 'o')
		e.str(string(o.path))
	}
	if o.iface != "" {
		field(fieldInterface, 's')
		e.str(o.iface)
	}
	if o.member != "" {
		field(fieldMember, 's')
		e.str(o.member)
	}
	if o.errName != "" {
		field(fieldErrorName, 's')
		e.str(o.errName)
	}
	if o.replySerial != 0 {
		field(fieldReplySerial, 'u')
		e.u32(o.replySerial)
	}
	if o.dest != "" {
		field(fieldDestination, 's')
		e.str(o.dest)
	}
	if sig != "" {
		field(fieldSignature, 'g')
		e.sig(sig)
	}
	le.PutUint32(e.b[base+12:], uint32(len(e.b)-hstart))
	e.align(8)
	bstart := len(e.b)
	for _, v := range o.body {
		if !e.value(v) {
			return unencodable(b[:base], typ, serial, o, "a variant of a type the encoder does not know")
		}
	}
	blen := len(e.b) - bstart
	if blen+bstart-base > maxMessage {
		return unencodable(b[:base], typ, serial, o, "message too long")
	}
	le.PutUint32(e.b[base+4:], uint32(blen))
	return e.b
}

// outMsg is what appendMessage encodes.
type outMsg struct {
	path          ObjectPath
	iface, member string
	errName       string
	replySerial   uint32
	dest          string
	body          []any
}

// unencodable stands in for a message appendMessage cannot encode (a
// value of a type it does not know, a bug of ours; or longer than the
// specification allows): a reply becomes an error, anything else is
// dropped.
func unencodable(b []byte, typ byte, serial uint32, o outMsg, why string) []byte {
	if typ == msgMethodReply {
		o.body = []any{"dbus: invalid reply: " + why}
		o.errName = ErrFailed
		return appendMessage(b, msgError, serial, o)
	}
	return b
}

// cleanText makes s a valid D-Bus string: invalid UTF-8 becomes U+FFFD
// and NUL is dropped. What we send must never be refused by a bus daemon
// (dbus-daemon disconnects a sender of invalid UTF-8), whatever reached
// the daemon from its environment or from files.
func cleanText(s string) string {
	if validText([]byte(s)) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// cleanValue applies cleanText to every string in v (of a type our
// methods and signals send), copying only what changes.
func cleanValue(v any) any {
	switch x := v.(type) {
	case string:
		// v itself when unchanged: boxing the result again would allocate.
		if c := cleanText(x); c != x {
			return c
		}
	case []string:
		for i, s := range x {
			if c := cleanText(s); c != s {
				out := append([]string(nil), x...)
				for j := i; j < len(out); j++ {
					out[j] = cleanText(out[j])
				}
				return out
			}
		}
	case [][]string:
		out := make([][]string, len(x))
		for i, ss := range x {
			out[i] = cleanValue(ss).([]string)
		}
		return out
	case []procEntry:
		out := make([]procEntry, len(x))
		for i, p := range x {
			out[i] = procEntry{cleanText(p.Name), p.Pid}
		}
		return out
	case Variant:
		return MakeVariant(cleanValue(x.Value()))
	case map[string]Variant:
		out := make(map[string]Variant, len(x))
		for k, val := range x {
			out[cleanText(k)] = cleanValue(val).(Variant)
		}
		return out
	}
	return v
}

func cleanValues(vs []any) []any {
	for i, v := range vs {
		vs[i] = cleanValue(v)
	}
	return vs
}
