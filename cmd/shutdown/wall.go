package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goupstart/upstart/internal/utmp"
)

// wall writes message to the terminal of every user logged in (utmp),
// under a banner naming who sends it from where. A terminal that does not
// take the text within two seconds is skipped.
func wall(t *env, message string) {
	users, err := utmp.Users(t.utmp)
	if err != nil {
		return
	}
	name := "root"
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		name = u.Username
	} else if os.Getuid() != 0 {
		name = fmt.Sprintf("uid %d", os.Getuid())
	}
	host, _ := os.Hostname()
	tty := "unknown"
	if p, err := os.Readlink("/proc/self/fd/0"); err == nil && isTerminal(0) {
		tty = p
	}
	now := time.Now()
	text := fmt.Sprintf("\a\r\nBroadcast message from %s@%s\r\n\t(%s) at %d:%02d ...\r\n\r\n", name, host, tty,
		now.Hour(), now.Minute()) + message
	done := make(chan struct{}, len(users))
	for _, u := range users {
		dev := u.Line
		if !strings.HasPrefix(dev, "/dev/") {
			dev = "/dev/" + dev
		}
		go func() {
			defer func() { done <- struct{}{} }()
			fd, err := unix.Open(dev, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			if err != nil {
				return
			}
			defer unix.Close(fd)
			if isTerminal(fd) {
				unix.Write(fd, []byte(text))
			}
		}()
	}
	timeout := time.After(2 * time.Second)
	for range users {
		select {
		case <-done:
		case <-timeout:
			return
		}
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
