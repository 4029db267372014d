package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"

	"github.com/sdocker/sdocker/tests/testutil"
)

// The reaper. A detached container's monitor (`sdocker run -d` re-executes
// itself as "sdocker-monitor", so its comm is "exe" at first, then
// "sdocker-monitor" once the small monitor watches the container) is our
// child once the `run` that started it returns; it must be reaped when it
// ends. The reaper never calls wait4(-1), which would steal the status of
// an exec.Cmd of ours: it reaps zombie children named "exe" or
// "sdocker-monitor" (no command of ours is) and the pids it was told about
// (tracked with their start time, so never a recycled pid).
var reaper = struct {
	sync.Mutex
	pids map[int]uint64
}{pids: map[int]uint64{}}

func startReaper() (stop func()) { return testutil.Every(50*time.Millisecond, reapScan) }

// children lists our children (every thread's).
func children() []int {
	var out []int
	files, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

func reapScan() {
	self := os.Getpid()
	reaper.Lock()
	defer reaper.Unlock()
	for _, pid := range children() {
		st, ok := testutil.ReadProcStat(pid)
		if !ok || st.PPid != self || st.State != 'Z' {
			continue
		}
		if tracked, isTracked := reaper.pids[pid]; st.Comm == "exe" || st.Comm == "sdocker-monitor" || (isTracked && tracked == st.Start) {
			// The leader of a multi-threaded process shows Z once it has
			// exited, but wait4 reaps it only after its other threads
			// (an exec's process, a Go program): it stays followed.
			var ws unix.WaitStatus
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid || err == unix.ECHILD {
				delete(reaper.pids, pid)
			}
		}
	}
	for pid, start := range reaper.pids {
		if st, ok := testutil.ReadProcStat(pid); !ok || st.Start != start {
			delete(reaper.pids, pid)
		}
	}
}

// trackPid has the reaper reap pid (a container process that may become
// ours) when it ends.
func trackPid(pid int) {
	if st, ok := testutil.ReadProcStat(pid); ok && pid > 0 {
		reaper.Lock()
		reaper.pids[pid] = st.Start
		reaper.Unlock()
	}
}

// processGone reports whether pid has ended (a zombie counts as ended).
func processGone(pid int) bool { return !testutil.ProcessRunning(pid) }

// timeout scales d for slow machines (testutil.Timeout).
func timeout(d time.Duration) time.Duration { return testutil.Timeout(d) }

// env is one test's sdocker: its own SDOCKER_ROOT.
type env struct {
	t    *testing.T
	root string
	bin  string // the sdocker binary, if not sdockerBin
	// nettool is the directory of the network tests' nettool (netEnv).
	nettool string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	root, err := os.MkdirTemp(workDir, "root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return &env{t: t, root: root}
}

type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("sdocker %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// command is an sdocker command of this env, not started.
func (e *env) command(args ...string) *exec.Cmd {
	bin := sdockerBin
	if e.bin != "" {
		bin = e.bin
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = testutil.SdockerEnv(e.root)
	return cmd
}

// run runs sdocker with args and returns what it printed and its status.
func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Start()
	if err != nil {
		e.t.Fatalf("start sdocker: %v", err)
	}
	timer := time.AfterFunc(timeout(60*time.Second), func() { cmd.Process.Kill() })
	err = cmd.Wait()
	timer.Stop()
	r := result{args: args, stdout: out.String(), stderr: errOut.String()}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("sdocker %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs sdocker and fails the test unless it exits with code.
func (e *env) mustRun(code int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code {
		e.t.Fatalf("want exit %d:\n%s", code, r)
	}
	return r
}

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// runDetached starts `sdocker run -d ARGS...` and returns the container's
// id; the container is removed (rm -f) when the test ends, and must leave
// no cgroup behind.
func (e *env) runDetached(args ...string) string {
	e.t.Helper()
	r := e.mustRun(0, append([]string{"run", "-d"}, args...)...)
	id := strings.TrimSpace(r.stdout)
	if !idRE.MatchString(id) {
		e.t.Fatalf("run -d printed %q, want a container id\n%s", id, r)
	}
	e.t.Cleanup(func() { e.remove(id) })
	return id
}

// remove force-removes a container and checks what it leaves.
func (e *env) remove(id string) {
	e.t.Helper()
	if r := e.run("rm", "-f", id); r.code != 0 && !strings.Contains(r.stderr, "no such container") {
		e.t.Errorf("cleanup: %s", r)
	}
	for _, d := range cgroupDirs(id) {
		e.t.Errorf("cleanup: cgroup %s left after rm -f", d)
	}
}

// inspect returns the inspect JSON of one container.
func (e *env) inspect(ref string) dockerfmt.ContainerJSON {
	e.t.Helper()
	r := e.mustRun(0, "inspect", ref)
	var list []dockerfmt.ContainerJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 {
		e.t.Fatalf("inspect %s: %v (%d entries)\n%s", ref, err, len(list), r)
	}
	return list[0]
}

// record reads a container's record from the store as the engine wrote it.
func (e *env) record(id string) engine.Record {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "containers", id, "container.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var r engine.Record
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// waitStatus waits until inspect reports the container in state status.
func (e *env) waitStatus(id, status string, d time.Duration) dockerfmt.ContainerJSON {
	e.t.Helper()
	var c dockerfmt.ContainerJSON
	testutil.WaitFor(e.t, d, "container "+id[:12]+" to be "+status, func() bool {
		c = e.inspect(id)
		return c.State.Status == status
	})
	return c
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
