package main

// finit (Debian package finit) as a peer. finit only runs as PID 1 and
// bootstraps the system it finds, so it runs in the confinement of
// nsroot.go: its own namespaces, cgroup and private root. Its
// configuration there is the private /etc/finit.conf and one
// /etc/finit.d/bench.conf with a `service` stanza per service; nothing else
// of the host's /etc is visible to it, and the system's tmpfiles.d is
// hidden (see bench/README.md for why that is its best honest setup).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

type finit struct{}

const finitBin = "/sbin/finit"

func (finit) name() string { return "finit" }
func (finit) check() error {
	if _, err := os.Stat(finitBin); err != nil {
		return errors.New("not installed: " + finitBin)
	}
	return checkConfinement()
}

// finitConf is finit's main configuration: runlevel 2 (its default) and
// nothing to bootstrap.
const finitConf = `# goupstart bench: finit supervising the bench's services, nothing else.
# No hostname, module, network, runparts, tty, run or task stanzas: the
# bootstrap has no work of its own; the services are in finit.d/bench.conf.
runlevel 2
`

func (finit) start(dir string, svcs []service, logging bool) (*instance, error) {
	if logging {
		return nil, fmt.Errorf("%w: finit is measured in the lifecycle scenarios (cold start, respawn, memory, stop-all)", errNotMeasured)
	}
	var b strings.Builder
	// finit tells services apart by name and :ID (without an ID a stanza
	// with the same command replaces the one before).
	b.WriteString("# One service stanza per bench service: started in runlevel 2, restarted when it dies.\n")
	for i, s := range svcs {
		argv := append([]string(nil), s.argv...)
		// finit runs the path it is given; resolve it on the host (the
		// same /usr is bound inside).
		if p, err := exec.LookPath(argv[0]); err == nil {
			argv[0] = p
		}
		fmt.Fprintf(&b, "service :%d [2345] name:%s %s -- %s\n", i+1, s.name, strings.Join(argv, " "), s.name)
	}
	spec := nsSpec{
		Files: map[string]string{
			"/etc/finit.conf":         finitConf,
			"/etc/finit.d/bench.conf": b.String(),
			"/etc/hostname":           "finit-bench\n",
			"/etc/fstab":              "# none: the bench's root is set up before finit starts\n",
		},
		Copy: []string{"/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"},
		// finit applies tmpfiles.d at bootstrap (it creates and cleans /tmp,
		// /run, /var from it): that is system setup, not supervision, and
		// would run in the private root anyway; hide the host's so the
		// bootstrap has nothing of the host's to do.
		Hide:     []string{"/usr/lib/tmpfiles.d"},
		Argv:     []string{finitBin, "finit.show_status=off"},
		Env:      []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=dumb"},
		Hostname: "finit-bench",
	}
	// SIGTERM: finit stops every service and ends (a reboot, which in a
	// PID namespace ends the namespace).
	in, c, err := startConfined("finit", dir, spec, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	in.onCleanup = c.cleanup
	return in, nil
}
