package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/tests/testutil"
)

// TestExecKilledBeforeArmed: a foreground exec whose command is killed
// while the process it started in the container has not yet armed its
// parent-death signal (launch.ArmDelayEnv holds it there) leaves nothing
// behind: that process ends without running the program, and the
// container runs on with its init alone. (The process is born in the
// container's pid namespace, where its parent reads as pid 0 alive or
// dead; it used to run the program all the same, which then outlived the
// command, held the command's output open and kept the container's pid
// namespace busy.)
func TestExecKilledBeforeArmed(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached(rootfsDir, "sleep", "100")
	initPid := e.record(id).Pid
	delay := timeout(2 * time.Second)
	helper, err := testutil.KillExecBeforeArmed(e.command("exec", id, "sleep", "99"), delay)
	trackPid(helper)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second+delay, "the exec's process to end without running its program", func() bool {
		return processGone(helper)
	})
	var live []int
	for _, pid := range containerPids(id) {
		if !processGone(pid) {
			live = append(live, pid)
		}
	}
	if !slices.Equal(live, []int{initPid}) {
		t.Errorf("after the killed exec, the container runs %v, want its init %d alone", live, initPid)
	}
	if r := e.record(id); r.Status != engine.StateRunning || r.Pid != initPid {
		t.Errorf("after the killed exec, the container is %s with init %d, want running with %d", r.Status, r.Pid, initPid)
	}
	e.mustRun(0, "exec", id, "true")
}
