package control

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

// The fast decoder agrees with godbus's on the calls it accepts, and
// leaves the others to godbus.
func TestDecodeFastAgreesWithGodbus(t *testing.T) {
	type tc struct {
		body []any
		fast bool
	}
	cases := []tc{
		{nil, true},
		{[]any{"x", []string{"A=b", ""}, true}, true},
		{[]any{"x", []string{}, false, dbus.UnixFDIndex(0)}, true},
		{[]any{[]string{"job", "inst"}, "NAME"}, true},
		{[]any{dbus.ObjectPath("/a/b"), []dbus.ObjectPath{"/x"}, uint32(7), int32(-3), byte(9)}, true},
		{[]any{"iface", "prop", dbus.MakeVariant("debug")}, true},
		{[]any{"iface", "prop", dbus.MakeVariant([]string{"a"})}, true},
		{[]any{"iface", "prop", dbus.MakeVariant(dbus.MakeVariant("x"))}, false},
		{[]any{"iface", "prop", dbus.MakeVariant([]byte("x"))}, false},
		{[]any{map[string]string{"a": "b"}}, false},
		{[]any{[][]string{{"a"}}}, false},
	}
	for i, c := range cases {
		for _, sender := range []string{"", ":1.5"} {
			m := &dbus.Message{Type: dbus.TypeMethodCall, Flags: dbus.FlagNoAutoStart, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldPath:      dbus.MakeVariant(dbus.ObjectPath(ManagerPath)),
				dbus.FieldInterface: dbus.MakeVariant(ManagerIface),
				dbus.FieldMember:    dbus.MakeVariant("EmitEvent"),
			}, Body: c.body}
			if len(c.body) > 0 {
				m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(c.body...))
			}
			if sender != "" {
				m.Headers[dbus.FieldSender] = dbus.MakeVariant(sender)
			}
			var buf bytes.Buffer
			if err := m.EncodeTo(&buf, binary.LittleEndian); err != nil {
				t.Fatal(err)
			}
			raw := buf.Bytes()
			if n, err := messageLength(raw, maxMessage); err != nil || n != len(raw) {
				t.Fatalf("case %d: messageLength %d, %v; want %d", i, n, err, len(raw))
			}
			var fast msgIn
			ok := decodeFast(raw, &fast)
			if ok != c.fast {
				t.Fatalf("case %d: fast decode %v, want %v", i, ok, c.fast)
			}
			g, err := dbus.DecodeMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			var slow msgIn
			fromGodbus(g, &slow)
			if !ok {
				continue
			}
			fast.raw, fast.bodyAt, fast.be = nil, 0, false
			if len(fast.body) == 0 {
				fast.body = nil
			}
			if len(slow.body) == 0 {
				slow.body = nil
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Errorf("case %d:\nfast %#v\nslow %#v", i, fast, slow)
			}
		}
	}
	// Big-endian messages are decoded too.
	m := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:      dbus.MakeVariant(dbus.ObjectPath(ManagerPath)),
		dbus.FieldMember:    dbus.MakeVariant("EmitEvent"),
		dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf("x", []string{"A=b"}, true)),
	}, Body: []any{"x", []string{"A=b"}, true}}
	var buf bytes.Buffer
	m.EncodeTo(&buf, binary.BigEndian)
	var x msgIn
	if !decodeFast(buf.Bytes(), &x) || x.member != "EmitEvent" || !reflect.DeepEqual(x.body, []any{"x", []string{"A=b"}, true}) {
		t.Errorf("big-endian message: %+v", x)
	}
}

// Outgoing messages decode with godbus to what was encoded.
func TestAppendMessageDecodes(t *testing.T) {
	bodies := [][]any{
		nil,
		{JobPath("foo")},
		{[]ObjectPath{"/a", "/b"}, []string{}, "s", true, int32(-1), uint32(3)},
		{MakeVariant([][]string{{"startup"}, {}})},
		{MakeVariant([]procEntry{{"main", 12}, {"post-start", 13}})},
		{map[string]Variant{"name": MakeVariant("x"), "emits": MakeVariant([]string{})}},
		{map[string]string{"A": "b", "C": ""}},
	}
	for i, body := range bodies {
		b := appendMessage([]byte("junk"), msgMethodReply, 42, outMsg{replySerial: 7, dest: ":1.1", body: body})
		g, err := dbus.DecodeMessage(bytes.NewReader(b[4:]))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if g.Type != dbus.TypeMethodReply || g.Serial() != 42 || g.Headers[dbus.FieldReplySerial].Value() != uint32(7) ||
			g.Headers[dbus.FieldDestination].Value() != ":1.1" {
			t.Errorf("case %d: header %v", i, g)
		}
		if len(body) == 0 {
			if len(g.Body) != 0 {
				t.Errorf("case %d: body %v", i, g.Body)
			}
			continue
		}
		if got, want := dbus.SignatureOf(g.Body...).String(), dbus.SignatureOf(theirsAll(body)...).String(); got != want && i != 4 {
			t.Errorf("case %d: signature %s, want %s", i, got, want)
		}
		if i != 4 && !reflect.DeepEqual(g.Body, theirsAll(body)) {
			t.Errorf("case %d: body %#v, want %#v", i, g.Body, theirsAll(body))
		}
	}
	// A reply of a type the encoder does not know is an error (a bug of
	// ours), not a message the client cannot read.
	b := appendMessage(nil, msgMethodReply, 43, outMsg{replySerial: 8, body: []any{map[string]int32{"odd": 1}}})
	var em msgIn
	if !decodeHeaderOf(b, &em, true) || em.typ != msgError || em.errName != ErrFailed || em.replySerial != 8 {
		t.Errorf("unencodable reply: %q", b)
	}
	// Structures come back as []any; check the a(si) bytes round trip.
	b = appendMessage(nil, msgSignal, 1, outMsg{path: ManagerPath, iface: ManagerIface, member: "EventEmitted", body: []any{"ev", []string{"A=1"}}})
	g, err := dbus.DecodeMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if g.Type != dbus.TypeSignal || !reflect.DeepEqual(g.Body, []any{"ev", []string{"A=1"}}) ||
		g.Headers[dbus.FieldMember].Value() != "EventEmitted" || g.Headers[dbus.FieldPath].Value() != dbus.ObjectPath(ManagerPath) {
		t.Errorf("signal: %v", g)
	}
}

func TestNameValidity(t *testing.T) {
	for s, want := range map[string]bool{"a.b": true, "com.ubuntu.Upstart0_6": true, "a": false, "a..b": false,
		".a.b": false, "a.1b": false, "a.b-c": false, "": false} {
		if validInterface(s) != want {
			t.Errorf("validInterface(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"Emit": true, "_x1": true, "1x": false, "a.b": false, "": false} {
		if validMember(s) != want {
			t.Errorf("validMember(%q) = %v", s, !want)
		}
	}
}

// validPath answers as godbus's ObjectPath.IsValid (which it replaces on
// the hot path because it allocates).
func TestValidPathAgreesWithGodbus(t *testing.T) {
	for _, s := range []string{"/", "", "//", "/a", "/a/", "/a//b", "/a/b_c/D9", "a/b", "/a-b", "/a.b",
		"/com/ubuntu/Upstart", "/com/ubuntu/Upstart/jobs/foo/_", "/é", "/a/b/c/d/e/f", "///", "/_"} {
		if got, want := validPath(s), dbus.ObjectPath(s).IsValid(); got != want {
			t.Errorf("validPath(%q) = %v, godbus says %v", s, got, want)
		}
	}
}

// The header names our objects answer to are decoded without a copy, and
// still read as what the message says.
func TestHeaderNamesDecode(t *testing.T) {
	for _, member := range []string{"EmitEvent", "SomethingElse"} {
		b := appendMessage(nil, msgMethodCall, 7, outMsg{path: ManagerPath, iface: ManagerIface, member: member, body: []any{"x"}})
		var m msgIn
		if !decodeHeader(b, &m) {
			t.Fatalf("%s: not decoded", member)
		}
		if m.path != ManagerPath || m.iface != ManagerIface || m.member != member {
			t.Errorf("decoded %q %q %q", m.path, m.iface, m.member)
		}
		if allocs := testing.AllocsPerRun(100, func() { decodeHeader(b, &msgIn{}) }); member == "EmitEvent" && allocs != 0 {
			t.Errorf("decoding a call to a known member allocates %v times", allocs)
		}
	}
}

// fromGodbus fills m from a message godbus decoded (to compare).
func fromGodbus(g *dbus.Message, m *msgIn) {
	m.typ, m.flags, m.serial = byte(g.Type), byte(g.Flags), g.Serial()
	p, _ := g.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	m.path = ObjectPath(p)
	m.iface, _ = g.Headers[dbus.FieldInterface].Value().(string)
	m.member, _ = g.Headers[dbus.FieldMember].Value().(string)
	m.sender, _ = g.Headers[dbus.FieldSender].Value().(string)
	m.nfds, _ = g.Headers[dbus.FieldUnixFDs].Value().(uint32)
	m.sig = ""
	if len(g.Body) > 0 {
		m.sig = dbus.SignatureOf(g.Body...).String()
	}
	m.body = make([]any, len(g.Body))
	for i, v := range g.Body {
		m.body[i] = ours(v)
	}
}

// ours converts a value godbus decoded to the types of this package.
func ours(v any) any {
	switch x := v.(type) {
	case dbus.ObjectPath:
		return ObjectPath(x)
	case []dbus.ObjectPath:
		out := make([]ObjectPath, len(x))
		for i, p := range x {
			out[i] = ObjectPath(p)
		}
		return out
	case dbus.UnixFDIndex:
		return UnixFDIndex(x)
	case dbus.UnixFD:
		return UnixFD(x)
	case dbus.Variant:
		return MakeVariant(ours(x.Value()))
	case map[string]dbus.Variant:
		out := make(map[string]Variant, len(x))
		for k, val := range x {
			out[k] = ours(val).(Variant)
		}
		return out
	}
	return v
}

// theirs converts a value of this package's types to godbus's.
func theirs(v any) any {
	switch x := v.(type) {
	case ObjectPath:
		return dbus.ObjectPath(x)
	case []ObjectPath:
		out := make([]dbus.ObjectPath, len(x))
		for i, p := range x {
			out[i] = dbus.ObjectPath(p)
		}
		return out
	case UnixFDIndex:
		return dbus.UnixFDIndex(x)
	case Variant:
		return dbus.MakeVariant(theirs(x.Value()))
	case map[string]Variant:
		out := make(map[string]dbus.Variant, len(x))
		for k, val := range x {
			out[k] = theirs(val).(dbus.Variant)
		}
		return out
	}
	return v
}

func theirsAll(vs []any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = theirs(v)
	}
	return out
}

// validSignature answers as godbus's ParseSignature did (which the decoder
// used before the daemon stopped linking godbus).
func TestValidSignatureAgreesWithGodbus(t *testing.T) {
	sigs := []string{"", "s", "as", "a{sv}", "a{s}", "a{}", "a{svv}", "(si)", "()", "a(si)", "((", ")", "(s", "a", "aa",
		"v", "h", "x", "z", "{sv}", "a{vs}", "a{(s)s}", "sa{sa{sv}}", "(a{sv}as)", strings.Repeat("a", 32) + "s",
		strings.Repeat("a", 33) + "s", strings.Repeat("(", 32) + "s" + strings.Repeat(")", 32),
		strings.Repeat("(", 33) + "s" + strings.Repeat(")", 33), strings.Repeat("s", 255), strings.Repeat("s", 256),
		"a{s" + strings.Repeat("a{s", 31) + "s" + strings.Repeat("}", 32), "(s)}", "a{sv}}", "é"}
	// And every string of up to three characters from the grammar's alphabet.
	alpha := "sav(){}iy"
	var gen func(p string, n int)
	gen = func(p string, n int) {
		sigs = append(sigs, p)
		if n == 0 {
			return
		}
		for i := 0; i < len(alpha); i++ {
			gen(p+alpha[i:i+1], n-1)
		}
	}
	gen("", 4)
	for _, s := range sigs {
		_, err := dbus.ParseSignature(s)
		if got, want := validSignature(s), err == nil; got != want {
			t.Errorf("validSignature(%q) = %v, godbus says %v", s, got, want)
		}
	}
}
