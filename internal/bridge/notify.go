package bridge

import (
	"fmt"
	"net"
	"os"
)

// NotifyReady tells init that the bridge is ready (`expect notify`):
// READY=1 on $NOTIFY_SOCKET, as sd_notify(3) sends it. Without the
// variable it does nothing. A bridge calls it once it listens, so that
// jobs and scripts started after it miss none of its events.
func NotifyReady() error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	c, err := net.Dial("unixgram", addr)
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("READY=1")); err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	return nil
}
