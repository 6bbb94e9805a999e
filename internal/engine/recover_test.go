package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/goupstart/upstart/internal/supervise"
)

// With Recover (PID 1), a panic in one message is logged and the loop
// goes on with the next.
func TestLoopSurvivesPanic(t *testing.T) {
	e := New(Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Recover: true})
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() { e.Run(make(chan supervise.Exit), done); close(stopped) }()
	e.Post(func() { panic("boom") })
	ran := make(chan struct{})
	e.Post(func() { close(ran) })
	<-ran
	close(done)
	<-stopped
}
