package control

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// What a connection to the private socket may cost the daemon, whoever
// is at the other end (docs/decisions.md, "Control socket bounds").
const (
	// MaxConns bounds the connections of uids that may use the daemon;
	// MaxUnauthenticated those of them still in the handshake.
	MaxConns           = 1024
	MaxUnauthenticated = 128
	// MaxRefusedPerUID and MaxRefused bound the connections of uids that
	// may not (each lives at most HandshakeTimeout and gets one reply).
	MaxRefusedPerUID = 8
	MaxRefused       = 64
	// FDReserve: a connection is refused when its fd's number shows that
	// fewer than FDReserve fds are left below RLIMIT_NOFILE (the kernel
	// gives the lowest free number, so every lower one is in use), so that
	// spawning and logging always find fds.
	FDReserve = 256
	// RefusedBudget is how many bytes of messages a refused peer may send
	// (after the authentication conversation): its first call's header
	// must fit, and is answered with PermissionDenied.
	RefusedBudget = 4096
	// MaxBufferedPerUID bounds the input of one uid's connections held in
	// read buffers beyond their first readBufSize bytes each.
	MaxBufferedPerUID = 16 << 20
)

// handshakeTimeout is HandshakeTimeout (tests shorten it).
var handshakeTimeout = HandshakeTimeout

// admission is a connection counted by admit, until release.
type admission struct {
	uid     uint32
	allowed bool
}

// admit decides whether to serve a new connection.
func (s *Server) admit(uc *net.UnixConn) (admission, bool) {
	uid, err := peerUID(uc)
	if err != nil {
		return admission{}, false
	}
	if fd, limit := connFD(uc), nofile(); fd < 0 || limit > 0 && uint64(fd) >= limit-min(limit, FDReserve) {
		s.refusals.logf(s.opts.Logf, "control: refusing a connection from uid %d: fd %d is within the reserve of %d below the limit of %d", uid, fd, FDReserve, limit)
		return admission{}, false
	}
	a := admission{uid: uid, allowed: s.opts.AllowUID(uid)}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case a.allowed && (s.conns >= MaxConns || s.unauth >= MaxUnauthenticated):
		s.refusals.logf(s.opts.Logf, "control: refusing a connection from uid %d: %d connections open, %d of them authenticating", uid, s.conns, s.unauth)
		return admission{}, false
	case !a.allowed && (s.refusedConns >= MaxRefused || s.refusedByUID[uid] >= MaxRefusedPerUID):
		s.refusals.logf(s.opts.Logf, "control: refusing a connection from uid %d (not allowed to use the daemon): %d such connections open, %d of that uid",
			uid, s.refusedConns, s.refusedByUID[uid])
		return admission{}, false
	}
	if a.allowed {
		s.conns++
		s.unauth++
	} else {
		s.refusedConns++
		s.refusedByUID[uid]++
	}
	return a, true
}

// authenticated ends the handshake of an admitted connection.
func (s *Server) authenticated(a admission) {
	if a.allowed {
		s.mu.Lock()
		s.unauth--
		s.mu.Unlock()
	}
}

// release forgets an admitted connection (after authenticated).
func (s *Server) release(a admission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.allowed {
		s.conns--
		return
	}
	s.refusedConns--
	if s.refusedByUID[a.uid]--; s.refusedByUID[a.uid] <= 0 {
		delete(s.refusedByUID, a.uid)
	}
}

// chargeBuffered takes n bytes (n < 0: gives them back) of uid's input
// budget; false when it is spent.
func (s *Server) chargeBuffered(uid uint32, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.bufferedByUID[uid] + n
	if n > 0 && v > MaxBufferedPerUID {
		return false
	}
	if v <= 0 {
		delete(s.bufferedByUID, uid)
	} else {
		s.bufferedByUID[uid] = v
	}
	return true
}

func connFD(uc *net.UnixConn) int {
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// nofile is the soft RLIMIT_NOFILE (0 when unknown).
func nofile() uint64 {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Cur
}

// serveRefused answers a peer that authenticated but may not use the
// daemon: the header of its first message (within RefusedBudget bytes,
// read with the handshake's deadline) gets PermissionDenied, and nothing
// of any body is read. The caller closes the connection.
func (s *Server) serveRefused(uc *net.UnixConn, r *bufio.Reader, uid uint32) {
	s.refusals.logf(s.opts.Logf, "control: refused connection from uid %d: not allowed", uid)
	lr := io.LimitReader(r, RefusedBudget)
	hdr := make([]byte, 16, 256)
	if _, err := io.ReadFull(lr, hdr); err != nil {
		return
	}
	n, err := messageLength(hdr, maxMessage)
	if err != nil {
		return
	}
	d := dec{b: hdr, be: hdr[0] == 'B', pos: 12}
	hlen := (16 + int(d.u32()) + 7) &^ 7
	if hlen > RefusedBudget || hlen > n {
		return
	}
	msg := append(hdr, make([]byte, hlen-16)...)
	if _, err := io.ReadFull(lr, msg[16:]); err != nil {
		return
	}
	// Decode the header as that of a message without a body.
	copy(msg[4:8], []byte{0, 0, 0, 0})
	var m msgIn
	if !decodeHeader(msg, &m) || m.typ != msgMethodCall || m.flags&flagNoReplyExpected != 0 {
		return
	}
	e := refusedObject{uid}.err().(*Error)
	out := appendMessage(nil, msgError, 1, outMsg{errName: e.Name, replySerial: m.serial, dest: m.sender, body: e.Body})
	uc.Write(out)
}

// rateLog logs at most one line a second (hostile clients must not flood
// the log); the next line says how many were left out.
type rateLog struct {
	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (r *rateLog) logf(logf func(string, ...any), format string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < time.Second {
		r.dropped++
		r.mu.Unlock()
		return
	}
	r.last = now
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		format += " (and %d more such lines left out)"
		args = append(args, dropped)
	}
	logf(format, args...)
}
