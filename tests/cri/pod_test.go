package cri

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// pod is a pod sandbox the test made through crictl.
type pod struct {
	n       *criNode
	id      string
	name    string
	handler string
	dir     string // its configs and logs
	cfgPath string
}

// runPod makes and starts a pod on handler (crictl runp --runtime) and
// removes it at the end of t.
func runPod(t *testing.T, n *criNode, handler string) *pod {
	t.Helper()
	return runPodLinux(t, n, handler, nil)
}

// runPodLinux is runPod with the pod config's linux section (its cgroup
// parent, resources...) set to linux, unless nil.
func runPodLinux(t *testing.T, n *criNode, handler string, linux map[string]any) *pod {
	t.Helper()
	p := &pod{n: n, handler: handler, name: strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))}
	p.dir = filepath.Join(t.TempDir(), "pod")
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := podConfig(p.name, p.dir, n.cgroupParent)
	if linux != nil {
		cfg["linux"] = linux
	}
	p.cfgPath = writeJSON(t, filepath.Join(p.dir, "pod.json"), cfg)
	p.id = n.mustCrictl(t, "runp", "--runtime", handler, p.cfgPath)
	t.Cleanup(func() {
		if r := n.crictl(timeout(time.Minute), "stopp", p.id); r.err != nil && !strings.Contains(r.stderr, "not found") {
			t.Errorf("cleanup: %s", r)
		}
		if r := n.crictl(timeout(time.Minute), "rmp", p.id); r.err != nil && !strings.Contains(r.stderr, "not found") {
			t.Errorf("cleanup: %s", r)
		}
	})
	return p
}

// podConfig is the CRI config of a pod named name (its uid made unique)
// that logs below logDir and whose cgroups go under cgroupParent.
func podConfig(name, logDir, cgroupParent string) map[string]any {
	return map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "sdcri", "uid": fmt.Sprintf("%s-%d", name, time.Now().UnixNano())},
		"hostname":      "sdcri",
		"log_directory": logDir,
		"linux":         map[string]any{"cgroup_parent": cgroupParent},
	}
}

// container makes a busybox container in the pod running argv, with
// extra fields merged into its config, and returns its id.
func (p *pod) container(t *testing.T, name string, argv []string, extra map[string]any) string {
	t.Helper()
	cfg := containerConfig(name, argv)
	for k, v := range extra {
		cfg[k] = v
	}
	path := writeJSON(t, filepath.Join(p.dir, name+".json"), cfg)
	return p.n.mustCrictl(t, "create", p.id, path, p.cfgPath)
}

// containerConfig is the CRI config of a busybox container running argv.
func containerConfig(name string, argv []string) map[string]any {
	return map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": busyboxImage},
		"command":  argv,
		"log_path": name + ".log",
	}
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// containerStatus is what `crictl inspect` tells of a container.
type containerStatus struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
	} `json:"status"`
	Info struct {
		Pid int `json:"pid"`
	} `json:"info"`
}

func (p *pod) inspect(t *testing.T, id string) containerStatus {
	t.Helper()
	var st containerStatus
	jsonField(t, p.n.mustCrictl(t, "inspect", "-o", "json", id), &st)
	return st
}

// waitState waits until container id is in state (CONTAINER_RUNNING...).
func (p *pod) waitState(t *testing.T, id, state string) containerStatus {
	t.Helper()
	var st containerStatus
	if !waitFor(timeout(time.Minute), func() bool { st = p.inspect(t, id); return st.Status.State == state }) {
		t.Fatalf("container %s: state %s, want %s", id, st.Status.State, state)
	}
	return st
}

// podNetns is the network namespace path of the pod's sandbox.
func (p *pod) podNetns(t *testing.T) string {
	t.Helper()
	var out struct {
		Info struct {
			RuntimeSpec struct {
				Linux struct {
					Namespaces []struct{ Type, Path string } `json:"namespaces"`
				} `json:"linux"`
			} `json:"runtimeSpec"`
		} `json:"info"`
	}
	jsonField(t, p.n.mustCrictl(t, "inspectp", "-o", "json", p.id), &out)
	for _, ns := range out.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			return ns.Path
		}
	}
	t.Fatalf("pod %s has no network namespace path", p.id)
	return ""
}

// bridgePorts is the number of veths attached to the suite's bridge.
func bridgePorts(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show", "master", bridgeName).Output()
	if err != nil {
		return 0 // no bridge yet or any more
	}
	return len(strings.Split(strings.TrimSpace(string(out)), "\n")) - boolInt(strings.TrimSpace(string(out)) == "")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPodLifecycle goes through a pod's life on the sdocker handler as the
// kubelet does: runp, create, start, exec, logs, stats, stopp, rmp; the
// pod gets an address of the suite's subnet, its containers run under
// sdocker-runc, and once removed it leaves no cgroup, mount, veth or
// network namespace.
func TestPodLifecycle(t *testing.T) {
	n := requireNode(t)
	portsBefore := bridgePorts(t)
	p := runPod(t, n, "sdocker")
	netns := p.podNetns(t)

	var ps struct {
		Status struct {
			State   string `json:"state"`
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	jsonField(t, n.mustCrictl(t, "inspectp", "-o", "json", p.id), &ps)
	if ps.Status.State != "SANDBOX_READY" || !strings.HasPrefix(ps.Status.Network.IP, "10.99.0.") {
		t.Fatalf("pod %s: state %s ip %q, want SANDBOX_READY on %s", p.id, ps.Status.State, ps.Status.Network.IP, subnet)
	}

	id := p.container(t, "main", []string{"sh", "-c", "echo hello-from-cri; exec sleep 1000"}, nil)
	n.mustCrictl(t, "start", id)
	st := p.waitState(t, id, "CONTAINER_RUNNING")
	if !runtimeStateExists(n, "sdocker", id) {
		t.Errorf("container %s has no state under the sdocker handler's runtime root", id)
	}

	// exec -s: a synchronous exec in the container's namespaces.
	out := n.mustCrictl(t, "exec", "-s", id, "sh", "-c", "echo exec-ok $(hostname); ip -4 -o addr show eth0 2>/dev/null || cat /proc/net/fib_trie | grep -c 10.99.0.")
	if !strings.HasPrefix(out, "exec-ok sdcri") {
		t.Errorf("exec -s: %q, want exec-ok sdcri...", out)
	}
	if r := n.crictl(timeout(time.Minute), "exec", "-s", id, "sh", "-c", "exit 3"); r.err == nil {
		t.Errorf("exec -s of exit 3 succeeded: %s", r)
	}

	if !waitFor(timeout(30*time.Second), func() bool {
		return strings.Contains(n.crictl(timeout(time.Minute), "logs", id).stdout, "hello-from-cri")
	}) {
		t.Errorf("crictl logs %s never showed the container's output", id)
	}

	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSet struct {
					Value string `json:"value"`
				} `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	jsonField(t, n.mustCrictl(t, "stats", "-o", "json", "--id", id), &stats)
	if len(stats.Stats) != 1 || stats.Stats[0].Memory.WorkingSet.Value == "" || stats.Stats[0].Memory.WorkingSet.Value == "0" {
		t.Errorf("crictl stats %s: %+v, want the container's working set", id, stats.Stats)
	}

	n.mustCrictl(t, "stopp", p.id)
	if st := p.inspect(t, id); st.Status.State != "CONTAINER_EXITED" {
		t.Errorf("after stopp the container is %s, want CONTAINER_EXITED", st.Status.State)
	}
	n.mustCrictl(t, "rmp", p.id)
	if r := n.crictl(timeout(time.Minute), "inspectp", p.id); r.err == nil {
		t.Errorf("pod %s still listed after rmp", p.id)
	}
	checkPodGone(t, n, p, netns, []string{id}, st.Info.Pid, portsBefore)
}

// runtimeStateExists reports whether the runtime of handler keeps state
// for container id (the shim's root is Root/k8s.io).
func runtimeStateExists(n *criNode, handler, id string) bool {
	_, err := os.Stat(filepath.Join(n.dir, "runtime-root", handler, "k8s.io", id))
	return err == nil
}

// checkPodGone fails t for what a removed pod left: runtime state, its
// processes, cgroups, mounts, its network namespace or a veth.
func checkPodGone(t *testing.T, n *criNode, p *pod, netns string, ids []string, pid, portsBefore int) {
	t.Helper()
	for _, id := range append([]string{p.id}, ids...) {
		if runtimeStateExists(n, p.handler, id) {
			t.Errorf("runtime state of %s left after rmp", id)
		}
		for _, h := range cgroupDirs(n.cgroupParent, id) {
			t.Errorf("cgroup left after rmp: %s", h)
		}
		for _, m := range mountsNamed(id) {
			t.Errorf("mount left after rmp: %s", m)
		}
	}
	if pid > 0 && testutil.ProcessRunning(pid) {
		t.Errorf("container process %d still runs after rmp", pid)
	}
	if netns != "" {
		if _, err := os.Stat(netns); err == nil {
			t.Errorf("network namespace %s left after rmp", netns)
		}
	}
	if got := bridgePorts(t); got != portsBefore {
		t.Errorf("%d veths on %s after rmp, want %d", got, bridgeName, portsBefore)
	}
}

// cgroupDirs lists the cgroup directories parent/id in every hierarchy.
func cgroupDirs(parent, id string) []string {
	var out []string
	for _, h := range testutil.CgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, parent, id)); err == nil {
			out = append(out, filepath.Join(h, parent, id))
		}
	}
	return out
}

// mountsNamed lists the mount points whose path contains word.
func mountsNamed(word string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.Contains(f[4], word) {
			out = append(out, f[4])
		}
	}
	return out
}

// TestContainerLimitsAndOOMReason gives a container of a pod on the
// sdocker handler a memory and a CPU limit through the CRI: they are in
// the container's cgroup under the pod's cgroup parent, and a program that
// outgrows the memory limit is OOM-killed, which reaches the CRI status as
// reason OOMKilled with exit code 137.
func TestContainerLimitsAndOOMReason(t *testing.T) {
	n := requireNode(t)
	p := runPod(t, n, "sdocker")
	const limit = 32 << 20
	res := map[string]any{"linux": map[string]any{"resources": map[string]any{
		"memory_limit_in_bytes": limit, "cpu_period": 100000, "cpu_quota": 50000,
	}}}
	// It waits for /tmp/go before it eats memory: its limits are read first.
	id := p.container(t, "oom", []string{"sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; tail /dev/zero"}, res)
	n.mustCrictl(t, "start", id)
	p.waitState(t, id, "CONTAINER_RUNNING")

	want := map[string]string{
		"memory/memory.limit_in_bytes": fmt.Sprint(limit),
		"cpu/cpu.cfs_quota_us":         "50000",
	}
	if v2 := testutil.CgroupHierarchies(); len(v2) == 1 && v2[0] == "/sys/fs/cgroup" {
		want = map[string]string{"memory.max": fmt.Sprint(limit), "cpu.max": "50000 100000"}
	}
	for file, value := range want {
		dir, name := filepath.Split(file)
		path := filepath.Join("/sys/fs/cgroup", dir, n.cgroupParent, id, name)
		if dir == "" {
			path = filepath.Join("/sys/fs/cgroup", n.cgroupParent, id, name)
		}
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) != value {
			t.Errorf("%s = %q (%v), want %s", path, strings.TrimSpace(string(b)), err, value)
		}
	}

	n.mustCrictl(t, "exec", "-s", id, "touch", "/tmp/go")
	st := p.waitState(t, id, "CONTAINER_EXITED")
	if st.Status.Reason != "OOMKilled" || st.Status.ExitCode != 137 {
		t.Errorf("OOM-killed container: reason %q exit code %d, want OOMKilled and 137", st.Status.Reason, st.Status.ExitCode)
	}
}

// TestExecTTY runs an exec with a terminal (crictl exec -t, the streaming
// exec a kubectl exec -t makes) in a container on the sdocker handler: the
// process gets a pty as its stdin and stdout; without -t it has none.
func TestExecTTY(t *testing.T) {
	n := requireNode(t)
	p := runPod(t, n, "sdocker")
	id := p.container(t, "tty", []string{"sleep", "1000"}, nil)
	n.mustCrictl(t, "start", id)
	p.waitState(t, id, "CONTAINER_RUNNING")

	// crictl wants a terminal of its own for -it: script(1) gives it one.
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script (util-linux) not installed: no terminal for crictl exec -it")
	}
	line := fmt.Sprintf("%s --config %s exec -it %s sh -c 'tty; [ -t 1 ] && echo stdout-is-a-tty'",
		n.crictlBin, filepath.Join(n.dir, "crictl.yaml"), id)
	r := run(timeout(time.Minute), "script", "-qec", line, "/dev/null")
	if r.err != nil {
		t.Fatalf("%s", r)
	}
	out := r.stdout
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdout-is-a-tty") {
		t.Errorf("exec -t: %q, want a /dev/pts/N terminal on stdin and stdout", out)
	}
	out = n.mustCrictl(t, "exec", id, "sh", "-c", "tty; [ -t 1 ] || echo stdout-is-no-tty")
	if !strings.Contains(out, "not a tty") || !strings.Contains(out, "stdout-is-no-tty") {
		t.Errorf("exec without -t: %q, want no terminal", out)
	}
}
