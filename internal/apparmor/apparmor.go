// Package apparmor does what the `apparmor load` and `apparmor switch`
// stanzas need: tell whether AppArmor can be used, name the parser's
// command line, and set the profile the next exec of the calling thread
// runs under. The engine knows none of it; the supervisor calls it.
package apparmor

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Parser is the program that loads a profile (Upstart's path).
const Parser = "/sbin/apparmor_parser"

// ParserOptions replace a loaded profile of the same name (-r) and write
// the compiled policy to the cache (-W), as Upstart runs the parser.
const ParserOptions = "-r -W"

// Paths are the files the checks read and the parser run; Root prefixes
// them (tests).
type Paths struct {
	Root string
}

// LoadCommand is the security process's command line for `apparmor load
// PROFILE` (an exec line: it runs through the shell only when PROFILE has
// shell characters, as Upstart's does).
func (p Paths) LoadCommand(profile string) string {
	return p.Root + Parser + " " + ParserOptions + " " + profile
}

const (
	enabledFile = "/sys/module/apparmor/parameters/enabled"
	securityDir = "/sys/kernel/security/apparmor"
)

// Enabled reports why AppArmor cannot confine a process, or nil when the
// kernel has it enabled (`apparmor switch` needs no more).
func (p Paths) Enabled() error {
	b, err := os.ReadFile(p.Root + enabledFile)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("AppArmor is not available: the kernel has no AppArmor (" + enabledFile + " is missing)")
	}
	if err != nil {
		return fmt.Errorf("AppArmor is not available: %w", err)
	}
	if v := strings.TrimSpace(string(b)); v != "Y" {
		return fmt.Errorf("AppArmor is not available: it is disabled in the kernel (%s is %q; boot with apparmor=1 security=apparmor)", enabledFile, v)
	}
	return nil
}

// Loadable reports why a profile cannot be loaded, or nil: AppArmor
// enabled, its securityfs directory there (the parser writes the policy
// through it) and the parser installed.
func (p Paths) Loadable() error {
	if err := p.Enabled(); err != nil {
		return err
	}
	if st, err := os.Stat(p.Root + securityDir); err != nil || !st.IsDir() {
		return errors.New("AppArmor is not available: " + securityDir + " is missing (securityfs is not mounted on /sys/kernel/security)")
	}
	st, err := os.Stat(p.Root + Parser)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o100 == 0 {
		return errors.New("AppArmor is not available: no parser at " + Parser + " (Debian's package apparmor)")
	}
	return nil
}

// Host is the running system.
var Host = Paths{}

// SwitchOnExec makes the next execve of the calling thread enter profile
// name (what libapparmor's aa_change_onexec does): it writes "exec NAME"
// to the thread's AppArmor exec attribute, the per-LSM file where the
// kernel has it (5.8 and later) and the shared one otherwise. The caller
// must exec from this same thread.
func SwitchOnExec(name string) error {
	if name == "" || strings.ContainsAny(name, "\x00\n") {
		return fmt.Errorf("bad profile name %q", name)
	}
	data := []byte("exec " + name)
	err := writeAttr("/proc/thread-self/attr/apparmor/exec", data)
	if errors.Is(err, os.ErrNotExist) {
		err = writeAttr("/proc/thread-self/attr/exec", data)
	}
	return err
}

func writeAttr(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
