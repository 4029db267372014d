package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/seccomp"
	"github.com/sdocker/sdocker/internal/trace"
)

// Main is the in-namespace side of Start and Exec. It prepares the process
// and replaces it with the user's program; it returns only by exiting.
// The caller must have locked the main goroutine to its thread in an init
// function: namespaces joined and capabilities set here belong to that thread.
func Main() {
	// Until execve nothing in the container may ptrace this process or
	// open its /proc files (its exe is the runtime).
	// (It fails only on a value other than 0 or 1.)
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	booted = trace.Now()
	if len(os.Args) > 1 {
		if base, err := strconv.Atoi(os.Args[1]); err == nil && base >= 3 {
			configFD, syncFD, stderrFD, extraFD = base, base+1, base+2, base+3
		}
	}
	code, err := childMain()
	if err != nil {
		if sendMessage(syncFD, syncMessage{Type: "error", Error: err.Error(), Code: code}) != nil {
			// Nobody listens any more (the runtime returned after create):
			// the container's stderr is the one place left to say it.
			_ = restoreStderr() // else there is no place left at all
			fmt.Fprintf(os.Stderr, "%s: %v\n", InitBinaryName, err)
		}
	}
	os.Exit(code)
}

// restoreStderr gives descriptor 2, the sync socket until now (see
// spawnChild), back to the container's stderr (a raw system call: see
// lateWrite).
func restoreStderr() error {
	if stderrFD != 2 {
		if _, _, e := unix.RawSyscall(unix.SYS_DUP3, uintptr(stderrFD), 2, 0); e != 0 {
			return fmt.Errorf("restore stderr: %w", e)
		}
		stderrFD = 2
	}
	return nil
}

// booted is when Main began: the end of the init's exec and the start of
// its Go runtime, the first step it traces.
var booted int64

// steps are the init's steps when the start is traced (cfg.Trace), else
// nil: each step then costs a test of this pointer.
var steps *trace.Points

func childMain() (int, error) {
	if err := checkUsernsJoin(); err != nil {
		return 125, err
	}
	f := os.NewFile(uintptr(configFD), "config")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return 125, fmt.Errorf("read config from parent: %w", err)
	}
	cfg, err := unmarshalChildConfig(b)
	if err != nil {
		return 125, fmt.Errorf("read config from parent: %w", err)
	}
	if cfg.Protocol != protocol {
		return 125, fmt.Errorf("%s speaks protocol %d, the runtime %d: install sdocker's binaries from one build", InitBinaryName, protocol, cfg.Protocol)
	}
	if cfg.Spec == nil || cfg.Spec.Process == nil {
		return 125, fmt.Errorf("config without a process")
	}
	if cfg.Trace {
		steps = &trace.Points{}
		steps.MarkAt("init start (exec, Go runtime)", booted)
		steps.Mark("read config")
	}
	if cfg.KillWithParent {
		if err := armParentDeath(); err != nil {
			return 125, err
		}
		steps.Mark("parent-death signal")
	}
	if cfg.WaitPlaced {
		m, fds, ok, err := recvMessage(syncFD)
		if err != nil {
			return 125, err
		}
		if !ok || m.Type != "placed" {
			return 125, fmt.Errorf("parent did not place the container in its cgroups")
		}
		steps.Mark("wait for placed")
		if cfg.LateWrite != "" {
			if len(fds) == 0 {
				return 125, fmt.Errorf("parent sent no file for the pids cgroup")
			}
			lateFD, fds = fds[len(fds)-1], fds[:len(fds)-1]
		}
		if err := joinCgroups(fds); err != nil {
			return 125, err
		}
		if len(fds) > 0 {
			steps.Mark("cgroup write: join (tasks)")
		}
		if err := recvIDMapped(cfg); err != nil {
			return 125, err
		}
	}
	unix.Umask(0)
	if os.Args[0] == execArg0 {
		err = enterContainer(cfg)
	} else {
		err = setupContainer(cfg)
	}
	if err != nil {
		return 125, err
	}
	return finish(cfg)
}

// sendTrace sends the init's steps to the parent, the last thing before
// the seccomp filter, as raw system calls (see lateWrite); pending names
// the step that follows, which the parent ends when the socket closes
// (execve closes it). Without a trace, or with an exec fifo (nobody reads
// the socket after "ready"), it sends nothing.
func sendTrace(cfg *childConfig, pending string) error {
	if steps == nil || cfg.ExecFifo {
		return nil
	}
	steps.Mark("seal descriptors")
	b := (&syncMessage{Type: "trace", Error: pending, State: steps.Marshal()}).marshal()
	if _, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(syncFD), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0); e != 0 {
		return fmt.Errorf("send trace message: %w", e)
	}
	return nil
}

// armParentDeath makes this process die (SIGKILL) with the thread that
// started it, and says "armed" to the parent, which answers with "placed"
// (a KillWithParent child always waits for it). The kernel sends the
// signal only for a death after the prctl: the parent's answer, sent
// after "armed" by a thread that was not exiting yet, proves that the
// parent was alive then; a parent that died before leaves the socket
// closed instead.
// (Asking getppid cannot tell: with a parent outside the pid namespace,
// joined by an exec or new for an init, the parent and whoever adopts
// the orphan both read as 0.)
func armParentDeath() error {
	if ms, err := strconv.Atoi(os.Getenv(ArmDelayEnv)); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent death signal: %w", err)
	}
	return sendMessage(syncFD, syncMessage{Type: "armed"})
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	_, ok := namespace(spec, t)
	return ok
}

// newNamespace reports whether spec asks for a new namespace of type t.
func newNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	ns, ok := namespace(spec, t)
	return ok && ns.Path == ""
}

func namespace(spec *specs.Spec, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == t {
				return ns, true
			}
		}
	}
	return specs.LinuxNamespace{}, false
}

// joinOrder is the order in which the namespaces given by path are joined,
// runc's (the pid namespace was joined at fork: it holds for the children,
// and so for the user's program): the mount namespace after those whose
// files it may hide, the cgroup namespace last.
var joinOrder = []specs.LinuxNamespaceType{specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.CgroupNamespace}

// joinNamespaces enters the namespaces that spec gives by path. Every file
// is opened first, so that each path resolves as the caller meant it (in
// its mount namespace), whatever is joined before it. With a new user
// namespace the forking thread joined them (see joinBeforeUserns).
func joinNamespaces(spec *specs.Spec) error {
	if newNamespace(spec, specs.UserNamespace) {
		return nil
	}
	type joining struct {
		t  specs.LinuxNamespaceType
		ns specs.LinuxNamespace
		fd int
	}
	var todo []joining
	defer func() {
		for _, j := range todo {
			unix.Close(j.fd)
		}
	}()
	for _, t := range joinOrder {
		ns, ok := namespace(spec, t)
		if !ok || ns.Path == "" {
			continue
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("linux.namespaces: open %s namespace %s: %w", t, ns.Path, err)
		}
		todo = append(todo, joining{t, ns, fd})
	}
	for _, j := range todo {
		if j.t == specs.MountNamespace {
			// This thread (locked, see Main) does the rest of the init:
			// it needs a file system context of its own, which the Go
			// runtime's other threads share until then.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs context: %w", err)
			}
		}
		if err := unix.Setns(j.fd, int(nsFlags[j.t])); err != nil {
			return fmt.Errorf("linux.namespaces: join %s namespace %s: %w", j.t, j.ns.Path, err)
		}
	}
	return nil
}

// setupContainer runs in the container's new namespaces, already in its
// cgroups (the parent placed it before sending the config).
func setupContainer(cfg *childConfig) (err error) {
	spec := cfg.Spec
	if err := unshareTime(spec); err != nil {
		return err
	}
	if err := joinNamespaces(spec); err != nil {
		return err
	}
	if err := unshareNamespaces(spec); err != nil {
		return err
	}
	if cfg.NewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && err != unix.ENOSYS {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	if newNamespace(spec, specs.CgroupNamespace) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	steps.Mark("namespaces, keyring")
	if spec.Root == nil || !path.IsAbs(spec.Root.Path) {
		return fmt.Errorf("root.path: an absolute rootfs path is required")
	}
	// Sysctls go in while /proc/sys is still writable.
	sysctls := func() error {
		if spec.Linux == nil {
			return nil
		}
		for k, v := range spec.Linux.Sysctl {
			if err := writeSysctl(k, v); err != nil {
				return err
			}
		}
		if len(spec.Linux.Sysctl) > 0 {
			steps.Mark("sysctls")
		}
		return nil
	}
	if err := setupRootfs(spec, func() error { return waitForHooks(cfg) }, sysctls); err != nil {
		return err
	}
	if !hasNamespace(spec, specs.MountNamespace) {
		// The console's bind mount is the last one made.
		defer func() {
			if e := detachRoot(); err == nil {
				err = e
			}
		}()
	}
	if hasNamespace(spec, specs.UTSNamespace) {
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return fmt.Errorf("set domainname %q: %w", spec.Domainname, err)
			}
		}
		steps.Mark("hostname")
	}
	if newNamespace(spec, specs.NetworkNamespace) {
		if err := loopbackUp(); err != nil {
			return err
		}
		steps.Mark("lo up")
	}
	if spec.Process.Terminal {
		if err := setupConsole(cfg, true); err != nil {
			return err
		}
		steps.Mark("console")
	}
	return nil
}

// enterContainer joins the namespaces of a running container (the pid
// namespace was joined by the parent before the fork).
func enterContainer(cfg *childConfig) error {
	// setns into a mount namespace needs a file system context of our own.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs context: %w", err)
	}
	if cfg.JoinFlags != 0 {
		if err := unix.Setns(extraFD, cfg.JoinFlags); err != nil {
			return fmt.Errorf("join namespaces of container: %w", err)
		}
	}
	if !hasNamespace(cfg.Spec, specs.MountNamespace) {
		// The caller's mount namespace: the container's root is the
		// init's, out of that namespace's tree (see detachRoot).
		if err := enterRootOf(extraFD); err != nil {
			return err
		}
	}
	unix.Close(extraFD)
	steps.Mark("join namespaces")
	if cfg.Spec.Process.Terminal {
		if err := setupConsole(cfg, false); err != nil {
			return err
		}
		steps.Mark("console")
	}
	return nil
}

// enterRootOf makes the root directory of the process of pidfd this one's.
func enterRootOf(pidfd int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", pidfd))
	if err != nil {
		return fmt.Errorf("read the container init's pid: %w", err)
	}
	pid := -1
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			pid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if pid <= 0 {
		return fmt.Errorf("the container's init has ended")
	}
	p := fmt.Sprintf("/proc/%d/root", pid)
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	// The pid may have been reused since it was read: the pidfd tells.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return fmt.Errorf("the container's init has ended: %w", err)
	}
	return enterRoot(fd, false)
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: set flags: %w", err)
	}
	return nil
}

func writeSysctl(key, value string) error {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return fmt.Errorf("linux.sysctl: invalid key %q", key)
	}
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		return fmt.Errorf("linux.sysctl: write %s: %w", p, err)
	}
	return nil
}

// waitForHooks lets the parent run its createRuntime hooks while the
// container's namespaces exist and its root is not yet pivoted.
func waitForHooks(cfg *childConfig) error {
	if !cfg.CreateRuntime {
		return nil
	}
	if err := sendMessage(syncFD, syncMessage{Type: "hooks"}); err != nil {
		return err
	}
	m, _, ok, err := recvMessage(syncFD)
	if err != nil {
		return err
	}
	if !ok || m.Type != "continue" {
		return fmt.Errorf("parent did not let the container continue after its hooks")
	}
	cfg.state = m.State
	if h := cfg.Spec.Hooks; h != nil {
		// In the container's namespaces, before pivot_root: paths still
		// resolve as in the runtime's mount namespace.
		if err := RunHooks("createContainer", h.CreateContainer, cfg.state); err != nil {
			return err
		}
	}
	steps.Mark("createRuntime, createContainer hooks")
	return nil
}

// waitForStart tells the parent the container is created, then blocks until
// somebody reads the exec fifo (OCI start).
func waitForStart(cfg *childConfig) error {
	if !cfg.ExecFifo {
		return nil
	}
	if h := cfg.Spec.Hooks; h == nil || len(h.StartContainer) == 0 {
		// The limit holds from create on (and an update then is not
		// undone at start); the wait on the fifo needs no new thread.
		// Hooks run before it is written: they start threads.
		if err := lateWrite(cfg); err != nil {
			return err
		}
	}
	// Nobody reads the sync socket after "ready".
	if err := restoreStderr(); err != nil {
		return err
	}
	if err := sendMessage(syncFD, syncMessage{Type: "ready"}); err != nil {
		return err
	}
	fifo, err := os.OpenFile(fdPath(extraFD), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()
	if _, err := fifo.Write([]byte{0}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	if h := cfg.Spec.Hooks; h != nil {
		return RunHooks("startContainer", h.StartContainer, cfg.state)
	}
	return nil
}

// finish applies the process settings and replaces this program with the
// user's. It only returns on failure, with the exit status that failure maps to.
func finish(cfg *childConfig) (int, error) {
	proc := cfg.Spec.Process
	if err := enterCwd(proc.Cwd); err != nil {
		return 125, err
	}
	steps.Mark("working directory")
	if err := setProcessLimits(proc); err != nil {
		return 125, err
	}
	steps.Mark("rlimits, oom_score_adj")
	argv0, err := lookPath(proc.Args[0], proc.Env)
	if err != nil {
		code := 127
		if errors.Is(err, unix.EACCES) || errors.Is(err, errNotExecutable) {
			code = 126
		}
		return code, err
	}
	if steps != nil {
		steps.Mark("look up " + proc.Args[0])
	}
	if os.Args[0] == execArg0 {
		// On cgroup v2 joining moves every thread of this process, which
		// the kernel allows (cpuset) only while they all have no more
		// capabilities than this one: before its own go.
		if err := lateWrite(cfg); err != nil {
			return 125, err
		}
	}
	priv, err := newPrivileges(proc)
	if err != nil {
		return 125, err
	}
	prog, err := newExecArgs(argv0, proc)
	if err != nil {
		return 126, err
	}
	if err := checkExecve(cfg.Seccomp, prog); err != nil {
		return 125, err
	}
	if err := setPersonality(cfg.Spec); err != nil {
		return 125, err
	}
	umask := 0o022
	if proc.User.Umask != nil {
		umask = int(*proc.User.Umask)
	}
	unix.Umask(umask)
	filter := newFilterProg(cfg.Seccomp)
	steps.Mark("execve arguments, seccomp program")
	if filter != nil && !proc.NoNewPrivileges {
		return filterFirst(cfg, filter, priv, prog)
	}
	if err := priv.apply(); err != nil {
		return 125, err
	}
	steps.Mark("user, groups, capabilities")
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return 125, fmt.Errorf("set no_new_privs: %w", err)
		}
		steps.Mark("no_new_privs")
	}
	if err := waitForStart(cfg); err != nil {
		return 125, err
	}
	if err := lateWrite(cfg); err != nil {
		return 125, err
	}
	if err := sealForExec(cfg); err != nil {
		return 125, err
	}
	if err := sendTrace(cfg, lastSteps(filter != nil, false, cfg.Orphan)); err != nil {
		return 125, err
	}
	if filter != nil {
		// From here on, execve is the one system call this thread makes
		// on success, and nothing the scheduler can preempt runs
		// (nosplit functions only, see sealForExec).
		if e := filter.install(); e != 0 {
			return 125, filterError(e)
		}
	}
	if cfg.Orphan {
		return forkProgram(prog, proc)
	}
	return execFailed(prog.execve(), proc)
}

// lastSteps names what the init does after it sent its trace: the seccomp
// filter (if any), then (filterFirst) the user and capabilities, then
// execve, or (Orphan) the fork of the program and the helper's exit.
func lastSteps(filter, credentials, orphan bool) string {
	var s []string
	if filter {
		s = append(s, "seccomp filter")
	}
	if credentials {
		s = append(s, "user, groups, capabilities")
	}
	if orphan {
		return strings.Join(append(s, "fork program, exit"), ", ")
	}
	return strings.Join(append(s, "execve"), ", ")
}

// filterError is the error of a failed install.
func filterError(e unix.Errno) error {
	if e == unix.EACCES {
		return fmt.Errorf("linux.seccomp: install seccomp filter: %w (the thread needs no_new_privs or CAP_SYS_ADMIN)", e)
	}
	return fmt.Errorf("linux.seccomp: install seccomp filter: %w", e)
}

// filterProg is the seccomp filter in the form seccomp(2) takes, made before
// it goes in.
type filterProg struct {
	insns []unix.SockFilter
	fprog unix.SockFprog
	flags uintptr
}

func newFilterProg(f *seccomp.Filter) *filterProg {
	if f == nil {
		return nil
	}
	p := &filterProg{insns: f.Instructions(), flags: f.Flags()}
	p.fprog = unix.SockFprog{Len: uint16(len(p.insns)), Filter: &p.insns[0]}
	return p
}

// install applies the filter to this thread (the config has no TSYNC, see
// fillConfig). The thread must have no_new_privs set or hold
// CAP_SYS_ADMIN.
//
//go:nosplit
func (f *filterProg) install() unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&f.fprog)))
	return e
}

// filterFirst is finish without no_new_privs: the filter needs
// CAP_SYS_ADMIN, so it goes in before the user and capabilities, and the
// system calls of privileges.apply follow it (the README lists them). What
// needs no privilege comes before it: the wait for start too, unless
// startContainer hooks are to run as the process's user (runc's order,
// under the filter as with runc).
func filterFirst(cfg *childConfig, filter *filterProg, priv *privileges, prog *execArgs) (int, error) {
	hooks := cfg.Spec.Hooks != nil && len(cfg.Spec.Hooks.StartContainer) > 0
	if !hooks {
		if err := waitForStart(cfg); err != nil {
			return 125, err
		}
		if err := lateWrite(cfg); err != nil {
			return 125, err
		}
	}
	if err := sealForExec(cfg); err != nil {
		return 125, err
	}
	if err := sendTrace(cfg, lastSteps(true, true, cfg.Orphan)); err != nil {
		return 125, err
	}
	fails := newSealedFailures(priv)
	if e := filter.install(); e != 0 {
		return 125, filterError(e)
	}
	// Only nosplit functions on the way to execve (see sealForExec).
	if step, _, e := priv.applyRaw(); step != privDone {
		fails.exit(step, e)
	}
	if hooks {
		if err := waitForStart(cfg); err != nil {
			return 125, err
		}
		if err := lateWrite(cfg); err != nil {
			return 125, err
		}
	}
	if cfg.Orphan {
		return forkProgram(prog, cfg.Spec.Process)
	}
	return execFailed(prog.execve(), cfg.Spec.Process)
}

// enterCwd changes to the process's working directory (an init makes it).
func enterCwd(cwd string) error {
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return fmt.Errorf("process.cwd %q: not an absolute path", cwd)
	}
	if os.Args[0] == initArg0 {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return fmt.Errorf("create working directory %s: %w", cwd, err)
		}
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("change to working directory %s: %w", cwd, err)
	}
	// A cwd reached through a descriptor that leaked from the host (say
	// /proc/self/fd/N, CVE-2024-21626) lies outside the root: refuse it.
	if wd, err := unix.Getwd(); err != nil || !path.IsAbs(wd) {
		return fmt.Errorf("process.cwd %q is outside the container's root: refused", cwd)
	}
	return nil
}

// setProcessLimits sets the process's rlimits and OOM score adjustment.
func setProcessLimits(proc *specs.Process) error {
	for _, rl := range proc.Rlimits {
		if err := setRlimit(rl); err != nil {
			return err
		}
	}
	if proc.OOMScoreAdj != nil {
		v := strconv.Itoa(*proc.OOMScoreAdj)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
			return fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	return nil
}

// setPersonality sets linux.personality.
func setPersonality(spec *specs.Spec) error {
	p := spec.Linux
	if p == nil || p.Personality == nil {
		return nil
	}
	dom := uintptr(0) // PER_LINUX
	if p.Personality.Domain == specs.PerLinux32 {
		dom = 0x0008 // PER_LINUX32
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, dom, 0, 0); e != 0 {
		return fmt.Errorf("linux.personality: %w", e)
	}
	return nil
}

// sealForExec readies this process for execve before the seccomp filter
// goes in: stderr back to the container's, every descriptor of ours
// close-on-exec, the original RLIMIT_NOFILE back. From the filter on, the
// init's thread must make no system call of its own but those named (execve;
// without no_new_privs privileges.applyRaw's), and the Go runtime none for
// it: so only nosplit functions run there, which the scheduler cannot
// preempt (a preempted goroutine that is locked to its thread parks that
// thread on a futex), nothing allocates (a growing heap maps memory), the
// runtime sends the init no preemption signal (asyncpreemptoff, see
// spawnChild) and the filter is on this thread only (the runtime's other
// threads go on unfiltered until execve ends them).
func sealForExec(cfg *childConfig) error {
	if err := restoreStderr(); err != nil {
		return err
	}
	// Nothing of ours may reach the user's program: every descriptor but
	// 0, 1, 2 and the preserved ones is closed by execve. (A raw system
	// call: see lateWrite.)
	if _, _, e := unix.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(3+cfg.PreserveFDs), ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC); e != 0 {
		return fmt.Errorf("mark descriptors close-on-exec: %w", e)
	}
	restoreFileLimit()
	return nil
}

// restoreFileLimit gives the process the soft RLIMIT_NOFILE it started
// with. Go raises it at start and puts it back in syscall.Exec, which the
// init does not use for the program (see execProgram); a syscall.Exec that
// fails at once (no file has the empty name) puts it back now. After
// process.rlimits set RLIMIT_NOFILE it changes nothing.
func restoreFileLimit() {
	_ = syscall.Exec("", []string{""}, nil)
}

// execArgs are execve's arguments, made before the filter goes in: a raw
// execve of them allocates nothing (syscall.Exec allocates, and would put
// back RLIMIT_NOFILE, which sealForExec did).
type execArgs struct {
	name       string // the program found on PATH
	path       *byte
	argv, envv []*byte
}

// execve replaces this program with the user's.
//
//go:nosplit
func (a *execArgs) execve() unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.path)),
		uintptr(unsafe.Pointer(&a.argv[0])), uintptr(unsafe.Pointer(&a.envv[0])))
	return e
}

// checkExecve refuses to go on when the seccomp filter would refuse the
// execve of prog with the very arguments it gets (a rule on execve's
// arguments; configure refuses one that does whatever they are): it could
// only kill the init's thread (and the Go runtime's others would live on),
// trap or fail it.
func checkExecve(f *seccomp.Filter, prog *execArgs) error {
	if f == nil {
		return nil
	}
	args := [6]uint64{uint64(uintptr(unsafe.Pointer(prog.path))),
		uint64(uintptr(unsafe.Pointer(&prog.argv[0]))), uint64(uintptr(unsafe.Pointer(&prog.envv[0])))}
	if ret, ok := f.Eval(unix.SYS_EXECVE, args); ok && seccomp.Refusal(ret) != "" {
		return fmt.Errorf("linux.seccomp: the profile's action for the execve of %s is %s (a rule on its arguments): the process could never start", prog.name, seccomp.Refusal(ret))
	}
	return nil
}

func newExecArgs(argv0 string, proc *specs.Process) (*execArgs, error) {
	path, err := unix.BytePtrFromString(argv0)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", proc.Args[0], err)
	}
	argv, err := syscall.SlicePtrFromStrings(proc.Args)
	if err != nil {
		return nil, fmt.Errorf("process.args: %w", err)
	}
	envv, err := syscall.SlicePtrFromStrings(dedupEnv(proc.Env))
	if err != nil {
		return nil, fmt.Errorf("process.env: %w", err)
	}
	return &execArgs{name: argv0, path: path, argv: argv, envv: envv}, nil
}

// forkProgram starts the user's program (exec with Options.Orphan) and
// returns 0. Forked from this thread, the program keeps its credentials,
// capabilities and filter; this helper's exit hands it to the container's
// init. (syscall.ForkExec makes its system calls under the filter.)
func forkProgram(prog *execArgs, proc *specs.Process) (int, error) {
	_, err := syscall.ForkExec(prog.name, proc.Args, &syscall.ProcAttr{
		Env: dedupEnv(proc.Env), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if errors.Is(err, unix.EAGAIN) {
		return 126, fmt.Errorf("exec %s: %w (the container's pids limit is reached)", proc.Args[0], err)
	}
	if err != nil {
		return 126, fmt.Errorf("exec %s: %w", proc.Args[0], err)
	}
	return 0, nil
}

// execFailed is the exit status and error of an execve that returned e.
func execFailed(e unix.Errno, proc *specs.Process) (int, error) {
	code := 126
	if e == unix.ENOENT {
		code = 127
	}
	return code, fmt.Errorf("exec %s: %w", proc.Args[0], e)
}

var errNotExecutable = errors.New("permission denied")

// joinCgroups writes 0 into each of the v1 cgroup tasks files the parent
// sent with "placed" (see joinFiles): this thread, the one that execs the
// container's program, joins the container's cgroups. The Go runtime's other
// threads stay behind and end with the execve.
func joinCgroups(fds []int) error {
	for _, fd := range fds {
		_, err := unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join the container's cgroups: write tasks: %w", err)
		}
	}
	return nil
}

// lateFD is the file for cfg.LateWrite, from the parent's "placed".
var lateFD = -1

// lateWrite writes cfg.LateWrite to lateFD: the container's pids limit
// (init) or this process into the container's pids cgroup (exec). The pids
// controller counts threads, and a Go runtime that cannot start one when it
// wants one dies; so from here to execve it must want none: the collector
// is off, an idle thread is left for the scheduler (a locked goroutine that
// is preempted, or whose system call outlasts a tick of the runtime's
// monitor, hands its P to another thread), and the init's system calls
// after it are raw ones, which the runtime never hands off. execve ends the
// threads; the limit then counts the container's own processes only.
func lateWrite(cfg *childConfig) error {
	if cfg.LateWrite == "" {
		return nil
	}
	defer func() { cfg.LateWrite = "" }()
	debug.SetGCPercent(-1)
	runtime.Gosched()
	b := []byte(cfg.LateWrite)
	_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(lateFD), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	// Closing a cgroup file reports nothing that its write did not.
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(lateFD), 0, 0)
	if e == 0 {
		if steps != nil {
			steps.Mark("cgroup write: " + lateWriteStep())
		}
		return nil
	}
	if os.Args[0] == execArg0 {
		return fmt.Errorf("join the container's pids cgroup: %w", e)
	}
	return fmt.Errorf("linux.resources.pids: write limit %s: %w", cfg.LateWrite, e)
}

// lateWriteStep names what lateWrite did, for the trace.
func lateWriteStep() string {
	if os.Args[0] == execArg0 {
		return "join pids cgroup"
	}
	return "pids.max"
}

// dedupEnv keeps one entry per variable, the last given, in first-seen order.
func dedupEnv(env []string) []string {
	last := make(map[string]int, len(env))
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := env[:0:0]
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

// lookPath finds file as a shell would, with the container's PATH.
func lookPath(file string, env []string) (string, error) {
	check := func(p string) error {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&0o111 == 0 {
			return errNotExecutable
		}
		return nil
	}
	if file == "" {
		return "", fmt.Errorf("exec \"\": executable file not found in $PATH")
	}
	if strings.Contains(file, "/") {
		if err := check(file); err != nil {
			return "", fmt.Errorf("exec %s: %w", file, err)
		}
		return file, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	var firstErr error
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, file)
		err := check(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", fmt.Errorf("exec %s: %w", file, firstErr)
	}
	return "", fmt.Errorf("exec %s: executable file not found in $PATH", file)
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// RlimitResource is the resource number of an rlimit type (RLIMIT_NOFILE).
func RlimitResource(typ string) (int, bool) {
	res, ok := rlimitTypes[typ]
	return res, ok
}

func setRlimit(rl specs.POSIXRlimit) error {
	res, ok := rlimitTypes[rl.Type]
	if !ok {
		return fmt.Errorf("process.rlimits: unknown type %q", rl.Type)
	}
	lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
	if err := unix.Prlimit(0, res, &lim, nil); err != nil {
		return fmt.Errorf("process.rlimits: set %s to %d:%d: %w", rl.Type, rl.Soft, rl.Hard, err)
	}
	return nil
}
