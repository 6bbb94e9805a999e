package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files of a pending shutdown (Upstart's paths).
var (
	pidFile     = "/var/run/shutdown.pid"
	nologinFile = "/etc/nologin"
)

// minute is the tick of a pending shutdown.
const minute = time.Minute

// shutdownReq is one shutdown command line.
type shutdownReq struct {
	level    byte   // '0', '1' or '6'
	initHalt string // "", "HALT" or "POWEROFF"
	delay    int    // minutes
	message  string // user's text, "" or ending in "\r\n"
}

func runShutdown(t *env, args []string) int {
	r := shutdownReq{}
	cancel, warnOnly := false, false
	when := ""
	hasWhen := false
	opts := []option{
		{'r', "", "", "reboot after shutdown", func(string) { r.level, r.initHalt = '6', "" }},
		{'h', "", "", "halt or power off after shutdown", func(string) { r.level, r.initHalt = '0', "" }},
		{'H', "", "", "halt after shutdown (implies -h)", func(string) { r.level, r.initHalt = '0', "HALT" }},
		{'P', "", "", "power off after shutdown (implies -h)", func(string) { r.level, r.initHalt = '0', "POWEROFF" }},
		{'c', "", "", "cancel a running shutdown", func(string) { cancel = true }},
		{'k', "", "", "only send warnings, don't shutdown", func(string) { warnOnly = true }},
		{'g', "", "TIME", "", func(v string) { when, hasWhen = v, true }},
		{'a', "", "", "", ignored}, {'n', "", "", "", ignored}, {'f', "", "", "", ignored},
		{'F', "", "", "", ignored}, {'i', "", "LEVEL", "", ignored}, {'t', "", "SECS", "", ignored},
		{'y', "", "", "", ignored},
	}
	rest, code, ok := t.parse(args, opts, "TIME [MESSAGE]", "Bring the system down.",
		"TIME is `now', +m (in m minutes) or hh:mm (24-hour clock). Logged in users are warned, "+
			"with MESSAGE if given; -k only warns. A pending shutdown stays in the foreground until "+
			"it happens and can be cancelled with Control-C or with shutdown -c. Without -r or -h "+
			"the system goes down to maintenance (single-user) mode.")
	if !ok {
		return code
	}
	if r.level == 0 {
		r.level, r.initHalt = '1', ""
	}
	if !cancel && !hasWhen {
		if len(rest) == 0 {
			fmt.Fprintf(t.stderr, "%s: time expected\n", t.prog)
			fmt.Fprintf(t.stderr, "Try `%s --help' for more information.\n", t.prog)
			return 1
		}
		when, hasWhen = rest[0], true
		rest = rest[1:]
	}
	if hasWhen {
		d, msg := parseWhen(when, time.Now())
		if msg != "" {
			return t.usageFail("%s", msg)
		}
		r.delay = d
	}
	if len(rest) > 0 {
		r.message = strings.Join(rest, " ") + " \r\n"
	}
	if !t.needRoot() {
		return 1
	}

	// A pending shutdown: cancel it, or refuse a second one.
	pid := readPidFile()
	if pid > 0 {
		if cancel {
			if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
				t.errorf("Shutdown is not running")
				return 1
			}
			if r.message != "" {
				wall(t, r.message)
			}
			return 0
		}
		if syscall.Kill(pid, 0) == nil {
			t.errorf("Another shutdown is already running")
			return 1
		}
	} else if cancel {
		t.errorf("Cannot find pid of running shutdown")
		return 1
	}

	wall(t, r.warning())
	if warnOnly {
		return 0
	}
	if err := os.Chdir("/"); err != nil {
		t.errorf("Unable to change directory: %v", err)
	}
	syscall.Umask(0o022)
	if r.delay == 0 {
		return t.shutdownNow(&r)
	}
	return t.pending(&r)
}

// parseWhen turns TIME into minutes from now, or returns Upstart's
// message for a bad one.
func parseWhen(when string, now time.Time) (int, string) {
	if when == "now" {
		return 0, ""
	}
	if h, m, ok := strings.Cut(when, ":"); ok {
		hours, err := strconv.ParseUint(h, 10, 8)
		if err != nil || hours > 23 {
			return 0, "illegal hour value"
		}
		mins, err := strconv.ParseUint(m, 10, 8)
		if err != nil || mins > 59 {
			return 0, "illegal minute value"
		}
		d := int(hours*60+mins) - (now.Hour()*60 + now.Minute())
		if d < 0 {
			d += 24 * 60
		}
		return d, ""
	}
	s := strings.TrimPrefix(when, "+")
	if s == "" {
		return 0, "illegal time value"
	}
	d, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, "illegal time value"
	}
	return int(d), ""
}

// warning is the text sent to users: how long until what, then the
// user's message.
func (r *shutdownReq) warning() string {
	what := map[byte]string{'0': "halt", '1': "maintenance", '6': "reboot"}[r.level]
	if r.level == '0' && r.initHalt == "POWEROFF" {
		what = "power off"
	}
	var banner string
	switch {
	case r.delay == 0:
		banner = fmt.Sprintf("The system is going down for %s NOW!", what)
	case r.delay == 1:
		banner = fmt.Sprintf("The system is going down for %s in 1 minute!", what)
	default:
		banner = fmt.Sprintf("The system is going down for %s in %d minutes!", what, r.delay)
	}
	return "\r" + banner + "\r\n" + r.message
}

// shutdownNow emits the runlevel event and cleans up after a pending
// shutdown.
func (t *env) shutdownNow(r *shutdownReq) int {
	var extra []string
	if r.initHalt != "" {
		extra = []string{"INIT_HALT=" + r.initHalt}
	}
	err := t.changeRunlevel(r.level, extra)
	os.Remove(nologinFile)
	os.Remove(pidFile)
	if err != nil {
		t.errorf("%v", err)
		return 1
	}
	return 0
}

// pending waits for the time of the shutdown: it records its pid (for -c
// and to refuse a second shutdown), warns users at shrinking intervals,
// keeps logins out in the last five minutes, and can be cancelled by
// SIGINT, SIGQUIT or SIGTERM.
func (t *env) pending(r *shutdownReq) int {
	os.Remove(pidFile)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.errorf("%s: Unable to write pid file: %v", pidFile, err)
	}
	signal.Ignore(syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM)
	// Upstart writes /etc/nologin only at the minute ticks; a shutdown
	// due within five minutes keeps logins out from the start.
	if r.delay <= 5 {
		os.WriteFile(nologinFile, []byte(r.warning()), 0o644)
	}
	tick := time.NewTicker(minute)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			t.errorf("Shutdown cancelled")
			os.Remove(nologinFile)
			os.Remove(pidFile)
			return 0
		case <-tick.C:
			r.delay--
			msg := r.warning()
			if r.delay <= 5 {
				os.WriteFile(nologinFile, []byte(msg), 0o644)
			}
			if warnNow(r.delay) {
				wall(t, msg)
			}
			if r.delay <= 0 {
				return t.shutdownNow(r)
			}
		}
	}
}

// warnNow tells whether users are warned with d minutes left: every
// minute in the last ten, then every quarter of an hour below one hour,
// every half hour below three, every hour above.
func warnNow(d int) bool {
	switch {
	case d < 10:
		return true
	case d < 60:
		return d%15 == 0
	case d < 180:
		return d%30 == 0
	}
	return d%60 == 0
}

func readPidFile() int {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}
