package engine

import (
	"reflect"
	"testing"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/conf"
)

// The Chromium OS fork's import rule under ImportDefaultDeny: a job
// without import stanzas gets nothing from the event or request that
// starts it, except (from events) the keys init owns.
func TestImportDefaultDeny(t *testing.T) {
	h := newHarness(t)
	h.e.opt.ImportDefaultDeny = true
	h.job("plain", "go", "", "main")
	d := h.job("named", "go", "", "main")
	d.Import = []string{"WANTED"}
	h.emit("go", "WANTED=1", "OTHER=2", "JOB=j", "RESULT=ok")
	plain := h.sp.procs[h.pid("plain", "", conf.Main)].Env
	if lookup(plain, "WANTED") != "<unset>" || lookup(plain, "OTHER") != "<unset>" || lookup(plain, "JOB") != "j" || lookup(plain, "RESULT") != "ok" {
		t.Errorf("plain: %v", plain)
	}
	named := h.sp.procs[h.pid("named", "", conf.Main)].Env
	if lookup(named, "WANTED") != "1" || lookup(named, "OTHER") != "<unset>" || lookup(named, "JOB") != "j" {
		t.Errorf("named: %v", named)
	}

	// From a request, init's keys never pass.
	r := h.job("req", "", "", "main")
	r.Import = []string{"WANTED"}
	if err := h.e.StartJob("req", []string{"WANTED=1", "OTHER=2", "JOB=forged", "UPSTART_EVENTS=forged"}, nil); err != nil {
		t.Fatal(err)
	}
	env := h.sp.procs[h.pid("req", "", conf.Main)].Env
	if lookup(env, "WANTED") != "1" || lookup(env, "OTHER") != "<unset>" || lookup(env, "JOB") != "<unset>" || lookup(env, "UPSTART_EVENTS") != "<unset>" {
		t.Errorf("req: %v", env)
	}

	// The instance name is expanded from the filtered environment too.
	in := h.job("inst", "", "", "main")
	in.Instance = "$N"
	if err := h.e.StartJob("inst", []string{"N=a"}, nil); err == nil {
		t.Error("instance $N started without import N")
	} else if ae, ok := err.(*api.Error); !ok || ae.Name != api.ErrInvalidArgs || ae.Msg != "Unknown parameter: N" {
		t.Errorf("error %v", err)
	}
	in.Import = []string{"N"}
	if err := h.e.StartJob("inst", []string{"N=a"}, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("inst", "a", "start/running")
}

// Without the option, a job without import takes everything (Upstart 1.13).
func TestNoImportTakesAll(t *testing.T) {
	h := newHarness(t)
	h.job("plain", "go", "", "main")
	h.emit("go", "OTHER=2")
	if env := h.sp.procs[h.pid("plain", "", conf.Main)].Env; lookup(env, "OTHER") != "2" {
		t.Errorf("plain: %v", env)
	}
}

func TestStripInitKeys(t *testing.T) {
	got := stripInitKeys([]string{"A=1", "JOB=x", "INSTANCE=", "RESULT=ok", "PROCESS=main", "EXIT_STATUS=1",
		"EXIT_SIGNAL=TERM", "UPSTART_JOB=y", "UPSTART_EVENTS=z", "JOBS=keep"})
	if want := []string{"A=1", "JOBS=keep"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stripInitKeys = %v, want %v", got, want)
	}
}

// tmpfiles runs in its own state, `tmpfiles`, listed as the process of
// that name, with --create --remove; a job without it never enters it.
func TestTmpfilesState(t *testing.T) {
	h := newHarness(t)
	d := h.job("t", "", "", "main")
	d.Tmpfiles = []string{"/etc/x.conf"}
	if err := h.e.StartJob("t", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.wantStatus("t", "", "start/tmpfiles")
	info, _ := h.e.InstanceInfo("t", "")
	if len(info.Processes) != 1 || info.Processes[0].Name != "tmpfiles" {
		t.Fatalf("processes %+v", info.Processes)
	}
	pid := info.Processes[0].Pid
	if argv := h.sp.procs[pid].Argv; !reflect.DeepEqual(argv, []string{"systemd-tmpfiles", "--create", "--remove", "/etc/x.conf"}) {
		t.Errorf("argv %v", argv)
	}
	h.exit(pid, 0)
	h.wantStatus("t", "", "start/running")

	var states []string
	h.e.Subscribe(func(s api.Signal) {
		if s.Kind == api.StateChanged && s.Job == "plain" {
			states = append(states, s.Value)
		}
	})
	h.job("plain", "", "", "main")
	h.e.StartJob("plain", nil, nil)
	h.wantStatus("plain", "", "start/running")
	want := []string{"starting", "security-spawning", "security", "pre-starting", "pre-start", "spawning", "spawned",
		"post-starting", "post-start", "running"}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
}
