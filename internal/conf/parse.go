// Package conf reads init(5) job files: the tokenizer, the stanza parser,
// override merging, the walk of the configuration directories and an
// inotify watcher for them.
//
// Lexical rules (those of libnih's config parser, which Upstart uses):
// whitespace is space, tab and CR; an unquoted, unescaped '#' starts a
// comment running to the end of the line; each line begins with a stanza
// keyword followed by arguments separated by whitespace. Single or double
// quotes group text; a backslash stops the next character acting as a
// delimiter or quote, and backslash-newline continues the line. `exec`
// keeps the raw rest of its line; `script` … `end script` blocks are taken
// verbatim apart from the common indentation.
package conf

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/environ"
	"golang.org/x/sys/unix"
)

// MaxFileSize is the largest job file Parse accepts.
const MaxFileSize = 1 << 20

// Parse parses the job file data (read from path) into a job called name.
// Errors are *Error.
func Parse(name, path string, data []byte) (*Job, error) {
	j := NewJob(name, path)
	if err := parseInto(j, path, data); err != nil {
		return nil, err
	}
	return j, nil
}

// ParseOverride applies the override file data (read from path) to a copy
// of base and returns the copy: single-valued stanzas replace base's
// values, list stanzas (env, export, emits, normal exit, cgroup, limit per
// resource, import, tmpfiles) add to them.
//
// On error base is left as it was and the error is returned. This is what
// init(5) documents ("the override is ignored"); Upstart's code instead
// keeps whatever the override's stanzas before the bad line had changed.
func ParseOverride(base *Job, path string, data []byte) (*Job, error) {
	j := base.Clone()
	if err := parseInto(j, path, data); err != nil {
		return nil, err
	}
	if base.StartOn != nil && j.StartOn == nil {
		j.ManualBy = path
	}
	return j, nil
}

func parseInto(j *Job, path string, data []byte) error {
	if len(data) > MaxFileSize {
		return &Error{Path: path, Msg: fmt.Sprintf("File too large (more than %d bytes)", MaxFileSize)}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return &Error{Path: path, Line: 1 + bytes.Count(data[:i], []byte{'\n'}), Msg: "Illegal NUL byte in file"}
	}
	p := &parser{lexer: lexer{path: path, data: data, line: 1}, job: j}
	for p.pos < len(p.data) {
		for p.pos < len(p.data) && in(p.data[p.pos], chWS) {
			p.pos++
		}
		if !p.hasToken() {
			p.nextLine()
			continue
		}
		kw, err := p.word()
		if err != nil {
			return err
		}
		fn, ok := stanzas[kw.text]
		if !ok {
			return p.errAt(kw.line, "Unknown stanza")
		}
		if err := fn(p, kw.line); err != nil {
			return err
		}
	}
	return nil
}

type parser struct {
	lexer
	job *Job
}

var stanzas map[string]func(p *parser, line int) error

func init() {
	stanzas = map[string]func(p *parser, line int) error{
		"instance":    oneArg(func(j *Job, v string) { j.Instance = v }),
		"description": oneArg(func(j *Job, v string) { j.Description = v }),
		"author":      oneArg(func(j *Job, v string) { j.Author = v }),
		"version":     oneArg(func(j *Job, v string) { j.Version = v }),
		"usage":       oneArg(func(j *Job, v string) { j.Usage = v }),
		"chroot":      oneArg(func(j *Job, v string) { j.Chroot = v }),
		"chdir":       oneArg(func(j *Job, v string) { j.Chdir = v }),
		"setuid":      oneArg(func(j *Job, v string) { j.Setuid = v }),
		"setgid":      oneArg(func(j *Job, v string) { j.Setgid = v }),
		"env":         capped(func(j *Job) int { return len(j.Env) }, oneArg(func(j *Job, v string) { j.Env = append(j.Env, v) })),
		"export":      capped(func(j *Job) int { return len(j.Export) }, listArgs(func(j *Job, v []string) { j.Export = append(j.Export, v...) })),
		"emits":       listArgs(func(j *Job, v []string) { j.Emits = append(j.Emits, v...) }),
		// import KEY… (Chromium OS): see stanzaImport.
		"import":   stanzaImport,
		"tmpfiles": listArgs(func(j *Job, v []string) { j.Tmpfiles = append(j.Tmpfiles, v...) }),
		"start":    func(p *parser, _ int) error { return p.on(&p.job.StartOn) },
		"stop":     func(p *parser, _ int) error { return p.on(&p.job.StopOn) },
		"manual": func(p *parser, _ int) error {
			p.job.StartOn = nil
			return p.skipComment()
		},
		"task":       flag(func(j *Job) { j.Task = true }),
		"debug":      flag(func(j *Job) { j.Debug = true }),
		"exec":       func(p *parser, line int) error { return p.exec(Main, line) },
		"script":     func(p *parser, line int) error { return p.script(Main, line) },
		"pre-start":  process(PreStart),
		"post-start": process(PostStart),
		"pre-stop":   process(PreStop),
		"post-stop":  process(PostStop),
		"expect":     stanzaExpect,
		"action":     stanzaAction,
		"respawn":    stanzaRespawn,
		"normal":     stanzaNormal,
		"kill":       stanzaKill,
		"reload":     stanzaReload,
		"console":    stanzaConsole,
		"umask":      stanzaUmask,
		"nice":       stanzaNice,
		"oom":        stanzaOOM,
		"limit":      stanzaLimit,
		"apparmor":   stanzaApparmor,
		"cgroup":     stanzaCgroup,
		"watchdog":   stanzaWatchdog,
		"pid":        stanzaPid,
	}
}

func oneArg(set func(*Job, string)) func(*parser, int) error {
	return func(p *parser, _ int) error {
		t, err := p.arg()
		if err != nil {
			return err
		}
		set(p.job, t.text)
		return p.skipComment()
	}
}

// capped refuses a stanza once the list count returns holds
// environ.MaxEntries entries (a job's environment is bounded like an
// event's).
func capped(count func(*Job) int, parse func(*parser, int) error) func(*parser, int) error {
	return func(p *parser, line int) error {
		if err := parse(p, line); err != nil {
			return err
		}
		if count(p.job) > environ.MaxEntries {
			return p.errAt(line, fmt.Sprintf("Too many entries (at most %d)", environ.MaxEntries))
		}
		return nil
	}
}

func listArgs(add func(*Job, []string)) func(*parser, int) error {
	return func(p *parser, _ int) error {
		if !p.hasToken() {
			return p.err("Expected token")
		}
		v, err := p.args()
		if err != nil {
			return err
		}
		add(p.job, v)
		return nil
	}
}

func flag(set func(*Job)) func(*parser, int) error {
	return func(p *parser, _ int) error {
		set(p.job)
		return p.skipComment()
	}
}

// stanzaImport handles `import KEY…` (Chromium OS's Upstart, the
// import-env patch, crbug.com/818032): one or more variable names per
// stanza, accumulated over all stanzas (and added to by an override).
//
// The rule it declares: a variable from the environment of the event that
// starts or stops the job, or of a start/stop/restart request, reaches
// the job only if its name is listed in an `import` stanza (exact name,
// no globs); everything else is dropped (Chromium OS logs "Ignoring
// environment variable"). Variables that init itself provides — JOB,
// INSTANCE, RESULT, PROCESS, EXIT_STATUS, EXIT_SIGNAL and anything whose
// name starts with UPSTART_ — are not subject to import: init still sets
// them, and events or requests can never override them even when listed.
// The job's own `env` defaults are unaffected. Applying the rule belongs
// to the job package; conf only records the names.
func stanzaImport(p *parser, _ int) error {
	if !p.hasToken() {
		return p.err("Expected token")
	}
	v, err := p.args()
	if err != nil {
		return err
	}
	p.job.Import = append(p.job.Import, v...)
	return nil
}

// on parses the rest of a `start on` / `stop on` stanza.
// condition parses the rest of the stanza as a `start on`-style
// condition, blaming errors on the line the condition parser names.
func (p *parser) condition() (*cond.Node, error) {
	toks, err := p.condTokens()
	if err != nil {
		return nil, err
	}
	n, err := cond.Parse(toks)
	if err != nil {
		if pe, ok := err.(*cond.ParseError); ok {
			line := pe.Line
			if line == 0 {
				line = p.line
			}
			return nil, p.errAt(line, pe.Msg)
		}
		return nil, p.err(err.Error())
	}
	return n, nil
}

func (p *parser) on(dst **cond.Node) error {
	kw, err := p.word()
	if err != nil {
		return err
	}
	if kw.text != "on" {
		return p.errAt(kw.line, "Unknown stanza")
	}
	n, err := p.condition()
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

// condTokens reads the tokens of a condition: up to the end of the line,
// or while parentheses are open, over several lines, each of which may
// end in a comment. As in Upstart, a blank or comment-only line inside
// the parentheses is an error ("Expected token").
func (p *parser) condTokens() ([]cond.Token, error) {
	var toks []cond.Token
	depth := 0
	for {
		p.skipWS()
		for {
			if p.pos < len(p.data) && (p.data[p.pos] == '(' || p.data[p.pos] == ')') {
				c := p.data[p.pos]
				if c == '(' {
					depth++
				} else {
					depth--
				}
				toks = append(toks, cond.Token{Text: string(c), Line: p.line})
				p.pos++
				p.skipWS()
			} else {
				t, err := p.next("()"+chCNLWS, true)
				if err != nil {
					return nil, err
				}
				toks = append(toks, cond.Token{Text: t.text, Line: t.line, Quoted: t.quoted})
			}
			if !p.hasToken() {
				break
			}
		}
		if err := p.skipComment(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.data) || depth <= 0 {
			return toks, nil
		}
	}
}

func (p *parser) exec(pt ProcessType, line int) error {
	if !p.hasToken() {
		return p.err("Expected token")
	}
	cmd, err := p.command()
	if err != nil {
		return err
	}
	p.job.Process[pt] = &Process{Command: cmd, Line: line}
	return nil
}

func (p *parser) script(pt ProcessType, line int) error {
	if err := p.skipComment(); err != nil {
		return err
	}
	body, err := p.block("script")
	if err != nil {
		return err
	}
	p.job.Process[pt] = &Process{Script: true, Command: body, Line: line}
	return nil
}

func process(pt ProcessType) func(*parser, int) error {
	return func(p *parser, line int) error {
		kw, err := p.word()
		if err != nil {
			return err
		}
		switch kw.text {
		case "exec":
			return p.exec(pt, line)
		case "script":
			return p.script(pt, line)
		}
		return p.errAt(kw.line, "Unknown stanza")
	}
}

func stanzaExpect(p *parser, _ int) error {
	t, err := p.arg()
	if err != nil {
		return err
	}
	if t.text != "timeout" {
		// A later expect stanza replaces an earlier one.
		p.job.ExpectOn, p.job.ExpectWatch = nil, nil
	}
	switch t.text {
	case "event", "notify", "fd", "file", "socket", "dbus":
		return p.expectReady(t.text)
	case "stop":
		p.job.Expect, p.job.ExpectExits = ExpectStop, 0
	case "daemon":
		p.job.Expect, p.job.ExpectExits = ExpectDaemon, 2
	case "fork":
		p.job.Expect, p.job.ExpectExits = ExpectFork, 1
	case "none":
		p.job.Expect, p.job.ExpectExits = ExpectNone, 0
	case "exit", "timeout":
		// Our extensions: `expect exit N` counts exits of the main
		// process tree (the 2011 plan's stage 1); `expect timeout SECONDS`
		// bounds the wait for readiness.
		v, err := p.arg()
		if err != nil {
			return err
		}
		if t.text == "timeout" {
			d, ok := seconds(v.text)
			if !ok || d <= 0 {
				return p.errAt(v.line, errInterval)
			}
			p.job.ExpectTimeout = d
			break
		}
		n, ok := decimal(v.text)
		if !ok || n < 1 || n > 1000 {
			return p.errAt(v.line, "Illegal exit count, expected 1 to 1000")
		}
		p.job.Expect, p.job.ExpectExits = ExpectExit, int(n)
	default:
		return p.errAt(t.line, "Unknown stanza")
	}
	return p.skipComment()
}

// stanzaAction parses `action NAME exec COMMAND` or `action NAME script`
// … `end script`: a custom process type (LP #94873), tracked like the
// others. A later definition of the same name replaces the earlier one.
func stanzaAction(p *parser, line int) error {
	name, err := p.word()
	if err != nil {
		return err
	}
	if !validActionName(name.text) {
		return p.errAt(name.line, "Illegal action name, expected letters, digits, '-' or '_'")
	}
	kw, err := p.word()
	if err != nil {
		return err
	}
	// Parse into a scratch process slot, then move it to the action.
	saved := p.job.Process[Main]
	switch kw.text {
	case "exec":
		err = p.exec(Main, line)
	case "script":
		err = p.script(Main, line)
	default:
		return p.errAt(kw.line, "Unknown stanza")
	}
	proc := p.job.Process[Main]
	p.job.Process[Main] = saved
	if err != nil {
		return err
	}
	for i, a := range p.job.Actions {
		if a.Name == name.text {
			p.job.Actions[i].Process = proc
			return nil
		}
	}
	p.job.Actions = append(p.job.Actions, Action{Name: name.text, Process: proc})
	return nil
}

// validActionName keeps action names usable as process names, cgroup
// components and PROCESS= values, and distinct from the five built-in
// process types.
func validActionName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for t := Main; t < NumProcessTypes; t++ {
		if s == t.String() {
			return false
		}
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

const (
	errInterval = "Illegal interval, expected number of seconds"
	errLimit    = "Illegal limit, expected 'unlimited' or integer"
	errExit     = "Illegal exit status, expected integer"
	errSignal   = "Illegal signal status, expected integer"
	errUmask    = "Illegal file creation mask, expected octal integer"
	errNice     = "Illegal nice value, expected -20 to 19"
	errOOM      = "Illegal oom adjustment, expected -16 to 15 or 'never'"
	errOOMScore = "Illegal oom score adjustment, expected -999 to 1000 or 'never'"
)

// decimal parses a plain decimal integer (optional sign, digits only).
func decimal(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// seconds parses a non-negative number of seconds.
func seconds(s string) (time.Duration, bool) {
	v, ok := decimal(s)
	if !ok || v < 0 || v > math.MaxInt64/int64(time.Second) {
		return 0, false
	}
	return time.Duration(v) * time.Second, true
}

func stanzaRespawn(p *parser, _ int) error {
	if !p.hasToken() {
		p.job.Respawn = true
		return p.skipComment()
	}
	kw, err := p.word()
	if err != nil {
		return err
	}
	if kw.text != "limit" {
		return p.errAt(kw.line, "Unknown stanza")
	}
	t, err := p.arg()
	if err != nil {
		return err
	}
	if t.text == "unlimited" {
		p.job.RespawnLimit, p.job.RespawnInterval = 0, 0
		return p.skipComment()
	}
	n, ok := decimal(t.text)
	if !ok || n < 0 || n > math.MaxInt32 {
		return p.errAt(t.line, errLimit)
	}
	t, err = p.arg()
	if err != nil {
		return err
	}
	d, ok := seconds(t.text)
	if !ok {
		return p.errAt(t.line, errInterval)
	}
	p.job.RespawnLimit, p.job.RespawnInterval = int(n), d
	return p.skipComment()
}

func stanzaNormal(p *parser, _ int) error {
	kw, err := p.word()
	if err != nil {
		return err
	}
	if kw.text != "exit" {
		return p.errAt(kw.line, "Unknown stanza")
	}
	for {
		t, err := p.arg()
		if err != nil {
			return err
		}
		if sig, ok := SignalByName(t.text); ok {
			p.job.NormalExit = append(p.job.NormalExit, sig<<8)
		} else {
			v, ok := decimal(t.text)
			if !ok || v < 0 || v > math.MaxInt32 {
				return p.errAt(t.line, errExit)
			}
			p.job.NormalExit = append(p.job.NormalExit, int(v))
		}
		if !p.hasToken() {
			break
		}
	}
	return p.skipComment()
}

// signalArg parses a signal given by name (TERM or SIGTERM) or number.
func (p *parser) signalArg() (int, error) {
	t, err := p.arg()
	if err != nil {
		return 0, err
	}
	if sig, ok := SignalByName(t.text); ok {
		return sig, nil
	}
	v, ok := decimal(t.text)
	if !ok || v < 0 || v > 64 {
		return 0, p.errAt(t.line, errSignal)
	}
	return int(v), nil
}

func stanzaKill(p *parser, _ int) error {
	kw, err := p.word()
	if err != nil {
		return err
	}
	switch kw.text {
	case "timeout":
		t, err := p.arg()
		if err != nil {
			return err
		}
		d, ok := seconds(t.text)
		if !ok {
			return p.errAt(t.line, errInterval)
		}
		p.job.KillTimeout = d
	case "signal":
		sig, err := p.signalArg()
		if err != nil {
			return err
		}
		p.job.KillSignal = sig
	default:
		return p.errAt(kw.line, "Unknown stanza")
	}
	return p.skipComment()
}

// stanzaPid handles `pid file PATH` (ours): where a daemon that re-forks
// names its new leader. PATH is absolute, or starts with a $VAR expanded
// from the instance's environment when the main process hands over.
func stanzaPid(p *parser, _ int) error {
	kw, err := p.word()
	if err != nil {
		return err
	}
	if kw.text != "file" {
		return p.errAt(kw.line, "Unknown stanza")
	}
	v, err := p.arg()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(v.text, "/") && !strings.HasPrefix(v.text, "$") {
		return p.errAt(v.line, "Illegal path, expected an absolute path")
	}
	p.job.PidFile = v.text
	return p.skipComment()
}

func stanzaReload(p *parser, _ int) error {
	kw, err := p.word()
	if err != nil {
		return err
	}
	if kw.text != "signal" {
		return p.errAt(kw.line, "Unknown stanza")
	}
	sig, err := p.signalArg()
	if err != nil {
		return err
	}
	p.job.ReloadSignal = sig
	return p.skipComment()
}

func stanzaConsole(p *parser, _ int) error {
	t, err := p.arg()
	if err != nil {
		return err
	}
	p.job.LogPipe = false
	switch t.text {
	case "log":
		p.job.Console = ConsoleLog
		// `console log pipe` (our extension): through a pipe, not a pty.
		if p.hasToken() {
			m, err := p.arg()
			if err != nil {
				return err
			}
			if m.text != "pipe" {
				return p.errAt(m.line, "Unexpected token")
			}
			p.job.LogPipe = true
		}
	case "none":
		p.job.Console = ConsoleNone
	case "output":
		p.job.Console = ConsoleOutput
	case "owner":
		p.job.Console = ConsoleOwner
	default:
		return p.errAt(t.line, "Unknown stanza")
	}
	return p.skipComment()
}

func stanzaUmask(p *parser, _ int) error {
	t, err := p.arg()
	if err != nil {
		return err
	}
	v, err := strconv.ParseUint(t.text, 8, 32)
	if err != nil || v > 0777 {
		return p.errAt(t.line, errUmask)
	}
	m := uint32(v)
	p.job.Umask = &m
	return p.skipComment()
}

func stanzaNice(p *parser, _ int) error {
	t, err := p.arg()
	if err != nil {
		return err
	}
	v, ok := decimal(t.text)
	if !ok || v < -20 || v > 19 {
		return p.errAt(t.line, errNice)
	}
	n := int(v)
	p.job.Nice = &n
	return p.skipComment()
}

// stanzaOOM handles `oom score N|never` (-1000..1000, never = -1000) and
// the legacy `oom N|never` on the old oom_adj scale (-17..15), converted
// to the oom_score_adj scale as Upstart does (N*1000/17 below zero, N*1000/15
// above).
func stanzaOOM(p *parser, _ int) error {
	t, err := p.arg()
	if err != nil {
		return err
	}
	var score int
	switch t.text {
	case "score":
		t, err = p.arg()
		if err != nil {
			return err
		}
		if t.text == "never" {
			score = -1000
		} else {
			v, ok := decimal(t.text)
			if !ok || v < -1000 || v > 1000 {
				return p.errAt(t.line, errOOMScore)
			}
			score = int(v)
		}
	case "never":
		score = -1000
	default:
		v, ok := decimal(t.text)
		if !ok || v < -17 || v > 15 {
			return p.errAt(t.line, errOOM)
		}
		if v < 0 {
			score = int(v * 1000 / 17)
		} else {
			score = int(v * 1000 / 15)
		}
	}
	p.job.OOMScore = &score
	return p.skipComment()
}

// Resources maps `limit` resource names to RLIMIT_* numbers.
var Resources = map[string]int{
	"as":         unix.RLIMIT_AS,
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// Unlimited is RLIM_INFINITY.
const Unlimited = ^uint64(0)

func (p *parser) limitValue() (uint64, error) {
	t, err := p.arg()
	if err != nil {
		return 0, err
	}
	if t.text == "unlimited" {
		return Unlimited, nil
	}
	v, err := strconv.ParseUint(t.text, 10, 64)
	if err != nil {
		return 0, p.errAt(t.line, errLimit)
	}
	return v, nil
}

// stanzaLimit handles `limit RES SOFT HARD`; a later stanza for the same
// resource replaces the earlier one.
func stanzaLimit(p *parser, _ int) error {
	t, err := p.arg()
	if err != nil {
		return err
	}
	res, ok := Resources[t.text]
	if !ok {
		return p.errAt(t.line, "Unknown stanza")
	}
	soft, err := p.limitValue()
	if err != nil {
		return err
	}
	hard, err := p.limitValue()
	if err != nil {
		return err
	}
	l := Limit{Resource: res, Soft: soft, Hard: hard}
	replaced := false
	for i := range p.job.Limits {
		if p.job.Limits[i].Resource == res {
			p.job.Limits[i], replaced = l, true
		}
	}
	if !replaced {
		p.job.Limits = append(p.job.Limits, l)
	}
	return p.skipComment()
}

func stanzaApparmor(p *parser, _ int) error {
	kw, err := p.word()
	if err != nil {
		return err
	}
	var dst *string
	switch kw.text {
	case "load":
		dst = &p.job.ApparmorLoad
	case "switch":
		dst = &p.job.ApparmorSwitch
	default:
		return p.errAt(kw.line, "Unknown stanza")
	}
	t, err := p.arg()
	if err != nil {
		return err
	}
	*dst = t.text
	return p.skipComment()
}

// stanzaCgroup handles `cgroup CONTROLLER [NAME] [KEY VALUE]`: 1 argument
// is the controller, 2 controller and name, 3 controller, key and value, 4
// all of them. An empty Name means the default cgroup name. A later stanza
// with the same controller, name and key replaces the value.
func stanzaCgroup(p *parser, _ int) error {
	var args []string
	for len(args) < 4 {
		t, err := p.arg()
		if err != nil {
			return err
		}
		args = append(args, t.text)
		if !p.hasToken() {
			break
		}
	}
	var c Cgroup
	switch len(args) {
	case 1:
		c.Controller = args[0]
	case 2:
		c.Controller, c.Name = args[0], args[1]
	case 3:
		c.Controller, c.Key, c.Value = args[0], args[1], args[2]
	case 4:
		c.Controller, c.Name, c.Key, c.Value = args[0], args[1], args[2], args[3]
	}
	for i, o := range p.job.Cgroups {
		if o.Controller == c.Controller && o.Name == c.Name && o.Key == c.Key {
			p.job.Cgroups[i] = c
			return p.skipComment()
		}
	}
	p.job.Cgroups = append(p.job.Cgroups, c)
	return p.skipComment()
}

func cloneNode(n *cond.Node) *cond.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Left = cloneNode(n.Left)
	c.Right = cloneNode(n.Right)
	if n.Args != nil {
		c.Args = append([]string(nil), n.Args...)
	}
	return &c
}

// StanzaKeywords returns the first word of every stanza the parser
// accepts, sorted (the documentation tests check each is in init(5)).
func StanzaKeywords() []string {
	kw := make([]string, 0, len(stanzas))
	for k := range stanzas {
		kw = append(kw, k)
	}
	sort.Strings(kw)
	return kw
}
