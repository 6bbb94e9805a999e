package main

import (
	"strings"

	"github.com/goupstart/upstart/internal/control"
)

// runTelinit changes the runlevel (0-6, S), reloads the configuration
// (Q) or re-executes init keeping its state (U).
func runTelinit(t *env, args []string) int {
	var extra []string
	bad := ""
	opts := []option{
		{'e', "", "KEY=VALUE", "set environment variable in the runlevel event", func(v string) {
			if strings.IndexByte(v, '=') <= 0 {
				bad = v
			}
			extra = append(extra, v)
		}},
		{'t', "", "SECONDS", "", ignored},
	}
	rest, code, ok := t.parse(args, opts, "RUNLEVEL", "Change runlevel.",
		"RUNLEVEL should be one of 0123456sS, where s and S are considered identical.\n\n"+
			"RUNLEVEL may also be Q or q to instruct the init daemon to reload its configuration, "+
			"this is rarely necessary since the daemon watches its configuration for changes.\n\n"+
			"RUNLEVEL may be U or u to instruct the init daemon to re-execute itself.")
	if !ok {
		return code
	}
	if bad != "" {
		return t.usageFail("invalid environment variable: %s", bad)
	}
	if len(rest) == 0 {
		return t.usageFail("missing runlevel")
	}
	arg := rest[0]
	if len(arg) != 1 || !strings.Contains("0123456SsQqUu", arg) {
		return t.usageFail("illegal runlevel: %s", arg)
	}
	if !t.needRoot() {
		return 1
	}
	var err error
	switch c := arg[0]; c {
	case 'Q', 'q':
		err = t.managerCall("ReloadConfiguration")
	case 'U', 'u':
		err = t.managerCall("Restart")
	default:
		if c == 's' {
			c = 'S'
		}
		err = t.changeRunlevel(c, extra)
	}
	if err != nil {
		t.errorf("%v", err)
		return 1
	}
	return 0
}

// managerCall calls a method without arguments of init's manager object.
func (t *env) managerCall(method string) error {
	pc, err := t.dial()
	if err != nil {
		return err
	}
	defer pc.Close()
	return callErr(pc.Call(control.ManagerPath, control.ManagerIface, method))
}
