package control

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/api"
)

// The bounds of the private socket against hostile peers (issue 15).

// rawDial connects to the fixture's socket without authenticating.
func rawDial(t *testing.T, fx *fixture) *net.UnixConn {
	t.Helper()
	_, path, err := parseUnixAddress(fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func authLine() []byte {
	return []byte("\x00AUTH EXTERNAL " + hex.EncodeToString([]byte(strconv.Itoa(os.Geteuid()))) + "\r\n")
}

// rawAuth authenticates c and returns a reader of what follows.
func rawAuth(t *testing.T, c *net.UnixConn) *bufio.Reader {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(authLine()); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") {
		t.Fatalf("auth: %q %v", line, err)
	}
	if _, err := c.Write([]byte("BEGIN\r\n")); err != nil {
		t.Fatal(err)
	}
	return r
}

// readMsg reads the next reply or error, skipping signals (godbus
// decodes it: this is our side).
func readMsg(r io.Reader) (*dbus.Message, error) {
	for {
		m, err := dbus.DecodeMessage(r)
		if err != nil || m.Type != dbus.TypeSignal {
			return m, err
		}
	}
}

func callMsg(serial uint32, member string, body ...any) []byte {
	return appendMessage(nil, msgMethodCall, serial, outMsg{path: ManagerPath, iface: ManagerIface, member: member, body: body})
}

// wantErrorReply reads a reply and checks it is the error name whose text
// contains text.
func wantErrorReply(t *testing.T, r io.Reader, name, text string) {
	t.Helper()
	m, err := readMsg(r)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	got, _ := m.Headers[dbus.FieldErrorName].Value().(string)
	msg := ""
	if len(m.Body) > 0 {
		msg, _ = m.Body[0].(string)
	}
	if m.Type != dbus.TypeError || got != name || !strings.Contains(msg, text) {
		t.Fatalf("reply %v %q %q, want error %s with %q", m.Type, got, msg, name, text)
	}
}

func wantClosed(t *testing.T, c *net.UnixConn, r io.Reader, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, r)
	if err != nil {
		t.Fatalf("connection not closed within %v: %v", within, err)
	}
}

// A refused peer's first call is answered as soon as its header is in,
// without waiting for (or reading) the body it announces, and the
// connection is closed.
func TestRefusedPeerAnsweredBeforeBody(t *testing.T) {
	fx := newFixture(t, Options{AllowUID: func(uint32) bool { return false }})
	c := rawDial(t, fx)
	r := rawAuth(t, c)
	msg := callMsg(7, "EmitEvent", "x", []string{}, false)
	var m msgIn
	if !decodeHeader(msg, &m) {
		t.Fatal("bad test message")
	}
	hdr := msg[:m.bodyAt]
	le.PutUint32(hdr[4:], 100<<20) // announce 100 MiB, send none of it
	c.Write(hdr)
	wantErrorReply(t, r, api.ErrPermissionDenied, "You do not have permission to use this init daemon")
	wantClosed(t, c, r, 2*time.Second)
}

// Peers that may not use the daemon hold few connections, and none for
// longer than the handshake deadline.
func TestRefusedPeerConnectionCaps(t *testing.T) {
	old := handshakeTimeout
	handshakeTimeout = 400 * time.Millisecond
	t.Cleanup(func() { handshakeTimeout = old })
	fx := newFixture(t, Options{AllowUID: func(uint32) bool { return false }})
	const n = MaxRefusedPerUID + 12
	var conns []*net.UnixConn
	for i := 0; i < n; i++ {
		conns = append(conns, rawDial(t, fx))
	}
	closedWithin := func(d time.Duration) int {
		closed := 0
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(d))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
				closed++
			}
		}
		return closed
	}
	if got := closedWithin(20 * time.Millisecond); got != n-MaxRefusedPerUID {
		t.Errorf("%d of %d connections closed at once, want %d", got, n, n-MaxRefusedPerUID)
	}
	time.Sleep(time.Second)
	if got := closedWithin(20 * time.Millisecond); got != n {
		t.Errorf("%d of %d connections closed after the handshake deadline", got, n)
	}
	// And a new one is served again.
	c := rawDial(t, fx)
	r := rawAuth(t, c)
	c.Write(callMsg(1, "GetAllJobs"))
	wantErrorReply(t, r, api.ErrPermissionDenied, "permission")
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		skipOutsideCI(t, fmt.Sprintf("no /proc: %v", err))
	}
	return len(ents)
}

// Unix fds sent before authentication, or by a peer that may not use the
// daemon, never stay in the daemon's fd table.
func TestNoFDsBeforeAuth(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		fx := newFixture(t, Options{AllowUID: func(uint32) bool { return allowed }})
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devnull.Close()
		fds := make([]int, 100)
		for i := range fds {
			fds[i] = int(devnull.Fd())
		}
		c := rawDial(t, fx)
		before := openFDs(t)
		if _, _, err := c.WriteMsgUnix(authLine(), syscall.UnixRights(fds...), nil); err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK ") {
			t.Fatalf("auth: %q %v", line, err)
		}
		time.Sleep(50 * time.Millisecond)
		if after := openFDs(t); after > before+5 {
			t.Errorf("allowed=%v: the daemon holds %d more fds after the handshake", allowed, after-before)
		}
	}
}

// An allowed peer's call with a signature that is not the method's is
// answered without its body being decoded (a 512 KiB array of variants
// would take tens of MB decoded).
func TestSignatureCheckedBeforeBody(t *testing.T) {
	fx := newFixture(t, Options{})
	c := rawDial(t, fx)
	r := rawAuth(t, c)
	vs := make([]dbus.Variant, 128<<10)
	for i := range vs {
		vs[i] = dbus.MakeVariant(byte(7))
	}
	m := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:      dbus.MakeVariant(dbus.ObjectPath(ManagerPath)),
		dbus.FieldInterface: dbus.MakeVariant(ManagerIface),
		dbus.FieldMember:    dbus.MakeVariant("EmitEvent"),
		dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf(vs)),
	}, Body: []any{vs}}
	var buf bytes.Buffer
	if err := m.EncodeTo(&buf, le); err != nil {
		t.Fatal(err)
	}
	le.PutUint32(buf.Bytes()[8:], 3)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	c.Write(buf.Bytes())
	wantErrorReply(t, r, api.ErrInvalidArgs, "Invalid arguments to EmitEvent method")
	runtime.ReadMemStats(&ms1)
	if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 4<<20 {
		t.Errorf("the daemon allocated %d bytes for a %d-byte message it refused", d, buf.Len())
	}
	if len(fx.fake.CallLog()) != 0 {
		t.Errorf("backend called: %q", fx.fake.CallLog())
	}
}

// A message longer than maxIncoming closes the connection at its header.
func TestMessageSizeBound(t *testing.T) {
	fx := newFixture(t, Options{})
	c := rawDial(t, fx)
	r := rawAuth(t, c)
	msg := callMsg(3, "EmitEvent", "x", []string{}, false)
	var m msgIn
	decodeHeader(msg, &m)
	hdr := msg[:m.bodyAt]
	le.PutUint32(hdr[4:], maxIncoming)
	c.Write(hdr)
	wantClosed(t, c, r, 2*time.Second)
	// One just below the bound is read and answered.
	c = rawDial(t, fx)
	r = rawAuth(t, c)
	big := strings.Repeat("x", maxIncoming-4096)
	c.Write(callMsg(4, "EmitEvent", "big", []string{"A=" + big}, false))
	m2, err := readMsg(r)
	if err != nil || m2.Type != dbus.TypeMethodReply {
		t.Fatalf("reply to a message below the bound: %v %v", m2.Type, err)
	}
}

// Strings must be UTF-8 without NUL; arrays are bounded.
func TestArgumentsValidated(t *testing.T) {
	fx := newFixture(t, Options{})
	c := rawDial(t, fx)
	r := rawAuth(t, c)
	c.Write(callMsg(1, "EmitEvent", "bad\xffname", []string{}, false))
	wantErrorReply(t, r, api.ErrInvalidArgs, "not UTF-8 or holds a NUL")
	c.Write(callMsg(2, "EmitEvent", "ok", []string{"A=b\x00c"}, false))
	wantErrorReply(t, r, api.ErrInvalidArgs, "not UTF-8 or holds a NUL")
	c.Write(callMsg(3, "GetJobByName", "\xc3\x28"))
	wantErrorReply(t, r, api.ErrInvalidArgs, "not UTF-8")
	env := make([]string, maxArrayElems+1)
	for i := range env {
		env[i] = "A=" + strconv.Itoa(i)
	}
	c.Write(callMsg(4, "EmitEvent", "many", env, false))
	wantErrorReply(t, r, api.ErrInvalidArgs, "more than 16384 elements")
	if n := len(fx.fake.CallLog()); n != 0 {
		t.Errorf("backend called %d times", n)
	}
	// Valid UTF-8 passes.
	c.Write(callMsg(5, "EmitEvent", "caf\u00e9", []string{"K=\u2603"}, false))
	if m, err := readMsg(r); err != nil || m.Type != dbus.TypeMethodReply {
		t.Fatalf("valid UTF-8: %v %v", m.Type, err)
	}
}

// The input one uid's connections hold in read buffers is bounded: a
// connection whose next message would pass the budget is dropped.
func TestInputBufferedPerUID(t *testing.T) {
	fx := newFixture(t, Options{})
	msg := callMsg(3, "EmitEvent", "x", []string{}, false)
	var m msgIn
	decodeHeader(msg, &m)
	hdr := append([]byte(nil), msg[:m.bodyAt]...)
	le.PutUint32(hdr[4:], uint32(maxIncoming-len(hdr)-8))
	n := MaxBufferedPerUID/maxIncoming + 4
	var rs []*bufio.Reader
	var cs []*net.UnixConn
	for i := 0; i < n; i++ {
		c := rawDial(t, fx)
		r := rawAuth(t, c)
		c.Write(hdr)
		cs, rs = append(cs, c), append(rs, r)
	}
	time.Sleep(500 * time.Millisecond)
	dropped := 0
	for i, c := range cs {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := rs[i].ReadByte(); err == io.EOF {
			dropped++
		}
	}
	if dropped < 3 || dropped > 5 {
		t.Errorf("%d of %d connections each holding a partial 1 MiB message dropped, want about 4", dropped, n)
	}
}

// On a bus, a call the policy lets through is bounded too: a wrong
// signature is answered before godbus decodes the body, a message longer
// than maxIncoming is refused, and a call to a method we do not have gets
// godbus's answer without its body.
func TestBusCallsBounded(t *testing.T) {
	fx := newFixture(t, Options{})
	addr := serveOnBus(t, fx)
	conn := busClient(t, addr)
	obj := conn.Object(BusName, ManagerPath)
	vs := make([]dbus.Variant, 128<<10)
	for i := range vs {
		vs[i] = dbus.MakeVariant(byte(7))
	}
	// What the call costs in this process beyond what the same call to
	// a name nobody owns costs (the client's own encoding): decoding the
	// array on the daemon's side would take 30 MB more.
	alloc := func(f func()) uint64 {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		f()
		runtime.ReadMemStats(&ms1)
		return ms1.TotalAlloc - ms0.TotalAlloc
	}
	base := alloc(func() { conn.Object("org.example.Nobody", "/x").Call("org.example.X.Y", dbus.FlagNoAutoStart, vs) })
	var c *dbus.Call
	ours := alloc(func() { c = obj.Call(ManagerIface+".GetJobByName", 0, vs) })
	wantErr(t, c, api.ErrInvalidArgs, "Invalid arguments to GetJobByName method")
	t.Logf("allocated: %d bytes for the call, %d for the same call to nobody", ours, base)
	if ours > base+8<<20 {
		t.Errorf("%d bytes allocated around a %d-element array of variants refused (%d for the client's part)", ours, len(vs), base)
	}
	c = obj.Call(ManagerIface+".GetJobByName", 0, strings.Repeat("x", maxIncoming))
	wantErr(t, c, "org.freedesktop.DBus.Error.LimitsExceeded", "Message too long: the limit is 1048576 bytes")
	c = obj.Call(ManagerIface+".NoSuchMethod", 0, strings.Repeat("x", 1000))
	if errName(c.Err) != "org.freedesktop.DBus.Error.UnknownMethod" {
		t.Errorf("unknown method: %v", c.Err)
	}
	// And the connection serves on.
	var job dbus.ObjectPath
	if err := obj.Call(ManagerIface+".GetJobByName", 0, "foo").Store(&job); err != nil || job != dJobPath("foo") {
		t.Fatalf("GetJobByName over the bus: %v %v", job, err)
	}
}

// Nothing we send holds invalid UTF-8 or NUL, whatever the backend holds
// (a bus daemon disconnects a sender of invalid UTF-8).
func TestRepliesAndSignalsAreValidUTF8(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.fake.AddJob(api.JobInfo{Name: "odd", Description: "caf\xe9\x00", Emits: []string{"ev\xff"}})
	conn := fx.dial(t)
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(ManagerIface)); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 8)
	conn.Signal(ch)
	obj := conn.Object("", dJobPath("odd"))
	var desc dbus.Variant
	if err := obj.Call(PropertiesIface+".Get", 0, JobIface, "description").Store(&desc); err != nil {
		t.Fatalf("description: %v", err)
	}
	if desc.Value() != "caf\uFFFD" {
		t.Errorf("description %q", desc.Value())
	}
	var emits dbus.Variant
	if err := obj.Call(PropertiesIface+".Get", 0, JobIface, "emits").Store(&emits); err != nil {
		t.Fatalf("emits: %v", err)
	}
	fx.fake.Send(api.Signal{Kind: api.EventEmitted, Value: "x\xff", Env: []string{"A=\xfe"}})
	select {
	case s := <-ch:
		if s.Body[0] != "x\uFFFD" || s.Body[1].([]string)[0] != "A=\uFFFD" {
			t.Errorf("signal %q", s.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal")
	}
}

// The fd reserve: with RLIMIT_NOFILE low, connections (even of a uid that
// may use the daemon) are refused once fewer than FDReserve fds are left,
// and the process can still open files.
func TestFDReserve(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t, Options{})
	n0 := openFDs(t)
	lim := old
	lim.Cur = uint64(n0 + FDReserve + 100)
	if lim.Cur > old.Max {
		skipOutsideCI(t, fmt.Sprintf("hard limit %d too low", old.Max))
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	var held []*net.UnixConn
	refused := 0
	for i := 0; i < 150 && refused == 0; i++ {
		c := rawDial(t, fx)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(authLine())
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			refused++
			c.Close()
			continue
		}
		if !strings.HasPrefix(line, "OK ") {
			t.Fatalf("auth: %q", line)
		}
		held = append(held, c)
	}
	if refused == 0 {
		t.Fatalf("%d connections accepted with a limit of %d fds", len(held), lim.Cur)
	}
	// Client and server ends are both ours here: each connection took two.
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i := 0; i < FDReserve-20; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatalf("only %d fds left after %d connections: %v", i, len(held), err)
		}
		files = append(files, f)
	}
	t.Logf("limit %d: %d connections served, then refused; %d fds still opened", lim.Cur, len(held), len(files))
}

// Connections of a uid that may use the daemon are bounded too (MaxConns).
func TestAllowedConnectionCap(t *testing.T) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if need := uint64(2*MaxConns + FDReserve + 200); lim.Cur < need {
		// Raise it for this test (the hard limit too, as root).
		old := lim
		lim.Cur = need
		lim.Max = max(lim.Max, need)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			skipOutsideCI(t, fmt.Sprintf("fd limit %d too low for %d connections in one process: %v", old.Cur, MaxConns, err))
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	}
	fx := newFixture(t, Options{})
	const extra = 6
	served, closed := 0, 0
	for i := 0; i < MaxConns+extra; i++ {
		c := rawDial(t, fx)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(authLine())
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err == nil && strings.HasPrefix(line, "OK "):
			served++
			c.Write([]byte("BEGIN\r\n"))
		case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
			closed++
		default:
			t.Fatalf("connection %d: %q %v", i, line, err)
		}
	}
	if served != MaxConns || closed != extra {
		t.Errorf("%d connections served and %d closed, want %d and %d", served, closed, MaxConns, extra)
	}
}

// Connections of an allowed uid that have not authenticated are bounded
// lower (MaxUnauthenticated) and closed after the handshake deadline.
func TestUnauthenticatedCap(t *testing.T) {
	old := handshakeTimeout
	handshakeTimeout = 700 * time.Millisecond
	t.Cleanup(func() { handshakeTimeout = old })
	fx := newFixture(t, Options{})
	const extra = 5
	var conns []*net.UnixConn
	for i := 0; i < MaxUnauthenticated+extra; i++ {
		conns = append(conns, rawDial(t, fx))
	}
	time.Sleep(100 * time.Millisecond)
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			closed++
		}
	}
	if closed != extra {
		t.Errorf("%d of %d silent connections closed at once, want %d", closed, len(conns), extra)
	}
	// After the deadline they are gone, and a client is served again.
	time.Sleep(time.Second)
	c := rawDial(t, fx)
	r := rawAuth(t, c)
	c.Write(callMsg(1, "GetAllJobs"))
	if m, err := readMsg(r); err != nil || m.Type != dbus.TypeMethodReply {
		t.Fatalf("after the deadline: %v", err)
	}
}
