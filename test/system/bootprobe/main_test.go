package main

import (
	"net"
	"testing"
)

// TestListening checks the sock_diag query against a real listener: seen
// while it listens, not after it closed.
func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	if !listening(port) {
		t.Errorf("port %d listens but was not seen", port)
	}
	ln.Close()
	if listening(port) {
		t.Errorf("port %d closed but still seen as listening", port)
	}
}

// TestComp checks the decoding of acct's comp_t (13-bit mantissa, base-8
// exponent, in 1/100 s).
func TestComp(t *testing.T) {
	for _, c := range []struct {
		v    uint16
		want float64
	}{{0, 0}, {150, 1.5}, {1<<13 | 1000, 80}} {
		if got := comp(c.v); got != c.want {
			t.Errorf("comp(%#x) = %v, want %v", c.v, got, c.want)
		}
	}
}
