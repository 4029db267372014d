package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/seccomp"
	"github.com/sdocker/sdocker/internal/trace"
)

// Stdio are the standard streams of a container process; nil means
// /dev/null. They are ignored when the process has a terminal.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// Options are what starting a container process needs beside its spec: the
// spec itself is the one form of everything it holds (limits included),
// read where it is used and never copied in here.
type Options struct {
	Stdio Stdio
	// KillWithParent kills the process when the thread that started it
	// ends (a foreground `sdocker run`); otherwise it outlives its starter
	// (OCI create, detached exec) and whoever reaps orphans reaps it.
	KillWithParent bool
	// Orphan (exec only): the program is started by the helper, which then
	// exits, so that the container's init adopts it (a detached
	// `sdocker exec -d`). Not for OCI clients: they reap exec'd processes
	// themselves.
	Orphan bool
	// CreateCgroups: Start makes the container's cgroups itself, with the
	// limits in the spec's linux.resources, where it costs the least: on
	// cgroup v1 while the child starts (it waits until it is placed in
	// them), on v2 right before the clone that puts the child into its
	// cgroup. The caller destroys them when Start fails.
	CreateCgroups bool
	// PreserveFDs become descriptors 3, 4, ... of the container's program.
	PreserveFDs []*os.File
	// NewKeyring gives the container a session keyring of its own.
	NewKeyring bool
	// ExecFifo is the path of a fifo: the init stops right before execve
	// until somebody opens it for reading (OCI create, then start).
	ExecFifo string
	// Trace, if not nil, gets the steps of the start, the init's
	// included (which it sends before its seccomp filter; its execve
	// ends when the sync socket closes). Not with ExecFifo.
	Trace *trace.Trace
	Callbacks

	// joinPidsLate (exec into a container with a pids limit): the child
	// joins the container's pids cgroup itself right before its execve
	// (see childConfig.LateWrite).
	joinPidsLate bool
	// joinUserns is a user namespace the child joins before its Go
	// runtime starts (see usernsEntry).
	joinUserns *os.File
	// joinTimens is a time namespace the child joins before its Go
	// runtime starts, and before joinUserns.
	joinTimens *os.File
	// forkJoins are namespaces that the forking thread joins (see
	// joinBeforeUserns).
	forkJoins []nsJoin
}

// Callbacks are the caller's steps during a start. StartEarly ignores
// them: they come with the whole spec, to Finish.
type Callbacks struct {
	// WhileStarting is called with the child's host pid once it has its
	// config and sits in its cgroups, while it sets the container up: the
	// caller's bookkeeping (state file, pid file) then costs no time on
	// the way to the container's program. Its error fails the start.
	WhileStarting func(pid int) error
	// BeforePlaced is called once the child's runtime has booted, right
	// before it is let go on to set the container up (its mounts, then
	// the user's program): the wait for what the caller started beside
	// the container and the container needs from its first step (the
	// network that pasta configures in the container's namespace). Its
	// error fails the start.
	BeforePlaced func() error
	// CreateRuntime is called with the init's host pid once its namespaces
	// exist, before pivot_root, while the init waits (OCI prestart and
	// createRuntime hooks). It returns the state JSON the init gives its
	// own createContainer and startContainer hooks.
	CreateRuntime func(pid int) (state []byte, err error)
}

// Process is a container's init or an exec'd process, seen from the parent.
type Process struct {
	Pid int
	// Console is the pty master when the process has a terminal.
	Console *os.File

	done  chan struct{}
	state *unix.WaitStatus
	err   error
	// unwaited is set for a child nobody waits for (create, detached
	// exec): it is left to whoever reaps orphans, unless Wait is called.
	unwaited bool
	waitOnce sync.Once
}

// Wait waits for the process to end and returns its wait status (nil when
// waiting failed).
func (p *Process) Wait() (*unix.WaitStatus, error) {
	if p.unwaited {
		p.waitOnce.Do(func() {
			p.state, p.err = wait(p.Pid)
			close(p.done)
		})
	}
	<-p.done
	return p.state, p.err
}

// ExitCode is Docker's exit status of a process that ended with ws: its
// exit code, or 128+N when signal N ended it; failed when ws is nil
// (waiting failed) or tells neither.
func ExitCode(ws *unix.WaitStatus, failed int) int {
	switch {
	case ws == nil:
		return failed
	case ws.Signaled():
		return 128 + int(ws.Signal())
	case ws.Exited():
		return ws.ExitStatus()
	}
	return failed
}

// wait reaps child pid. (Not os.Process: its first use checks pidfd
// support by cloning a throw-away child, a cost on every command's start.)
func wait(pid int) (*unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wait for process %d: %w", pid, err)
		}
		return &ws, nil
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return unix.Kill(p.Pid, sig)
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// cloneFlags returns the new namespaces spec asks for, and the path of a
// pid namespace to join. The cgroup namespace is left to the child, which
// unshares it once it sits in its cgroups; the child also joins the other
// namespaces given by path.
func cloneFlags(spec *specs.Spec) (flags uintptr, pidPath string, err error) {
	if spec.Linux == nil {
		return 0, "", nil
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range spec.Linux.Namespaces {
		f, ok := nsFlags[ns.Type]
		if !ok {
			return 0, "", fmt.Errorf("linux.namespaces: unsupported type %q", ns.Type)
		}
		if seen[ns.Type] {
			return 0, "", fmt.Errorf("linux.namespaces: %s given twice", ns.Type)
		}
		seen[ns.Type] = true
		switch {
		case ns.Path != "" && ns.Type == specs.PIDNamespace:
			pidPath = ns.Path
		case ns.Path == "" && ns.Type == specs.TimeNamespace:
			// The init makes it (unshareTime): its offsets go in before
			// any process enters it.
		case ns.Path != "" && ns.Type == specs.TimeNamespace && newNamespace(spec, specs.UserNamespace):
			// The new user namespace would hold no privilege over it.
			return 0, "", fmt.Errorf("linux.namespaces: a time namespace given by path with a new user namespace is not supported")
		case ns.Path == "" && ns.Type != specs.CgroupNamespace:
			flags |= f
		}
	}
	if err := CheckUserNamespace(spec); err != nil {
		return 0, "", err
	}
	if _, userPath := userNamespace(spec); userPath != "" {
		// The new namespaces must belong to the user namespace: the init
		// unshares them once it joined it (see unshareNamespaces).
		flags = 0
	}
	return flags, pidPath, nil
}

// Start creates the namespaces that spec asks for and starts the container's
// first process in them and in cg (which must exist unless o.CreateCgroups).
// It returns once the user's program runs (after its execve), or, with
// o.ExecFifo, once the init waits on the fifo; a *StartError when the
// program could not start.
func Start(id string, spec *specs.Spec, cg cgroups.Manager, o Options) (*Process, error) {
	if err := checkProcess(spec.Process, "process.args"); err != nil {
		return nil, err
	}
	s, err := startEarly(id, spec, cg, o, false)
	if err != nil {
		return nil, err
	}
	return s.Finish(spec, o.Callbacks)
}

// checkProcess refuses a process without a command (argsField names it)
// or whose user has an id out of range: setresuid(-1) would leave the
// process root.
func checkProcess(p *specs.Process, argsField string) error {
	if p == nil || len(p.Args) == 0 {
		return fmt.Errorf("%s: no command given", argsField)
	}
	return ids.CheckUser(p.User)
}

// Starting is a container's init started before its whole spec is known.
type Starting struct {
	c        *child
	id       string
	flags    uintptr
	pidPath  string
	execFifo bool
}

// StartEarly starts the container's init from what cloning it needs of its
// spec (linux.namespaces, process.terminal; the rest of early is not
// read). Its Go runtime boots while the caller decodes and checks the whole
// spec; Finish then hands it over, or Abort ends the init. With
// o.CreateCgroups on cgroup v2 the cgroup is made without limits for the
// clone to put the init in, and Finish writes them before the init goes on.
func StartEarly(id string, early *specs.Spec, cg cgroups.Manager, o Options) (*Starting, error) {
	return startEarly(id, early, cg, o, true)
}

func startEarly(id string, early *specs.Spec, cg cgroups.Manager, o Options, limitsLater bool) (*Starting, error) {
	flags, pidPath, err := cloneFlags(early)
	if err != nil {
		return nil, err
	}
	var pidns *os.File
	if pidPath != "" {
		if pidns, err = os.Open(pidPath); err != nil {
			return nil, fmt.Errorf("linux.namespaces: open pid namespace: %w", err)
		}
		defer pidns.Close()
	}
	if o.forkJoins, err = joinBeforeUserns(early); err != nil {
		return nil, err
	}
	defer closeJoins(o.forkJoins)
	if _, userPath := userNamespace(early); userPath != "" {
		f, err := os.Open(userPath)
		if err != nil {
			return nil, fmt.Errorf("linux.namespaces: open user namespace: %w", err)
		}
		defer f.Close()
		o.joinUserns = f
	}
	if ns, ok := namespace(early, specs.TimeNamespace); ok && ns.Path != "" {
		f, err := os.Open(ns.Path)
		if err != nil {
			return nil, fmt.Errorf("linux.namespaces: open time namespace: %w", err)
		}
		defer f.Close()
		o.joinTimens = f
	}
	var extra *os.File
	if o.ExecFifo != "" {
		f, err := os.OpenFile(o.ExecFifo, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open exec fifo: %w", err)
		}
		defer f.Close()
		extra = f
	}
	c, err := spawnChild(initArg0, early, flags, pidns, extra, cg, o, limitsLater)
	if err != nil {
		return nil, err
	}
	return &Starting{c: c, id: id, flags: flags, pidPath: pidPath, execFifo: extra != nil}, nil
}

// Finish gives the init its whole spec, whose namespaces and terminal must
// be what StartEarly was given (its limits are read from it now), with the
// callbacks that come with it. It returns as Start does.
func (s *Starting) Finish(spec *specs.Spec, cb Callbacks) (*Process, error) {
	if err := checkProcess(spec.Process, "process.args"); err != nil {
		s.Abort()
		return nil, err
	}
	if flags, pidPath, err := cloneFlags(spec); err != nil || flags != s.flags || pidPath != s.pidPath {
		s.Abort()
		if err == nil {
			err = fmt.Errorf("linux.namespaces changed since the init was started")
		}
		return nil, err
	}
	s.c.o.Callbacks = cb
	return s.c.configure(&childConfig{ID: s.id, Spec: spec, ExecFifo: s.execFifo})
}

// Abort ends an init that will not get its spec.
func (s *Starting) Abort() { s.c.abort() }

// Exec starts proc in the running container whose init is initPid (a host
// pid), joining every namespace the container's spec made and its cgroups.
func Exec(initPid int, spec *specs.Spec, proc *specs.Process, cg cgroups.Manager, o Options) (*Process, error) {
	if err := checkProcess(proc, "exec"); err != nil {
		return nil, err
	}
	join := 0
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type != specs.PIDNamespace && ns.Type != specs.UserNamespace && ns.Type != specs.TimeNamespace {
				join |= int(nsFlags[ns.Type])
			}
		}
	}
	pidfd, err := unix.PidfdOpen(initPid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pidfd of container init %d: %w", initPid, err)
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	if has, _ := userNamespace(spec); has {
		userns, err := openNamespace(initPid, f, "user")
		if err != nil {
			return nil, err
		}
		defer userns.Close()
		o.joinUserns = userns
	}
	if _, has := namespace(spec, specs.TimeNamespace); has {
		// The namespace for its children: a new one is the init's own only
		// from its execve on (unshareTime), one given by path both.
		timens, err := openNamespace(initPid, f, "time_for_children")
		if err != nil {
			return nil, err
		}
		defer timens.Close()
		o.joinTimens = timens
	}
	// What entering needs of the container's spec: its namespaces and
	// seccomp profile.
	execSpec := &specs.Spec{Version: spec.Version, Process: proc}
	if spec.Linux != nil {
		execSpec.Linux = &specs.Linux{Namespaces: spec.Linux.Namespaces, Seccomp: spec.Linux.Seccomp}
	}
	cfg := &childConfig{Spec: execSpec, JoinFlags: join}
	o.ExecFifo, o.CreateRuntime = "", nil
	o.joinPidsLate = pidsLimited(cg)
	return startChild(execArg0, cfg, 0, f, f, cg, o)
}

// startChild starts this binary again as arg0 with the channels to it, puts
// it in its cgroups, sends the config and follows it until it runs the
// user's program. A non-nil pidns (a namespace file or a pidfd) is the pid
// namespace the child is born in.
func startChild(arg0 string, cfg *childConfig, flags uintptr, pidns, extra *os.File, cg cgroups.Manager, o Options) (*Process, error) {
	c, err := spawnChild(arg0, cfg.Spec, flags, pidns, extra, cg, o, false)
	if err != nil {
		return nil, err
	}
	return c.configure(cfg)
}

// child is a started child that has not had its config yet: it boots its Go
// runtime meanwhile, then waits for the config on its pipe.
type child struct {
	p        *Process
	cg       cgroups.Manager
	o        Options
	terminal bool
	conn     *syncConn
	configW  *os.File
	// limitsLater: its cgroup (v2) was made without limits; configure
	// writes them before the child goes on.
	limitsLater bool
	// userMaps holds the id mappings of the child's new user namespace;
	// nil without one.
	userMaps *specs.Linux
	// pending is the traced step the child began after it sent its
	// trace, which ends when its sync socket closes.
	pending string
}

// spawnChild clones the child. What it reads of spec (an init's early spec)
// is whether the process has a terminal (its stdio then is the null device)
// and, for a cgroup v2 that o.CreateCgroups makes before the clone, the
// limits in linux.resources; with limitsLater that cgroup gets none yet.
func spawnChild(arg0 string, spec *specs.Spec, flags uintptr, pidns, extra *os.File, cg cgroups.Manager, o Options, limitsLater bool) (_ *child, err error) {
	terminal := spec.Process != nil && spec.Process.Terminal
	ch, err := openChannels()
	if err != nil {
		return nil, err
	}
	defer ch.closeChildEnds()
	defer func() {
		if err != nil {
			ch.closeParentEnds()
		}
	}()
	fds, closeNull, err := childFds(o, terminal, extra, ch)
	if err != nil {
		return nil, err
	}
	defer closeNull()
	o.Trace.Mark("channels, stdio")
	args := []string{arg0, strconv.Itoa(3 + len(o.PreserveFDs))}
	if o.joinUserns != nil || o.joinTimens != nil {
		userFd, timeFd := -1, -1
		if o.joinUserns != nil {
			userFd, fds = len(fds), append(fds, o.joinUserns.Fd())
		}
		if o.joinTimens != nil {
			timeFd, fds = len(fds), append(fds, o.joinTimens.Fd())
		}
		joins, err := entryJoins(userFd, timeFd)
		if err != nil {
			return nil, err
		}
		args = append(args, joins)
	}
	exe, err := sealedExe(exeFloor(fds))
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	o.Trace.Mark("sealed init binary")
	attr := &syscall.ProcAttr{
		// One P: the init is one goroutine on a locked thread; more Ps
		// only start threads it never uses (and make the Go runtime read
		// the cgroup's CPU limit to size them). No asynchronous
		// preemption: from the seccomp filter to execve the init's thread
		// must not get a signal from its own runtime (see sealForExec).
		Env:   childEnv(),
		Files: fds,
		Sys:   &syscall.SysProcAttr{Cloneflags: flags, PidFD: new(int)},
	}
	if o.KillWithParent && pidns == nil {
		// Armed from the clone on. Go's check that the parent still
		// lives reads getppid, 0 for a parent outside the child's pid
		// namespace: in a joined one (an exec's) it would kill every
		// child, in a new one its kill is ignored (pid 1). The child arms
		// the signal again and proves its parent alive: armParentDeath.
		attr.Sys.Pdeathsig = unix.SIGKILL
	}
	if flags&unix.CLONE_NEWUSER != 0 {
		// The fork writes the maps (setgroups allowed, as runc), while the
		// child waits, then makes the child root of its namespace.
		attr.Sys.UidMappings, attr.Sys.GidMappings = idMaps(spec.Linux.UIDMappings), idMaps(spec.Linux.GIDMappings)
		attr.Sys.GidMappingsEnableSetgroups = true
		attr.Sys.Credential = &syscall.Credential{NoSetGroups: true}
	}
	limitsLater = limitsLater && cg.Version() == 2 && o.CreateCgroups
	if cg.Version() == 2 && !o.joinPidsLate {
		var res *specs.LinuxResources
		if !limitsLater {
			res = resourcesOf(spec)
		}
		fd, err := cloneCgroup(cg, o.CreateCgroups, res)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		if o.CreateCgroups {
			o.Trace.Mark("cgroup writes: create, limits")
		} else {
			o.Trace.Mark("cgroup: open")
		}
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
	}
	path := fmt.Sprintf("/proc/self/fd/%d", exe.Fd())
	p, err := fork(path, args, attr, pidns, o.forkJoins, cg, o.KillWithParent)
	if err != nil {
		return nil, err
	}
	o.Trace.Mark("clone")
	c := &child{p: p, cg: cg, o: o, terminal: terminal, conn: ch.conn, configW: ch.configW, limitsLater: limitsLater}
	if flags&unix.CLONE_NEWUSER != 0 {
		c.userMaps = &specs.Linux{UIDMappings: spec.Linux.UIDMappings, GIDMappings: spec.Linux.GIDMappings}
	}
	return c, nil
}

// childEnv is the environment of a child: one P (see spawnChild), no
// stack on a fatal error, no asynchronous preemption (see sealForExec),
// and the fault injection of tests if given.
func childEnv() []string {
	env := []string{"GOMAXPROCS=1", "GOTRACEBACK=none", "GODEBUG=asyncpreemptoff=1"}
	if d, ok := os.LookupEnv(ArmDelayEnv); ok {
		env = append(env, ArmDelayEnv+"="+d)
	}
	return env
}

// resourcesOf is spec's linux.resources, nil when it has none.
func resourcesOf(spec *specs.Spec) *specs.LinuxResources {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Resources
}

// channels are the two ends of the config pipe and of the sync socket.
type channels struct {
	configR, configW *os.File
	conn             *syncConn
	childSock        *os.File
}

func openChannels() (*channels, error) {
	configR, configW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create config pipe: %w", err)
	}
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		configR.Close()
		configW.Close()
		return nil, fmt.Errorf("create sync socket: %w", err)
	}
	conn, err := newSyncConn(socks[0])
	if err != nil {
		unix.Close(socks[1])
		configR.Close()
		configW.Close()
		return nil, err
	}
	return &channels{configR: configR, configW: configW, conn: conn, childSock: os.NewFile(uintptr(socks[1]), "sync")}, nil
}

// closeChildEnds closes this process's copies of the child's ends.
func (ch *channels) closeChildEnds() {
	ch.configR.Close()
	ch.childSock.Close()
}

// closeParentEnds closes the parent's ends (a failed spawn).
func (ch *channels) closeParentEnds() {
	ch.configW.Close()
	ch.conn.Close()
}

// childFds are the child's descriptors. Its stdio is the null device where
// none is given (as os/exec does), but its descriptor 2 is the sync socket
// until its execve: what its Go runtime says there (a fatal error, with a
// stack) reaches this process, which reports it in one line, instead of the
// container's output. o.PreserveFDs follow from 3, then the config pipe,
// the sync socket, the container's stderr and the extra file.
func childFds(o Options, terminal bool, extra *os.File, ch *channels) (fds []uintptr, closeNull func(), err error) {
	stdio := []*os.File{o.Stdio.Stdin, o.Stdio.Stdout, o.Stdio.Stderr}
	if terminal {
		stdio = []*os.File{nil, nil, nil}
	}
	var nulls []*os.File
	closeNull = func() {
		for _, f := range nulls {
			f.Close()
		}
	}
	for i, f := range stdio {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				closeNull()
				return nil, nil, fmt.Errorf("open %s: %w", os.DevNull, err)
			}
			nulls = append(nulls, null)
			stdio[i] = null
		}
	}
	files := append(append([]*os.File{}, o.PreserveFDs...), ch.configR, ch.childSock, stdio[2])
	if extra != nil {
		files = append(files, extra)
	}
	fds = []uintptr{stdio[0].Fd(), stdio[1].Fd(), ch.childSock.Fd()}
	for _, f := range files {
		fds = append(fds, f.Fd())
	}
	return fds, closeNull, nil
}

// cloneCgroup opens the cgroup v2 that the clone puts the child in, after
// making it with res (but its pids limit, which the init writes) when
// create.
func cloneCgroup(cg cgroups.Manager, create bool, res *specs.LinuxResources) (int, error) {
	if create {
		res, _ = splitPidsLimit(res)
		if err := cg.Create(res); err != nil {
			return -1, err
		}
	}
	return cg.FD()
}

// fork starts the child on a thread of its own (see forkOn).
func fork(path string, args []string, attr *syscall.ProcAttr, pidns *os.File, joins []nsJoin, cg cgroups.Manager, killWithParent bool) (*Process, error) {
	p := &Process{done: make(chan struct{})}
	started := make(chan error, 1)
	go p.forkOn(path, args, attr, pidns, joins, cg, killWithParent, started)
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// forkOn forks p on the calling goroutine's thread, in pidns and the
// namespaces of joins if given, and reports on started; with
// killWithParent it then waits for p there.
func (p *Process) forkOn(path string, args []string, attr *syscall.ProcAttr, pidns *os.File, joins []nsJoin, cg cgroups.Manager, killWithParent bool, started chan<- error) {
	// The child's parent-death signal follows the thread that forked
	// it: keep that thread for the child's whole life. A thread that
	// joined a namespace dies afterwards (never unlocked); any other
	// goes back to the scheduler, which then needs no new one.
	runtime.LockOSThread()
	if pidns == nil && len(joins) == 0 {
		defer runtime.UnlockOSThread()
	}
	if pidns != nil {
		if err := unix.Setns(int(pidns.Fd()), unix.CLONE_NEWPID); err != nil {
			started <- fmt.Errorf("join pid namespace of container: %w", err)
			close(p.done)
			return
		}
	}
	if err := joinOnThread(joins); err != nil {
		started <- err
		close(p.done)
		return
	}
	pid, err := syscall.ForkExec(path, args, attr)
	if err != nil {
		if attr.Sys.UseCgroupFD && errors.Is(err, unix.EBUSY) {
			err = fmt.Errorf("%w: cgroup %s has cgroups below it (cgroup v2 puts no process beside them)", err, cg.Paths()[""])
		}
		started <- fmt.Errorf("start container process: %w", err)
		close(p.done)
		return
	}
	p.Pid = pid
	if !killWithParent {
		// Never reap it here: the caller (conmon, containerd's shim)
		// is a subreaper and collects its exit status itself.
		unix.Close(*attr.Sys.PidFD)
		p.unwaited = true
		started <- nil
		return
	}
	started <- nil
	p.state, p.err = waitPidfd(pid, *attr.Sys.PidFD)
	close(p.done)
}

// place makes or fills the child's cgroups where configure left that for
// the time the child decodes its config, and tells it "placed", with the
// files through which it joins its v1 cgroups (see joinFiles) and then
// the file for its late write if there is one.
func (c *child) place(res *specs.LinuxResources, late string) error {
	cg, o := c.cg, c.o
	start := o.Trace.Since()
	switch {
	case c.limitsLater:
		if err := cg.Set(res); err != nil {
			return err
		}
		o.Trace.Beside("cgroup writes: limits", start)
	case o.CreateCgroups && cg.Version() == 1:
		if err := cg.Create(res); err != nil {
			return err
		}
		if err := c.chownCgroups(); err != nil {
			return err
		}
		o.Trace.Beside("cgroup writes: create, limits", start)
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if cg.Version() == 1 {
		skip := ""
		if o.joinPidsLate {
			skip = cg.PidsDir()
		}
		var err error
		start := o.Trace.Since()
		if fds, err = joinFiles(cg, skip); err != nil {
			return err
		}
		o.Trace.Beside("cgroup: open tasks files", start)
	}
	if late != "" {
		name := "pids.max"
		switch {
		case o.joinPidsLate && cg.Version() == 1:
			// Only the thread that writes joins (v1's "tasks"): the one that
			// execs, or forks a detached exec's program; the runtime's
			// other threads are never counted.
			name = "tasks"
		case o.joinPidsLate:
			name = "cgroup.procs"
		}
		p := filepath.Join(cg.PidsDir(), name)
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		fds = append(fds, fd)
	}
	if o.KillWithParent {
		// "placed" is also the proof that the child's parent-death
		// signal was armed while this process lived.
		armed, err := c.await("armed")
		if err != nil {
			return err
		}
		if !armed {
			return fmt.Errorf("container process %d ended before it was placed", c.p.Pid)
		}
	}
	if o.BeforePlaced != nil {
		start := o.Trace.Since()
		if err := o.BeforePlaced(); err != nil {
			return err
		}
		o.Trace.Beside("wait: what the container needs before its setup", start)
	}
	return c.conn.send(syncMessage{Type: "placed"}, fds...)
}

// joinFiles opens the tasks file of each of cg's v1 cgroups but skip, one
// per hierarchy. The child writes 0 into each (joinCgroups): that moves the
// writing thread alone, the one that execs, and it takes no write lock of
// the kernel's cgroup_threadgroup_rwsem, as moving a process by its pid
// does, which waits for an RCU grace period: 5 to 12 ms of every start on
// a busy machine.
func joinFiles(cg cgroups.Manager, skip string) (fds []int, err error) {
	var dirs []string
	for _, d := range cg.Paths() {
		if d != skip && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		p := filepath.Join(d, "tasks")
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// splitPidsLimit returns r without a positive pids limit, and that limit
// as the init writes it; r itself when it has none.
func splitPidsLimit(r *specs.LinuxResources) (*specs.LinuxResources, string) {
	if r == nil || r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit <= 0 {
		return r, ""
	}
	without := *r
	without.Pids = nil
	return &without, strconv.FormatInt(*r.Pids.Limit, 10)
}

// pidsLimited reports whether the container in cg has a pids limit.
func pidsLimited(cg cgroups.Manager) bool {
	b, err := os.ReadFile(filepath.Join(cg.PidsDir(), "pids.max"))
	return err == nil && strings.TrimSpace(string(b)) != "max"
}

// abort kills a child that will not get its config.
func (c *child) abort() {
	unix.Kill(c.p.Pid, unix.SIGKILL)
	_, _ = c.p.Wait() // the status of a killed child says nothing
	c.configW.Close()
	c.conn.Close()
}

// configure sends the child its config, puts it in its cgroups and follows
// it until it runs the user's program. The limits are the spec's.
func (c *child) configure(cfg *childConfig) (*Process, error) {
	defer c.conn.Close()
	defer c.configW.Close()
	if cfg.Spec.Process.Terminal != c.terminal {
		return c.fail(fmt.Errorf("process.terminal changed since the init was started"))
	}
	res := resourcesOf(cfg.Spec)
	start := c.o.Trace.Since()
	if err := c.fillConfig(cfg); err != nil {
		return c.fail(err)
	}
	res, late := c.lateWrite(res)
	cfg.LateWrite = late
	// The child decodes its config while its cgroups are joined (cgroup v1:
	// one write per hierarchy) or get their limits (v2, started early); it
	// waits for "placed" before anything else but arming its parent-death
	// signal.
	cfg.IDMapped = idMappedMounts(cfg.Spec)
	cfg.WaitPlaced = c.cg.Version() == 1 || c.limitsLater || late != "" || c.o.KillWithParent || len(cfg.IDMapped) > 0 || c.o.BeforePlaced != nil
	cfg.Trace = c.o.Trace != nil && !cfg.ExecFifo
	if c.cg.Version() == 2 {
		if err := c.chownCgroups(); err != nil {
			return c.fail(err)
		}
	}
	if _, err := c.configW.Write(cfg.marshal()); err != nil {
		return c.fail(fmt.Errorf("send config to container init: %w", err))
	}
	c.configW.Close()
	c.o.Trace.Beside("config: seccomp compile, encode, send", start)
	if cfg.WaitPlaced {
		// (The child's runtime starts meanwhile.)
		if err := c.place(res, late); err != nil {
			return c.fail(err)
		}
		if err := c.sendIDMapped(cfg); err != nil {
			return c.fail(err)
		}
	}
	if c.o.WhileStarting != nil {
		start := c.o.Trace.Since()
		if err := c.o.WhileStarting(c.p.Pid); err != nil {
			return c.fail(err)
		}
		c.o.Trace.Beside("state and pid files", start)
	}
	return c.follow()
}

// sendIDMapped makes the id-mapped mounts of cfg and sends them to the
// child.
func (c *child) sendIDMapped(cfg *childConfig) error {
	if len(cfg.IDMapped) == 0 {
		return nil
	}
	fds, err := makeIDMapped(cfg.Spec, cfg.IDMapped, c.p.Pid)
	if err != nil {
		return err
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	return c.conn.send(syncMessage{Type: "mounts"}, fds...)
}

// chownCgroups gives the cgroups that Start made to the root of the
// container's new user namespace, if it has one (see cgroups.Chown).
func (c *child) chownCgroups() error {
	if !c.o.CreateCgroups || c.userMaps == nil {
		return nil
	}
	uid, _ := ids.ToHost(c.userMaps.UIDMappings, 0)
	gid, _ := ids.ToHost(c.userMaps.GIDMappings, 0)
	return cgroups.Chown(c.cg, int(uid), int(gid))
}

// fail kills a child whose start failed with err.
func (c *child) fail(err error) (*Process, error) {
	unix.Kill(c.p.Pid, unix.SIGKILL)
	_, _ = c.p.Wait() // the status of a killed child says nothing
	if c.p.Console != nil {
		c.p.Console.Close()
	}
	return nil, err
}

// fillConfig completes cfg with the options and leaves in its spec only
// what the child decodes and uses: a compiled seccomp filter instead of
// the profile; no resources (its cgroups are the parent's business).
func (c *child) fillConfig(cfg *childConfig) error {
	o := c.o
	cfg.Protocol = protocol
	cfg.KillWithParent = o.KillWithParent
	cfg.PreserveFDs = len(o.PreserveFDs)
	cfg.CreateRuntime = o.CreateRuntime != nil
	cfg.NewKeyring = o.NewKeyring
	cfg.Orphan = o.Orphan
	if l := cfg.Spec.Linux; l != nil {
		linux := *l
		if l.Seccomp != nil {
			f, err := seccomp.Compile(l.Seccomp)
			if err != nil {
				return err
			}
			if err := checkStartable(f, cfg.Spec.Process); err != nil {
				return err
			}
			// On the thread that execs only: execve ends the others, so
			// SECCOMP_FILTER_FLAG_TSYNC changes nothing for the program,
			// while it would filter the Go runtime's own threads of the
			// init until then.
			if f, err = seccomp.FromProgram(f.Instructions(), f.Flags()&^unix.SECCOMP_FILTER_FLAG_TSYNC); err != nil {
				return err
			}
			cfg.Seccomp, linux.Seccomp = f, nil
		}
		linux.Resources = nil
		spec := *cfg.Spec
		spec.Linux = &linux
		cfg.Spec = &spec
	}
	if cfg.Spec.Process.Terminal {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			cfg.Winsize = ws
		}
	}
	return nil
}

// callsUnderFilter are the system calls the init makes after the seccomp
// filter without no_new_privs (see filterFirst and the README), execve apart.
var callsUnderFilter = []string{"prctl", "setgroups", "setresgid", "setresuid", "getresuid", "getresgid", "setfsuid", "setfsgid", "getgroups", "capset"}

// checkStartable refuses a filter under which proc could never start: one
// that refuses execve whatever its arguments, or, without no_new_privs,
// kills or traps a call the init makes after it. The init would die there
// without a word, with a stack trace of its Go runtime (SCMP_ACT_TRAP), or
// hang (SCMP_ACT_KILL ends the one thread, the runtime's others live on).
func checkStartable(f *seccomp.Filter, proc *specs.Process) error {
	if a := f.Refuses("execve"); a != "" {
		return fmt.Errorf("linux.seccomp: the profile's action for execve is %s: the process could never start", a)
	}
	if proc.NoNewPrivileges {
		return nil
	}
	for _, name := range callsUnderFilter {
		// A call that fails is reported (see sealedFailures).
		if a := f.Refuses(name); a != "" && a != specs.ActErrno {
			return fmt.Errorf("linux.seccomp: the profile's action for %s is %s, a call that the runtime makes after the filter without process.noNewPrivileges (to become the process's user): the process could never start", name, a)
		}
	}
	return nil
}

// lateWrite splits what the parent writes of res from what the child
// writes itself, late: a pids limit counts the threads of the child's Go
// runtime too, so the child writes it (init) or joins the pids cgroup
// (exec, "0") once it starts no more threads.
func (c *child) lateWrite(res *specs.LinuxResources) (*specs.LinuxResources, string) {
	switch {
	case c.o.joinPidsLate:
		return res, "0"
	case c.o.CreateCgroups:
		return splitPidsLimit(res)
	}
	return res, ""
}

// follow reads the child's messages until it runs the user's program.
func (c *child) follow() (*Process, error) {
	if _, err := c.await(""); err != nil {
		return c.fail(err)
	}
	return c.p, nil
}

// await reads the child's messages and acts on them until one of type
// want comes (got), the child waits on the exec fifo ("ready"), or the
// socket's end of file.
func (c *child) await(want string) (got bool, err error) {
	var output strings.Builder
	reset := false
	for {
		m, fds, ok, err := c.conn.recv()
		if errors.Is(err, unix.ECONNRESET) && !reset {
			// The child ended with a message of ours unread: the kernel
			// says so once, before what the child sent (its output).
			reset = true
			continue
		}
		if err != nil {
			return false, err
		}
		if !ok {
			// End of file: the user's program replaced the runtime (the
			// socket is close-on-exec in the child), or the child died:
			// of a fatal error of its Go runtime when it said something,
			// else of a signal, which Wait reports.
			if output.Len() > 0 {
				return false, &StartError{Code: 125, Msg: initDied(output.String())}
			}
			if c.pending != "" {
				c.o.Trace.Mark(c.pending)
			}
			return false, nil
		}
		if want != "" && m.Type == want {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return true, nil
		}
		ready, err := c.handle(m, fds, &output)
		if err != nil || ready {
			return false, err
		}
	}
}

// handle acts on one message of the child; ready when it waits on the
// exec fifo.
func (c *child) handle(m syncMessage, fds []int, output *strings.Builder) (ready bool, err error) {
	if m.Type != "console" {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	switch m.Type {
	case "console":
		if len(fds) != 1 {
			return false, fmt.Errorf("console message without a pty")
		}
		c.p.Console = os.NewFile(uintptr(fds[0]), "pty-master")
	case "hooks":
		var state []byte
		if c.o.CreateRuntime != nil {
			if state, err = c.o.CreateRuntime(c.p.Pid); err != nil {
				return false, err
			}
		}
		return false, c.conn.send(syncMessage{Type: "continue", State: state})
	case "output":
		output.WriteString(m.Error)
	case "trace":
		if c.o.Trace == nil {
			return false, fmt.Errorf("unexpected message %q from container init", m.Type)
		}
		if err := c.o.Trace.Append(m.State); err != nil {
			return false, err
		}
		c.pending = m.Error
	case "ready":
		return true, nil
	case "error":
		code := m.Code
		if code == 0 {
			code = 125
		}
		return false, &StartError{Code: code, Msg: m.Error}
	default:
		return false, fmt.Errorf("unexpected message %q from container init", m.Type)
	}
	return false, nil
}
