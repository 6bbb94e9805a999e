package main

// Installing the peers from Debian's packages when root and they are missing.

import (
	"os"
	"os/exec"
	"strings"
)

// peerPackages maps a peer to its Debian package.
var peerPackages = map[string]string{"s6": "s6", "runit": "runit", "supervisord": "supervisor", "finit": "finit"}

// installPeers installs the packages of the peers whose check fails. It
// never fails: a peer that is still missing afterwards is skipped.
func installPeers(peers []system, noInstall bool) {
	var pkgs []string
	for _, p := range peers {
		missing := p.check() != nil
		if _, ok := p.(finit); ok {
			// finit's check also needs root and namespaces, which no
			// install gives.
			_, err := os.Stat(finitBin)
			missing = err != nil
		}
		if pkg, ok := peerPackages[p.name()]; ok && missing {
			pkgs = append(pkgs, pkg)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	switch {
	case noInstall:
		infof("not installing %s (--no-install)", strings.Join(pkgs, " "))
		return
	case os.Geteuid() != 0:
		infof("not root: cannot install %s; those peers are skipped", strings.Join(pkgs, " "))
		return
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		infof("no apt-get: cannot install %s; those peers are skipped", strings.Join(pkgs, " "))
		return
	}
	// Keep the packages' maintainer scripts from starting system-wide
	// daemons (supervisor's and runit's would run outside our temp dirs).
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); os.IsNotExist(err) {
		if os.WriteFile(policy, []byte("#!/bin/sh\n# temporary, written by goupstart's bench\nexit 101\n"), 0o755) == nil {
			defer os.Remove(policy)
		}
	}
	infof("installing %s (apt-get update, apt-get install)", strings.Join(pkgs, " "))
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) error {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			infof("apt-get %s failed: %v: %s", strings.Join(args, " "), err, tail(string(out), 400))
		}
		return err
	}
	if run("update", "-qq") != nil {
		infof("apt-get update failed; trying the install anyway")
	}
	if run(append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...) != nil {
		// One by one, so one unavailable package does not take the others.
		for _, p := range pkgs {
			run("install", "-y", "-qq", "--no-install-recommends", p)
		}
	}
}

// packageVersions returns "pkg version" for the installed peer packages.
func packageVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
