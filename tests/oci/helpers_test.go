package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// Timeouts are generous: the machine has 2 cores and other work on them.
const (
	cmdTimeout  = 2 * time.Minute  // one runtime command
	pollTimeout = 30 * time.Second // a condition polled from the host
)

func requireRoot(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// tool is the path of a program a test needs; the test skips without it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}

// result is what one runtime command did.
type result struct {
	args           []string
	stdout, stderr string
	code           int // -1: did not run or timed out
	dur            time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("`%s %s`: exit %d after %s\nstdout: %s\nstderr: %s", runtimeName,
		shorten(strings.Join(r.args, " ")), r.code, r.dur.Round(time.Millisecond), r.stdout, r.stderr)
}

type runOpts struct {
	stdin          io.Reader
	stdout, stderr io.Writer // default: captured
	extraFiles     []*os.File
	timeout        time.Duration
	noRoot         bool   // leave out --root (for spec, features, --version)
	dir            string // working directory
	bin, root      string // another runtime and its --root (to compare with)
}

// rt runs the runtime with --root stateRoot and args.
func rt(t *testing.T, args ...string) result {
	t.Helper()
	return rtWith(t, runOpts{}, args...)
}

// mustRT runs the runtime and fails the test unless it exits 0.
func mustRT(t *testing.T, args ...string) result {
	t.Helper()
	r := rt(t, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

func rtWith(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	full, bin, root := args, runtimeBin, stateRoot
	if o.bin != "" {
		bin, root = o.bin, o.root
	}
	if !o.noRoot {
		full = append([]string{"--root", root}, args...)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = cmdTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Stdin = o.stdin
	cmd.Dir = o.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if o.stdout != nil {
		cmd.Stdout = o.stdout
	}
	if o.stderr != nil {
		cmd.Stderr = o.stderr
	}
	cmd.ExtraFiles = o.extraFiles
	// A container that inherited a pipe of ours must not keep us waiting.
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{args: full, stdout: stdout.String(), stderr: stderr.String(), dur: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code = -1
		r.stderr += fmt.Sprintf("\n[test: killed after the %s timeout]", timeout)
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(unix.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal())
		}
	case errors.Is(err, exec.ErrWaitDelay):
		r.code = 0
	default:
		r.code = -1
		r.stderr += fmt.Sprintf("\n[test: %v]", err)
	}
	t.Logf("%s %s -> %d (%s)", filepath.Base(bin), shorten(strings.Join(args, " ")), r.code, r.dur.Round(time.Millisecond))
	return r
}

// shorten keeps the log of a long command (a script) readable.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		return s[:157] + "..."
	}
	return s
}

// bundle is one test container: a bundle directory with its own copy of
// the busybox rootfs and a config.json made from `RUNTIME spec`'s output.
type bundle struct {
	t      *testing.T
	dir    string
	rootfs string
	id     string
	spec   *specs.Spec
	// cgPath is the container's cgroupsPath (under every v1 hierarchy).
	cgPath string
	// pids seen (init and exec'd), reaped at the end; shared by sub().
	pids *[]int
}

// sub is b for a subtest: failures go to t.
func (b *bundle) sub(t *testing.T) *bundle {
	c := *b
	c.t = t
	return &c
}

// addPids notes processes to reap when the test ends.
func (b *bundle) addPids(pids ...int) {
	for _, p := range pids {
		trackPid(p)
	}
	*b.pids = append(*b.pids, pids...)
}

var idCounter atomic.Int64

// newBundle makes a bundle with the runtime's default spec patched for a
// test: no terminal, a writable root, the container's cgroup under the
// suite's parent. Its container is deleted (and reaped, and its cgroups
// removed) when the test ends.
func newBundle(t *testing.T) *bundle {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, dir: dir, rootfs: filepath.Join(dir, "rootfs"), id: newID(t), pids: new([]int)}
	if err := copyTree(rootfsTemplate, b.rootfs); err != nil {
		t.Fatalf("copy rootfs: %v", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(baseSpecJSON, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"sh", "-c", "true"}
	spec.Root.Readonly = false
	b.cgPath = cgroupParent + "/" + b.id
	spec.Linux.CgroupsPath = b.cgPath
	b.spec = &spec
	t.Cleanup(b.cleanup)
	return b
}

func newID(t *testing.T) string {
	var sb strings.Builder
	for _, c := range strings.ToLower(t.Name()) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			sb.WriteRune(c)
		}
		if sb.Len() >= 40 {
			break
		}
	}
	name := strings.TrimPrefix(sb.String(), "test")
	return fmt.Sprintf("%s-%d", name, idCounter.Add(1))
}

// cleanup deletes the container, reaps its processes and removes its
// cgroups, whatever state the test left it in.
func (b *bundle) cleanup() {
	pids := append([]int{}, *b.pids...)
	st, err := b.stateErr()
	existed := err == nil
	if existed && st.Pid > 0 {
		pids = append(pids, st.Pid)
	}
	pids = append(pids, testutil.CgroupProcs(b.cgPath)...)
	for _, pid := range pids {
		trackPid(pid)
	}
	r := rtWith(b.t, runOpts{timeout: time.Minute}, "delete", "--force", b.id)
	if r.code != 0 {
		b.t.Errorf("cleanup: %v", r)
	}
	for _, pid := range testutil.CgroupProcs(b.cgPath) {
		b.t.Errorf("cleanup: process %d still in the container's cgroup after delete --force", pid)
		trackPid(pid)
		unix.Kill(pid, unix.SIGKILL)
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if !waitGone(pid, 10*time.Second) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			b.t.Errorf("cleanup: process %d did not end: %q %s", pid, cmdline, stat)
		}
	}
	if dirs := testutil.CgroupDirs(b.cgPath); existed && r.code == 0 && len(dirs) > 0 {
		b.t.Errorf("cleanup: cgroups left after delete --force: %v", dirs)
	}
	testutil.RemoveCgroupTree(b.cgPath)
}

// save writes config.json.
func (b *bundle) save() {
	b.t.Helper()
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// sh sets the process to `sh -c script`.
func (b *bundle) sh(script string) *bundle {
	b.spec.Process.Args = []string{"sh", "-c", script}
	return b
}

// long sets a process that runs until killed, having written "ready" on
// its stdout.
func (b *bundle) long() *bundle {
	return b.sh("echo ready; while :; do sleep 1; done")
}

// withoutNamespace leaves namespace typ out of the spec: the container
// shares the host's.
func (b *bundle) withoutNamespace(typ specs.LinuxNamespaceType) {
	var ns []specs.LinuxNamespace
	for _, n := range b.spec.Linux.Namespaces {
		if n.Type != typ {
			ns = append(ns, n)
		}
	}
	b.spec.Linux.Namespaces = ns
}

func (b *bundle) addMount(m specs.Mount) {
	b.spec.Mounts = append(b.spec.Mounts, m)
}

// outDir bind-mounts a fresh host directory on /out in the container and
// returns its host path.
func (b *bundle) outDir() string {
	p := filepath.Join(b.dir, "out")
	if err := os.MkdirAll(p, 0o777); err != nil {
		b.t.Fatal(err)
	}
	b.addMount(specs.Mount{Destination: "/out", Type: "bind", Source: p, Options: []string{"rbind", "rw"}})
	return p
}

// run runs the container in the foreground (`run`), returning its output
// and exit status.
func (b *bundle) run(flags ...string) result {
	b.t.Helper()
	b.save()
	args := append([]string{"run", "--bundle", b.dir}, flags...)
	return rt(b.t, append(args, b.id)...)
}

// mustRun runs the container and fails unless it exits 0.
func (b *bundle) mustRun(flags ...string) string {
	b.t.Helper()
	r := b.run(flags...)
	if r.code != 0 {
		b.t.Fatalf("%v", r)
	}
	return r.stdout
}

// ctrOut, ctrErr are the files that take the standard output and error of
// a container made by create (and of the create command itself).
func (b *bundle) ctrOut() string { return filepath.Join(b.dir, "ctr.out") }
func (b *bundle) ctrErr() string { return filepath.Join(b.dir, "ctr.err") }

// create runs `create --bundle DIR [flags] ID` with its output in files
// (the container inherits them: a pipe would keep us waiting).
func (b *bundle) create(flags ...string) result {
	b.t.Helper()
	b.save()
	args := append([]string{"create", "--bundle", b.dir}, flags...)
	return b.withFiles(runOpts{}, append(args, b.id)...)
}

// withFiles runs a runtime command whose children may outlive it, with
// stdout and stderr in ctr.out and ctr.err (appended).
func (b *bundle) withFiles(o runOpts, args ...string) result {
	b.t.Helper()
	outF, err := os.OpenFile(b.ctrOut(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.OpenFile(b.ctrErr(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	defer errF.Close()
	before := fileSize(b.ctrErr())
	o.stdout, o.stderr = outF, errF
	r := rtWith(b.t, o, args...)
	if data, err := os.ReadFile(b.ctrErr()); err == nil && int64(len(data)) >= before {
		r.stderr = string(data[before:])
	}
	return r
}

func fileSize(p string) int64 {
	if st, err := os.Stat(p); err == nil {
		return st.Size()
	}
	return 0
}

func (b *bundle) mustCreate(flags ...string) {
	b.t.Helper()
	if r := b.create(flags...); r.code != 0 {
		b.t.Fatalf("%v", r)
	}
	if st, err := b.stateErr(); err == nil && st.Pid > 0 {
		b.addPids(st.Pid)
	}
}

func (b *bundle) start() {
	b.t.Helper()
	mustRT(b.t, "start", b.id)
}

// createStart creates and starts the container and, for a long() one,
// waits for its "ready".
func (b *bundle) createStart(flags ...string) {
	b.t.Helper()
	b.mustCreate(flags...)
	b.start()
	if strings.Contains(strings.Join(b.spec.Process.Args, " "), "echo ready") {
		b.waitOutput("ready")
	}
}

// output is what the container wrote on its stdout so far.
func (b *bundle) output() string {
	data, _ := os.ReadFile(b.ctrOut())
	return string(data)
}

func (b *bundle) waitOutput(s string) {
	b.t.Helper()
	testutil.WaitFor(b.t, pollTimeout, fmt.Sprintf("%q in the output of container %s", s, b.id), func() bool {
		return strings.Contains(b.output(), s)
	})
}

type ociState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
}

func (b *bundle) stateErr() (ociState, error) {
	var st ociState
	r := rtWith(b.t, runOpts{}, "state", b.id)
	if r.code != 0 {
		return st, fmt.Errorf("%v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return st, fmt.Errorf("state of %s is not JSON: %w\n%s", b.id, err, r.stdout)
	}
	return st, nil
}

func (b *bundle) state() ociState {
	b.t.Helper()
	st, err := b.stateErr()
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

func (b *bundle) waitStatus(status string) ociState {
	b.t.Helper()
	var st ociState
	testutil.WaitFor(b.t, pollTimeout, fmt.Sprintf("container %s %s", b.id, status), func() bool {
		var err error
		st, err = b.stateErr()
		return err == nil && st.Status == status
	})
	return st
}

// exec runs `exec [flags] ID args...` and returns its result.
func (b *bundle) exec(flagsAndArgs ...string) result {
	b.t.Helper()
	return b.execWith(runOpts{}, flagsAndArgs...)
}

// execWith runs exec; flags come before the id, args after: a "--" in
// flagsAndArgs separates them, else everything is args.
func (b *bundle) execWith(o runOpts, flagsAndArgs ...string) result {
	b.t.Helper()
	flags, args := []string{}, flagsAndArgs
	for i, a := range flagsAndArgs {
		if a == "--" {
			flags, args = flagsAndArgs[:i], flagsAndArgs[i+1:]
			break
		}
	}
	full := append(append(append([]string{"exec"}, flags...), b.id), args...)
	return rtWith(b.t, o, full...)
}

func (b *bundle) mustExec(flagsAndArgs ...string) string {
	b.t.Helper()
	r := b.exec(flagsAndArgs...)
	if r.code != 0 {
		b.t.Fatalf("%v", r)
	}
	return r.stdout
}

// ---- cgroup files (v1 hierarchies of this hybrid machine, or v2) ----

// cgroupV1 reports whether the controllers are v1 hierarchies here.
func cgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes")
	return err == nil
}

// cgroupFile is the path of file of controller ctrl (a v1 hierarchy name)
// for cgroup path cg.
func cgroupFile(ctrl, cg, file string) string {
	if !cgroupV1() {
		return filepath.Join("/sys/fs/cgroup", cg, file) // one v2 hierarchy
	}
	return filepath.Join("/sys/fs/cgroup", ctrl, cg, file)
}

func readCgroupFile(t *testing.T, ctrl, cg, file string) string {
	t.Helper()
	data, err := os.ReadFile(cgroupFile(ctrl, cg, file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// ---- capabilities ----

// capMask is the capability bit mask of names, as /proc/PID/status prints it.
func capMask(names ...string) string {
	var m uint64
	for _, n := range names {
		c, ok := capNumbers[n]
		if !ok {
			panic("unknown capability " + n)
		}
		m |= 1 << c
	}
	return fmt.Sprintf("%016x", m)
}

var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6,
	"CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12,
	"CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21,
	"CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29,
}

// ---- console socket ----

// consoleSocket is a unix socket listening for the pty master a runtime
// sends (SCM_RIGHTS) for a process with a terminal.
type consoleSocket struct {
	path string
	ln   *net.UnixListener
	got  chan consoleResult
}

type consoleResult struct {
	master *os.File
	err    error
}

func newConsoleSocket(t *testing.T) *consoleSocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "ocicon")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	c := &consoleSocket{path: p, ln: ln, got: make(chan consoleResult, 1)}
	t.Cleanup(func() { ln.Close() })
	go c.accept()
	return c
}

func (c *consoleSocket) accept() {
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		c.got <- consoleResult{err: err}
		return
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		c.got <- consoleResult{err: fmt.Errorf("read from console socket: %w", err)}
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		c.got <- consoleResult{err: fmt.Errorf("console socket: no control message (%w)", err)}
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		c.got <- consoleResult{err: fmt.Errorf("console socket: want one fd, got %d (%w)", len(fds), err)}
		return
	}
	// Non-blocking, so that reads can have a deadline.
	unix.SetNonblock(fds[0], true)
	c.got <- consoleResult{master: os.NewFile(uintptr(fds[0]), "pty-master")}
}

// master waits for the pty master.
func (c *consoleSocket) master(t *testing.T) *os.File {
	t.Helper()
	select {
	case r := <-c.got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.master.Close() })
		return r.master
	case <-time.After(pollTimeout):
		t.Fatalf("no pty master on the console socket after %s", pollTimeout)
	}
	return nil
}

// startShellOnTerminal creates and starts b running sh on a pty that
// --console-socket passes back, and returns the pty's master.
func (b *bundle) startShellOnTerminal(t *testing.T) *os.File {
	t.Helper()
	b.spec.Process.Terminal = true
	b.spec.Process.Args = []string{"sh"}
	cs := newConsoleSocket(t)
	b.mustCreate("--console-socket", cs.path)
	master := cs.master(t)
	b.start()
	return master
}

// ptyExpectLine writes input to the pty master and reads until a line
// equal to want appears (the terminal echoes the input too, which is why a
// whole line is compared).
func ptyExpectLine(t *testing.T, master *os.File, input, want string) {
	t.Helper()
	if _, err := master.Write([]byte(input)); err != nil {
		t.Fatalf("write to pty master: %v", err)
	}
	var got []byte
	deadline := time.Now().Add(pollTimeout)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		master.SetReadDeadline(time.Now().Add(time.Second))
		n, err := master.Read(buf)
		got = append(got, buf[:n]...)
		for _, line := range strings.Split(strings.ReplaceAll(string(got), "\r", ""), "\n") {
			if strings.TrimSpace(line) == want {
				return
			}
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read pty master: %v (read so far %q)", err, got)
		}
	}
	t.Fatalf("no line %q from the pty after %s; read %q", want, pollTimeout, got)
}

// lines splits s into trimmed non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
