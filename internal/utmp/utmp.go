// Package utmp reads and writes the utmp and wtmp files (glibc's struct
// utmp on Linux, 384 bytes a record) without cgo: the runlevel, boot and
// shutdown records that `runlevel`, `who -r` and `last -x` read, and the
// logged-in users that `shutdown` warns.
package utmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Default paths (glibc's _PATH_UTMP and _PATH_WTMP).
const (
	UtmpFile = "/var/run/utmp"
	WtmpFile = "/var/log/wtmp"
)

// Record types (ut_type).
const (
	Empty       = 0
	RunLevel    = 1
	BootTime    = 2
	NewTime     = 3
	OldTime     = 4
	InitProcess = 5
	LoginProc   = 6
	UserProcess = 7
	DeadProcess = 8
)

// Size is the size of one record on disk.
const Size = 384

// Field offsets of struct utmp (x86_64 and the other 64-bit glibc ABIs:
// ut_tv is two int32 there).
const (
	offType    = 0
	offPid     = 4
	offLine    = 8
	offID      = 40
	offUser    = 44
	offHost    = 76
	offExit    = 332
	offSession = 336
	offTime    = 340
	offAddr    = 348
	lenLine    = 32
	lenID      = 4
	lenUser    = 32
	lenHost    = 256
)

// Record is one utmp entry.
type Record struct {
	Type    int16
	Pid     int32
	Line    string // device name of the tty, less "/dev/"
	ID      string // terminal name suffix (inittab id)
	User    string
	Host    string
	Session int32
	Time    time.Time
}

// Marshal encodes r as a 384-byte record.
func (r *Record) Marshal() []byte {
	b := make([]byte, Size)
	le := binary.LittleEndian
	le.PutUint16(b[offType:], uint16(r.Type))
	le.PutUint32(b[offPid:], uint32(r.Pid))
	copy(b[offLine:offLine+lenLine], r.Line)
	copy(b[offID:offID+lenID], r.ID)
	copy(b[offUser:offUser+lenUser], r.User)
	copy(b[offHost:offHost+lenHost], r.Host)
	le.PutUint32(b[offSession:], uint32(r.Session))
	if !r.Time.IsZero() {
		le.PutUint32(b[offTime:], uint32(r.Time.Unix()))
		le.PutUint32(b[offTime+4:], uint32(r.Time.Nanosecond()/1000))
	}
	return b
}

// Unmarshal decodes a 384-byte record.
func Unmarshal(b []byte) (Record, error) {
	if len(b) < Size {
		return Record{}, fmt.Errorf("utmp record of %d bytes, want %d", len(b), Size)
	}
	le := binary.LittleEndian
	str := func(p []byte) string {
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		return string(p)
	}
	r := Record{
		Type:    int16(le.Uint16(b[offType:])),
		Pid:     int32(le.Uint32(b[offPid:])),
		Line:    str(b[offLine : offLine+lenLine]),
		ID:      str(b[offID : offID+lenID]),
		User:    str(b[offUser : offUser+lenUser]),
		Host:    str(b[offHost : offHost+lenHost]),
		Session: int32(le.Uint32(b[offSession:])),
	}
	if sec := int32(le.Uint32(b[offTime:])); sec != 0 {
		r.Time = time.Unix(int64(sec), int64(int32(le.Uint32(b[offTime+4:])))*1000)
	}
	return r, nil
}

// ReadFile returns every record of a utmp or wtmp file (a trailing partial
// record is ignored, as glibc does).
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := lock(f, unix.F_RDLCK); err != nil {
		return nil, err
	}
	defer unlock(f)
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var out []Record
	for len(data) >= Size {
		r, _ := Unmarshal(data[:Size])
		out = append(out, r)
		data = data[Size:]
	}
	return out, nil
}

// ErrNoRunlevel says that a file holds no runlevel record.
var ErrNoRunlevel = errors.New("no runlevel record")

// Runlevel returns the current and previous runlevel of the runlevel
// record of a utmp file (as getutid(RUN_LVL) finds it: the first record
// of that type), 'N' where a level is unknown. A wtmp file gives its last
// runlevel record instead, the one of the latest change.
func Runlevel(path string, last bool) (cur, prev byte, err error) {
	recs, err := ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	found := -1
	for i, r := range recs {
		if r.Type == RunLevel {
			found = i
			if !last {
				break
			}
		}
	}
	if found < 0 {
		return 0, 0, ErrNoRunlevel
	}
	pid := recs[found].Pid
	cur, prev = byte(pid%256), byte(pid/256)
	if cur == 0 {
		cur = 'N'
	}
	if prev == 0 {
		prev = 'N'
	}
	return cur, prev, nil
}

// Put writes r into a utmp file the way pututline does: it replaces the
// record that matches it (for runlevel, boot and time-change records the
// one of the same type, for process records the one with the same ID) or
// is appended. The file is created (mode 0664) if it does not exist.
func Put(path string, r Record) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o664)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lock(f, unix.F_WRLCK); err != nil {
		return err
	}
	defer unlock(f)
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	at := int64(len(data) / Size * Size)
	for off := 0; off+Size <= len(data); off += Size {
		old, _ := Unmarshal(data[off : off+Size])
		if matches(old, r) {
			at = int64(off)
			break
		}
	}
	if _, err := f.WriteAt(r.Marshal(), at); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func matches(old, r Record) bool {
	switch r.Type {
	case RunLevel, BootTime, NewTime, OldTime:
		return old.Type == r.Type
	case InitProcess, LoginProc, UserProcess, DeadProcess:
		switch old.Type {
		case InitProcess, LoginProc, UserProcess, DeadProcess:
			return old.ID == r.ID
		}
	}
	return false
}

// Append adds r at the end of a wtmp file (created, mode 0664, if
// missing), as updwtmp does.
func Append(path string, r Record) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o664)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lock(f, unix.F_WRLCK); err != nil {
		return err
	}
	defer unlock(f)
	// A file whose size is not a multiple of the record size would shift
	// every later record: cut the partial one off first, as glibc does.
	if st, err := f.Stat(); err == nil && st.Size()%Size != 0 {
		f.Truncate(st.Size() / Size * Size)
	}
	if _, err := f.Write(r.Marshal()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func lock(f *os.File, typ int16) error {
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_SETLKW, &lk)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("lock %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}

func unlock(f *os.File) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart}
	unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
}

// special returns a record of the kind sysvinit and Upstart write for the
// system itself: line "~", id "~~", the kernel release as the host.
func special(typ int16, pid int32, user string) Record {
	r := Record{Type: typ, Pid: pid, Line: "~", ID: "~~", User: user, Time: time.Now()}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		r.Host = unix.ByteSliceToString(uts.Release[:])
	}
	return r
}

// RunlevelRecord is the record of a change from prev to cur ('N' or 0:
// none).
func RunlevelRecord(cur, prev byte) Record {
	if prev == 'N' {
		prev = 0
	}
	return special(RunLevel, int32(cur)+int32(prev)*256, "runlevel")
}

// BootRecord is the "reboot" record of a boot.
func BootRecord() Record { return special(BootTime, 0, "reboot") }

// ShutdownRecord is the "shutdown" record `last -x` shows as "system
// down": a runlevel record with pid 0.
func ShutdownRecord() Record { return special(RunLevel, 0, "shutdown") }

// WriteRunlevel records a change from runlevel prev ('N': none) to cur in
// the utmp and wtmp files. Where a file's runlevel record does not say
// prev (a fresh utmp after a boot), a boot record goes first, as Upstart's
// tools do. An error writing wtmp is returned only if utmp was written.
func WriteRunlevel(utmpPath, wtmpPath string, cur, prev byte) error {
	boot := BootRecord()
	if saved, _, err := Runlevel(utmpPath, false); err != nil || saved != prev {
		Put(utmpPath, boot)
	}
	if saved, _, err := Runlevel(wtmpPath, true); err != nil || saved != prev {
		Append(wtmpPath, boot)
	}
	r := RunlevelRecord(cur, prev)
	err := Put(utmpPath, r)
	werr := Append(wtmpPath, r)
	if err != nil {
		return err
	}
	return werr
}

// WriteShutdown records the shutdown of the system in utmp and wtmp.
func WriteShutdown(utmpPath, wtmpPath string) error {
	r := ShutdownRecord()
	err := Put(utmpPath, r)
	werr := Append(wtmpPath, r)
	if err != nil {
		return err
	}
	return werr
}

// Users returns the logged-in users' records (USER_PROCESS with a name).
func Users(path string) ([]Record, error) {
	recs, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range recs {
		if r.Type == UserProcess && r.User != "" {
			out = append(out, r)
		}
	}
	return out, nil
}
