package oci

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/tests/testutil"
)

// TestExecKilledBeforeArmed: an exec whose runtime command is killed while
// the process it started in the container has not yet armed its
// parent-death signal (launch.ArmDelayEnv holds it there) leaves nothing
// behind: that process ends without running the program, and the
// container keeps its init alone. (Born in the container's pid namespace,
// the process reads its parent as pid 0, alive or dead.)
func TestExecKilledBeforeArmed(t *testing.T) {
	if isRunc {
		t.Skip("a fault injection of sdocker-runc")
	}
	if testutil.ArmDelayEnv != launch.ArmDelayEnv {
		t.Fatalf("testutil.ArmDelayEnv %q, launch's %q", testutil.ArmDelayEnv, launch.ArmDelayEnv)
	}
	b := newBundle(t)
	b.sh("echo ready; exec sleep 1000")
	b.createStart()
	initPid := b.state().Pid
	const delay = 2 * time.Second
	cmd := exec.Command(runtimeBin, "--root", stateRoot, "exec", b.id, "sleep", "99")
	helper, err := testutil.KillExecBeforeArmed(cmd, delay)
	b.addPids(helper)
	if err != nil {
		t.Fatal(err)
	}
	if !waitGone(helper, pollTimeout+delay) {
		c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", helper))
		t.Fatalf("the exec's process %d still runs %q after its runtime command was killed", helper, c)
	}
	if pids := testutil.CgroupProcs(b.cgPath); !slices.Equal(pids, []int{initPid}) {
		t.Errorf("after the killed exec, the container's cgroup holds %v, want its init %d alone", pids, initPid)
	}
	if st := b.state(); st.Status != "running" || st.Pid != initPid {
		t.Errorf("after the killed exec, the container is %s with init %d, want running with %d", st.Status, st.Pid, initPid)
	}
}
