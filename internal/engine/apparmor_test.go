package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
)

// `apparmor load`: the security process runs in the security state,
// before pre-start, is listed as the process "security", and pre-start
// follows its clean end.
func TestSecurityProcess(t *testing.T) {
	h := newHarness(t)
	d := h.job("aa", "", "", "main")
	d.ApparmorLoad = "/etc/apparmor.d/aa"
	d.Process[conf.PreStart] = &conf.Process{Command: "true"}
	var states []string
	h.e.Subscribe(func(s api.Signal) {
		if s.Kind == api.StateChanged && s.Job == "aa" {
			states = append(states, s.Value)
		}
	})
	if err := h.e.StartJob("aa", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("aa", "", "start/security")
	info, _ := h.e.InstanceInfo("aa", "")
	if len(info.Processes) != 1 || info.Processes[0].Name != "security" {
		t.Fatalf("processes %+v", info.Processes)
	}
	pid := info.Processes[0].Pid
	if r := h.sp.procs[pid]; !r.Security || r.Argv != nil || lookup(r.Env, "UPSTART_JOB") != "aa" {
		t.Errorf("security request %+v", r)
	}
	if n := h.spawns("aa", conf.PreStart); n != 0 {
		t.Errorf("pre-start spawned before the security process ended (%d)", n)
	}
	h.exit(pid, 0)
	h.wantStatus("aa", "", "start/pre-start")
	h.exit(h.pid("aa", "", conf.PreStart), 0)
	h.wantStatus("aa", "", "start/running")
	want := []string{"starting", "security-spawning", "security", "pre-starting", "pre-start", "spawning", "spawned",
		"post-starting", "post-start", "running"}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
}

// A security process that fails (the parser could not load the profile)
// fails the start: no pre-start, no main, stopped with PROCESS=security.
func TestSecurityProcessFails(t *testing.T) {
	h := newHarness(t)
	d := h.job("aa", "", "", "main")
	d.ApparmorLoad = "/etc/apparmor.d/aa"
	var res error
	h.e.StartJob("aa", nil, func(_ string, err error) { res = err })
	info, _ := h.e.InstanceInfo("aa", "")
	h.exit(info.Processes[0].Pid, 1)
	h.wantStatus("aa", "", "stop/waiting")
	if res == nil {
		t.Error("the start succeeded")
	}
	if n := h.spawns("aa", conf.Main); n != 0 {
		t.Errorf("main spawned %d times", n)
	}
	if ev := h.eventsFor("aa"); !containsPrefix(ev, "stopped JOB=aa INSTANCE= RESULT=failed PROCESS=security EXIT_STATUS=1") {
		t.Errorf("events %v", ev)
	}
}

// Where the supervisor refuses the security process (AppArmor not
// available), the start fails at once and nothing of the job runs.
func TestSecurityProcessRefused(t *testing.T) {
	h := newHarness(t)
	d := h.job("aa", "", "", "main")
	d.ApparmorLoad = "/etc/apparmor.d/aa"
	d.Process[conf.PreStart] = &conf.Process{Command: "true"}
	h.sp.fail["aa/security"] = errors.New("unable to load security profile: AppArmor is not available")
	var res error
	h.e.StartJob("aa", nil, func(_ string, err error) { res = err })
	h.wantStatus("aa", "", "stop/waiting")
	if res == nil {
		t.Error("the start succeeded")
	}
	if n := h.spawns("aa", conf.PreStart) + h.spawns("aa", conf.Main); n != 0 {
		t.Errorf("%d processes of the job spawned", n)
	}
	if ev := h.eventsFor("aa"); !containsPrefix(ev, "stopped JOB=aa INSTANCE= RESULT=failed PROCESS=security") {
		t.Errorf("events %v", ev)
	}
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
