// Package supervise makes and reaps job processes: spawning with the job's
// credentials and limits in force before its program runs, the single
// reaper, and signalling.
package supervise

import (
	"os"
	"syscall"

	"github.com/goupstart/upstart/internal/conf"
)

// Request asks for one process of one job instance.
type Request struct {
	Job      *conf.Job
	Instance string
	Type     conf.ProcessType // which of Job.Process to run
	// Process, when set, is run instead of Job.Process[Type], with the
	// job's settings (a custom action).
	Process *conf.Process
	// Argv, when non-nil, is run instead of Job.Process[Type] (for helper
	// steps such as `tmpfiles`), with the same environment and console but
	// without the job's credentials, chroot or limits.
	Argv []string
	// Security asks for the job's security process (`apparmor load`):
	// AppArmor's parser on Job.ApparmorLoad, without the job's
	// credentials, chroot or limits (Upstart applies none of them to it).
	// It fails to spawn, naming the reason, where AppArmor is not
	// available.
	Security bool
	Env      []string     // complete environment of the process
	Console  conf.Console // resolved: never ConsoleDefault

	// CgroupDir, when not nil, is an open directory of a cgroup v2
	// hierarchy (cgroup.Group.Dir): the process is created in that cgroup
	// (clone3 with CLONE_INTO_CGROUP, SysProcAttr.UseCgroupFD), so it and
	// everything it forks belong to it from their first instruction. nil
	// leaves the process in the daemon's cgroup. Spawn neither closes nor
	// keeps it.
	CgroupDir *os.File

	// CgroupProcs are cgroup.procs files of cgroup v1 hierarchies
	// (cgroup.Group.V1Procs) that the process writes its own pid into
	// before anything of the job is applied (v1 cannot create a process
	// in a cgroup). They make the spawn use the pre-exec mode.
	CgroupProcs []string

	// Files are extra descriptors for the child: File at descriptor Num
	// (3 and up; not the script's descriptor, nor 3 when the pre-exec
	// step is used). Spawn neither closes nor keeps them.
	Files []ChildFile
	// PidEnv names environment variables that the process finds set to
	// its own pid (WATCHDOG_PID, LISTEN_PID); they make the spawn use the
	// pre-exec step, which knows the pid before the job's program runs.
	PidEnv []string
}

// ChildFile is one extra descriptor of a spawned process.
type ChildFile struct {
	Num  int
	File *os.File
}

// Exit reports the end of a process that Spawn started. It is sent exactly
// once per spawned pid. SpawnErr is set when the process ended before the
// job's own program ran (bad user, chdir failed, exec failed, ...); Status
// is then meaningless.
type Exit struct {
	Pid      int
	Status   syscall.WaitStatus
	SpawnErr error

	// Orphan marks the end of a process that Spawn did not start: an
	// orphan re-parented to us (as PID 1 or subreaper). Cgroup is its
	// cgroup v2 path at death ("" if unknown), so that the daemon can tell
	// which job it belonged to.
	Orphan bool
	Cgroup string
	// Stopped reports a spawned process that stopped itself with SIGSTOP
	// (`expect stop`); it is still alive and another report follows.
	Stopped bool
}
