package main

import (
	"fmt"
	"net"
	"syscall"
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

// TestProbeCannotBlockTheDaemon: a socket bound the way the probe binds
// (SO_REUSEADDR, never listening) does not keep a daemon from binding and
// listening on the same port — the probe must never make sshd fail.
func TestProbeCannotBlockTheDaemon(t *testing.T) {
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port}); err != nil {
		t.Fatalf("bind port %d: %v", port, err)
	}
	daemon, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatalf("a daemon could not listen beside the probe's socket: %v", err)
	}
	defer daemon.Close()
	if !listening(uint16(port)) {
		t.Error("the daemon's listener was not seen")
	}
}
