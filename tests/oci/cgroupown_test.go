package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// A cgroupsPath may name a cgroup that exists already: the container joins
// it (as runc does), and nothing the runtime does with the container may
// kill a process of that cgroup that is not the container's, nor remove the
// cgroup.

// foreignCgroup is a cgroup that somebody else made, with a process of its
// own in it, at path (cgroupsPath form: /ocitest-PID/...).
type foreignCgroup struct {
	*testutil.ForeignCgroup
	path string
}

// newForeignCgroup makes a foreign cgroup under the suite's parent, in
// every hierarchy a container joins (v1), or the one v2 cgroup. It goes
// when the test ends, after the test's containers (call it before
// newBundle).
func newForeignCgroup(t *testing.T, name string, v1Controllers ...string) *foreignCgroup {
	t.Helper()
	requireRoot(t)
	f := &foreignCgroup{path: fmt.Sprintf("%s/%s-%d", cgroupParent, name, idCounter.Add(1))}
	fc, err := testutil.NewForeignCgroup(f.path, v1Controllers...)
	if err != nil {
		t.Fatal(err)
	}
	f.ForeignCgroup = fc
	t.Cleanup(fc.Close)
	return f
}

// check fails the test unless the cgroup's own process still runs and the
// cgroup is still there.
func (f *foreignCgroup) check(t *testing.T, after string) {
	t.Helper()
	if msg := f.Check(after); msg != "" {
		t.Error(msg)
	}
}

// in reports whether pid is in the cgroup.
func (f *foreignCgroup) in(pid int) bool { return slices.Contains(testutil.CgroupProcs(f.path), pid) }

// containerPids are the processes in the cgroup but its own.
func (f *foreignCgroup) containerPids() []int {
	var out []int
	for _, p := range testutil.CgroupProcs(f.path) {
		if p != f.Sleep.Process.Pid {
			out = append(out, p)
		}
	}
	return out
}

// waitContainerPids waits until container b has at least n processes in
// the cgroup and returns them (reaped when the test ends).
func (f *foreignCgroup) waitContainerPids(b *bundle, n int) []int {
	b.t.Helper()
	var pids []int
	testutil.WaitFor(b.t, pollTimeout, fmt.Sprintf("%d processes of container %s in the cgroup", n, b.id), func() bool {
		pids = f.containerPids()
		return len(pids) >= n
	})
	b.addPids(pids...)
	return pids
}

// joinBundle is a bundle whose cgroupsPath is f's.
func joinBundle(t *testing.T, f *foreignCgroup) *bundle {
	b := newBundle(t)
	b.spec.Linux.CgroupsPath = f.path
	return b
}

// startSleeper creates and starts a container in f whose init runs a
// sleep beside its own loop; with hostPids in the host's pid namespace.
func startSleeper(t *testing.T, f *foreignCgroup, hostPids bool) *bundle {
	t.Helper()
	b := joinBundle(t, f)
	if hostPids {
		b.withoutNamespace(specs.PIDNamespace)
	}
	b.sh("sleep 1000 & echo ready; while :; do sleep 1; done")
	b.createStart()
	return b
}

// killAll runs `kill --all` on container b, then checks that its pids end
// and that f's own process does not.
func (f *foreignCgroup) killAll(b *bundle, sig string, pids []int) {
	b.t.Helper()
	mustRT(b.t, "kill", "--all", b.id, sig)
	waitAllGone(b.t, "every process of the container to end", pids)
	f.check(b.t, "kill --all")
}

// waitAllGone waits until none of pids runs.
func waitAllGone(t *testing.T, what string, pids []int) {
	t.Helper()
	testutil.WaitFor(t, pollTimeout, what, func() bool {
		for _, p := range pids {
			if !waitGone(p, 0) {
				return false
			}
		}
		return true
	})
}

func TestCgroupsPathExisting(t *testing.T) {
	// The reproduction: `run` in an existing cgroup.
	t.Run("run", func(t *testing.T) {
		f := newForeignCgroup(t, "victim")
		b := joinBundle(t, f)
		b.sh("cat /proc/self/cgroup")
		out := b.mustRun()
		f.check(t, "run")
		if !strings.Contains(out, strings.TrimPrefix(f.path, "/")) && !strings.Contains(out, "0::/\n") {
			t.Errorf("the container was not in %s: /proc/self/cgroup %q", f.path, out)
		}
	})
	t.Run("delete --force", func(t *testing.T) {
		f := newForeignCgroup(t, "victim")
		b := joinBundle(t, f)
		b.long()
		b.createStart()
		pid := b.state().Pid
		if !f.in(pid) {
			t.Errorf("the container's init %d did not join %s", pid, f.path)
		}
		mustRT(t, "delete", "--force", b.id)
		if !waitGone(pid, pollTimeout) {
			t.Errorf("the container's init %d survived delete --force", pid)
		}
		f.check(t, "delete --force")
	})
	// v1: the cgroup exists in some hierarchies only. What was made for
	// the container goes with it (a cpuset that update made too), what
	// existed stays.
	t.Run("partly existing", func(t *testing.T) {
		if !cgroupV1() {
			t.Skip("v1 only: one hierarchy on v2")
		}
		f := newForeignCgroup(t, "victim", "memory", "pids")
		b := joinBundle(t, f)
		b.long()
		b.createStart()
		pid := b.state().Pid
		mustRT(t, "update", "--cpuset-cpus", "0", b.id)
		made := testutil.CgroupDirs(f.path)
		if !contains(made, cgroupFile("cpuset", f.path, "")) || !contains(made, cgroupFile("cpu", f.path, "")) {
			t.Errorf("no cpu or cpuset cgroup for the container: %q", made)
		}
		mustRT(t, "delete", "--force", b.id)
		if !waitGone(pid, pollTimeout) {
			t.Errorf("the container's init %d survived delete --force", pid)
		}
		f.check(t, "delete --force")
		for _, d := range testutil.CgroupDirs(f.path) {
			if !contains(f.Dirs, d) {
				t.Errorf("the container's own cgroup %s is left after delete --force", d)
			}
		}
	})
	t.Run("kill --all", func(t *testing.T) {
		if isRunc {
			t.Skip("runc 1.1 signals every process of the cgroup, the container's or not")
		}
		f := newForeignCgroup(t, "victim")
		b := startSleeper(t, f, false)
		// (in the container's pid namespace, not below its init)
		if r := b.withFiles(runOpts{}, "exec", "--detach", b.id, "sleep", "1001"); r.code != 0 {
			t.Fatalf("%v", r)
		}
		pids := f.waitContainerPids(b, 3) // the init, its sleep, the exec'd sleep
		f.killAll(b, "KILL", pids)
		b.waitStatus("stopped")
		mustRT(t, "delete", b.id)
		f.check(t, "delete")
	})
	// A damaged state no longer says what the container made: delete
	// --force goes by what the container recorded beside it, and the cgroup
	// it joined stays with its own process.
	t.Run("damaged state", func(t *testing.T) {
		if isRunc {
			t.Skip("how a damaged state is recovered is sdocker-runc's own")
		}
		f := newForeignCgroup(t, "victim")
		b := joinBundle(t, f)
		b.long()
		b.createStart()
		b.addPids(b.state().Pid)
		if err := os.WriteFile(filepath.Join(stateRoot, b.id, "state.json"), []byte("{garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRT(t, "delete", "--force", b.id)
		f.check(t, "delete --force of a damaged state")
		if _, err := os.Stat(filepath.Join(stateRoot, b.id)); !os.IsNotExist(err) {
			t.Errorf("state directory left: %v", err)
		}
	})
	// Without a pid namespace of its own the container's processes are
	// its init and what descends from it.
	t.Run("host pid namespace", func(t *testing.T) {
		if isRunc {
			t.Skip("runc 1.1 lists and kills every process of the cgroup of a container without a pid namespace")
		}
		f := newForeignCgroup(t, "victim")
		b := startSleeper(t, f, true)
		pids := f.waitContainerPids(b, 2) // the init and its sleep
		var ps []int
		if out := mustRT(t, "ps", "--format", "json", b.id).stdout; json.Unmarshal([]byte(out), &ps) != nil || slices.Contains(ps, f.Sleep.Process.Pid) {
			t.Errorf("ps lists %q; the container's processes are %v, not %d", out, pids, f.Sleep.Process.Pid)
		}
		f.killAll(b, "TERM", pids)

		b2 := startSleeper(t, f, true)
		pids = f.waitContainerPids(b2, 2)
		mustRT(t, "delete", "--force", b2.id)
		waitAllGone(t, "every process of the container to end", pids)
		f.check(t, "delete --force")
	})
	// A create that fails after the cgroup is joined.
	t.Run("failed create", func(t *testing.T) {
		f := newForeignCgroup(t, "victim")
		for _, cmd := range []string{"create", "run"} {
			b := joinBundle(t, f)
			b.long()
			b.addMount(specs.Mount{Destination: "/mnt/x", Type: "bind", Source: "/no/such/source", Options: []string{"rbind"}})
			var r result
			if cmd == "create" {
				r = b.create()
			} else {
				r = b.run()
			}
			if r.code == 0 {
				t.Fatalf("%s with a bind mount of a missing source succeeded", cmd)
			}
			f.check(t, "a failed "+cmd)
			if pids := f.containerPids(); len(pids) > 0 {
				b.addPids(pids...)
				t.Errorf("a failed %s left processes %v in the cgroup", cmd, pids)
			}
		}
	})
}

// A cgroupsPath that is the parent of other containers' cgroups: what the
// runtime does with that container leaves the others alone.
func TestCgroupsPathParentOfOthers(t *testing.T) {
	requireRoot(t)
	parent := fmt.Sprintf("%s/parent-%d", cgroupParent, idCounter.Add(1))
	t.Cleanup(func() { testutil.RemoveCgroupTree(parent) }) // after the containers'
	a := newBundle(t)
	a.cgPath = parent + "/" + a.id
	a.spec.Linux.CgroupsPath = a.cgPath
	a.long()
	a.createStart()
	pidA := a.state().Pid
	alive := func(after string) {
		t.Helper()
		if !testutil.ProcessRunning(pidA) {
			t.Fatalf("after %s: the other container's init %d was killed", after, pidA)
		}
		if st := a.state(); st.Status != "running" {
			t.Errorf("after %s: the other container is %s", after, st.Status)
		}
		if dirs := testutil.CgroupDirs(a.cgPath); len(dirs) == 0 {
			t.Errorf("after %s: the other container's cgroup %s is gone", after, a.cgPath)
		}
	}

	// The run may fail (v2: a cgroup with children takes no processes;
	// v1: the devices rules of a cgroup with children cannot be reset),
	// but cleanly.
	b := newBundle(t)
	b.spec.Linux.CgroupsPath = parent
	b.sh("true")
	if r := b.run(); r.code != 0 {
		t.Logf("run in the parent of another container's cgroup failed: %s", strings.TrimSpace(r.stderr))
	}
	alive("run")

	c := newBundle(t)
	c.spec.Linux.CgroupsPath = parent
	c.long()
	if r := c.create(); r.code == 0 {
		if st, err := c.stateErr(); err == nil && st.Pid > 0 {
			c.addPids(st.Pid)
		}
		mustRT(t, "start", c.id)
		c.waitOutput("ready")
		mustRT(t, "kill", "--all", c.id, "KILL")
		c.waitStatus("stopped")
		alive("kill --all")
		mustRT(t, "delete", "--force", c.id)
		alive("delete --force")
	} else {
		t.Logf("create in the parent of another container's cgroup failed: %s", strings.TrimSpace(r.stderr))
		if st, err := c.stateErr(); err == nil {
			t.Errorf("a failed create left a container %q", st.Status)
		}
	}
	alive("create")
}
