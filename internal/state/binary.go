package state

// Format 4: the document in a compact binary form, which a re-exec
// passes (JSON, formats 1–3, is still read, and still what GetState
// answers). It exists for speed: with a thousand running jobs the new
// image spent about 10 ms decoding JSON before it could answer, and this
// takes about a tenth of that.
//
// Layout: the magic "\x00GUS" (no JSON text starts with a NUL byte), the
// format as a uvarint, then the Document as a struct. A struct is a run
// of fields, each its tag (a uvarint, fixed per field below; never
// reused) and its value, ended by the tag 0; a field at its zero value is
// left out, and a tag the reader does not know is an error (a newer
// writer bumps the format, which the reader refuses as ErrNewer). Values:
// integers as (zigzag) varints, strings and byte strings as a uvarint
// length and the bytes, a bool is its tag alone, a list is a uvarint
// count and its elements, a time is its Unix seconds and nanoseconds, a
// map is a count and its pairs in key order (so that a document encodes
// to the same bytes again). Environment lists are shared as in format 3
// (Engine.Envs, by reference); conditions are written flat in post-order
// as in format 2, so that reading one needs no recursion.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
)

// magic starts a binary document.
const magic = "\x00GUS"

// IsBinary says whether b is a binary document (format 4 or later).
func IsBinary(b []byte) bool { return len(b) >= len(magic) && string(b[:len(magic)]) == magic }

type enc struct{ b []byte }

func (e *enc) tag(t uint64) { e.b = binary.AppendUvarint(e.b, t) }
func (e *enc) uv(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) v(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) raw(s string) { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) end()         { e.b = append(e.b, 0) }
func (e *enc) rawStrs(l []string) {
	e.uv(uint64(len(l)))
	for _, s := range l {
		e.raw(s)
	}
}

func (e *enc) str(t uint64, s string) {
	if s != "" {
		e.tag(t)
		e.raw(s)
	}
}

func (e *enc) bytes(t uint64, b []byte) {
	if len(b) > 0 {
		e.tag(t)
		e.uv(uint64(len(b)))
		e.b = append(e.b, b...)
	}
}

func (e *enc) int(t uint64, v int64) {
	if v != 0 {
		e.tag(t)
		e.v(v)
	}
}

func (e *enc) uint(t uint64, v uint64) {
	if v != 0 {
		e.tag(t)
		e.uv(v)
	}
}

func (e *enc) bool(t uint64, v bool) {
	if v {
		e.tag(t)
	}
}

func (e *enc) strs(t uint64, l []string) {
	if len(l) > 0 {
		e.tag(t)
		e.rawStrs(l)
	}
}

func (e *enc) ints(t uint64, l []int) {
	if len(l) > 0 {
		e.tag(t)
		e.uv(uint64(len(l)))
		for _, v := range l {
			e.v(int64(v))
		}
	}
}

func (e *enc) time(t uint64, tm time.Time) {
	if !tm.IsZero() {
		e.tag(t)
		e.v(tm.Unix())
		e.uv(uint64(tm.Nanosecond()))
	}
}

func (e *enc) strInts(t uint64, m map[string]int) {
	if len(m) == 0 {
		return
	}
	e.tag(t)
	e.uv(uint64(len(m)))
	if len(m) == 1 {
		for k, v := range m {
			e.raw(k)
			e.v(int64(v))
		}
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.raw(k)
		e.v(int64(m[k]))
	}
}

func (e *enc) intStrs(t uint64, m map[int]string) {
	if len(m) == 0 {
		return
	}
	e.tag(t)
	e.uv(uint64(len(m)))
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.v(int64(k))
		e.raw(m[k])
	}
}

func (e *enc) cond(t uint64, n *cond.Node) {
	if n == nil {
		return
	}
	e.tag(t)
	count := 0
	var walk func(n *cond.Node)
	walk = func(n *cond.Node) {
		count++
		if n.Op == cond.And || n.Op == cond.Or {
			walk(n.Left)
			walk(n.Right)
		}
	}
	walk(n)
	e.uv(uint64(count))
	var put func(n *cond.Node)
	put = func(n *cond.Node) {
		switch n.Op {
		case cond.And, cond.Or:
			put(n.Left)
			put(n.Right)
			e.uv(uint64(n.Op)) // never 0 (Match)
		default:
			e.uv(0)
			e.raw(n.Name)
			e.rawStrs(n.Args)
		}
	}
	put(n)
}

func (e *enc) latches(t uint64, l []Latch) {
	if len(l) == 0 {
		return
	}
	e.tag(t)
	e.uv(uint64(len(l)))
	for _, x := range l {
		e.int(1, int64(x.Operand))
		e.int(2, int64(x.Event))
		e.bool(3, x.Held)
		e.end()
	}
}

func (e *enc) exit(x Exit) {
	e.str(1, x.Type)
	e.str(2, x.Name)
	e.uint(3, uint64(x.Status))
	e.bool(4, x.SpawnErr)
	e.bool(5, x.Set)
	e.end()
}

func (e *enc) process(p *conf.Process) {
	e.bool(1, p.Script)
	e.str(2, p.Command)
	e.int(3, int64(p.Line))
	e.end()
}

func (e *enc) job(j *conf.Job) {
	e.str(1, j.Name)
	e.str(2, j.Path)
	e.str(3, j.Description)
	e.str(4, j.Author)
	e.str(5, j.Version)
	e.str(6, j.Usage)
	e.cond(7, j.StartOn)
	e.cond(8, j.StopOn)
	e.strs(9, j.Emits)
	e.str(10, j.Instance)
	for k, p := range j.Process {
		if p != nil {
			e.tag(11)
			e.uv(uint64(k))
			e.process(p)
		}
	}
	e.bool(12, j.Task)
	e.bool(13, j.Respawn)
	e.int(14, int64(j.RespawnLimit))
	e.int(15, int64(j.RespawnInterval))
	e.ints(16, j.NormalExit)
	e.int(17, int64(j.Expect))
	e.int(18, int64(j.ExpectExits))
	e.int(19, int64(j.ExpectTimeout))
	e.int(20, int64(j.KillTimeout))
	e.int(21, int64(j.KillSignal))
	e.int(22, int64(j.ReloadSignal))
	e.cond(23, j.ExpectOn)
	e.strs(24, j.ExpectWatch)
	e.str(25, j.PidFile)
	e.int(26, int64(j.Watchdog))
	e.int(27, int64(j.Console))
	e.bool(28, j.LogPipe)
	e.strs(29, j.Env)
	e.strs(30, j.Export)
	if j.Umask != nil {
		e.tag(31)
		e.uv(uint64(*j.Umask))
	}
	if j.Nice != nil {
		e.tag(32)
		e.v(int64(*j.Nice))
	}
	if j.OOMScore != nil {
		e.tag(33)
		e.v(int64(*j.OOMScore))
	}
	if len(j.Limits) > 0 {
		e.tag(34)
		e.uv(uint64(len(j.Limits)))
		for _, l := range j.Limits {
			e.int(1, int64(l.Resource))
			e.uint(2, l.Soft)
			e.uint(3, l.Hard)
			e.end()
		}
	}
	e.str(35, j.Chroot)
	e.str(36, j.Chdir)
	e.str(37, j.Setuid)
	e.str(38, j.Setgid)
	e.str(39, j.ApparmorLoad)
	e.str(40, j.ApparmorSwitch)
	if len(j.Cgroups) > 0 {
		e.tag(41)
		e.uv(uint64(len(j.Cgroups)))
		for _, c := range j.Cgroups {
			e.str(1, c.Controller)
			e.str(2, c.Name)
			e.str(3, c.Key)
			e.str(4, c.Value)
			e.end()
		}
	}
	e.bool(42, j.Debug)
	if len(j.Actions) > 0 {
		e.tag(43)
		e.uv(uint64(len(j.Actions)))
		for _, a := range j.Actions {
			e.str(1, a.Name)
			if a.Process != nil {
				e.tag(2)
				e.process(a.Process)
			}
			e.end()
		}
	}
	e.str(44, j.ManualBy)
	e.strs(45, j.Import)
	e.strs(46, j.Tmpfiles)
	e.end()
}

// instance writes in with the references of its three environment
// lists.
func (e *enc) instance(in *Instance, env, startEnv, stopEnv int64) {
	e.str(1, in.Name)
	e.int(2, int64(in.Def))
	e.str(3, in.Goal)
	e.str(4, in.State)
	e.int(5, env)
	e.int(6, startEnv)
	e.int(7, stopEnv)
	e.latches(8, in.Stop)
	e.strInts(9, in.Pids)
	e.int(10, int64(in.AuxPid))
	e.int(11, int64(in.Hook))
	e.ints(12, in.Holding)
	e.bool(13, in.Failed)
	if in.Failure != (Exit{}) {
		e.tag(14)
		e.exit(in.Failure)
	}
	if in.LastMain != (Exit{}) {
		e.tag(15)
		e.exit(in.LastMain)
	}
	if in.DeferredMain != nil {
		e.tag(16)
		e.exit(*in.DeferredMain)
	}
	e.int(17, int64(in.RespawnCount))
	e.time(18, in.RespawnTime)
	e.time(19, in.KillDeadline)
	e.time(20, in.ExpectDeadline)
	e.int(21, int64(in.ExpectExits))
	if len(in.Members) > 0 {
		e.tag(22)
		e.uv(uint64(len(in.Members)))
		for _, m := range in.Members {
			e.int(1, int64(m.Pid))
			e.str(2, m.Name)
			e.end()
		}
	}
	e.intStrs(23, in.Sessions)
	e.strInts(24, in.ActionPids)
	if r := in.Ready; r != nil {
		e.tag(25)
		e.uint(1, r.ID)
		e.bool(2, r.Waiting)
		e.latches(3, r.Latches)
		e.str(4, r.Status)
		e.int(5, int64(r.Errno))
		e.bool(6, r.Reloading)
		e.bool(7, r.Stopping)
		e.int(8, int64(r.Watchdog))
		e.time(9, r.WatchdogDeadline)
		e.end()
	}
	e.ints(26, in.FDs)
	e.end()
}

// encodeBinary writes d in format 4. The environment lists are shared as
// shareEnvs does, without copying the document: their references are
// worked out first, in the order the encoder then meets them.
func encodeBinary(d *Document) []byte {
	var x envIndex
	var refs []int
	for k := range d.Engine.Events {
		refs = append(refs, x.ref(d.Engine.Events[k].Env))
	}
	for k := range d.Engine.Classes {
		for j := range d.Engine.Classes[k].Instances {
			in := &d.Engine.Classes[k].Instances[j]
			refs = append(refs, x.ref(in.Env), x.ref(in.StartEnv), x.ref(in.StopEnv))
		}
	}
	take := func() int64 {
		r := refs[0]
		refs = refs[1:]
		return int64(r)
	}

	e := &enc{b: make([]byte, 0, 64<<10)}
	e.b = append(e.b, magic...)
	e.uv(Version)
	e.time(1, d.Written)

	e.tag(2)
	e.int(1, int64(d.Daemon.ListenerFD))
	e.str(2, d.Daemon.BusAddress)
	e.str(3, d.Daemon.LogPriority)
	e.int(5, int64(d.Daemon.CgroupInotifyFD))
	if l := d.Daemon.PidTracked; len(l) > 0 {
		e.tag(4)
		e.uv(uint64(len(l)))
		for _, r := range l {
			e.str(1, r.Job)
			e.str(2, r.Instance)
			e.end()
		}
	}
	e.end()

	g := &d.Engine
	e.tag(3)
	e.strs(1, g.Env)
	if len(g.Defs) > 0 {
		e.tag(2)
		e.uv(uint64(len(g.Defs)))
		for _, j := range g.Defs {
			if j == nil {
				e.uv(0)
				continue
			}
			e.uv(1)
			e.job(j)
		}
	}
	if len(g.Events) > 0 {
		e.tag(3)
		e.uv(uint64(len(g.Events)))
		for k := range g.Events {
			ev := &g.Events[k]
			e.str(1, ev.Name)
			e.int(2, take())
			e.bool(3, ev.Queued)
			e.str(4, ev.Progress)
			e.bool(5, ev.Failed)
			e.int(6, int64(ev.Blockers))
			e.int(7, int64(ev.FD))
			e.end()
		}
	}
	if len(g.Classes) > 0 {
		e.tag(4)
		e.uv(uint64(len(g.Classes)))
		for k := range g.Classes {
			c := &g.Classes[k]
			e.str(1, c.Name)
			e.int(2, int64(c.Def))
			e.int(3, int64(c.Next))
			e.bool(4, c.Deleted)
			e.latches(5, c.Start)
			if len(c.Instances) > 0 {
				e.tag(6)
				e.uv(uint64(len(c.Instances)))
				for j := range c.Instances {
					e.instance(&c.Instances[j], take(), take(), take())
				}
			}
			e.end()
		}
	}
	e.bool(5, g.RespawnDisabled)
	e.uint(6, g.ReadyNextID)
	if len(x.envs) > 0 {
		e.tag(7)
		e.uv(uint64(len(x.envs)))
		for _, l := range x.envs {
			e.rawStrs(l)
		}
	}
	e.end()

	e.bytes(4, d.Logger)
	if len(d.Reaped) > 0 {
		e.tag(5)
		e.uv(uint64(len(d.Reaped)))
		for _, r := range d.Reaped {
			e.int(1, int64(r.Pid))
			e.uint(2, uint64(r.Status))
			e.str(3, r.SpawnErr)
			e.bool(4, r.Orphan)
			e.str(5, r.Cgroup)
			e.bool(6, r.Stopped)
			e.end()
		}
	}
	e.bytes(6, d.Ready)
	e.end()
	return e.b
}

// dec reads a binary document. The first error sticks: every read after
// it returns zero values, and the caller checks err once per loop.
type dec struct {
	s   string // the document (one copy: every string read shares it)
	off int
	err error
	// where names the struct being read, for errors.
	where string
}

var errShort = errors.New("truncated")

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%s, at byte %d: %w", d.where, d.off, err)
	}
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for k := 0; ; k++ {
		if d.off >= len(d.s) {
			d.fail(errShort)
			return 0
		}
		c := d.s[d.off]
		d.off++
		if k == binary.MaxVarintLen64-1 && c > 1 {
			d.fail(errors.New("varint overflows 64 bits"))
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
		shift += 7
	}
}

func (d *dec) v() int64 {
	u := d.uv()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// int reads a varint that must fit an int (and an int32, for fields that
// are one on some platform: pids, fds, indexes).
func (d *dec) int() int {
	x := d.v()
	if x < math.MinInt32 || x > math.MaxInt32 {
		d.fail(fmt.Errorf("integer %d out of range", x))
		return 0
	}
	return int(x)
}

func (d *dec) u32() uint32 {
	x := d.uv()
	if x > math.MaxUint32 {
		d.fail(fmt.Errorf("integer %d out of range", x))
		return 0
	}
	return uint32(x)
}

// count reads a length; each element takes at least one byte, so a count
// beyond the bytes left is refused before anything is allocated for it.
func (d *dec) count() int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.s)-d.off) {
		d.fail(fmt.Errorf("count %d beyond the %d bytes left", n, len(d.s)-d.off))
		return 0
	}
	return int(n)
}

func (d *dec) raw() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

func (d *dec) strs() []string {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	l := make([]string, n)
	for k := range l {
		l[k] = d.raw()
	}
	return l
}

func (d *dec) ints() []int {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	l := make([]int, n)
	for k := range l {
		l[k] = d.int()
	}
	return l
}

func (d *dec) time() time.Time {
	sec := d.v()
	ns := d.uv()
	if ns >= 1e9 {
		d.fail(fmt.Errorf("nanoseconds %d", ns))
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(ns))
}

func (d *dec) strInts() map[string]int {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	m := make(map[string]int, n)
	for ; n > 0 && d.err == nil; n-- {
		k := d.raw()
		m[k] = d.int()
	}
	return m
}

func (d *dec) intStrs() map[int]string {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	m := make(map[int]string, n)
	for ; n > 0 && d.err == nil; n-- {
		k := d.int()
		m[k] = d.raw()
	}
	return m
}

// cond reads a condition written flat in post-order, with a stack: no
// recursion however deep the tree.
func (d *dec) cond() *cond.Node {
	n := d.count()
	var stack []*cond.Node
	for ; n > 0 && d.err == nil; n-- {
		switch op := cond.Op(d.uv()); op {
		case cond.Match:
			m := &cond.Node{Op: cond.Match, Name: d.raw()}
			if args := d.strs(); len(args) > 0 {
				m.Args = args
			}
			stack = append(stack, m)
		case cond.And, cond.Or:
			if len(stack) < 2 {
				d.fail(errors.New("condition: operator without two operands"))
				return nil
			}
			l, r := stack[len(stack)-2], stack[len(stack)-1]
			stack = append(stack[:len(stack)-2], &cond.Node{Op: op, Left: l, Right: r})
		default:
			d.fail(fmt.Errorf("condition: unknown operator %d", op))
		}
	}
	if d.err == nil && len(stack) != 1 {
		d.fail(errors.New("condition: the flat form does not describe a single tree"))
	}
	if d.err != nil {
		return nil
	}
	return stack[0]
}

// fields calls f with each tag of a struct until its end; f returns false
// for a tag it does not know.
func (d *dec) fields(where string, f func(tag uint64) bool) {
	outer := d.where
	d.where = where
	for d.err == nil {
		t := d.uv()
		if t == 0 || d.err != nil {
			break
		}
		if !f(t) {
			d.fail(fmt.Errorf("unknown field %d", t))
		}
	}
	if d.err == nil {
		d.where = outer
	}
}

func (d *dec) latches() []Latch {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	l := make([]Latch, n)
	for k := range l {
		x := &l[k]
		d.fields("latch", func(t uint64) bool {
			switch t {
			case 1:
				x.Operand = d.int()
			case 2:
				x.Event = d.int()
			case 3:
				x.Held = true
			default:
				return false
			}
			return true
		})
	}
	return l
}

func (d *dec) exit() (x Exit) {
	d.fields("exit", func(t uint64) bool {
		switch t {
		case 1:
			x.Type = d.raw()
		case 2:
			x.Name = d.raw()
		case 3:
			x.Status = d.u32()
		case 4:
			x.SpawnErr = true
		case 5:
			x.Set = true
		default:
			return false
		}
		return true
	})
	return x
}

func (d *dec) process() *conf.Process {
	p := &conf.Process{}
	d.fields("process", func(t uint64) bool {
		switch t {
		case 1:
			p.Script = true
		case 2:
			p.Command = d.raw()
		case 3:
			p.Line = d.int()
		default:
			return false
		}
		return true
	})
	return p
}

func (d *dec) job() *conf.Job {
	j := &conf.Job{}
	d.fields("job definition", func(t uint64) bool {
		switch t {
		case 1:
			j.Name = d.raw()
		case 2:
			j.Path = d.raw()
		case 3:
			j.Description = d.raw()
		case 4:
			j.Author = d.raw()
		case 5:
			j.Version = d.raw()
		case 6:
			j.Usage = d.raw()
		case 7:
			j.StartOn = d.cond()
		case 8:
			j.StopOn = d.cond()
		case 9:
			j.Emits = d.strs()
		case 10:
			j.Instance = d.raw()
		case 11:
			k := d.uv()
			if d.err == nil && k >= uint64(conf.NumProcessTypes) {
				d.fail(fmt.Errorf("process type %d", k))
				return true
			}
			p := d.process()
			if d.err == nil {
				j.Process[k] = p
			}
		case 12:
			j.Task = true
		case 13:
			j.Respawn = true
		case 14:
			j.RespawnLimit = d.int()
		case 15:
			j.RespawnInterval = time.Duration(d.v())
		case 16:
			j.NormalExit = d.ints()
		case 17:
			j.Expect = conf.Expect(d.int())
		case 18:
			j.ExpectExits = d.int()
		case 19:
			j.ExpectTimeout = time.Duration(d.v())
		case 20:
			j.KillTimeout = time.Duration(d.v())
		case 21:
			j.KillSignal = d.int()
		case 22:
			j.ReloadSignal = d.int()
		case 23:
			j.ExpectOn = d.cond()
		case 24:
			j.ExpectWatch = d.strs()
		case 25:
			j.PidFile = d.raw()
		case 26:
			j.Watchdog = time.Duration(d.v())
		case 27:
			j.Console = conf.Console(d.int())
		case 28:
			j.LogPipe = true
		case 29:
			j.Env = d.strs()
		case 30:
			j.Export = d.strs()
		case 31:
			u := d.u32()
			j.Umask = &u
		case 32:
			v := d.int()
			j.Nice = &v
		case 33:
			v := d.int()
			j.OOMScore = &v
		case 34:
			n := d.count()
			if d.err != nil {
				return true
			}
			j.Limits = make([]conf.Limit, n)
			for k := range j.Limits {
				l := &j.Limits[k]
				d.fields("limit", func(t uint64) bool {
					switch t {
					case 1:
						l.Resource = d.int()
					case 2:
						l.Soft = d.uv()
					case 3:
						l.Hard = d.uv()
					default:
						return false
					}
					return true
				})
			}
		case 35:
			j.Chroot = d.raw()
		case 36:
			j.Chdir = d.raw()
		case 37:
			j.Setuid = d.raw()
		case 38:
			j.Setgid = d.raw()
		case 39:
			j.ApparmorLoad = d.raw()
		case 40:
			j.ApparmorSwitch = d.raw()
		case 41:
			n := d.count()
			if d.err != nil {
				return true
			}
			j.Cgroups = make([]conf.Cgroup, n)
			for k := range j.Cgroups {
				c := &j.Cgroups[k]
				d.fields("cgroup", func(t uint64) bool {
					switch t {
					case 1:
						c.Controller = d.raw()
					case 2:
						c.Name = d.raw()
					case 3:
						c.Key = d.raw()
					case 4:
						c.Value = d.raw()
					default:
						return false
					}
					return true
				})
			}
		case 42:
			j.Debug = true
		case 43:
			n := d.count()
			if d.err != nil {
				return true
			}
			j.Actions = make([]conf.Action, n)
			for k := range j.Actions {
				a := &j.Actions[k]
				d.fields("action", func(t uint64) bool {
					switch t {
					case 1:
						a.Name = d.raw()
					case 2:
						a.Process = d.process()
					default:
						return false
					}
					return true
				})
			}
		case 44:
			j.ManualBy = d.raw()
		case 45:
			j.Import = d.strs()
		case 46:
			j.Tmpfiles = d.strs()
		default:
			return false
		}
		return true
	})
	return j
}

func (d *dec) instance(in *Instance) {
	d.fields("instance", func(t uint64) bool {
		switch t {
		case 1:
			in.Name = d.raw()
		case 2:
			in.Def = d.int()
		case 3:
			in.Goal = d.raw()
		case 4:
			in.State = d.raw()
		case 5:
			in.EnvRef = d.int()
		case 6:
			in.StartEnvRef = d.int()
		case 7:
			in.StopEnvRef = d.int()
		case 8:
			in.Stop = d.latches()
		case 9:
			in.Pids = d.strInts()
		case 10:
			in.AuxPid = d.int()
		case 11:
			in.Hook = d.int()
		case 12:
			in.Holding = d.ints()
		case 13:
			in.Failed = true
		case 14:
			in.Failure = d.exit()
		case 15:
			in.LastMain = d.exit()
		case 16:
			x := d.exit()
			in.DeferredMain = &x
		case 17:
			in.RespawnCount = d.int()
		case 18:
			in.RespawnTime = d.time()
		case 19:
			in.KillDeadline = d.time()
		case 20:
			in.ExpectDeadline = d.time()
		case 21:
			in.ExpectExits = d.int()
		case 22:
			n := d.count()
			if d.err != nil {
				return true
			}
			in.Members = make([]Member, n)
			for k := range in.Members {
				m := &in.Members[k]
				d.fields("member", func(t uint64) bool {
					switch t {
					case 1:
						m.Pid = d.int()
					case 2:
						m.Name = d.raw()
					default:
						return false
					}
					return true
				})
			}
		case 23:
			in.Sessions = d.intStrs()
		case 24:
			in.ActionPids = d.strInts()
		case 25:
			r := &Ready{}
			d.fields("readiness", func(t uint64) bool {
				switch t {
				case 1:
					r.ID = d.uv()
				case 2:
					r.Waiting = true
				case 3:
					r.Latches = d.latches()
				case 4:
					r.Status = d.raw()
				case 5:
					r.Errno = d.int()
				case 6:
					r.Reloading = true
				case 7:
					r.Stopping = true
				case 8:
					r.Watchdog = time.Duration(d.v())
				case 9:
					r.WatchdogDeadline = d.time()
				default:
					return false
				}
				return true
			})
			in.Ready = r
		case 26:
			in.FDs = d.ints()
		default:
			return false
		}
		return true
	})
}

func (d *dec) engine(g *Engine) {
	d.fields("engine", func(t uint64) bool {
		switch t {
		case 1:
			g.Env = d.strs()
		case 2:
			n := d.count()
			if d.err != nil {
				return true
			}
			g.Defs = make([]*conf.Job, n)
			for k := range g.Defs {
				switch d.uv() {
				case 0:
				case 1:
					g.Defs[k] = d.job()
				default:
					d.fail(errors.New("bad job definition marker"))
				}
			}
		case 3:
			n := d.count()
			if d.err != nil {
				return true
			}
			g.Events = make([]Event, n)
			for k := range g.Events {
				ev := &g.Events[k]
				d.fields("event", func(t uint64) bool {
					switch t {
					case 1:
						ev.Name = d.raw()
					case 2:
						ev.EnvRef = d.int()
					case 3:
						ev.Queued = true
					case 4:
						ev.Progress = d.raw()
					case 5:
						ev.Failed = true
					case 6:
						ev.Blockers = d.int()
					case 7:
						ev.FD = d.int()
					default:
						return false
					}
					return true
				})
			}
		case 4:
			n := d.count()
			if d.err != nil {
				return true
			}
			g.Classes = make([]Class, n)
			for k := range g.Classes {
				c := &g.Classes[k]
				d.fields("class", func(t uint64) bool {
					switch t {
					case 1:
						c.Name = d.raw()
					case 2:
						c.Def = d.int()
					case 3:
						c.Next = d.int()
					case 4:
						c.Deleted = true
					case 5:
						c.Start = d.latches()
					case 6:
						n := d.count()
						if d.err != nil {
							return true
						}
						c.Instances = make([]Instance, n)
						for j := range c.Instances {
							d.instance(&c.Instances[j])
						}
					default:
						return false
					}
					return true
				})
			}
		case 5:
			g.RespawnDisabled = true
		case 6:
			g.ReadyNextID = d.uv()
		case 7:
			n := d.count()
			if d.err != nil {
				return true
			}
			g.Envs = make([][]string, n)
			for k := range g.Envs {
				g.Envs[k] = d.strs()
			}
		default:
			return false
		}
		return true
	})
}

// decodeBinary reads a binary document whose magic has been checked; the
// version is returned even when the rest cannot be read.
func decodeBinary(b []byte) (*Document, int, error) {
	d := &dec{s: string(b), off: len(magic), where: "header"}
	v := d.uv()
	if d.err != nil {
		return nil, 0, d.err
	}
	if v > Version {
		return nil, int(min(v, math.MaxInt32)), nil
	}
	if v < 4 {
		return nil, int(v), fmt.Errorf("binary document of format %d (the first binary format is 4)", v)
	}
	doc := &Document{Version: int(v)}
	d.fields("document", func(t uint64) bool {
		switch t {
		case 1:
			doc.Written = d.time()
		case 2:
			d.fields("daemon", func(t uint64) bool {
				switch t {
				case 1:
					doc.Daemon.ListenerFD = d.int()
				case 2:
					doc.Daemon.BusAddress = d.raw()
				case 3:
					doc.Daemon.LogPriority = d.raw()
				case 5:
					doc.Daemon.CgroupInotifyFD = d.int()
				case 4:
					n := d.count()
					if d.err != nil {
						return true
					}
					doc.Daemon.PidTracked = make([]InstanceRef, n)
					for k := range doc.Daemon.PidTracked {
						r := &doc.Daemon.PidTracked[k]
						d.fields("pid-tracked instance", func(t uint64) bool {
							switch t {
							case 1:
								r.Job = d.raw()
							case 2:
								r.Instance = d.raw()
							default:
								return false
							}
							return true
						})
					}
				default:
					return false
				}
				return true
			})
		case 3:
			d.engine(&doc.Engine)
		case 4:
			doc.Logger = []byte(d.raw())
		case 5:
			n := d.count()
			if d.err != nil {
				return true
			}
			doc.Reaped = make([]Reaped, n)
			for k := range doc.Reaped {
				r := &doc.Reaped[k]
				d.fields("reaped exit", func(t uint64) bool {
					switch t {
					case 1:
						r.Pid = d.int()
					case 2:
						r.Status = d.u32()
					case 3:
						r.SpawnErr = d.raw()
					case 4:
						r.Orphan = true
					case 5:
						r.Cgroup = d.raw()
					case 6:
						r.Stopped = true
					default:
						return false
					}
					return true
				})
			}
		case 6:
			doc.Ready = []byte(d.raw())
		default:
			return false
		}
		return true
	})
	if d.err == nil && d.off != len(d.s) {
		d.fail(fmt.Errorf("%d bytes after the end", len(d.s)-d.off))
	}
	if d.err != nil {
		return nil, int(v), d.err
	}
	return doc, int(v), nil
}
