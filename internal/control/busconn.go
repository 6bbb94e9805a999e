package control

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// BusConn is the daemon's connection to a message bus, of our own rather
// than godbus's (godbus, its reflection-based export and its transports
// kept about half a MiB of code resident in the daemon: docs/decisions.md,
// "The daemon's memory, second part"). It authenticates with EXTERNAL,
// says Hello, and then one goroutine reads the bus:
//
//   - a call to one of our methods is checked as the proxy in front of
//     godbus checked it (signature, body, length: the same errors) and
//     then served by the private connections' code (pconn.go),
//     each call on a goroutine of its own as godbus did, so that a call
//     that asks the bus for its caller's uid, or waits, holds up no other;
//   - a call to a method we do not have gets libdbus's UnknownMethod
//     (Peer's Ping and GetMachineId are answered);
//   - replies and errors go to the calls of ours waiting for them (Hello,
//     RequestName, GetConnectionUnixUser, …);
//   - signals are dropped (we subscribe to none; the bus sends
//     NameAcquired), as is any message longer than maxIncoming that is not
//     a call of ours, or whose header is longer than maxBusHeader.
//
// Only unix: addresses are dialled: EXTERNAL needs the credentials a unix
// socket passes (godbus offered no other mechanism on Linux either).
type BusConn struct {
	uc   *net.UnixConn
	fs   *fdStream
	r    *bufio.Reader
	p    *pconn // serving connections: writes and serves calls; nil for a plain client
	name string // the unique name the bus gave us

	wmu    sync.Mutex // plain clients: writes
	serial uint32

	mu      sync.Mutex
	pending map[uint32]chan busReply
	gone    bool

	closeOnce sync.Once
	closed    chan struct{}
}

// busReply is the answer to a call of ours.
type busReply struct {
	body []any
	err  error
}

// busCallTimeout bounds the wait for the bus's answer to a call of ours
// (libdbus's default timeout).
const busCallTimeout = 25 * time.Second

// busHandshakeTimeout bounds the authentication conversation with the bus.
const busHandshakeTimeout = 10 * time.Second

// DialBus connects to the bus at address as a plain client (no method of
// ours is served on it): for calls to the bus itself.
func DialBus(address string) (*BusConn, error) {
	return dialBusConn(address, nil)
}

func dialBusConn(address string, c *client) (*BusConn, error) {
	kind, value, err := parseUnixAddress(address)
	if err != nil {
		return nil, err
	}
	name := value
	if kind == "abstract" {
		name = "@" + value
	}
	uc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, err
	}
	b := &BusConn{uc: uc, fs: newFDStream(uc, true), pending: map[uint32]chan busReply{}, closed: make(chan struct{})}
	b.r = bufio.NewReader(b.fs)
	uc.SetDeadline(time.Now().Add(busHandshakeTimeout))
	if err := b.auth(); err != nil {
		uc.Close()
		b.fs.closeFDs()
		return nil, fmt.Errorf("bus authentication: %w", err)
	}
	uc.SetDeadline(time.Time{})
	if c != nil {
		b.p = newPconn(c, uc, b.fs, nil, machineID(newGUID()))
		b.p.bus = true
		c.t = b.p
		c.bconn = b
	}
	go b.serve()
	out, err := b.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
	if err == nil {
		if len(out) != 1 {
			err = errors.New("Hello: unexpected reply")
		} else if b.name, _ = out[0].(string); b.name == "" {
			err = errors.New("Hello: unexpected reply")
		}
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// auth is the client side of the authentication conversation.
func (b *BusConn) auth() error {
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Geteuid())))
	if _, err := b.uc.Write([]byte("\x00AUTH EXTERNAL " + uid + "\r\n")); err != nil {
		return err
	}
	line, err := readAuthLine(b.r)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(line), "OK ") {
		return fmt.Errorf("refused: %q", line)
	}
	if _, err := b.uc.Write([]byte("NEGOTIATE_UNIX_FD\r\n")); err != nil {
		return err
	}
	// AGREE_UNIX_FD, or an ERROR: fds are then simply never sent to us.
	if _, err := readAuthLine(b.r); err != nil {
		return err
	}
	_, err = b.uc.Write([]byte("BEGIN\r\n"))
	return err
}

// Name is the unique name the bus gave the connection.
func (b *BusConn) Name() string { return b.name }

// Done is closed once the connection is gone.
func (b *BusConn) Done() <-chan struct{} { return b.closed }

// Close ends the connection.
func (b *BusConn) Close() error {
	b.closeOnce.Do(func() {
		if b.p != nil {
			b.p.close() // closes uc and the queued fds
		} else {
			b.uc.Close()
			b.fs.closeFDs()
		}
		b.mu.Lock()
		b.gone = true
		for s, ch := range b.pending {
			ch <- busReply{err: errConnClosed}
			delete(b.pending, s)
		}
		b.mu.Unlock()
		close(b.closed)
	})
	return nil
}

// write sends a message and returns its serial.
func (b *BusConn) write(typ byte, o outMsg) (uint32, error) {
	if b.p != nil {
		return b.p.sendSerial(typ, o)
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.serial++
	if b.serial == 0 {
		b.serial = 1
	}
	_, err := b.uc.Write(appendMessage(nil, typ, b.serial, o))
	return b.serial, err
}

// Call calls a method (of the bus itself, in practice) and returns the
// reply's body, or the error it answered as a *Error.
func (b *BusConn) Call(dest string, path ObjectPath, iface, member string, args ...any) ([]any, error) {
	ch := make(chan busReply, 1)
	b.mu.Lock()
	if b.gone {
		b.mu.Unlock()
		return nil, errConnClosed
	}
	serial, err := b.write(msgMethodCall, outMsg{path: path, iface: iface, member: member, dest: dest, body: args})
	if err != nil {
		b.mu.Unlock()
		return nil, err
	}
	b.pending[serial] = ch
	b.mu.Unlock()
	t := time.NewTimer(busCallTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.body, r.err
	case <-t.C:
		b.mu.Lock()
		delete(b.pending, serial)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: no reply from the bus within %v", member, busCallTimeout)
	}
}

// unixUser asks the bus for the uid of the connection named sender.
func (b *BusConn) unixUser(sender string) (uint32, bool) {
	out, err := b.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser", sender)
	if err != nil || len(out) != 1 {
		return 0, false
	}
	uid, ok := out[0].(uint32)
	return uid, ok
}

// serve reads the bus until the connection fails.
func (b *BusConn) serve() {
	defer b.Close()
	defer func() {
		// A bug of ours in decoding drops this connection, not the daemon.
		if r := recover(); r != nil {
			if b.p != nil {
				b.p.c.srv.opts.Logf("control: internal error on the bus connection, dropped: %v", r)
			}
		}
	}()
	for b.next() == nil {
	}
}

// next reads and handles one message.
func (b *BusConn) next() error {
	var hdr [16]byte
	if _, err := io.ReadFull(b.r, hdr[:]); err != nil {
		return err
	}
	total, err := messageLength(hdr[:], maxMessage)
	if err != nil {
		return err
	}
	d := dec{b: hdr[:], be: hdr[0] == 'B', pos: 12}
	hl := (16 + int(d.u32()) + 7) &^ 7
	if hl > maxBusHeader || hl > total {
		return b.skip(total-16, 0)
	}
	msg := make([]byte, hl, min(total, maxIncoming))
	copy(msg, hdr[:])
	if _, err := io.ReadFull(b.r, msg[16:]); err != nil {
		return err
	}
	blen := total - hl
	var m msgIn
	// The header alone, with a body length of 0, for decodeHeader.
	head := append([]byte(nil), msg...)
	copy(head[4:8], []byte{0, 0, 0, 0})
	if !decodeHeaderOf(head, &m, true) {
		return b.skip(blen, peekFDs(head))
	}
	if m.typ == msgMethodReply || m.typ == msgError {
		if total > maxIncoming {
			b.answer(m.replySerial, busReply{err: errors.New("reply too long")})
			return b.skip(blen, m.nfds)
		}
		msg = msg[:total]
		if _, err := io.ReadFull(b.r, msg[hl:]); err != nil {
			return err
		}
		closeAll(b.fs.takeFDs(int(m.nfds)))
		m.raw, m.bodyAt = msg, hl
		r := busReply{err: decodeBody(&m)}
		if r.err == nil {
			r.body = m.body
			if m.typ == msgError {
				r.err = NewError(m.errName, r.body)
			}
		}
		b.answer(m.replySerial, r)
		return nil
	}
	if m.typ == msgSignal {
		return b.skip(blen, m.nfds)
	}
	if b.p == nil {
		// A plain client serves nothing.
		if err := b.skip(blen, m.nfds); err != nil {
			return err
		}
		err := unknownMethodError(m.iface, m.member, m.sig)
		b.refuse(&m, err.Name, err.Body[0].(string))
		return nil
	}
	meth := busMethod(m.path, m.iface, m.member)
	if meth == nil {
		if err := b.skip(blen, m.nfds); err != nil {
			return err
		}
		if m.iface == PeerIface {
			// Ping and GetMachineId (without a body).
			m.sig, m.nfds, m.raw, m.bodyAt = "", 0, msg, hl
			b.p.dispatch(&m)
			return nil
		}
		// Not ours: libdbus's answer, naming the call's signature.
		err := unknownMethodError(m.iface, m.member, m.sig)
		b.refuse(&m, err.Name, err.Body[0].(string))
		return nil
	}
	switch {
	case total > maxIncoming:
		b.refuse(&m, "org.freedesktop.DBus.Error.LimitsExceeded", "Message too long: the limit is 1048576 bytes")
		return b.skip(blen, m.nfds)
	case m.sig != meth.sig:
		err := badSignature(meth).(*Error)
		b.refuse(&m, err.Name, err.Body[0].(string))
		return b.skip(blen, m.nfds)
	}
	msg = msg[:total]
	if _, err := io.ReadFull(b.r, msg[hl:]); err != nil {
		return err
	}
	m.raw, m.bodyAt = msg, hl
	b.p.dispatch(&m)
	return nil
}

// answer hands a reply to the call of ours waiting for it.
func (b *BusConn) answer(serial uint32, r busReply) {
	b.mu.Lock()
	ch := b.pending[serial]
	delete(b.pending, serial)
	b.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// skip reads past a body of n bytes and closes its nfds fds.
func (b *BusConn) skip(n int, nfds uint32) error {
	_, err := io.CopyN(io.Discard, b.r, int64(n))
	closeAll(b.fs.takeFDs(int(nfds)))
	return err
}

// refuse answers a call with an error.
func (b *BusConn) refuse(m *msgIn, name, text string) {
	if m.flags&flagNoReplyExpected != 0 {
		return
	}
	b.write(msgError, outMsg{errName: name, replySerial: m.serial, dest: m.sender, body: []any{text}})
}

// callerUIDOnBus is callerUID for a call that came over the bus.
func callerUIDOnBus(c *client, sender string) (uint32, bool) {
	if c.bconn == nil || sender == "" {
		return 0, false
	}
	return c.bconn.unixUser(sender)
}

// maxBusHeader bounds the header of a message from the bus.
const maxBusHeader = 64 << 10

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// busMethod finds the method a call on the bus is for, from its path
// alone (nil: none of ours).
func busMethod(p ObjectPath, iface, member string) *methodSpec {
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
