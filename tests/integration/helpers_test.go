package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// cmdTimeout bounds one foreground sdocker command.
var cmdTimeout = 60 * time.Second

// startLine is what `sdocker run` prints on stderr once it made a container.
var startLine = regexp.MustCompile(`\[\+\] start container with id ([0-9a-f]+)\n`)

// env is one test's sdocker world: its own SDOCKER_ROOT, the containers it
// started and what to clean up.
type env struct {
	t *testing.T
	*envState
}

// envState is shared by an env and its views for subtests (env.sub).
type envState struct {
	root string // SDOCKER_ROOT

	mu       sync.Mutex
	shortIDs map[string]bool // every id seen in a start line
	pids     map[int]uint64  // container init pids seen (host pids) -> start time
	bgs      []*bgProc
	after    []func() // run once every container is gone
}

// newEnv makes a fresh SDOCKER_ROOT for t and registers the clean-up: every
// container removed (rm -f), every background sdocker reaped, no cgroup of
// any container of the test left, no mount left.
func newEnv(t *testing.T) *env {
	t.Helper()
	requireRoot(t)
	root, err := os.MkdirTemp(workDir, "root-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, envState: &envState{root: root, shortIDs: map[string]bool{}, pids: map[int]uint64{}}}
	t.Cleanup(e.cleanup)
	return e
}

// sub is e seen from the subtest t: failures go to t, the containers and
// their clean-up stay e's.
func (e *env) sub(t *testing.T) *env { return &env{t: t, envState: e.envState} }

// atEnd registers f to run after every container of the test is gone.
func (e *env) atEnd(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.after = append(e.after, f)
}

func (e *env) noteIDs(stderr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range startLine.FindAllStringSubmatch(stderr, -1) {
		e.shortIDs[m[1]] = true
	}
}

func (e *env) cleanup() {
	t := e.t
	// Remove every container the store knows of; this also kills the
	// running ones, which ends their sdocker run processes.
	if ids := e.recordIDs(); len(ids) > 0 {
		r := e.runWith(runOpts{timeout: timeout(cmdTimeout)}, append([]string{"rm", "-f"}, ids...)...)
		if r.code != 0 {
			t.Errorf("cleanup: sdocker rm -f: exit %d\n%s", r.code, r.stderr)
		}
	}
	for _, b := range e.bgs {
		b.stop(timeout(10 * time.Second))
	}
	for pid, start := range e.pids {
		// The pid may name another process by now: only the one that
		// started at start is waited for (and reaped if it is our child).
		deadline := time.Now().Add(timeout(5 * time.Second))
		for {
			if st, ok := testutil.ReadProcStat(pid); !ok || st.Start != start {
				break
			}
			if !testutil.ProcessRunning(pid) {
				reapPid(pid, 0)
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cleanup: container init %d still runs", pid)
				unix.Kill(pid, unix.SIGKILL)
				reapPid(pid, timeout(5*time.Second))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for id := range e.shortIDs {
		if dirs := cgroupDirs(id); len(dirs) > 0 {
			t.Errorf("cleanup: cgroups of container %s left behind: %q", id, dirs)
			testutil.RemoveCgroups(dirs...)
		}
	}
	for i := len(e.after) - 1; i >= 0; i-- {
		e.after[i]()
	}
	if m := testutil.MountsUnder(e.root); len(m) > 0 {
		t.Errorf("cleanup: mounts left under %s: %q", e.root, m)
		for i := len(m) - 1; i >= 0; i-- {
			unix.Unmount(m[i], unix.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(e.root); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// recordIDs lists the containers of the store, from its directory (the
// full ids), whatever state they are in.
func (e *env) recordIDs() []string {
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	var ids []string
	for _, ent := range ents {
		if ent.IsDir() {
			ids = append(ids, ent.Name())
		}
	}
	return ids
}

// result is how one sdocker command ended.
type result struct {
	args           []string
	stdout, stderr string
	code           int // exit status; 128+N when killed by signal N
	dur            time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("sdocker %s: exit %d after %s\n--- stdout:\n%s--- stderr:\n%s",
		strings.Join(r.args, " "), r.code, r.dur.Round(time.Millisecond), r.stdout, r.stderr)
}

// shortID is the id of the start line, or "".
func (r result) shortID() string {
	if m := startLine.FindStringSubmatch(r.stderr); m != nil {
		return m[1]
	}
	return ""
}

type runOpts struct {
	stdin   string // "" means /dev/null
	timeout time.Duration
	cred    *syscall.Credential
	bin     string // default sdockerBin
}

// run runs sdocker with args, stdin /dev/null, and returns how it ended.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runWith(runOpts{}, args...)
}

// mustRun is run that fails the test unless the exit status is want.
func (e *env) mustRun(want int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != want {
		e.t.Fatalf("want exit %d, got:\n%s", want, r)
	}
	return r
}

func (e *env) command(o runOpts, args ...string) *exec.Cmd {
	bin := o.bin
	if bin == "" {
		bin = sdockerBin
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = testutil.SdockerEnv(e.root)
	cmd.WaitDelay = 5 * time.Second
	if o.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.cred}
	}
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	return cmd
}

func (e *env) runWith(o runOpts, args ...string) result {
	e.t.Helper()
	if o.timeout == 0 {
		o.timeout = timeout(cmdTimeout)
	}
	cmd := e.command(o, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start sdocker %s: %v", strings.Join(args, " "), err)
	}
	timer := time.AfterFunc(o.timeout, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timedOut := !timer.Stop()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), dur: time.Since(start)}
	r.code = exitStatus(cmd.ProcessState, err)
	e.noteIDs(r.stderr)
	if timedOut {
		e.t.Fatalf("timed out after %s (killed):\n%s", o.timeout, r)
	}
	return r
}

// exitStatus reads an exit status as a shell does: 128+N for signal N.
func exitStatus(st *os.ProcessState, err error) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if err != nil && !errors.As(err, new(*exec.ExitError)) && st.ExitCode() == 0 {
		return -1 // e.g. WaitDelay expired: the streams were kept open
	}
	return st.ExitCode()
}

// bgProc is an sdocker command running in the background.
type bgProc struct {
	e              *env
	args           []string
	cmd            *exec.Cmd
	stdout, stderr *testutil.SyncBuffer
	stdin          io.WriteCloser // when started with a stdin pipe
	done           chan struct{}
	code           int
}

// start starts sdocker with args in the background (stdin /dev/null).
func (e *env) start(args ...string) *bgProc {
	e.t.Helper()
	return e.startWith(false, args...)
}

func (e *env) startWith(stdinPipe bool, args ...string) *bgProc {
	e.t.Helper()
	b := &bgProc{e: e, args: args, stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan struct{})}
	b.cmd = e.command(runOpts{}, args...)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if stdinPipe {
		w, err := b.cmd.StdinPipe()
		if err != nil {
			e.t.Fatal(err)
		}
		b.stdin = w
	}
	if err := b.cmd.Start(); err != nil {
		e.t.Fatalf("start sdocker %s: %v", strings.Join(args, " "), err)
	}
	e.mu.Lock()
	e.bgs = append(e.bgs, b)
	e.mu.Unlock()
	go func() {
		err := b.cmd.Wait()
		b.code = exitStatus(b.cmd.ProcessState, err)
		e.noteIDs(b.stderr.String())
		close(b.done)
	}()
	return b
}

func (b *bgProc) String() string {
	code := "still running"
	if b.exited() {
		code = fmt.Sprintf("exit %d", b.code)
	}
	return fmt.Sprintf("sdocker %s: %s\n--- stdout:\n%s--- stderr:\n%s",
		strings.Join(b.args, " "), code, b.stdout.String(), b.stderr.String())
}

func (b *bgProc) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// wait waits for the command to end and returns its exit status.
func (b *bgProc) wait(d time.Duration) int {
	b.e.t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(d):
		b.e.t.Fatalf("still running after %s:\n%s", d, b)
		return -1
	}
}

// stop waits for the command to end, and kills it after d.
func (b *bgProc) stop(d time.Duration) {
	if b.stdin != nil {
		b.stdin.Close()
	}
	select {
	case <-b.done:
		return
	case <-time.After(d):
	}
	b.e.t.Errorf("cleanup: killing sdocker %s: still running after %s", strings.Join(b.args, " "), d)
	b.cmd.Process.Kill()
	<-b.done
}

// waitOutput waits until the command's stdout contains s, at most d
// (scaled).
func (b *bgProc) waitOutput(s string, d time.Duration) {
	b.e.t.Helper()
	testutil.WaitFor(b.e.t, d, fmt.Sprintf("%q on stdout of %s", s, b), func() bool {
		if b.exited() {
			b.e.t.Fatalf("exited before printing %q:\n%s", s, b)
		}
		return strings.Contains(b.stdout.String(), s)
	})
}

// psEntry is one line of `sdocker ps -a --no-trunc`.
type psEntry struct {
	id, name string
	pid      int // 0 when not running
	command  string
	status   string // e.g. "Up 2 seconds", "Exited (0) 1 second ago"
	line     string
}

var psLine = regexp.MustCompile(`^([0-9a-f]+)\s+(\S+)\s+(\d+|-)\s+("(?:[^"\\]|\\.)*")\s+(.*?)\s{2,}(.*)$`)

// ps runs `sdocker ps` with flags and parses its table.
func (e *env) ps(flags ...string) []psEntry {
	e.t.Helper()
	r := e.run(append([]string{"ps"}, flags...)...)
	if r.code != 0 {
		e.t.Fatalf("ps failed:\n%s", r)
	}
	return parsePs(e.t, r.stdout)
}

func parsePs(t *testing.T, out string) []psEntry {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "CONTAINER ID") {
		t.Fatalf("ps: no header line in %q", out)
	}
	var list []psEntry
	for _, l := range lines[1:] {
		m := psLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("ps: cannot parse line %q", l)
		}
		p := psEntry{id: m[1], name: m[2], status: m[5], line: l}
		if m[3] != "-" {
			p.pid, _ = strconv.Atoi(m[3])
		}
		if c, err := strconv.Unquote(m[4]); err == nil {
			p.command = c
		}
		list = append(list, p)
	}
	return list
}

// container is a running container as the tests see it.
type container struct {
	id   string // full id (64 hex)
	name string
	pid  int // host pid of its init
}

func (c container) short() string { return c.id[:12] }

// waitRunning waits until the container named name (started by b) runs,
// as `sdocker ps` says, and returns it.
func (e *env) waitRunning(b *bgProc, name string) container {
	e.t.Helper()
	var c container
	testutil.WaitFor(e.t, 30*time.Second, fmt.Sprintf("container %s to run", name), func() bool {
		if b != nil && b.exited() {
			e.t.Fatalf("sdocker ended before the container %s ran:\n%s", name, b)
		}
		for _, p := range e.ps("-a", "--no-trunc") {
			if p.name == name && strings.HasPrefix(p.status, "Up") && p.pid > 0 {
				c = container{id: p.id, name: name, pid: p.pid}
				return true
			}
		}
		return false
	})
	e.mu.Lock()
	st, _ := testutil.ReadProcStat(c.pid)
	e.pids[c.pid] = st.Start
	e.shortIDs[c.short()] = true
	e.mu.Unlock()
	return c
}

// runBg starts `sdocker run --name NAME ARGS...` and waits until it runs.
func (e *env) runBg(name string, args ...string) (*bgProc, container) {
	e.t.Helper()
	b := e.start(append([]string{"run", "--name", name}, args...)...)
	return b, e.waitRunning(b, name)
}

// errorLines returns the lines of stderr that are sdocker's own messages.
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "sdocker: ") {
			out = append(out, l)
		}
	}
	return out
}

// nonEmptyLines splits s into its non-empty lines.
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ---- cgroups, seen from the host ----

// v1Mounts maps a v1 controller to its mount point.
func v1Mounts() map[string]string {
	out := map[string]string{}
	for _, m := range hostMounts() {
		if m.fstype != "cgroup" {
			continue
		}
		for _, o := range strings.Split(m.super, ",") {
			switch o {
			case "rw", "ro":
				continue
			}
			if _, ok := out[o]; !ok {
				out[o] = m.point
			}
		}
	}
	return out
}

// cgroupDir is the container's cgroup directory for ctrl ("" on v2).
func cgroupDir(t *testing.T, id, ctrl string) string {
	t.Helper()
	if cgroupMode == 2 {
		return filepath.Join("/sys/fs/cgroup/sdocker", id)
	}
	mnt := v1Mounts()[ctrl]
	if mnt == "" {
		t.Fatalf("cgroup v1 controller %s is not mounted", ctrl)
	}
	return filepath.Join(mnt, "sdocker", id)
}

// cgroupFile reads a file of the container's cgroup for ctrl.
func cgroupFile(t *testing.T, id, ctrl, file string) string {
	t.Helper()
	p := filepath.Join(cgroupDir(t, id, ctrl), file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return strings.TrimSpace(string(b))
}

// cgroupDirs lists every cgroup directory of the container whose id
// starts with prefix, in every hierarchy.
func cgroupDirs(prefix string) []string { return testutil.CgroupDirs("/sdocker/" + prefix + "*") }

// allSdockerCgroups lists every container cgroup directory under the
// sdocker parents (any store's, as others may run sdocker too).
func allSdockerCgroups() map[string]bool {
	out := map[string]bool{}
	for _, d := range cgroupDirs("") {
		out[d] = true
	}
	return out
}

// assertNoCgroups fails t if a cgroup directory of the container is left.
func assertNoCgroups(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		t.Errorf("no container id to check the cgroups of")
		return
	}
	if dirs := cgroupDirs(id); len(dirs) > 0 {
		t.Errorf("container %s ended, but its cgroups remain: %q", id, dirs)
	}
}

// procCgroups reads /proc/PID/cgroup: controller (or "" for v2) -> path.
func procCgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/cgroup: %v", pid, err)
	}
	return parseProcCgroup(string(b))
}

func parseProcCgroup(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// usedControllers are the v1 controllers every container is in (those
// mounted here); cpuset only with --cpuset-cpus.
func usedControllers() []string {
	mounts := v1Mounts()
	var out []string
	for _, c := range []string{"memory", "cpu", "cpuacct", "pids", "freezer", "blkio"} {
		if mounts[c] != "" {
			out = append(out, c)
		}
	}
	return out
}

// cpuUsage reads the container's total CPU time from its cgroup.
func cpuUsage(t *testing.T, id string) time.Duration {
	t.Helper()
	if cgroupMode == 2 {
		for _, l := range strings.Split(cgroupFile(t, id, "", "cpu.stat"), "\n") {
			if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("cpu.stat: %q", l)
				}
				return time.Duration(n) * time.Microsecond
			}
		}
		t.Fatalf("cpu.stat has no usage_usec")
	}
	n, err := strconv.ParseUint(cgroupFile(t, id, "cpuacct", "cpuacct.usage"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(n)
}

// nsInode reads the namespace link of pid for ns ("uts", "net", ...).
func nsInode(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	if err != nil {
		t.Fatalf("%v", err)
	}
	return l
}

// cgroupPids lists the host pids in the container's pids cgroup.
func cgroupPids(t *testing.T, id string) []int {
	t.Helper()
	ctrl := "pids"
	if cgroupMode == 2 {
		ctrl = ""
	}
	var out []int
	for _, f := range strings.Fields(cgroupFile(t, id, ctrl, "cgroup.procs")) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// cmdline reads /proc/PID/cmdline with spaces between the arguments.
func cmdline(pid int) string { return strings.Join(testutil.Argv(pid), " ") }

// uniqueName is a container name unique within the suite run.
func uniqueName(t *testing.T, base string) string {
	t.Helper()
	return fmt.Sprintf("%s-%d", base, time.Now().UnixNano()%1e9)
}

// randHex is n random hex bytes.
func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
