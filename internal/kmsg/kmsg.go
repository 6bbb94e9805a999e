// Package kmsg writes log lines into the kernel's log buffer (/dev/kmsg)
// as "<PRIORITY>NAME: message", which is how PID 1 logs before any
// syslog daemon runs (and how Chromium OS's rsyslog finds init's lines).
package kmsg

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Priorities (syslog's, as the kernel reads them).
const (
	Crit    = 2
	Err     = 3
	Warning = 4
	Notice  = 5
	Info    = 6
	Debug   = 7
)

// MaxLine is the most we write as one record: the kernel cuts a record
// at about 1 KiB (LOG_LINE_MAX), so a longer message is split.
const MaxLine = 900

// Writer writes records to /dev/kmsg (or any file, for tests).
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	name string
}

// Open opens /dev/kmsg for writing; name prefixes every message.
func Open(name string) (*Writer, error) {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return New(f, name), nil
}

// New writes records to f.
func New(f *os.File, name string) *Writer { return &Writer{f: f, name: name} }

// Log writes msg at priority pri, one record per line (and per MaxLine
// bytes of a long line). Each record is one write(2), as the kernel
// takes one record per write.
func (w *Writer) Log(pri int, msg string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	prefix := "<" + strconv.Itoa(pri) + ">" + w.name + ": "
	var first error
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		for {
			part := line
			if len(part) > MaxLine {
				part = part[:MaxLine]
			}
			if _, err := w.f.Write([]byte(prefix + part + "\n")); err != nil && first == nil {
				first = err
			}
			line = line[len(part):]
			if line == "" {
				break
			}
		}
	}
	return first
}

// Close closes the device.
func (w *Writer) Close() error { return w.f.Close() }
