package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/goupstart/upstart/internal/kmsg"
)

// Upstart's log priorities, mapped onto slog levels.
var priorities = map[string]slog.Level{
	"debug":   slog.LevelDebug,
	"info":    slog.LevelInfo,
	"message": slog.LevelInfo + 2,
	"warn":    slog.LevelWarn,
	"error":   slog.LevelError,
	"fatal":   slog.LevelError + 4,
}

func priorityName(l slog.Level) string {
	best := "debug"
	for n, v := range priorities {
		if v <= l && v >= priorities[best] {
			best = n
		}
	}
	return best
}

// lineHandler writes "init: message" lines, as Upstart's daemon does: to
// stderr or a file, or into the kernel log as "<PRIORITY>init: message"
// (PID 1 of a machine).
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	kmsg  *kmsg.Writer // when set, instead of w
	level *slog.LevelVar
}

func newLineHandler(w io.Writer, level *slog.LevelVar) *lineHandler {
	return &lineHandler{mu: &sync.Mutex{}, w: w, level: level}
}

// setOutput sends the lines to w, or to the kernel log if k is set.
func (h *lineHandler) setOutput(w io.Writer, k *kmsg.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w, h.kmsg = w, k
}

// kmsgPriority maps a level to the kernel's priority, as Upstart's
// daemon does (debug 7, info 6, message 5, warn 4, error 3, fatal 2).
func kmsgPriority(l slog.Level) int {
	switch {
	case l >= priorities["fatal"]:
		return kmsg.Crit
	case l >= priorities["error"]:
		return kmsg.Err
	case l >= priorities["warn"]:
		return kmsg.Warning
	case l >= priorities["message"]:
		return kmsg.Notice
	case l >= priorities["info"]:
		return kmsg.Info
	}
	return kmsg.Debug
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kmsg != nil {
		return h.kmsg.Log(kmsgPriority(r.Level), msg)
	}
	_, err := fmt.Fprintf(h.w, "init: %s\n", msg)
	return err
}

func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lineHandler) WithGroup(string) slog.Handler      { return h }
