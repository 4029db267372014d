package oci

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// The reaper. This machine's PID 1 never reaps orphans and the test binary
// is a child subreaper, so the processes of the tests' containers whose
// parent is outside the container (the init of a container made by
// `create`, a process of `exec --detach`) become our children once the
// runtime command that started them exits. They must be reaped promptly: an
// init that was killed stays in the kernel's zap_pid_ns_processes, not yet
// a zombie, until every other process of its pid namespace is reaped, and a
// runtime's `delete --force` waits for that init to be gone.
//
// It never calls wait4(-1) (that would steal the exit status of the
// exec.Cmd's the tests run): it follows the pids it has seen in the tests'
// cgroups (or was told about), each with its start time, and reaps one only
// when it is a zombie child of ours with the same start time (so never a
// recycled pid that is now an exec.Cmd of ours).
var reaper = struct {
	sync.Mutex
	pids map[int]uint64 // pid -> start time (clock ticks since boot)
}{pids: map[int]uint64{}}

func startReaper() (stop func()) { return testutil.Every(50*time.Millisecond, reapScan) }

// trackPid has the reaper follow pid (a container process).
func trackPid(pid int) {
	if pid <= 0 {
		return
	}
	st, ok := testutil.ReadProcStat(pid)
	if !ok {
		return
	}
	reaper.Lock()
	if _, seen := reaper.pids[pid]; !seen {
		reaper.pids[pid] = st.Start
	}
	reaper.Unlock()
}

func reapScan() {
	// Everything in the tests' cgroups is a container process.
	for _, d := range testutil.CgroupDirs(cgroupParent) {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				for _, pid := range testutil.CgroupDirProcs(p) {
					trackPid(pid)
				}
			}
			return nil
		})
	}
	self := os.Getpid()
	reaper.Lock()
	defer reaper.Unlock()
	for pid, start := range reaper.pids {
		st, ok := testutil.ReadProcStat(pid)
		switch {
		case !ok || st.Start != start:
			delete(reaper.pids, pid) // gone (reaped by its parent), or recycled
		case st.State == 'Z' && st.PPid == self:
			var ws unix.WaitStatus
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid || err == unix.ECHILD {
				delete(reaper.pids, pid)
			}
		}
	}
}

// waitGone waits up to d (scaled) for pid (a container process) to end and be
// reaped; it reports whether it did. A zombie whose parent is not us
// counts as ended.
func waitGone(pid int, d time.Duration) bool {
	if pid <= 0 {
		return true
	}
	trackPid(pid)
	return testutil.Poll(d, func() bool {
		reaper.Lock()
		_, tracked := reaper.pids[pid]
		reaper.Unlock()
		if !tracked {
			return true
		}
		st, ok := testutil.ReadProcStat(pid)
		return ok && st.State == 'Z' && st.PPid != os.Getpid()
	})
}
