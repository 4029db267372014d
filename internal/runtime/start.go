package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
)

// Stdio are the standard streams of a container process; nil means
// /dev/null. They are ignored when the process has a terminal.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// Process is a container's init or an exec'd process, seen from the parent.
type Process struct {
	Pid int
	// Console is the pty master when the process has a terminal.
	Console *os.File

	done  chan struct{}
	state *os.ProcessState
	err   error
}

// Wait waits for the process to end.
func (p *Process) Wait() (*os.ProcessState, error) {
	<-p.done
	return p.state, p.err
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
}

// cloneFlags returns the namespaces spec asks for. The cgroup namespace is
// left to the child, which unshares it once it sits in its cgroups.
func cloneFlags(spec *specs.Spec) (uintptr, error) {
	var flags uintptr
	if spec.Linux == nil {
		return 0, nil
	}
	for _, ns := range spec.Linux.Namespaces {
		f, ok := nsFlags[ns.Type]
		if !ok {
			return 0, fmt.Errorf("linux.namespaces: unknown type %q", ns.Type)
		}
		if ns.Path != "" {
			return 0, fmt.Errorf("linux.namespaces: joining a %s namespace by path is not supported", ns.Type)
		}
		if ns.Type == specs.UserNamespace {
			return 0, fmt.Errorf("linux.namespaces: user namespaces are not supported")
		}
		if ns.Type != specs.CgroupNamespace {
			flags |= f
		}
	}
	return flags, nil
}

// Start creates the namespaces that spec asks for, starts the container's
// first process in them and in cg, and returns once the user's program runs
// (after its execve), or with a *StartError when it could not be started.
// cg must already exist.
func Start(id string, spec *specs.Spec, cg cgroups.Manager, stdio Stdio) (*Process, error) {
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, fmt.Errorf("process.args: no command given")
	}
	flags, err := cloneFlags(spec)
	if err != nil {
		return nil, err
	}
	cfg := &childConfig{ID: id, Spec: spec}
	return startChild(initArg0, cfg, flags, -1, cg, stdio)
}

// Exec starts proc in the running container whose init is initPid (a host
// pid), joining every namespace the container's spec made and its cgroups.
func Exec(initPid int, spec *specs.Spec, proc *specs.Process, cg cgroups.Manager, stdio Stdio) (*Process, error) {
	if proc == nil || len(proc.Args) == 0 {
		return nil, fmt.Errorf("exec: no command given")
	}
	join := 0
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type != specs.PIDNamespace && ns.Type != specs.UserNamespace {
				join |= int(nsFlags[ns.Type])
			}
		}
	}
	pidfd, err := unix.PidfdOpen(initPid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pidfd of container init %d: %w", initPid, err)
	}
	defer unix.Close(pidfd)
	execSpec := *spec
	execSpec.Process = proc
	cfg := &childConfig{Spec: &execSpec, JoinFlags: join}
	return startChild(execArg0, cfg, 0, pidfd, cg, stdio)
}

func startChild(arg0 string, cfg *childConfig, flags uintptr, pidfd int, cg cgroups.Manager, stdio Stdio) (*Process, error) {
	if cfg.Spec.Process.Terminal {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			cfg.Winsize = ws
		}
	}
	configR, configW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create config pipe: %w", err)
	}
	defer configR.Close()
	defer configW.Close()
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create sync socket: %w", err)
	}
	parentSock := socks[0]
	defer unix.Close(parentSock)
	childSock := os.NewFile(uintptr(socks[1]), "sync")
	defer childSock.Close()

	extra := []*os.File{configR, childSock}
	if pidfd >= 0 {
		extra = append(extra, os.NewFile(uintptr(pidfd), "pidfd"))
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{arg0},
		Env:         []string{},
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: flags},
	}
	if pidfd < 0 {
		// Go's own parent check misreads a parent outside a joined pid
		// namespace: an exec helper sets its parent-death signal itself.
		cmd.SysProcAttr.Pdeathsig = unix.SIGKILL
	}
	if !cfg.Spec.Process.Terminal {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	}
	if cg.Version() == 2 {
		fd, err := cg.FD()
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = fd
	}

	p := &Process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The child's parent-death signal follows the thread that forked
		// it: keep that thread for the child's whole life, and let it die
		// afterwards (never unlocked), as it may have joined a namespace.
		goruntime.LockOSThread()
		if pidfd >= 0 {
			if err := unix.Setns(pidfd, unix.CLONE_NEWPID); err != nil {
				started <- fmt.Errorf("join pid namespace of container: %w", err)
				close(p.done)
				return
			}
		}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start container process: %w", err)
			close(p.done)
			return
		}
		started <- nil
		err := cmd.Wait()
		p.state = cmd.ProcessState
		if _, ok := err.(*exec.ExitError); !ok {
			p.err = err
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	p.Pid = cmd.Process.Pid
	fail := func(err error) (*Process, error) {
		unix.Kill(p.Pid, unix.SIGKILL)
		p.Wait()
		if p.Console != nil {
			p.Console.Close()
		}
		return nil, err
	}
	childSock.Close()
	configR.Close()

	if cg.Version() == 1 {
		if err := cg.Apply(p.Pid); err != nil {
			return fail(err)
		}
	}
	if err := json.NewEncoder(configW).Encode(cfg); err != nil {
		return fail(fmt.Errorf("send config to container init: %w", err))
	}
	configW.Close()

	for {
		m, fds, ok, err := recvMessage(parentSock)
		if err != nil {
			return fail(err)
		}
		if !ok {
			break
		}
		switch m.Type {
		case "console":
			if len(fds) != 1 {
				return fail(fmt.Errorf("console message without a pty"))
			}
			p.Console = os.NewFile(uintptr(fds[0]), "pty-master")
		case "error":
			for _, fd := range fds {
				unix.Close(fd)
			}
			code := m.Code
			if code == 0 {
				code = 125
			}
			return fail(&StartError{Code: code, Msg: m.Error})
		default:
			return fail(fmt.Errorf("unexpected message %q from container init", m.Type))
		}
	}
	// End of file: the user's program replaced the runtime (the socket is
	// close-on-exec in the child), or the child died, which Wait reports.
	return p, nil
}
