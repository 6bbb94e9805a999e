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
)

// PeerClient is a lean client of one private (peer-to-peer) connection:
// calls are encoded with this package's codec and sent in one write each;
// replies are read through a buffer on the caller's goroutine, skipping
// signals. It exists so that benchmarks measure the daemon and not a
// client library (godbus spends more CPU per call than our server does).
// Not safe for concurrent use.
type PeerClient struct {
	c      net.Conn
	r      *bufio.Reader
	out    []byte
	in     []byte
	serial uint32
}

// DialPeer connects to a server address (unix:abstract=NAME or
// unix:path=PATH) and authenticates as the caller's uid.
func DialPeer(address string) (*PeerClient, error) {
	kind, value, err := parseUnixAddress(address)
	if err != nil {
		return nil, err
	}
	if kind == "abstract" {
		value = "@" + value
	}
	c, err := net.Dial("unix", value)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", address, err)
	}
	pc := &PeerClient{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
	if _, err := io.WriteString(c, "\x00AUTH EXTERNAL "+uid+"\r\n"); err != nil {
		c.Close()
		return nil, fmt.Errorf("authenticate to %s: %w", address, err)
	}
	line, err := pc.r.ReadString('\n')
	if err == nil && !strings.HasPrefix(line, "OK ") {
		err = fmt.Errorf("server answered %q", line)
	}
	if err == nil {
		_, err = io.WriteString(c, "BEGIN\r\n")
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("authenticate to %s: %w", address, err)
	}
	return pc, nil
}

// Close closes the connection.
func (pc *PeerClient) Close() error { return pc.c.Close() }

// Call sends a method call and waits for its reply. An error reply is
// returned as a Error. Arguments may be of the basic types the
// server's codec encodes (strings, string arrays, booleans, integers).
func (pc *PeerClient) Call(path ObjectPath, iface, member string, args ...any) error {
	if err := pc.Send(path, iface, member, args...); err != nil {
		return err
	}
	return pc.Reply()
}

// Send sends a method call without waiting for its reply: several may be
// in flight; Reply takes their replies in order.
func (pc *PeerClient) Send(path ObjectPath, iface, member string, args ...any) error {
	pc.serial++
	pc.out = appendMessage(pc.out[:0], msgMethodCall, pc.serial, outMsg{path: path, iface: iface, member: member, body: args})
	if _, err := pc.c.Write(pc.out); err != nil {
		return fmt.Errorf("%s: %w", member, err)
	}
	return nil
}

// Reply waits for the next reply, skipping signals; an error reply is
// returned as a Error.
func (pc *PeerClient) Reply() error {
	for {
		m, err := pc.read()
		if err != nil {
			return fmt.Errorf("reading a reply: %w", err)
		}
		switch m[1] {
		case msgMethodReply:
			return nil
		case msgError:
			var h msgIn
			if !decodeHeaderOf(m, &h, true) || decodeBody(&h) != nil {
				return errors.New("undecodable error reply")
			}
			return Error{Name: h.errName, Body: h.body}
		}
	}
}

// EmitEvent calls com.ubuntu.Upstart0_6.EmitEvent.
func (pc *PeerClient) EmitEvent(name string, env []string, wait bool) error {
	if env == nil {
		env = []string{}
	}
	return pc.Call(ManagerPath, ManagerIface, "EmitEvent", name, env, wait)
}

// read returns the next whole message (valid until the next read).
func (pc *PeerClient) read() ([]byte, error) {
	hdr, err := pc.r.Peek(16)
	if err != nil {
		return nil, err
	}
	n, err := messageLength(hdr, maxMessage)
	if err != nil {
		return nil, err
	}
	if cap(pc.in) < n {
		pc.in = make([]byte, n)
	}
	pc.in = pc.in[:n]
	if _, err := io.ReadFull(pc.r, pc.in); err != nil {
		return nil, err
	}
	return pc.in, nil
}
