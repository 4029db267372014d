package clients

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

const podmanImage = "localhost/sdbusybox:test"

// podmanEnv is a podman isolated in temp dirs: its own containers.conf,
// storage.conf, registries.conf, root, runroot, tmpdir, network config and
// cgroup parent, and the runtime wrapper as --runtime.
type podmanEnv struct {
	dir      string
	globals  []string
	env      []string
	cgParent string // cgroup parent of the containers (--cgroup-parent)
	netavark bool   // default (bridge) networking works
}

// podman is the suite's podman, set up on first use.
var podman lazyClient[*podmanEnv]

// requirePodman returns the suite's podman, set up on first use, or skips.
func requirePodman(t *testing.T) *podmanEnv {
	t.Helper()
	return podman.get(t, "podman", func() string {
		for _, bin := range []string{"podman", "conmon"} {
			if _, err := exec.LookPath(bin); err != nil {
				if _, err2 := os.Stat("/usr/libexec/podman/" + bin); err2 != nil {
					return fmt.Sprintf("%s not installed (apt-get install podman)", bin)
				}
			}
		}
		return ""
	}, setupPodman)
}

func setupPodman() (*podmanEnv, error) {
	p := &podmanEnv{
		dir:      filepath.Join(workDir, "podman"),
		cgParent: fmt.Sprintf("/sdclients-podman-%d", os.Getpid()),
	}
	d := func(name string) string { return filepath.Join(p.dir, name) }
	for _, sub := range []string{"root", "runroot", "tmp", "networks"} {
		if err := os.MkdirAll(d(sub), 0o755); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"storage.conf": fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`, d("root"), d("runroot")),
		"registries.conf": "",
		// nofile: this host lacks CAP_SYS_RESOURCE, its hard limit is 20000.
		"containers.conf": fmt.Sprintf(`[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
runtime_supports_json = ["sdocker-runc", "runc", "crun"]

[network]
network_config_dir = %q
`, d("events.log"), d("tmp"), d("networks")),
	}
	for name, content := range files {
		if err := os.WriteFile(d(name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINERS_") && !strings.HasPrefix(kv, "REGISTRIES_CONFIG_PATH=") {
			p.env = append(p.env, kv)
		}
	}
	p.env = append(p.env,
		"CONTAINERS_CONF="+d("containers.conf"),
		"CONTAINERS_STORAGE_CONF="+d("storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+d("registries.conf"),
	)
	p.globals = []string{
		"--root", d("root"), "--runroot", d("runroot"), "--tmpdir", d("tmp"),
		"--network-config-dir", d("networks"),
		"--events-backend", "file", "--cgroup-manager", "cgroupfs",
		"--storage-driver", "overlay",
		"--runtime", wrapperPath,
	}
	teardowns = append(teardowns, p.teardown)

	if r := p.podman(timeout(3*time.Minute), "import", rootfsTar, podmanImage); !r.ok() {
		return nil, fmt.Errorf("podman import: %s", r)
	}
	if r := p.podman(timeout(time.Minute), "info", "--format", "{{.Host.NetworkBackend}}"); r.ok() &&
		strings.TrimSpace(r.stdout) == "netavark" {
		p.netavark = true
	}
	return p, nil
}

// podman runs podman with the isolated configuration.
func (p *podmanEnv) podman(d time.Duration, args ...string) *result {
	r := runCmd(d, p.env, "podman", append(append([]string{}, p.globals...), args...)...)
	r.cmdline = "podman " + strings.Join(args, " ") // (+ the isolating global flags)
	return r
}

// mustPodman runs podman and fails t unless it exits 0.
func (p *podmanEnv) mustPodman(t *testing.T, args ...string) *result {
	t.Helper()
	r := p.podman(timeout(2*time.Minute), args...)
	if !r.ok() {
		t.Fatalf("%s", r)
	}
	return r
}

// runFlags are the flags every test container gets.
func (p *podmanEnv) runFlags(network bool) []string {
	f := []string{"--pull", "never", "--cgroup-parent", p.cgParent}
	if !network {
		f = append(f, "--network", "none")
	}
	return f
}

// removeOnCleanup removes container name at the end of t, whatever happened.
func (p *podmanEnv) removeOnCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		if r := p.podman(timeout(2*time.Minute), "rm", "-f", "-t", "0", "--ignore", name); !r.ok() {
			t.Errorf("cleanup: %s", r)
		}
	})
}

// checkGone fails t if the runtime state or the cgroup of container id is
// still there (after podman rm).
func (p *podmanEnv) checkGone(t *testing.T, id string) {
	t.Helper()
	if fileExists(filepath.Join(stateRoot, id)) {
		t.Errorf("runtime state %s left after podman rm", filepath.Join(stateRoot, id))
	}
	if left := cgroupDirsNamed(p.cgParent, id); len(left) > 0 {
		t.Errorf("cgroups left after podman rm: %q", left)
	}
}

func (p *podmanEnv) teardown() error {
	var errs []string
	if r := p.podman(timeout(3*time.Minute), "rm", "-af", "-t", "0"); !r.ok() {
		errs = append(errs, r.String())
	}
	if r := p.podman(timeout(3*time.Minute), "rmi", "-af"); !r.ok() {
		errs = append(errs, r.String())
	}
	// conmon and podman's cleanup processes outlive the commands: wait,
	// then kill what is left of ours (argv names our temp dir).
	if !testutil.Poll(30*time.Second, func() bool { return len(processesMatching(p.dir)) == 0 }) {
		left := processesMatching(p.dir)
		errs = append(errs, fmt.Sprintf("processes left (killed): %v", pids(left)))
		killProcesses(left)
	}
	if r := p.podman(timeout(3*time.Minute), "system", "reset", "-f"); !r.ok() {
		errs = append(errs, r.String())
	}
	if m := testutil.MountsUnder(p.dir); len(m) > 0 {
		errs = append(errs, fmt.Sprintf("mounts left under %s (unmounted): %q", p.dir, m))
		testutil.UnmountAll(p.dir)
	}
	if left := cgroupDirsNamed(p.cgParent, "libpod-"); len(left) > 0 {
		errs = append(errs, fmt.Sprintf("container cgroups left: %q", left))
	}
	// What podman itself leaves (the conmon cgroup, the parent): ours to remove.
	if left := testutil.RemoveCgroupTree(p.cgParent); len(left) > 0 {
		errs = append(errs, fmt.Sprintf("cannot remove cgroups: %q", left))
	}
	if len(errs) > 0 {
		return fmt.Errorf("podman: %s", strings.Join(errs, "\n"))
	}
	return nil
}

func pids(ps []procInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d %q", p.pid, strings.Join(p.argv, " ")))
	}
	return out
}

// TestPodmanRunEcho: podman run --rm IMAGE echo hi prints hi.
func TestPodmanRunEcho(t *testing.T) {
	p := requirePodman(t)
	name := uniqueID("echo")
	p.removeOnCleanup(t, name)
	args := append([]string{"run", "--rm", "--name", name}, p.runFlags(false)...)
	r := p.mustPodman(t, append(args, podmanImage, "echo", "hi")...)
	if got := r.stdout; got != "hi\n" {
		t.Errorf("podman run echo hi: stdout %q, want %q\n%s", got, "hi\n", r)
	}
	if left := stateLeft(stateRoot); len(left) > 0 {
		t.Errorf("runtime state left after podman run --rm: %q", left)
	}
	if left := cgroupDirsNamed(p.cgParent, "libpod-"); len(left) > 0 {
		t.Errorf("cgroups left after podman run --rm: %q", left)
	}
}

// TestPodmanRunExitCode: the container's exit status is podman's.
func TestPodmanRunExitCode(t *testing.T) {
	p := requirePodman(t)
	name := uniqueID("exit")
	p.removeOnCleanup(t, name)
	args := append([]string{"run", "--rm", "--name", name}, p.runFlags(false)...)
	r := p.podman(timeout(2*time.Minute), append(args, podmanImage, "sh", "-c", "echo out; echo err >&2; exit 7")...)
	if r.code != 7 || r.stdout != "out\n" || !strings.Contains(r.stderr, "err") {
		t.Errorf("want exit 7, stdout out, stderr err; got %s", r)
	}
}

// TestPodmanDetachedExecStopRm: run -d, exec, stop -t 2, rm.
func TestPodmanDetachedExecStopRm(t *testing.T) {
	p := requirePodman(t)
	name := uniqueID("detached")
	p.removeOnCleanup(t, name)
	args := append([]string{"run", "-d", "--name", name}, p.runFlags(false)...)
	id := strings.TrimSpace(p.mustPodman(t, append(args, podmanImage, "sleep", "1000")...).stdout)
	if len(id) != 64 {
		t.Fatalf("podman run -d printed %q, want a container id", id)
	}
	st := p.mustPodman(t, "inspect", "--format", "{{.State.Status}} {{.State.Pid}}", name).stdout
	if !strings.HasPrefix(st, "running ") {
		t.Fatalf("after run -d: state %q, want running", st)
	}

	r := p.mustPodman(t, "exec", name, "echo", "hi")
	if r.stdout != "hi\n" {
		t.Errorf("podman exec echo hi: stdout %q, want %q", r.stdout, "hi\n")
	}

	start := time.Now()
	p.mustPodman(t, "stop", "-t", "2", name)
	if d := time.Since(start); d > timeout(30*time.Second) {
		t.Errorf("podman stop -t 2 took %s", d)
	}
	st = p.mustPodman(t, "inspect", "--format", "{{.State.Status}}", name).stdout
	if strings.TrimSpace(st) != "exited" {
		t.Errorf("after stop: state %q, want exited", st)
	}
	p.mustPodman(t, "rm", name)
	p.checkGone(t, id)
}

// TestPodmanExecExitCode: podman exec returns the exec'd process's exit
// status, every time. conmon runs `RUNTIME exec --detach --pid-file F` as a
// subreaper and collects the process's exit itself: a runtime that reaps
// the process before it exits loses that status (podman then says 255).
func TestPodmanExecExitCode(t *testing.T) {
	p := requirePodman(t)
	name := uniqueID("execcode")
	p.removeOnCleanup(t, name)
	args := append([]string{"run", "-d", "--name", name}, p.runFlags(false)...)
	p.mustPodman(t, append(args, podmanImage, "sleep", "1000")...)
	const rounds = 15
	var codes []int
	bad := 0
	for i := 0; i < rounds; i++ {
		r := p.podman(timeout(time.Minute), "exec", name, "sh", "-c", "exit 3")
		codes = append(codes, r.code)
		if r.code != 3 {
			bad++
			t.Logf("round %d: %s", i, r)
		}
	}
	if bad > 0 {
		t.Errorf("podman exec CTR sh -c 'exit 3': %d of %d rounds did not exit 3: %v", bad, rounds, codes)
	}
}

// TestPodmanMemoryLimit: --memory 32m is the container's memory limit, as
// the host sees it in the container's cgroup and as the container sees it
// in its own /sys/fs/cgroup.
func TestPodmanMemoryLimit(t *testing.T) {
	p := requirePodman(t)
	const want = "33554432"
	v2 := testutil.CgroupV2()

	t.Run("host", func(t *testing.T) {
		name := uniqueID("mem")
		p.removeOnCleanup(t, name)
		args := append([]string{"run", "-d", "--memory", "32m", "--name", name}, p.runFlags(false)...)
		p.mustPodman(t, append(args, podmanImage, "sleep", "1000")...)
		cg := strings.TrimSpace(p.mustPodman(t, "inspect", "--format", "{{.State.CgroupPath}}", name).stdout)
		if cg == "" {
			t.Fatalf("podman inspect: no State.CgroupPath")
		}
		file := filepath.Join("/sys/fs/cgroup/memory", cg, "memory.limit_in_bytes")
		if v2 {
			file = filepath.Join("/sys/fs/cgroup", cg, "memory.max")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("container cgroup (podman inspect State.CgroupPath %q): %v", cg, err)
		}
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	})

	t.Run("inside", func(t *testing.T) {
		name := uniqueID("meminside")
		p.removeOnCleanup(t, name)
		file := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
		if v2 {
			file = "/sys/fs/cgroup/memory.max"
		}
		args := append([]string{"run", "--rm", "--memory", "32m", "--name", name}, p.runFlags(false)...)
		r := p.mustPodman(t, append(args, podmanImage, "sh", "-c",
			"cat "+file+"; echo; grep -E ' /sys/fs/cgroup(/memory)? ' /proc/self/mountinfo")...)
		lines := strings.SplitN(r.stdout, "\n", 2)
		if strings.TrimSpace(lines[0]) != want {
			t.Errorf("inside the container, %s = %q, want %s (the container's own cgroup); "+
				"the container's cgroup mounts:\n%s", file, strings.TrimSpace(lines[0]), want, r.stdout)
		}
	})
}

// TestPodmanDefaultNetwork: podman's default bridge network (netavark):
// podman makes the netns and the runtime joins it by path.
func TestPodmanDefaultNetwork(t *testing.T) {
	p := requirePodman(t)
	if !p.netavark {
		skip(t, "podman's network backend is not netavark here (apt-get install netavark)")
	}
	name := uniqueID("net")
	p.removeOnCleanup(t, name)
	args := append([]string{"run", "--rm", "--name", name}, p.runFlags(true)...)
	r := p.mustPodman(t, append(args, podmanImage, "sh", "-c", "ip -4 -o addr show; readlink /proc/self/ns/net")...)
	if !strings.Contains(r.stdout, "eth0") || !strings.Contains(r.stdout, "inet ") {
		t.Errorf("container on the default network has no eth0 with an address:\n%s", r)
	}
	host, _ := os.Readlink("/proc/self/ns/net")
	if strings.Contains(r.stdout, host) {
		t.Errorf("container runs in the host's network namespace %s:\n%s", host, r)
	}
}
