// Command upstart-file-bridge emits `file` events for the paths that
// jobs' `start on`/`stop on` conditions name (file-event(7)):
//
//	start on file FILE=/run/app.pid EVENT=create
//	start on file FILE=/var/crash/*.crash EVENT=create
//	start on file FILE=/var/log/
//
// It learns the paths from init over D-Bus and follows job changes; it
// reconnects when init re-executes. With --user it serves a session
// instance and accepts paths relative to $HOME (`~/x`, `x`).
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/goupstart/upstart/internal/bridge"
	"github.com/goupstart/upstart/internal/filebridge"
)

func main() {
	fs := flag.NewFlagSet("upstart-file-bridge", flag.ContinueOnError)
	f := bridge.ParseFlags(fs, "upstart-file-bridge", "Bridge between Upstart and inotify: emits file events.", os.Args[1:])
	if f.Daemon {
		bridge.Daemonize(os.Args[1:])
	}
	log := f.Logger("file")
	em := bridge.NewEmitter(log)
	home := ""
	if f.User {
		home, _ = os.UserHomeDir()
	}
	w, err := filebridge.New(home, func(e filebridge.Event) { em.Emit("file", e.Env()) },
		func(format string, a ...any) { log.Warn(fmt.Sprintf(format, a...)) })
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	go func() {
		if err := w.Run(); err != nil {
			log.Error("inotify", "err", err)
			os.Exit(1)
		}
	}()
	bridge.Run(bridge.Options{User: f.User}, &jobs{w: w, em: em}, log, bridge.StopOnSignal())
}

type jobs struct {
	w  *filebridge.Watcher
	em *bridge.Emitter
}

// Jobs collects every `file` operand of every job: one spec per FILE
// value, wanting the union of the EVENT values (any, when one operand
// names none).
func (j *jobs) Jobs(c *bridge.Conn, all []bridge.Job) {
	j.em.SetConn(c)
	specs := map[string]*filebridge.Spec{}
	anyType := map[string]bool{}
	for _, job := range all {
		for _, args := range job.Operands("file") {
			file, ok := bridge.Env(args, fileVars, "FILE")
			if !ok {
				continue
			}
			s := specs[file]
			if s == nil {
				s = &filebridge.Spec{File: file, Types: map[string]bool{}}
				specs[file] = s
			}
			if t, ok := bridge.Env(args, fileVars, "EVENT"); ok {
				s.Types[t] = true
			} else {
				anyType[file] = true
			}
		}
	}
	list := make([]*filebridge.Spec, 0, len(specs))
	for file, s := range specs {
		if anyType[file] {
			s.Types = nil
		}
		list = append(list, s)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].File < list[b].File })
	j.w.SetSpecs(list)
}

// fileVars are the file event's variables, in order (for positional
// arguments).
var fileVars = []string{"FILE", "EVENT", "MATCH"}
