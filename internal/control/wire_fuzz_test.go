package control

import (
	"bytes"
	"testing"

	"github.com/godbus/dbus/v5"
)

// FuzzDecode feeds arbitrary bytes to what a connection does with its
// input: the length from the header, our fast decoder, and godbus's for
// what ours declines. Nothing may panic (a panic on a control connection
// would take PID 1 down), and what our decoder accepts, godbus must read
// as the same call.
func FuzzDecode(f *testing.F) {
	for _, body := range [][]any{nil, {"x", []string{"A=b"}, true}, {[]string{"job", "inst"}, "NAME"},
		{dbus.ObjectPath("/a"), []dbus.ObjectPath{"/x"}, uint32(7), int32(-3), byte(9)}, {"s", dbus.UnixFDIndex(0)}} {
		f.Add(appendMessage(nil, msgMethodCall, 1, outMsg{path: ManagerPath, iface: ManagerIface, member: "EmitEvent", body: body}))
		f.Add(appendMessage(nil, msgSignal, 2, outMsg{path: ManagerPath, iface: ManagerIface, member: "JobAdded", body: body}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 16 {
			return
		}
		n, err := messageLength(b[:16], maxMessage)
		if err != nil || n > len(b) || n < 16 {
			return
		}
		b = b[:n]
		var m msgIn
		fast := decodeFast(b, &m)
		g, gerr := dbus.DecodeMessage(bytes.NewReader(b))
		if !fast {
			peekFDs(b)
			return
		}
		if gerr != nil {
			t.Fatalf("decodeFast accepted a message godbus refuses (%v): %q", gerr, b)
		}
		if string(m.path) != string(g.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)) {
			t.Fatalf("path %q, godbus %v", m.path, g.Headers[dbus.FieldPath])
		}
		if v, ok := g.Headers[dbus.FieldMember]; ok && v.Value().(string) != m.member {
			t.Fatalf("member %q, godbus %v", m.member, v)
		}
		if len(m.body) != len(g.Body) {
			t.Fatalf("body of %d values, godbus %d", len(m.body), len(g.Body))
		}
	})
}
