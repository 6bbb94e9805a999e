package main

import (
	"errors"
	"fmt"

	"github.com/goupstart/upstart/internal/control"
	"github.com/goupstart/upstart/internal/utmp"
)

// currentRunlevel is Upstart's utmp_get_runlevel: RUNLEVEL and PREVLEVEL
// from the environment if RUNLEVEL is set (a job started by the runlevel
// event has them), else the runlevel record of utmp.
func (t *env) currentRunlevel(path string) (cur, prev byte, err error) {
	if r := t.getenv("RUNLEVEL"); r != "" {
		prev = 'N'
		if p := t.getenv("PREVLEVEL"); p != "" {
			prev = p[0]
		}
		return r[0], prev, nil
	}
	return utmp.Runlevel(path, false)
}

// runRunlevel prints "PREVIOUS CURRENT" (N for none), or "unknown" and
// exit 1 when no runlevel is recorded.
func runRunlevel(t *env, args []string) int {
	rest, code, ok := t.parse(args, nil, "[UTMP]", "Output previous and current runlevel.",
		"The system /var/run/utmp file is used unless the alternate file UTMP is given.")
	if !ok {
		return code
	}
	path := t.utmp
	if len(rest) > 0 {
		path = rest[0]
	}
	cur, prev, err := t.currentRunlevel(path)
	if err != nil {
		fmt.Fprintln(t.stdout, "unknown")
		return 1
	}
	fmt.Fprintf(t.stdout, "%c %c\n", prev, cur)
	return 0
}

// changeRunlevel is what telinit and shutdown share (Upstart's
// sysv_change_runlevel): the previous level from the environment or utmp,
// the new record in utmp and wtmp first, then `runlevel RUNLEVEL=new
// PREVLEVEL=old [extra…]` emitted without waiting for it to finish, as
// sysvinit never waited either.
func (t *env) changeRunlevel(level byte, extra []string) error {
	// The level being left is the current one.
	prev, _, err := t.currentRunlevel(t.utmp)
	if err != nil {
		prev = 'N'
	}
	env := append([]string{"RUNLEVEL=" + string(level), "PREVLEVEL=" + string(prev)}, extra...)
	pc, err := t.dial()
	if err != nil {
		return err
	}
	defer pc.Close()
	// The record is written before the event, so that jobs it starts
	// read the new level.
	if err := utmp.WriteRunlevel(t.utmp, t.wtmp, level, prev); err != nil {
		t.infof("Unable to write runlevel record: %v", err)
	}
	return callErr(pc.EmitEvent("runlevel", env, false))
}

// dial connects to init's private socket.
func (t *env) dial() (*control.PeerClient, error) {
	pc, err := control.DialPeer(t.address)
	if err != nil {
		return nil, fmt.Errorf("Unable to connect to Upstart: %v", err)
	}
	return pc, nil
}

// callErr turns a D-Bus error reply into its message.
func callErr(err error) error {
	var de control.Error
	if errors.As(err, &de) && len(de.Body) > 0 {
		if s, ok := de.Body[0].(string); ok {
			return errors.New(s)
		}
	}
	return err
}
