package cri

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// podCgroupControllers are the v1 hierarchies the pod's cgroup is made
// in, as the kubelet's cgroupfs driver makes it (cpuset aside: a
// container joins it only for cpus or mems of its own).
var podCgroupControllers = []string{"memory", "cpu", "cpuacct", "pids", "blkio", "devices", "freezer"}

// TestPodCgroupLimits runs a pod on the sdocker handler as the kubelet's
// cgroupfs driver does on cgroup v1: the kubelet makes the pod's cgroup
// (kubepods/burstable/pod<uid>) with the pod's limits itself, names it as
// the pod config's cgroup_parent and passes the same limits as the pod's
// resources. The sandbox and both containers get their cgroups under it;
// one container has a memory and CPU limit of its own, the other none.
// The kernel applies both levels: the limited container's hierarchical
// memory limit is its own, the other's the pod's; the other one, spinning,
// is throttled by the pod's CPU quota (not by one of its own), and when
// it eats memory the pod's limit OOM-kills it, reported as OOMKilled with
// exit code 137. After stopp and rmp the pod's cgroup has no cgroup left
// below it and can be removed.
func TestPodCgroupLimits(t *testing.T) {
	n := requireNode(t)
	if testutil.CgroupV2() {
		t.Skip("the pod cgroup is made with cgroup v1 files here; this machine has cgroup v2")
	}
	const (
		period           = 100000
		podMem, podQuota = 96 << 20, 10000
		ctrMem, ctrQuota = 32 << 20, 5000
		unlimitedQuota   = "-1"
	)
	podCg := path.Join(n.cgroupParent, "kubepods", "burstable", fmt.Sprintf("pod%d", time.Now().UnixNano()))
	makePodCgroup(t, podCg, map[string]string{
		"memory/memory.limit_in_bytes": strconv.Itoa(podMem),
		"cpu/cpu.cfs_period_us":        strconv.Itoa(period),
		"cpu/cpu.cfs_quota_us":         strconv.Itoa(podQuota),
		"cpu/cpu.shares":               "102",
	})
	p := runPodLinux(t, n, "sdocker", map[string]any{
		"cgroup_parent": podCg,
		"resources": map[string]any{
			"cpu_period": period, "cpu_quota": podQuota, "cpu_shares": 102, "memory_limit_in_bytes": podMem,
		},
	})
	limited := p.container(t, "limited", []string{"sleep", "1000"}, map[string]any{"linux": map[string]any{
		"resources": map[string]any{"memory_limit_in_bytes": ctrMem, "cpu_period": period, "cpu_quota": ctrQuota},
	}})
	// It spins until /tmp/mem is there, then eats memory.
	free := p.container(t, "free", []string{"sh", "-c", "while [ ! -e /tmp/mem ]; do :; done; exec tail /dev/zero"}, nil)
	for _, id := range []string{limited, free} {
		n.mustCrictl(t, "start", id)
	}
	pids := map[string]int{p.id: sandboxPid(t, p)}
	for _, id := range []string{limited, free} {
		pids[id] = p.waitState(t, id, "CONTAINER_RUNNING").Info.Pid
	}
	for id, pid := range pids {
		for _, c := range []string{"memory", "cpu"} {
			if got, want := procCgroup(t, pid, c), path.Join(podCg, id); got != want {
				t.Errorf("process %d of %s is in %s cgroup %s, want %s (under the pod's)", pid, id, c, got, want)
			}
		}
	}

	cg := func(c, id, file string) string { return filepath.Join("/sys/fs/cgroup", c, podCg, id, file) }
	checkCgroupFiles(t, map[string]string{
		cg("memory", "", "memory.limit_in_bytes"):      strconv.Itoa(podMem),
		cg("cpu", "", "cpu.cfs_quota_us"):              strconv.Itoa(podQuota),
		cg("memory", limited, "memory.limit_in_bytes"): strconv.Itoa(ctrMem),
		cg("cpu", limited, "cpu.cfs_quota_us"):         strconv.Itoa(ctrQuota),
		cg("cpu", free, "cpu.cfs_quota_us"):            unlimitedQuota,
	})
	// What the kernel applies: the lower of a cgroup's limit and its
	// ancestors'.
	for id, want := range map[string]int{limited: ctrMem, free: podMem} {
		if got := cgroupStat(t, cg("memory", id, "memory.stat"), "hierarchical_memory_limit"); got != want {
			t.Errorf("%s: hierarchical_memory_limit %d, want %d", id, got, want)
		}
	}
	if !waitFor(timeout(time.Minute), func() bool { return cgroupStat(t, cg("cpu", "", "cpu.stat"), "nr_throttled") > 0 }) {
		t.Errorf("the pod's cgroup was never throttled while a container of it spun (quota %d of %d us)", podQuota, period)
	}
	if got := cgroupStat(t, cg("cpu", free, "cpu.stat"), "nr_throttled"); got != 0 {
		t.Errorf("the spinning container, which has no quota of its own, was throttled itself %d times", got)
	}

	n.mustCrictl(t, "exec", "-s", free, "touch", "/tmp/mem")
	st := p.waitState(t, free, "CONTAINER_EXITED")
	if st.Status.Reason != "OOMKilled" || st.Status.ExitCode != 137 {
		t.Errorf("container over the pod's memory limit: reason %q exit code %d, want OOMKilled and 137", st.Status.Reason, st.Status.ExitCode)
	}
	if st := p.inspect(t, limited); st.Status.State != "CONTAINER_RUNNING" {
		t.Errorf("the other container is %s after the OOM kill, want CONTAINER_RUNNING", st.Status.State)
	}

	n.mustCrictl(t, "stopp", p.id)
	n.mustCrictl(t, "rmp", p.id)
	if left := testutil.CgroupDirs(podCg + "/*"); len(left) > 0 {
		t.Errorf("cgroups left below the pod's after rmp: %q", left)
	}
	// The kubelet removes the pod's cgroup: it must be empty.
	if left := testutil.RemoveCgroupTree(podCg); len(left) > 0 {
		t.Errorf("the pod's cgroup cannot be removed after rmp: %q", left)
	}
}

// makePodCgroup makes the cgroup podCg in every podCgroupControllers
// hierarchy and writes files ("controller/file": value) into it, as the
// kubelet makes a pod's cgroup. It is removed at the end of t.
func makePodCgroup(t *testing.T, podCg string, files map[string]string) {
	t.Helper()
	t.Cleanup(func() {
		if left := testutil.RemoveCgroupTree(podCg); len(left) > 0 {
			t.Errorf("cleanup: cgroups left: %q", left)
		}
	})
	for _, c := range podCgroupControllers {
		if err := os.MkdirAll(filepath.Join("/sys/fs/cgroup", c, podCg), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for file, value := range files {
		dir, name := filepath.Split(file)
		p := filepath.Join("/sys/fs/cgroup", dir, podCg, name)
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
	}
}

// sandboxPid is the pid of p's sandbox (its pause process).
func sandboxPid(t *testing.T, p *pod) int {
	t.Helper()
	var out struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	jsonField(t, p.n.mustCrictl(t, "inspectp", "-o", "json", p.id), &out)
	if out.Info.Pid <= 0 {
		t.Fatalf("pod %s: no sandbox pid", p.id)
	}
	return out.Info.Pid
}

// procCgroup is the path of pid's cgroup in the v1 hierarchy of
// controller c.
func procCgroup(t *testing.T, pid int, c string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, name := range strings.Split(f[1], ",") {
			if name == c {
				return f[2]
			}
		}
	}
	t.Fatalf("process %d is in no %s cgroup:\n%s", pid, c, b)
	return ""
}

// checkCgroupFiles fails t for each cgroup file whose value differs.
func checkCgroupFiles(t *testing.T, want map[string]string) {
	t.Helper()
	for p, v := range want {
		b, err := os.ReadFile(p)
		if got := strings.TrimSpace(string(b)); err != nil || got != v {
			t.Errorf("%s = %q (%v), want %s", p, got, err, v)
		}
	}
}

// cgroupStat is the value of key in a cgroup stat file (memory.stat,
// cpu.stat).
func cgroupStat(t *testing.T, file, key string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			v, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("%s: %s: %v", file, line, err)
			}
			return v
		}
	}
	t.Fatalf("%s has no %s", file, key)
	return 0
}
