package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestCgroupExisting: a container whose cgroup exists before a start (made
// by somebody else, with a process of its own) joins it; stop, a start
// after it (which clears what an earlier run left), the collection after a
// killed monitor and rm -f end the container's processes only, and leave
// that cgroup where it is.
func TestCgroupExisting(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "sleep", "1000")
	e.mustRun(0, "stop", "-t", "0", id)

	// Somebody else's cgroup where the container's goes, with a host sleep.
	f, err := testutil.NewForeignCgroup("/sdocker/" + id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close) // after rm -f (runDetached's cleanup runs before)
	check := func(after string) {
		t.Helper()
		if msg := f.Check(after); msg != "" {
			t.Fatal(msg)
		}
	}
	started := func() int {
		t.Helper()
		e.mustRun(0, "start", id)
		rec := e.record(id)
		if rec.CgroupOwnership == nil || len(rec.CgroupOwnership.Made) != 0 {
			t.Errorf("record of a container in an existing cgroup: ownership %+v, want nothing made", rec.CgroupOwnership)
		}
		b, _ := os.ReadFile(filepath.Join(f.Dirs[0], "cgroup.procs"))
		if !slices.Contains(strings.Fields(string(b)), strconv.Itoa(rec.Pid)) {
			t.Errorf("the container's init %d is not in %s: %q", rec.Pid, f.Dirs[0], b)
		}
		trackPid(rec.Pid)
		return rec.Pid
	}

	pid := started()
	e.mustRun(0, "stop", "-t", "0", id)
	testutil.WaitFor(t, 10*time.Second, "the container's init to end", func() bool { return processGone(pid) })
	check("stop")

	pid = started() // over what the previous run made (nothing)
	rec := e.record(id)
	if err := syscall.Kill(rec.Monitor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the monitor to die", func() bool { return processGone(rec.Monitor) })
	if c := e.inspect(id); c.State.Status != "exited" {
		t.Errorf("after the monitor died: %+v", c.State)
	}
	testutil.WaitFor(t, 10*time.Second, "the container's init to be killed", func() bool { return processGone(pid) })
	check("the collection of a container whose monitor died")

	pid = started()
	e.mustRun(0, "rm", "-f", id)
	testutil.WaitFor(t, 10*time.Second, "the container's init to end", func() bool { return processGone(pid) })
	check("rm -f")
}
