package bridge

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

func TestNotifyReady(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := NotifyReady(); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	addr := fmt.Sprintf("@goupstart-bridge-test-%d", os.Getpid())
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", addr)
	if err := NotifyReady(); err != nil {
		t.Fatal(err)
	}
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", addr+"-gone")
	if err := NotifyReady(); err == nil {
		t.Error("no error for a socket nobody listens on")
	}
}
