package clients

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

const ctrImage = "localhost/sdbusybox:test"

// containerdEnv is a containerd of our own: its config, root, state, opt
// dir and socket in a temp dir, no CRI plugin, one namespace; the runc v2
// shim runs the runtime through the wrapper (--runc-binary) with a private
// --runc-root.
type containerdEnv struct {
	dir, sock, ns, runcRoot string
	cmd                     *exec.Cmd
	done                    <-chan error
	log                     string
	env                     []string
	ids                     []string // containers made, for the shim sockets
}

// containerd is the suite's containerd, started on first use.
var containerd lazyClient[*containerdEnv]

// requireContainerd returns the suite's containerd, started on first use,
// or skips.
func requireContainerd(t *testing.T) *containerdEnv {
	t.Helper()
	return containerd.get(t, "containerd", func() string {
		for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
			if _, err := exec.LookPath(bin); err != nil {
				return fmt.Sprintf("%s not installed (apt-get install containerd)", bin)
			}
		}
		return ""
	}, startContainerd)
}

func startContainerd() (*containerdEnv, error) {
	c := &containerdEnv{
		dir: filepath.Join(workDir, "containerd"),
		ns:  fmt.Sprintf("sdclients-%d", os.Getpid()),
	}
	c.sock = filepath.Join(c.dir, "containerd.sock")
	c.runcRoot = filepath.Join(c.dir, "runc-root")
	c.log = filepath.Join(c.dir, "containerd.log")
	for _, sub := range []string{"root", "state", "opt", "runc-root"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
`, filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(c.dir, "opt"))
	cfg := filepath.Join(c.dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINERD_") {
			c.env = append(c.env, kv)
		}
	}
	cmd, done, err := startDaemon(c.log, c.env, "containerd", "--config", cfg)
	if err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	c.cmd, c.done = cmd, done
	teardowns = append(teardowns, c.stop)

	deadline := time.Now().Add(timeout(time.Minute))
	for {
		select {
		case err := <-done:
			log, _ := os.ReadFile(c.log)
			return nil, fmt.Errorf("containerd exited (%w):\n%s", err, log)
		default:
		}
		if _, err := os.Stat(c.sock); err == nil {
			if r := c.ctr(timeout(30*time.Second), "version"); r.ok() {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(c.log)
			return nil, fmt.Errorf("containerd did not answer on %s:\n%s", c.sock, log)
		}
		time.Sleep(200 * time.Millisecond)
	}

	archive := filepath.Join(c.dir, "image.tar")
	if err := writeOCIArchive(rootfsDir, ctrImage, archive); err != nil {
		return nil, fmt.Errorf("write OCI archive: %w", err)
	}
	if r := c.ctr(timeout(3*time.Minute), "image", "import", "--all-platforms", archive); !r.ok() {
		return nil, fmt.Errorf("ctr image import: %s", r)
	}
	r := c.ctr(timeout(time.Minute), "image", "ls", "-q")
	if !r.ok() || !strings.Contains(r.stdout, ctrImage) {
		return nil, fmt.Errorf("image %s not listed after import: %s", ctrImage, r)
	}
	return c, nil
}

// ctr runs ctr against our containerd, in our namespace.
func (c *containerdEnv) ctr(d time.Duration, args ...string) *result {
	r := runCmd(d, c.env, "ctr", append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
	r.cmdline = "ctr " + strings.Join(args, " ")
	return r
}

func (c *containerdEnv) mustCtr(t *testing.T, args ...string) *result {
	t.Helper()
	r := c.ctr(timeout(2*time.Minute), args...)
	if !r.ok() {
		t.Fatalf("%s", r)
	}
	return r
}

// runArgs are `ctr run` flags that make the shim use the runtime under test.
func (c *containerdEnv) runArgs() []string {
	return []string{"--runc-binary", wrapperPath, "--runc-root", c.runcRoot}
}

// removeOnCleanup kills and removes container id at the end of t.
func (c *containerdEnv) removeOnCleanup(t *testing.T, id string) {
	c.ids = append(c.ids, id)
	t.Cleanup(func() {
		if r := c.ctr(timeout(time.Minute), "container", "info", id); !r.ok() {
			return // gone already
		}
		c.ctr(timeout(time.Minute), "task", "kill", "-s", "SIGKILL", id)
		testutil.Poll(30*time.Second, func() bool { return c.taskStatus(id) != "RUNNING" })
		c.ctr(timeout(time.Minute), "task", "rm", "-f", id)
		if r := c.ctr(timeout(time.Minute), "container", "rm", id); !r.ok() {
			t.Errorf("cleanup: %s", r)
		}
	})
}

// taskStatus is the STATUS column of `ctr task ls` for id ("" if none).
func (c *containerdEnv) taskStatus(id string) string {
	r := c.ctr(timeout(time.Minute), "task", "ls")
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// checkGone fails t if the runtime state or the cgroup of id is left.
func (c *containerdEnv) checkGone(t *testing.T, id string) {
	t.Helper()
	// The shim gives the runtime --root RUNC_ROOT/NAMESPACE.
	if st := filepath.Join(c.runcRoot, c.ns, id); fileExists(st) {
		t.Errorf("runtime state %s left after ctr task rm", st)
	}
	if left := cgroupDirsNamed("/"+c.ns, id); len(left) > 0 {
		t.Errorf("cgroups left after ctr task rm: %q", left)
	}
}

// stop ends our containerd (only it: by pid), its shims, and what they left.
func (c *containerdEnv) stop() error {
	var errs []string
	if r := c.ctr(timeout(time.Minute), "task", "ls", "-q"); r.ok() && strings.TrimSpace(r.stdout) != "" {
		errs = append(errs, fmt.Sprintf("tasks left: %q", strings.Fields(r.stdout)))
	}
	c.ctr(timeout(2*time.Minute), "image", "rm", ctrImage)
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(timeout(30 * time.Second)):
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		errs = append(errs, "containerd did not stop on SIGTERM (killed)")
	}
	// Shims outlive containerd: ours name our socket in their argv.
	if !testutil.Poll(10*time.Second, func() bool { return len(processesMatching("containerd-shim", c.sock)) == 0 }) {
		left := processesMatching("containerd-shim", c.sock)
		errs = append(errs, fmt.Sprintf("shims left (killed): %v", pids(left)))
		killProcesses(left)
		// A killed shim leaves its socket in /run/containerd/s.
		for _, id := range c.ids {
			sum := sha256.Sum256([]byte(filepath.Join(c.sock, c.ns, id)))
			os.Remove(fmt.Sprintf("/run/containerd/s/%x", sum))
		}
	}
	if m := testutil.MountsUnder(c.dir); len(m) > 0 {
		errs = append(errs, fmt.Sprintf("mounts left under %s (unmounted): %q", c.dir, m))
		testutil.UnmountAll(c.dir)
	}
	if left := stateLeft(filepath.Join(c.runcRoot, c.ns)); len(left) > 0 {
		errs = append(errs, fmt.Sprintf("runtime state left in %s: %q", filepath.Join(c.runcRoot, c.ns), left))
	}
	if left := cgroupDirsNamed("/"+c.ns, ""); len(left) > 0 {
		errs = append(errs, fmt.Sprintf("container cgroups left: %q", left))
	}
	if left := testutil.RemoveCgroupTree("/" + c.ns); len(left) > 0 {
		errs = append(errs, fmt.Sprintf("cannot remove cgroups: %q", left))
	}
	if len(errs) > 0 {
		return fmt.Errorf("containerd: %s", strings.Join(errs, "\n"))
	}
	return nil
}

// TestContainerdRunEcho: ctr run --rm --runc-binary RUNTIME IMAGE ID echo hi.
func TestContainerdRunEcho(t *testing.T) {
	c := requireContainerd(t)
	id := uniqueID("echo")
	c.removeOnCleanup(t, id)
	args := append(append([]string{"run", "--rm"}, c.runArgs()...), ctrImage, id, "echo", "hi")
	r := c.mustCtr(t, args...)
	if r.stdout != "hi\n" {
		t.Errorf("ctr run echo hi: stdout %q, want %q", r.stdout, "hi\n")
	}
	c.checkGone(t, id)
}

// TestContainerdRunExitCode: ctr run returns the container's exit status.
func TestContainerdRunExitCode(t *testing.T) {
	c := requireContainerd(t)
	id := uniqueID("exit")
	c.removeOnCleanup(t, id)
	args := append(append([]string{"run", "--rm"}, c.runArgs()...), ctrImage, id, "sh", "-c", "exit 7")
	if r := c.ctr(timeout(2*time.Minute), args...); r.code != 7 {
		t.Errorf("want exit 7: %s", r)
	}
	c.checkGone(t, id)
}

// TestContainerdLifecycle: run -d, task exec, task kill, task rm, container rm.
func TestContainerdLifecycle(t *testing.T) {
	c := requireContainerd(t)
	id := uniqueID("life")
	c.removeOnCleanup(t, id)
	c.mustCtr(t, append(append([]string{"run", "-d"}, c.runArgs()...), ctrImage, id, "sleep", "1000")...)
	if st := c.taskStatus(id); st != "RUNNING" {
		t.Fatalf("after ctr run -d: task status %q, want RUNNING", st)
	}

	r := c.ctr(timeout(time.Minute), "task", "exec", "--exec-id", "e1", id, "echo", "hi")
	if r.timedOut {
		t.Errorf("ctr task exec echo hi never returned: the shim did not see the exec'd process exit "+
			"(did the runtime reap it before exiting?)\n%s", r)
	} else if !r.ok() || r.stdout != "hi\n" {
		t.Errorf("ctr task exec echo hi: want stdout hi: %s", r)
	}

	c.mustCtr(t, "task", "kill", "-s", "SIGKILL", id)
	if !testutil.Poll(time.Minute, func() bool { return c.taskStatus(id) == "STOPPED" }) {
		t.Fatalf("task not STOPPED a minute after SIGKILL: %q", c.taskStatus(id))
	}
	c.mustCtr(t, "task", "rm", id)
	c.mustCtr(t, "container", "rm", id)
	c.checkGone(t, id)
}

// TestContainerdTaskPsPauseResume: task ps (runtime ps --format json),
// task pause / resume (runtime pause / resume).
func TestContainerdTaskPsPauseResume(t *testing.T) {
	c := requireContainerd(t)
	id := uniqueID("pause")
	c.removeOnCleanup(t, id)
	c.mustCtr(t, append(append([]string{"run", "-d"}, c.runArgs()...), ctrImage, id, "sleep", "1000")...)
	r := c.mustCtr(t, "task", "ps", id)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 {
		t.Errorf("ctr task ps: want a header and one process:\n%s", r.stdout)
	}
	c.mustCtr(t, "task", "pause", id)
	if st := c.taskStatus(id); st != "PAUSED" {
		t.Errorf("after task pause: status %q, want PAUSED", st)
	}
	c.mustCtr(t, "task", "resume", id)
	if st := c.taskStatus(id); st != "RUNNING" {
		t.Errorf("after task resume: status %q, want RUNNING", st)
	}
}

// TestContainerdExecExitCodes: every `ctr task exec` returns the process's
// exit status. The shim runs `RUNTIME exec --detach --pid-file F` as a
// subreaper and waits for that pid's exit: a runtime that reaps the
// process itself leaves ctr waiting forever.
func TestContainerdExecExitCodes(t *testing.T) {
	c := requireContainerd(t)
	id := uniqueID("execcode")
	c.removeOnCleanup(t, id)
	c.mustCtr(t, append(append([]string{"run", "-d"}, c.runArgs()...), ctrImage, id, "sleep", "1000")...)
	const rounds = 15
	for i := 0; i < rounds; i++ {
		r := c.ctr(timeout(30*time.Second), "task", "exec", "--exec-id", fmt.Sprintf("x%d", i), id, "sh", "-c", "exit 3")
		if r.timedOut {
			t.Fatalf("round %d: ctr task exec never returned (killed after %s): the shim never saw the "+
				"exec'd process exit\n%s", i, timeout(30*time.Second), r)
		}
		if r.code != 3 {
			t.Fatalf("round %d: want exit 3: %s", i, r)
		}
	}
}

// TestContainerdKillExitedTask: a task whose process has exited is killed
// (signal, SIGKILL, --all) and deleted as with runc: the shim recognises a
// stopped container by the runtime's words ("container not running") and
// reports the process as finished instead of failing.
func TestContainerdKillExitedTask(t *testing.T) {
	c := requireContainerd(t)
	id := uniqueID("killexited")
	c.removeOnCleanup(t, id)
	c.mustCtr(t, append(append([]string{"run", "-d"}, c.runArgs()...), ctrImage, id, "sh", "-c", "exit 3")...)
	if !testutil.Poll(time.Minute, func() bool { return c.taskStatus(id) == "STOPPED" }) {
		t.Fatalf("task not STOPPED a minute after it exited: %q", c.taskStatus(id))
	}
	// With runc: "process already finished: not found" (containerd's
	// errdefs.ErrNotFound), never "unknown error after kill".
	for _, sig := range []string{"SIGTERM", "SIGKILL"} {
		r := c.ctr(timeout(time.Minute), "task", "kill", "-s", sig, id)
		if !r.ok() && !strings.Contains(r.stderr, "process already finished: not found") {
			t.Errorf("want success or containerd's \"process already finished: not found\": %s", r)
		}
	}
	// runc signals what a stopped container left: nothing, no error.
	c.mustCtr(t, "task", "kill", "--all", "-s", "SIGKILL", id)
	if r := c.mustCtr(t, "task", "rm", id); !strings.Contains(r.stderr, "exit code 3") {
		t.Errorf("ctr task rm: want the exit code 3 in its warning: %s", r)
	}
	c.mustCtr(t, "container", "rm", id)
	c.checkGone(t, id)
}
