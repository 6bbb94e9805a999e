package control

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The server side of the D-Bus authentication conversation (the SASL
// profile of the D-Bus specification), which godbus does not provide, and
// the fd-keeping byte stream the private connection (pconn.go) reads
// afterwards.
//
// Unix fd passing: fdStream reads the socket with recvmsg and queues every
// SCM_RIGHTS fd in arrival order; once a whole message was read, its
// unix_fds header field says how many of the queued fds are its own, and
// its 'h' arguments (indexes) become UnixFD. Sending fds to clients is
// not supported (Upstart never does).

// fdStream reads a unix socket with recvmsg, keeping received fds. With
// keep false it reads with read(2): the kernel then closes the fds that
// came with the data, so none ever enters our fd table (for peers that may
// not use the daemon).
type fdStream struct {
	uc   *net.UnixConn
	oob  []byte
	keep bool

	mu  sync.Mutex
	fds []int
}

// maxQueuedFDs bounds the fds received and not yet claimed by a message
// (a message carries at most 253).
const maxQueuedFDs = 512

var errTooManyFDs = errors.New("too many unix fds received")

func newFDStream(uc *net.UnixConn, keep bool) *fdStream {
	s := &fdStream{uc: uc, keep: keep}
	if keep {
		s.oob = make([]byte, syscall.CmsgSpace(253*4))
	}
	return s
}

func (s *fdStream) Read(p []byte) (int, error) {
	if !s.keep {
		return s.uc.Read(p)
	}
	n, oobn, flags, _, err := s.uc.ReadMsgUnix(p, s.oob)
	if n < 0 {
		n = 0
	}
	if oobn > 0 {
		s.keepFDs(s.oob[:oobn])
	}
	if err == nil && flags&syscall.MSG_CTRUNC != 0 {
		return n, errors.New("control data truncated (too many fds)")
	}
	if err == nil {
		s.mu.Lock()
		if len(s.fds) > maxQueuedFDs {
			err = errTooManyFDs
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *fdStream) keepFDs(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.fds = append(s.fds, fds...)
		s.mu.Unlock()
	}
}

// takeFDs removes the first n queued fds.
func (s *fdStream) takeFDs(n int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > len(s.fds) {
		n = len(s.fds)
	}
	out := append([]int(nil), s.fds[:n]...)
	s.fds = s.fds[n:]
	return out
}

func (s *fdStream) closeFDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.fds = nil
}

// peerUID returns the uid of the process at the other end of uc.
func peerUID(uc *net.UnixConn) (uint32, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}

// errRejected is returned by handshake when the client was refused.
var errRejected = errors.New("authentication rejected")

// maxAuthLine bounds a line of the authentication conversation (the
// longest a client sends is "AUTH EXTERNAL" with a hex uid).
const maxAuthLine = 1024

// handshake runs the server side of the authentication conversation on uc
// (reading through r). It returns the authenticated uid and whether the
// client negotiated unix fd passing.
// authed, if set, is called just before the client is told OK.
func handshake(uc *net.UnixConn, r *bufio.Reader, guid string, allow func(uint32) bool, onRefuse func(uid uint32), authed func()) (uid uint32, unixFD bool, err error) {
	peer, err := peerUID(uc)
	if err != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", err)
	}
	nul, err := r.ReadByte()
	if err != nil {
		return 0, false, err
	}
	if nul != 0 {
		return 0, false, errors.New("protocol error: no leading NUL byte")
	}
	send := func(line string) error {
		_, err := uc.Write([]byte(line + "\r\n"))
		return err
	}
	const (
		waitAuth = iota
		waitData
		waitBegin
	)
	state := waitAuth
	refused := false // the last failed attempt was a permission refusal
	for lines := 0; ; lines++ {
		if lines > 64 {
			return 0, false, errors.New("too many authentication commands")
		}
		line, err := readAuthLine(r)
		if err != nil {
			if refused {
				return 0, false, errRejected
			}
			return 0, false, err
		}
		cmd, arg, _ := bytes.Cut(line, []byte(" "))
		// try checks the identity claimed by EXTERNAL and answers.
		try := func(claim []byte) error {
			id, ok := parseExternalIdentity(claim, peer)
			switch {
			case !ok || id != peer:
				state = waitAuth
				return send("REJECTED EXTERNAL")
			case allow != nil && !allow(id):
				// Say why before rejecting; clients answer ERROR with
				// CANCEL, then get the REJECTED.
				refused = true
				state = waitAuth
				if onRefuse != nil {
					onRefuse(id)
				}
				return send(fmt.Sprintf("ERROR \"Permission denied: uid %d may not connect to this init daemon\"", id))
			}
			uid = id
			state = waitBegin
			if authed != nil {
				authed()
			}
			return send("OK " + guid)
		}
		switch string(cmd) {
		case "AUTH":
			if state == waitBegin {
				err = send("ERROR \"Already authenticated\"")
				break
			}
			mech, initial, hasInitial := bytes.Cut(arg, []byte(" "))
			switch {
			case string(mech) != "EXTERNAL":
				state = waitAuth
				err = send("REJECTED EXTERNAL")
			case !hasInitial:
				state = waitData
				err = send("DATA")
			default:
				err = try(initial)
			}
		case "DATA":
			if state != waitData {
				err = send("ERROR \"Unexpected DATA\"")
				break
			}
			err = try(arg)
		case "CANCEL", "ERROR":
			state = waitAuth
			err = send("REJECTED EXTERNAL")
		case "NEGOTIATE_UNIX_FD":
			if state != waitBegin {
				err = send("ERROR \"Not authenticated\"")
				break
			}
			unixFD = true
			err = send("AGREE_UNIX_FD")
		case "BEGIN":
			if state != waitBegin {
				if refused {
					return 0, false, errRejected
				}
				return 0, false, errors.New("protocol error: BEGIN before authentication")
			}
			return uid, unixFD, nil
		default:
			err = send("ERROR \"Unknown command\"")
		}
		if err != nil {
			if refused && errors.Is(err, syscall.EPIPE) {
				return 0, false, errRejected
			}
			return 0, false, err
		}
	}
}

// parseExternalIdentity decodes the hex-encoded decimal uid of an EXTERNAL
// response; an empty response means "whatever the credentials say".
func parseExternalIdentity(claim []byte, peer uint32) (uint32, bool) {
	if len(claim) == 0 {
		return peer, true
	}
	dec, err := hex.DecodeString(string(claim))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(string(dec), 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

func readAuthLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxAuthLine {
			return nil, errors.New("authentication line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// HandshakeTimeout bounds the authentication conversation, and the whole
// connection of a peer that may not use the daemon.
const HandshakeTimeout = 5 * time.Second
