package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
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

// lineHandler writes "init: message" lines, as Upstart's daemon does.
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level *slog.LevelVar
}

func newLineHandler(w io.Writer, level *slog.LevelVar) *lineHandler {
	return &lineHandler{mu: &sync.Mutex{}, w: w, level: level}
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
	_, err := fmt.Fprintf(h.w, "init: %s\n", msg)
	return err
}

func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lineHandler) WithGroup(string) slog.Handler      { return h }
