package control

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goupstart/upstart/internal/api"
)

// pconn serves one private (peer-to-peer) connection after authentication,
// without godbus's connection machinery:
//
//   - one goroutine reads the socket in large chunks (recvmsg, keeping
//     unix fds in arrival order) and cuts whole messages out of its buffer;
//   - calls are decoded without reflection (wire.go) and run on that
//     goroutine. Those that may block for long (anything with wait=true,
//     Restart, EndSession) must hold up no other call: when more input is
//     already buffered they get a goroutine of their own; otherwise they
//     run on the reader too, and if one has not finished after
//     takeoverDelay a new goroutine takes over reading (the old one ends
//     after sending its reply). A client that waits for each reply so
//     costs no goroutine hand-off;
//   - replies and signals are appended to one output buffer; whoever finds
//     nobody writing it writes it out (and whatever was appended meanwhile)
//     so that messages that come together leave in one write. Signals are
//     appended by the broadcaster (the engine's loop, which never waits:
//     a client that lets too much pile up is disconnected); while calls are
//     running on the connection their write is put off for up to
//     signalDelay, as the call's reply usually comes right after and takes
//     them along.
type pconn struct {
	c    *client
	uc   *net.UnixConn
	fs   *fdStream
	uuid string // what Peer.GetMachineId answers

	rbuf       []byte
	rpos, rend int
	charged    int // bytes of rbuf beyond readBufSize, taken from the uid's budget

	wmu      sync.Mutex
	wcond    *sync.Cond // writers waiting for the buffer to drain
	wbuf     []byte
	spare    []byte
	flushing bool
	werr     error
	serial   uint32

	flushPending bool        // signals are waiting for sigTimer or a flush
	sigTimer     *time.Timer // flushes signals put off

	calls atomic.Int32 // calls running

	// bus: the connection to a message bus (BusConn reads it): every
	// call runs on a goroutine of its own.
	bus bool

	rmu      sync.Mutex // reader hand-over
	rgen     uint64     // incremented when a new goroutine takes over reading
	rbusy    bool       // the reader is running a call that may block
	takeover *time.Timer

	closeOnce sync.Once
	closed    chan struct{}
}

const (
	// The read buffer starts small (idle clients are many) and grows to
	// readBufSize when reads fill it.
	minReadBuf  = 4 << 10
	readBufSize = 64 << 10
	// keepWriteBuf: output buffers up to this size are kept for reuse.
	keepWriteBuf = 64 << 10
	// maxPending bounds the output buffer of a client that does not read:
	// replies wait for it to drain.
	maxPending = 4 << 20
	// maxSignals: a client with this much output pending is too slow to
	// take signals (it is disconnected).
	maxSignals = 1 << 20

	takeoverDelay = 500 * time.Microsecond
	signalDelay   = 250 * time.Microsecond
)

var errConnClosed = errors.New("connection closed")

func newPconn(c *client, uc *net.UnixConn, fs *fdStream, buffered []byte, uuid string) *pconn {
	p := &pconn{c: c, uc: uc, fs: fs, uuid: uuid, closed: make(chan struct{})}
	p.wcond = sync.NewCond(&p.wmu)
	p.sigTimer = time.AfterFunc(time.Hour, p.flushSignals)
	p.sigTimer.Stop()
	p.takeover = time.AfterFunc(time.Hour, p.takeOver)
	p.takeover.Stop()
	p.rbuf = make([]byte, max(minReadBuf, len(buffered)))
	p.rend = copy(p.rbuf, buffered)
	return p
}

// transport, for client.
func (p *pconn) done() <-chan struct{} { return p.closed }

func (p *pconn) close() {
	p.closeOnce.Do(func() {
		p.uc.Close()
		close(p.closed)
		p.sigTimer.Stop()
		p.takeover.Stop()
		p.c.srv.removeClient(p.c)
		p.fs.closeFDs()
		if p.charged > 0 {
			p.c.srv.chargeBuffered(p.c.uid, -p.charged)
		}
		if p.c.release != nil {
			p.c.release()
		}
		p.wmu.Lock()
		if p.werr == nil {
			p.werr = errConnClosed
		}
		p.wbuf = nil
		p.wcond.Broadcast()
		p.wmu.Unlock()
	})
}

func (p *pconn) emitSignal(m outSignal) error {
	iface, member := splitMember(m.name)
	return p.send(msgSignal, outMsg{path: m.path, iface: iface, member: member, body: m.body})
}

// queueSignal appends a signal without waiting (false: too much output
// is pending already).
func (p *pconn) queueSignal(m outSignal) bool {
	iface, member := splitMember(m.name)
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.werr != nil {
		return true
	}
	if len(p.wbuf) > maxSignals {
		return false
	}
	p.wbuf = appendMessage(p.wbuf, msgSignal, p.nextSerial(), outMsg{path: m.path, iface: iface, member: member, body: m.body})
	if p.flushing || p.flushPending {
		return true
	}
	p.flushPending = true
	if p.calls.Load() > 0 {
		p.sigTimer.Reset(signalDelay)
	} else {
		go p.flushSignals()
	}
	return true
}

// flushSignals writes out what is pending unless somebody else does.
func (p *pconn) flushSignals() {
	p.wmu.Lock()
	p.flushPending = false
	if p.flushing || len(p.wbuf) == 0 || p.werr != nil {
		p.wmu.Unlock()
		return
	}
	p.flushLocked()
	p.wmu.Unlock()
}

func (p *pconn) nextSerial() uint32 {
	p.serial++
	if p.serial == 0 {
		p.serial = 1
	}
	return p.serial
}

func splitMember(name string) (iface, member string) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[:i], name[i+1:]
		}
	}
	return "", name
}

// send encodes a message into the output buffer and writes the buffer out
// unless somebody else is doing so.
func (p *pconn) send(typ byte, o outMsg) error {
	_, err := p.sendSerial(typ, o)
	return err
}

// sendSerial is send, returning the message's serial.
func (p *pconn) sendSerial(typ byte, o outMsg) (uint32, error) {
	p.wmu.Lock()
	for p.werr == nil && p.flushing && len(p.wbuf) > maxPending {
		p.wcond.Wait()
	}
	if p.werr != nil {
		err := p.werr
		p.wmu.Unlock()
		return 0, err
	}
	serial := p.nextSerial()
	p.wbuf = appendMessage(p.wbuf, typ, serial, o)
	if p.flushing {
		p.wmu.Unlock()
		return serial, nil
	}
	p.flushLocked()
	err := p.werr
	p.wmu.Unlock()
	return serial, err
}

// flushLocked writes the output buffer out, and what is appended to it
// meanwhile; p.wmu is held, but not while writing.
func (p *pconn) flushLocked() {
	p.flushing = true
	p.flushPending = false
	for len(p.wbuf) > 0 && p.werr == nil {
		out := p.wbuf
		p.wbuf, p.spare = p.spare[:0], nil
		p.wmu.Unlock()
		_, err := p.uc.Write(out)
		p.wmu.Lock()
		if cap(out) <= keepWriteBuf {
			p.spare = out[:0]
		}
		if err != nil && p.werr == nil {
			p.werr = err
			go p.close()
		}
		p.wcond.Broadcast()
	}
	p.flushing = false
}

func (p *pconn) reply(serial uint32, dest string, body []any) {
	p.send(msgMethodReply, outMsg{replySerial: serial, dest: dest, body: body})
}

func (p *pconn) replyError(serial uint32, dest string, err error) {
	var e *Error
	switch x := err.(type) {
	case Error:
		e = &x
	case *Error:
		e = x
	default:
		e = toDBusError(err).(*Error)
	}
	p.send(msgError, outMsg{errName: e.Name, replySerial: serial, dest: dest, body: e.Body})
}

// next returns the next whole message, which stays valid until the next
// call.
func (p *pconn) next() ([]byte, error) {
	for {
		avail := p.rend - p.rpos
		if avail >= 16 {
			need, err := messageLength(p.rbuf[p.rpos:p.rend], maxIncoming)
			if err != nil {
				return nil, err
			}
			if avail >= need {
				m := p.rbuf[p.rpos : p.rpos+need]
				p.rpos += need
				return m, nil
			}
			if need > len(p.rbuf)-p.rpos {
				nb := p.rbuf
				if need > len(nb) {
					if !p.setBuffer(need + readBufSize) {
						return nil, errInputBudget
					}
					nb = make([]byte, need+readBufSize)
				}
				p.rend = copy(nb, p.rbuf[p.rpos:p.rend])
				p.rbuf, p.rpos = nb, 0
			}
		} else if p.rpos == p.rend {
			p.rpos, p.rend = 0, 0
			if len(p.rbuf) > 4*readBufSize {
				p.setBuffer(readBufSize)
				p.rbuf = make([]byte, readBufSize)
			}
		} else if len(p.rbuf)-p.rpos < 16 {
			p.rend = copy(p.rbuf, p.rbuf[p.rpos:p.rend])
			p.rpos = 0
		}
		n, err := p.fs.Read(p.rbuf[p.rend:])
		p.rend += n
		if err != nil {
			return nil, err
		}
		if p.rend == len(p.rbuf) && len(p.rbuf) < readBufSize {
			nb := make([]byte, readBufSize)
			p.rend = copy(nb, p.rbuf[p.rpos:p.rend])
			p.rbuf, p.rpos = nb, 0
		}
		if n == 0 {
			return nil, errConnClosed
		}
	}
}

var errInputBudget = errors.New("too much input buffered for this uid")

// setBuffer accounts for a read buffer of n bytes against the uid's
// budget (false: spent, the connection is dropped).
func (p *pconn) setBuffer(n int) bool {
	want := max(0, n-readBufSize)
	if want == p.charged {
		return true
	}
	if !p.c.srv.chargeBuffered(p.c.uid, want-p.charged) {
		p.c.srv.refusals.logf(p.c.srv.opts.Logf, "control: dropping a connection of uid %d: more than %d bytes of input buffered", p.c.uid, MaxBufferedPerUID)
		return false
	}
	p.charged = want
	return true
}

// serve reads and dispatches messages until the connection fails (or,
// having run a call that blocked, it was relieved of reading).
func (p *pconn) serve() {
	defer func() {
		// A bug of ours in decoding drops this connection, not the daemon.
		if r := recover(); r != nil {
			p.c.srv.opts.Logf("control: internal error on a connection, dropped: %v\n%s", r, debug.Stack())
			p.close()
		}
	}()
	var m msgIn
	for {
		raw, err := p.next()
		if err != nil {
			p.close()
			return
		}
		m = msgIn{}
		if !decodeHeader(raw, &m) {
			// As godbus did: invalid messages are ignored.
			p.dropFDs(peekFDs(raw))
			continue
		}
		if m.typ != msgMethodCall {
			p.dropFDs(m.nfds)
			continue
		}
		if !p.dispatch(&m) {
			return
		}
	}
}

// takeOver runs (on its own goroutine) when a call the reader runs has not
// finished after takeoverDelay: it becomes the reader.
func (p *pconn) takeOver() {
	p.rmu.Lock()
	if !p.rbusy {
		p.rmu.Unlock()
		return
	}
	p.rbusy = false
	p.rgen++
	p.rmu.Unlock()
	p.serve()
}

func (p *pconn) dropFDs(n uint32) {
	for _, fd := range p.fs.takeFDs(int(n)) {
		syscall.Close(fd)
	}
}

// claimFDs takes the message's unix fds off the queue: only
// EmitEventWithFile keeps them (its 'h' argument becomes a UnixFD).
func (p *pconn) claimFDs(m *msgIn) {
	if m.nfds == 0 {
		return
	}
	fds := p.fs.takeFDs(int(m.nfds))
	keep := m.typ == msgMethodCall && m.member == "EmitEventWithFile"
	used := make([]bool, len(fds))
	for i, x := range m.body {
		idx, ok := x.(UnixFDIndex)
		if !ok || !keep || int(idx) >= len(fds) || used[idx] {
			continue
		}
		used[idx] = true
		m.body[i] = UnixFD(fds[idx])
	}
	for i, fd := range fds {
		if !used[i] {
			syscall.Close(fd)
		}
	}
}

// dispatch answers a method call as godbus's handleCall did. It returns
// false when the calling reader was relieved of reading meanwhile.
func (p *pconn) dispatch(m *msgIn) bool {
	serial, dest := m.serial, m.sender
	// Nothing of the body is decoded before the call is known to be one
	// of ours with the right signature.
	if m.iface == PeerIface {
		p.dropFDs(m.nfds)
		switch m.member {
		case "Ping":
			p.reply(serial, dest, nil)
		case "GetMachineId":
			p.reply(serial, dest, []any{p.uuid})
		default:
			p.replyError(serial, dest, unknownMemberError(m.member))
		}
		return true
	}
	c := p.c
	if c.refused {
		p.dropFDs(m.nfds)
		p.replyError(serial, dest, refusedObject{c.uid}.err())
		return true
	}
	// The answers for an absent object, member or interface, and for a
	// wrong signature, are decided before the body is decoded.
	o, meth, err := c.dispatch(m.path, m.iface, m.member, m.sig, nil)
	if err != nil {
		p.dropFDs(m.nfds)
		p.replyError(serial, dest, err)
		return true
	}
	if err := decodeBody(m); err != nil {
		p.dropFDs(m.nfds)
		p.replyError(serial, dest, dbusErr(api.ErrInvalidArgs, "Invalid arguments: "+err.Error()))
		return true
	}
	p.claimFDs(m)
	if err := checkArgs(meth, m.sig, m.body); err != nil {
		p.replyError(serial, dest, err)
		return true
	}
	cl := &call{o: o, sender: m.sender, body: m.body, iface: m.iface, member: m.member, sig: m.sig, meth: meth}
	noReply := m.flags&flagNoReplyExpected != 0
	if !noReply {
		cl.early = func() { p.reply(serial, dest, nil) }
	}
	p.calls.Add(1)
	if p.bus {
		// As godbus did: a call may ask the bus for its caller's uid,
		// whose answer this very reader must read.
		go p.run(cl, meth, serial, dest, noReply)
		return true
	}
	if meth.async == nil || !meth.async(m.body) {
		p.run(cl, meth, serial, dest, noReply)
		return true
	}
	if p.rend > p.rpos {
		// More is coming: don't make it wait.
		go p.run(cl, meth, serial, dest, noReply)
		return true
	}
	p.rmu.Lock()
	gen := p.rgen
	p.rbusy = true
	p.rmu.Unlock()
	p.takeover.Reset(takeoverDelay)
	p.run(cl, meth, serial, dest, noReply)
	p.takeover.Stop()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	p.rbusy = false
	return p.rgen == gen
}

func (p *pconn) run(cl *call, meth *methodSpec, serial uint32, dest string, noReply bool) {
	defer p.calls.Add(-1)
	out, err := invoke(meth, cl)
	if err != nil {
		// godbus answered errors even to calls that expect no reply.
		p.replyError(serial, dest, toDBusError(err))
		return
	}
	if noReply || cl.replied {
		return
	}
	p.reply(serial, dest, out)
}
