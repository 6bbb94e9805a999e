package control

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/api"
)

// The bus connection's input passes through a proxy of ours before godbus
// sees it: godbus decodes a whole message before anything of ours runs,
// and a call that the bus policy lets through (GetJobByName, from anybody)
// could otherwise make it allocate gigabytes (a 7 MB array of variants).
// godbus connects to a socket of ours that only this process may use (the
// peer's pid is checked), and the proxy forwards both ways, unix fds
// included. From the bus it reads each message's header itself and
//
//   - answers a call to one of our methods whose signature is not the
//     method's, whose body our decoder refuses (strings not UTF-8, too many
//     elements), or which is longer than maxIncoming, with an error of its
//     own, without godbus seeing it;
//   - hands a call to a method we do not have to godbus without its body,
//     so that godbus answers with its usual error;
//   - drops signals not sent by the bus itself (we subscribe to none), and
//     any other message longer than maxIncoming or with a header longer than
//     maxBusHeader.
//
// Only unix bus addresses are filtered (godbus dials the others itself).

// maxBusHeader bounds the header of a message from the bus.
const maxBusHeader = 64 << 10

// busFilter is the proxy between the bus and godbus.
type busFilter struct {
	bus, inner *net.UnixConn
	busIn      *fdStream
	r          *bufio.Reader // from the bus
	innerIn    *fdStream
	ir         *bufio.Reader // from godbus

	began chan bool // up tells down of each authentication line: true for BEGIN

	wmu    sync.Mutex // writes to the bus: godbus's messages and our errors
	serial uint32

	closeOnce sync.Once
}

// dialBus dials a bus address; unix ones through a busFilter.
func dialBus(address string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	kind, value, err := parseUnixAddress(address)
	if err != nil {
		return dbus.Dial(address, opts...)
	}
	name := value
	if kind == "abstract" {
		name = "@" + value
	}
	bus, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// The socket godbus connects to: abstract, named at random, and only
	// a connection from this very process is taken.
	pname := "goupstart-bus-" + newGUID()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@" + pname, Net: "unix"})
	if err != nil {
		bus.Close()
		return nil, err
	}
	got := make(chan *net.UnixConn, 1)
	go func() {
		defer close(got)
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			if pid, err := peerPID(c); err == nil && pid == os.Getpid() {
				got <- c
				return
			}
			c.Close()
		}
	}()
	conn, err := dbus.Dial("unix:abstract="+pname, opts...)
	if err != nil {
		l.Close()
		bus.Close()
		return nil, err
	}
	var inner *net.UnixConn
	select {
	case inner = <-got:
	case <-time.After(5 * time.Second):
	}
	l.Close()
	if inner == nil {
		conn.Close()
		bus.Close()
		return nil, errors.New("bus proxy: godbus did not connect")
	}
	f := &busFilter{bus: bus, inner: inner, busIn: newFDStream(bus, true), innerIn: newFDStream(inner, true),
		began: make(chan bool, 1), serial: 1 << 31}
	f.r, f.ir = bufio.NewReader(f.busIn), bufio.NewReader(f.innerIn)
	go f.up()
	go f.down()
	return conn, nil
}

func peerPID(uc *net.UnixConn) (int, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}

func (f *busFilter) close() {
	f.closeOnce.Do(func() {
		f.bus.Close()
		f.inner.Close()
		f.busIn.closeFDs()
		f.innerIn.closeFDs()
	})
}

// up forwards what godbus sends: the authentication lines, then whole
// messages with their fds.
func (f *busFilter) up() {
	defer f.close()
	defer close(f.began)
	nul, err := f.ir.ReadByte()
	if err != nil || f.writeBus([]byte{nul}, nil) != nil {
		return
	}
	for {
		line, err := readAuthLine(f.ir)
		if err != nil || f.writeBus(append(line, '\r', '\n'), nil) != nil {
			return
		}
		begin := string(line) == "BEGIN"
		f.began <- begin
		if begin {
			break
		}
	}
	for {
		msg, err := readMessage(f.ir, maxMessage)
		if err != nil {
			return
		}
		fds := f.innerIn.takeFDs(int(peekFDs(msg)))
		err = f.writeBus(msg, fds)
		closeAll(fds)
		if err != nil {
			return
		}
	}
}

// down forwards what the bus sends: one answer per authentication line,
// then the messages as filtered by next.
func (f *busFilter) down() {
	defer f.close()
	for begin := range f.began {
		if begin {
			for f.next() == nil {
			}
			return
		}
		line, err := readAuthLine(f.r)
		if err != nil {
			return
		}
		if _, err := f.inner.Write(append(line, '\r', '\n')); err != nil {
			return
		}
	}
}

func readMessage(r *bufio.Reader, limit int) ([]byte, error) {
	hdr, err := r.Peek(16)
	if err != nil {
		return nil, err
	}
	n, err := messageLength(hdr, limit)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, n)
	_, err = io.ReadFull(r, msg)
	return msg, err
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func (f *busFilter) writeBus(b []byte, fds []int) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if len(fds) > 0 {
		_, _, err := f.bus.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
		return err
	}
	_, err := f.bus.Write(b)
	return err
}

// toGodbus hands a message and its fds on.
func (f *busFilter) toGodbus(b []byte, fds []int) error {
	defer closeAll(fds)
	if len(fds) > 0 {
		_, _, err := f.inner.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
		return err
	}
	_, err := f.inner.Write(b)
	return err
}

// next reads one message from the bus and hands on what godbus may see
// of it.
func (f *busFilter) next() error {
	var hdr [16]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return err
	}
	total, err := messageLength(hdr[:], maxMessage)
	if err != nil {
		return err
	}
	d := dec{b: hdr[:], be: hdr[0] == 'B', pos: 12}
	hl := (16 + int(d.u32()) + 7) &^ 7
	if hl > maxBusHeader || hl > total {
		return f.skip(total-16, 0)
	}
	msg := make([]byte, hl, min(total, maxIncoming))
	copy(msg, hdr[:])
	if _, err := io.ReadFull(f.r, msg[16:]); err != nil {
		return err
	}
	blen := total - hl
	var m msgIn
	head := append([]byte(nil), msg...)
	copy(head[4:8], []byte{0, 0, 0, 0})
	if !decodeHeader(head, &m) {
		// Replies and errors (to our own calls, from the bus), or invalid.
		nfds := peekFDs(head)
		if total > maxIncoming {
			return f.skip(blen, nfds)
		}
		return f.pass(msg, blen, nfds)
	}
	if m.typ == msgSignal {
		if m.sender != "org.freedesktop.DBus" || total > maxIncoming {
			return f.skip(blen, m.nfds)
		}
		return f.pass(msg, blen, m.nfds)
	}
	meth := busMethod(m.path, m.iface, m.member)
	if meth == nil {
		if err := f.skip(blen, m.nfds); err != nil {
			return err
		}
		if m.iface != PeerIface {
			// Not ours: libdbus's answer, naming the call's signature
			// (the body is not passed on).
			err := unknownMethodError(m.iface, m.member, m.sig)
			f.refuse(&m, err.Name, err.Body[0].(string))
			return nil
		}
		// Ping and GetMachineId: godbus answers without the body.
		return f.toGodbus(appendCallWithSender(&m), nil)
	}
	switch {
	case total > maxIncoming:
		f.refuse(&m, "org.freedesktop.DBus.Error.LimitsExceeded", "Message too long: the limit is 1048576 bytes")
		return f.skip(blen, m.nfds)
	case m.sig != meth.sig:
		err := badSignature(meth).(*dbus.Error)
		f.refuse(&m, err.Name, err.Body[0].(string))
		return f.skip(blen, m.nfds)
	}
	msg = msg[:total]
	if _, err := io.ReadFull(f.r, msg[hl:]); err != nil {
		return err
	}
	fds := f.busIn.takeFDs(int(m.nfds))
	m.raw, m.bodyAt = msg, hl
	if err := decodeBody(&m); err != nil {
		closeAll(fds)
		f.refuse(&m, api.ErrInvalidArgs, "Invalid arguments: "+err.Error())
		return nil
	}
	return f.toGodbus(msg, fds)
}

// skip reads past a body of n bytes and closes its nfds fds.
func (f *busFilter) skip(n int, nfds uint32) error {
	_, err := io.CopyN(io.Discard, f.r, int64(n))
	closeAll(f.busIn.takeFDs(int(nfds)))
	return err
}

// pass hands msg (the header) and its body of blen bytes on to godbus.
func (f *busFilter) pass(msg []byte, blen int, nfds uint32) error {
	n := len(msg)
	msg = append(msg, make([]byte, blen)...)
	if _, err := io.ReadFull(f.r, msg[n:]); err != nil {
		return err
	}
	return f.toGodbus(msg, f.busIn.takeFDs(int(nfds)))
}

// refuse answers a call with an error of ours.
func (f *busFilter) refuse(m *msgIn, name, text string) {
	if m.flags&flagNoReplyExpected != 0 {
		return
	}
	f.wmu.Lock()
	f.serial++
	if f.serial == 0 {
		f.serial = 1 << 31
	}
	out := appendMessage(nil, msgError, f.serial, outMsg{errName: name, replySerial: m.serial, dest: m.sender, body: []any{text}})
	f.wmu.Unlock()
	f.writeBus(out, nil)
}

// appendCallWithSender encodes m's call without its body (and so without
// a signature), keeping the fields godbus answers by.
func appendCallWithSender(m *msgIn) []byte {
	e := enc{}
	e.b = append(e.b, 'l', msgMethodCall, m.flags, 1, 0, 0, 0, 0)
	e.b = le.AppendUint32(e.b, m.serial)
	e.b = le.AppendUint32(e.b, 0)
	field := func(code, t byte) {
		e.align(8)
		e.b = append(e.b, code, 1, t, 0)
	}
	field(fieldPath, 'o')
	e.str(string(m.path))
	if m.iface != "" {
		field(fieldInterface, 's')
		e.str(m.iface)
	}
	field(fieldMember, 's')
	e.str(m.member)
	if m.sender != "" {
		field(fieldSender, 's')
		e.str(m.sender)
	}
	le.PutUint32(e.b[12:], uint32(len(e.b)-16))
	e.align(8)
	return e.b
}

// busMethod finds the method a call on the bus is for, from its path
// alone (nil: none of ours).
func busMethod(p dbus.ObjectPath, iface, member string) *methodSpec {
	var kind objKind
	switch p {
	case "/", "/com", "/com/ubuntu":
		kind = kindNode
	case ManagerPath:
		kind = kindManager
	case JobsPath:
		kind = kindJobs
	default:
		_, _, hasInst, ok := SplitPath(p)
		if !ok {
			return nil
		}
		kind = kindJob
		if hasInst {
			kind = kindInstance
		}
	}
	o := &object{kind: kind}
	m, ok := o.findMethod(iface, member)
	if !ok {
		return nil
	}
	return m
}
