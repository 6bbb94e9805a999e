package supervise

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// creds are the numeric credentials a job process runs with.
type creds struct {
	uid, gid  uint32
	groups    []uint32
	setGroups bool // replace the supplementary groups with groups
}

// resolveCreds looks up the `setuid` user and `setgid` group of a job, as
// seen from inside root (the job's chroot; "" for none). It returns nil when
// neither is set. Like Upstart, the user's supplementary groups are set
// (initgroups) only when a user is given and the daemon runs as root;
// otherwise the daemon's supplementary groups are kept.
func resolveCreds(root, userName, groupName string) (*creds, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	db := accountDB(root)
	c := &creds{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	var pwName string
	if userName != "" {
		u, err := db.user(userName)
		if err != nil {
			return nil, &SpawnError{Op: opUser, Err: err}
		}
		c.uid, c.gid, pwName = u.uid, u.gid, u.name
	}
	if groupName != "" {
		g, err := db.group(groupName)
		if err != nil {
			return nil, &SpawnError{Op: opGroup, Err: err}
		}
		c.gid = g
	}
	if pwName != "" && os.Geteuid() == 0 {
		gs, err := db.groupsOf(pwName, c.gid)
		if err != nil {
			return nil, &SpawnError{Op: opSetgroups, Err: err}
		}
		c.groups, c.setGroups = gs, true
	}
	return c, nil
}

type pwEntry struct {
	name     string
	uid, gid uint32
}

type accounts interface {
	user(name string) (pwEntry, error)
	group(name string) (uint32, error)
	// groupsOf is initgroups(3): every group listing name as a member, plus
	// gid.
	groupsOf(name string, gid uint32) ([]uint32, error)
}

func accountDB(root string) accounts {
	if root == "" || root == "/" {
		return hostAccounts{}
	}
	return fileAccounts{root: root}
}

// hostAccounts uses os/user (NSS when built with cgo, the files otherwise).
type hostAccounts struct{}

func (hostAccounts) user(name string) (pwEntry, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return pwEntry{}, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return pwEntry{}, fmt.Errorf("bad ids for user %q", name)
	}
	return pwEntry{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

func (hostAccounts) group(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad id for group %q", name)
	}
	return uint32(gid), nil
}

func (hostAccounts) groupsOf(name string, gid uint32) ([]uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	out := []uint32{gid}
	for _, s := range ids {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			continue
		}
		if uint32(n) != gid {
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

// fileAccounts reads ROOT/etc/passwd and ROOT/etc/group: inside a chroot the
// job's user is the chroot's user, as in Upstart (which looks the user up
// after chroot()).
type fileAccounts struct{ root string }

func (f fileAccounts) scan(file string, fn func(fields []string) bool) error {
	fh, err := os.Open(filepath.Join(f.root, file))
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if fn(strings.Split(line, ":")) {
			return nil
		}
	}
	return sc.Err()
}

func (f fileAccounts) user(name string) (pwEntry, error) {
	var e pwEntry
	found := false
	err := f.scan("/etc/passwd", func(fl []string) bool {
		if len(fl) < 4 || fl[0] != name {
			return false
		}
		uid, err1 := strconv.ParseUint(fl[2], 10, 32)
		gid, err2 := strconv.ParseUint(fl[3], 10, 32)
		if err1 != nil || err2 != nil {
			return false
		}
		e, found = pwEntry{name: name, uid: uint32(uid), gid: uint32(gid)}, true
		return true
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return e, err
	}
	if !found {
		return e, user.UnknownUserError(name)
	}
	return e, nil
}

func (f fileAccounts) group(name string) (uint32, error) {
	var gid uint32
	found := false
	err := f.scan("/etc/group", func(fl []string) bool {
		if len(fl) < 3 || fl[0] != name {
			return false
		}
		n, err := strconv.ParseUint(fl[2], 10, 32)
		if err != nil {
			return false
		}
		gid, found = uint32(n), true
		return true
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	if !found {
		return 0, user.UnknownGroupError(name)
	}
	return gid, nil
}

func (f fileAccounts) groupsOf(name string, gid uint32) ([]uint32, error) {
	out := []uint32{gid}
	err := f.scan("/etc/group", func(fl []string) bool {
		if len(fl) < 4 {
			return false
		}
		n, err := strconv.ParseUint(fl[2], 10, 32)
		if err != nil || uint32(n) == gid {
			return false
		}
		for _, m := range strings.Split(fl[3], ",") {
			if m == name {
				out = append(out, uint32(n))
				break
			}
		}
		return false
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return out, nil
}
