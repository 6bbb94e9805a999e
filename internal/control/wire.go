package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// The D-Bus wire format for private connections, without reflection.
//
// Incoming messages are decoded here when they are simple (little-endian,
// the nine standard header fields, bodies made of basic types and arrays of
// strings or object paths: every hot method); anything else is handed to
// godbus's decoder, so that what godbus accepted or rejected before still
// is. Outgoing messages are encoded here for the types our methods and
// signals return, and by godbus for anything else.

// Message types and flags (D-Bus specification).
const (
	msgMethodCall  = 1
	msgMethodReply = 2
	msgError       = 3
	msgSignal      = 4

	flagNoReplyExpected = 0x1
	validFlags          = 0x1 | 0x2 | 0x4

	maxMessage = 1 << 27
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
	typ, flags byte
	serial     uint32
	path       dbus.ObjectPath
	iface      string
	member     string
	errName    string
	sender     string
	sig        string
	nfds       uint32
	body       []any
}

var errBadMessage = errors.New("invalid D-Bus message")

// messageLength returns the total length of the message whose first 16
// bytes are b.
func messageLength(b []byte) (int, error) {
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
	if blen+hlen+16 > maxMessage {
		return 0, fmt.Errorf("%w: message is too long", errBadMessage)
	}
	return int(16 + (hlen+7)&^7 + blen), nil
}

// decodeFast decodes a whole message; ok is false when it is not one of
// the simple ones (or is invalid): then godbus must decode it. nfds is
// returned even then when the header could be read.
func decodeFast(b []byte, m *msgIn) (ok bool) {
	if b[0] != 'l' || b[3] != 1 {
		return false
	}
	m.typ, m.flags = b[1], b[2]
	m.serial = le.Uint32(b[8:])
	blen, hlen := int(le.Uint32(b[4:])), int(le.Uint32(b[12:]))
	d := dec{b: b[:16+hlen], pos: 16}
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
		if want == 0 || sc != want {
			return false
		}
		seen |= 1 << code
		switch code {
		case fieldPath:
			m.path = dbus.ObjectPath(d.str())
		case fieldInterface:
			m.iface = d.str()
		case fieldMember:
			m.member = d.str()
		case fieldErrorName:
			m.errName = d.str()
		case fieldDestination:
			d.str()
		case fieldSender:
			m.sender = d.str()
		case fieldReplySerial:
			d.u32()
		case fieldUnixFDs:
			m.nfds = d.u32()
		case fieldSignature:
			m.sig = d.sigStr()
		}
	}
	if d.bad || m.flags&^validFlags != 0 {
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
		// Never expected on a private connection: godbus checks them.
		return false
	default:
		return false
	}
	if !m.path.IsValid() || seen&(1<<fieldInterface) != 0 && !validInterface(m.iface) || !validMember(m.member) {
		return false
	}
	start := (16 + hlen + 7) &^ 7
	if start+blen != len(b) {
		return false
	}
	if m.sig == "" {
		return true
	}
	body := dec{b: b[start:]}
	m.body = make([]any, 0, len(m.sig))
	sig := m.sig
	for i := 0; i < len(sig) && !body.bad; i++ {
		var v any
		switch sig[i] {
		case 's':
			v = body.str()
		case 'o':
			s := body.str()
			if !dbus.ObjectPath(s).IsValid() {
				return false
			}
			v = dbus.ObjectPath(s)
		case 'b':
			switch body.u32() {
			case 0:
				v = false
			case 1:
				v = true
			default:
				return false
			}
		case 'u':
			v = body.u32()
		case 'i':
			v = int32(body.u32())
		case 'h':
			v = dbus.UnixFDIndex(body.u32())
		case 'y':
			if body.pos >= len(body.b) {
				return false
			}
			v = body.b[body.pos]
			body.pos++
		case 'a':
			if i+1 >= len(sig) || sig[i+1] != 's' && sig[i+1] != 'o' {
				return false
			}
			i++
			n := int(body.u32())
			if n > 1<<26 {
				return false
			}
			end := body.pos + n
			if end > len(body.b) {
				return false
			}
			var ss []string
			for body.pos < end && !body.bad {
				ss = append(ss, body.str())
			}
			if body.pos != end {
				return false
			}
			if sig[i] == 's' {
				if ss == nil {
					ss = []string{}
				}
				v = ss
			} else {
				ps := make([]dbus.ObjectPath, len(ss))
				for j, s := range ss {
					if !dbus.ObjectPath(s).IsValid() {
						return false
					}
					ps[j] = dbus.ObjectPath(s)
				}
				v = ps
			}
		default:
			return false
		}
		m.body = append(m.body, v)
	}
	return !body.bad
}

// fromGodbus fills m from a message godbus decoded.
func fromGodbus(g *dbus.Message, m *msgIn) {
	m.typ, m.flags, m.serial = byte(g.Type), byte(g.Flags), g.Serial()
	m.path, _ = g.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	m.iface, _ = g.Headers[dbus.FieldInterface].Value().(string)
	m.member, _ = g.Headers[dbus.FieldMember].Value().(string)
	m.sender, _ = g.Headers[dbus.FieldSender].Value().(string)
	m.nfds, _ = g.Headers[dbus.FieldUnixFDs].Value().(uint32)
	m.sig = ""
	if len(g.Body) > 0 {
		m.sig = dbus.SignatureOf(g.Body...).String()
	}
	m.body = g.Body
}

// peekFDs reads the unix_fds header field of a message decodeFast refused
// (to release the message's fds), 0 when it cannot be found.
func peekFDs(b []byte) uint32 {
	if b[0] != 'l' {
		return 0
	}
	hlen := int(le.Uint32(b[12:]))
	d := dec{b: b[:16+hlen], pos: 16}
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
	b   []byte
	pos int
	bad bool
}

func (d *dec) align(n int) { d.pos = (d.pos + n - 1) &^ (n - 1) }

func (d *dec) u32() uint32 {
	d.align(4)
	if d.pos+4 > len(d.b) {
		d.bad = true
		return 0
	}
	v := le.Uint32(d.b[d.pos:])
	d.pos += 4
	return v
}

func (d *dec) str() string {
	n := int(d.u32())
	if d.bad || n >= len(d.b)-d.pos || d.b[d.pos+n] != 0 {
		d.bad = true
		return ""
	}
	s := string(d.b[d.pos : d.pos+n])
	d.pos += n + 1
	return s
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
	if _, err := dbus.ParseSignature(s); err != nil {
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
	case dbus.ObjectPath:
		return "o", true
	case bool:
		return "b", true
	case int32:
		return "i", true
	case uint32:
		return "u", true
	case []string:
		return "as", true
	case []dbus.ObjectPath:
		return "ao", true
	case [][]string:
		return "aas", true
	case []procEntry:
		return "a(si)", true
	case dbus.Variant:
		return "v", true
	case map[string]dbus.Variant:
		return "a{sv}", true
	}
	return "", false
}

// value encodes v (of a type sigOf knows); false if something inside it
// (a variant's content) is of another type.
func (e *enc) value(v any) bool {
	switch x := v.(type) {
	case string:
		e.str(x)
	case dbus.ObjectPath:
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
	case []dbus.ObjectPath:
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
	case dbus.Variant:
		inner := x.Value()
		s, ok := sigOf(inner)
		if !ok {
			return false
		}
		e.sig(s)
		return e.value(inner)
	case map[string]dbus.Variant:
		ok := true
		e.array(8, func() {
			for k, val := range x {
				e.align(8)
				e.str(k)
				ok = ok && e.value(val)
			}
		})
		return ok
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
			return appendGodbus(b, typ, serial, o)
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
			return appendGodbus(b[:base], typ, serial, o)
		}
	}
	blen := len(e.b) - bstart
	if blen+bstart-base > maxMessage {
		return appendGodbus(b[:base], typ, serial, o)
	}
	le.PutUint32(e.b[base+4:], uint32(blen))
	return e.b
}

// outMsg is what appendMessage encodes.
type outMsg struct {
	path          dbus.ObjectPath
	iface, member string
	errName       string
	replySerial   uint32
	dest          string
	body          []any
}

// appendGodbus encodes with godbus (for types appendMessage does not know).
// An unencodable message is replaced by an error (replies) or dropped.
func appendGodbus(b []byte, typ byte, serial uint32, o outMsg) []byte {
	m := &dbus.Message{Type: dbus.Type(typ), Headers: map[dbus.HeaderField]dbus.Variant{}, Body: o.body}
	if o.path != "" {
		m.Headers[dbus.FieldPath] = dbus.MakeVariant(o.path)
	}
	if o.iface != "" {
		m.Headers[dbus.FieldInterface] = dbus.MakeVariant(o.iface)
	}
	if o.member != "" {
		m.Headers[dbus.FieldMember] = dbus.MakeVariant(o.member)
	}
	if o.errName != "" {
		m.Headers[dbus.FieldErrorName] = dbus.MakeVariant(o.errName)
	}
	if o.replySerial != 0 {
		m.Headers[dbus.FieldReplySerial] = dbus.MakeVariant(o.replySerial)
	}
	if o.dest != "" {
		m.Headers[dbus.FieldDestination] = dbus.MakeVariant(o.dest)
	}
	if len(o.body) > 0 {
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(o.body...))
	}
	var buf bytes.Buffer
	if err := m.EncodeTo(&buf, binary.LittleEndian); err != nil || buf.Len() < 16 {
		if typ == msgMethodReply {
			o.body = []any{"dbus: invalid reply: " + fmt.Sprint(err)}
			o.errName = ErrFailed
			return appendMessage(b, msgError, serial, o)
		}
		return b
	}
	out := buf.Bytes()
	le.PutUint32(out[8:], serial)
	return append(b, out...)
}
