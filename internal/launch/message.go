package launch

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/seccomp"
)

const (
	initArg0 = "sdocker-init" // argv[0] of a container's first process before execve
	execArg0 = "sdocker-exec" // argv[0] of a process entering a running container

)

// The child finds its channels right after the descriptors preserved for the
// container's program (3 .. base-1); base comes as argv[1].
var (
	configFD = 3
	syncFD   = 4
	stderrFD = 2 // the container's stderr while 2 is the sync socket: base+2
	extraFD  = 6 // exec: a pidfd of the container's init; init: the exec fifo
)

// protocol changes whenever childConfig or the messages change: a parent and
// an init binary from different builds refuse each other.
const protocol = 10

// ArmDelayEnv, a number of milliseconds in the starting command's
// environment, delays every child it starts right before it arms its
// parent-death signal: a fault injection for tests, which can then kill
// the command before the child is armed. The child gets it in its
// environment.
const ArmDelayEnv = "SDOCKER_TEST_ARM_DELAY"

// childConfig is everything the child needs; it crosses the config pipe in
// the encoding of wire.go.
type childConfig struct {
	Protocol int
	ID       string
	Spec     *specs.Spec // the fields in carriedSpecFields
	// Winsize is the terminal size to give a new pty.
	Winsize *unix.Winsize
	// JoinFlags are the CLONE_NEW* namespaces an exec joins through the pidfd.
	JoinFlags int
	// KillWithParent: the process dies with the thread that started it.
	KillWithParent bool
	// PreserveFDs is how many descriptors from 3 up the program inherits.
	PreserveFDs int
	// ExecFifo: the init waits before execve until the fifo (extraFD) is read.
	ExecFifo bool
	// CreateRuntime: the init stops before pivot_root until the parent has
	// run its hooks.
	CreateRuntime bool
	// Seccomp is the compiled linux.seccomp filter, if any.
	Seccomp *seccomp.Filter
	// Orphan: start the program as a child and exit (see Options.Orphan).
	Orphan bool
	// WaitPlaced: the parent puts the child in its cgroups after sending
	// the config, and says "placed" when done (and, with KillWithParent,
	// once the child said "armed").
	WaitPlaced bool
	// NewKeyring: join a new session keyring named after the container.
	NewKeyring bool
	// LateWrite is written, as the last thing before execve, to the file
	// that comes with "placed": the container's pids limit to its
	// pids.max (init), or "0" to the tasks (v1) or cgroup.procs (v2) of
	// its pids cgroup (exec). Until then the Go runtime's own threads do not count
	// against the limit. Empty when there is none.
	LateWrite string
	// IDMapped are the indexes in Spec.Mounts of the id-mapped mounts: the
	// parent makes them (detached) and sends them in a "mounts" message
	// after "placed", in this order.
	IDMapped []int
	// Trace: the init times its steps and sends them as "trace" before
	// the seccomp filter goes in (see Options.Trace).
	Trace bool

	state []byte // from the parent's "continue", for the init's hooks
}

// syncMessage travels between child and parent on the sync socket.
type syncMessage struct {
	// "armed" (its parent-death signal is set; the parent answers
	// "placed", then "mounts" with the id-mapped mounts if any),
	// "console" (with a pty master fd), "hooks" (the parent may
	// run its createRuntime hooks; it answers "continue"), "ready" (waiting
	// on the exec fifo), "trace" (the init's steps, in State, encoded by
	// trace.Points) or "error"; from the parent: "placed", "continue".
	Type  string
	Error string
	Code  int // exit status the failure maps to
	// State is the container's state JSON, for the init's own hooks.
	State []byte
}

// StartError is a failure of the child before the user's program started.
// Code follows Docker: 126 not executable, 127 not found, 125 otherwise.
type StartError struct {
	Code int
	Msg  string
}

func (e *StartError) Error() string { return e.Msg }

// ExitCodeOf maps an error to Docker's exit status for it.
func ExitCodeOf(err error) int {
	var se *StartError
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code
	}
	return 125
}

// IsChild reports whether this process is a container init or exec helper;
// the caller must then call Main and nothing else.
func IsChild() bool {
	return len(os.Args) > 0 && (os.Args[0] == initArg0 || os.Args[0] == execArg0)
}

func sendMessage(sock int, m syncMessage, fds ...int) error {
	b := m.marshal()
	var oob []byte
	if len(fds) > maxMessageFDs {
		return fmt.Errorf("send %s message: %d descriptors, at most %d fit", m.Type, len(fds), maxMessageFDs)
	}
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(sock, b, oob, nil, 0); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// maxMessageFDs is how many descriptors one message may carry: "placed"
// carries one per cgroup v1 hierarchy and the late write's.
const maxMessageFDs = 16

// recvMessage reads one message; io end-of-file is reported as ok=false.
func recvMessage(sock int) (m syncMessage, fds []int, ok bool, err error) {
	for {
		m, fds, ok, err = recvOnce(sock, 0)
		if !errors.Is(err, unix.EINTR) {
			return m, fds, ok, wrapRecvErr(err)
		}
	}
}

func wrapRecvErr(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("receive from container init: %w", errno)
	}
	return err
}

// recvOnce is one recvmsg of a message and the descriptors it carries;
// system call errors come back bare (EINTR, EAGAIN with MSG_DONTWAIT).
func recvOnce(sock, flags int) (m syncMessage, fds []int, ok bool, err error) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, unix.CmsgSpace(maxMessageFDs*4))
	n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC|flags)
	if err != nil {
		return m, nil, false, err
	}
	if n == 0 && oobn == 0 {
		return m, nil, false, nil
	}
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return m, nil, false, fmt.Errorf("parse control message: %w", err)
		}
		for _, c := range cmsgs {
			f, err := unix.ParseUnixRights(&c)
			if err == nil {
				fds = append(fds, f...)
			}
		}
	}
	if m, err = unmarshalSyncMessage(buf[:n]); err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		// What the child's Go runtime wrote on its stderr (divertStderr).
		return syncMessage{Type: "output", Error: string(buf[:n])}, nil, true, nil
	}
	return m, fds, true, nil
}

// initDied is the one line that reports a child whose Go runtime wrote
// output (a fatal error, with a stack) and ended before its execve: the
// fatal error, with the runtime's own line before it if there is one.
func initDied(output string) string {
	var before, fatal string
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") {
			fatal = l
			break
		}
		if before == "" && l != "" {
			before = l
		}
	}
	switch {
	case fatal == "":
		fatal = before
	case before != "":
		fatal += " (" + before + ")"
	}
	return "container init died: " + fatal
}

// The parent waits for its child in Go's netpoller, not in blocking system
// calls: while a goroutine sits in a system call, the Go runtime's monitor
// thread wakes every 20 µs to watch it, competing for the CPUs with the
// container's start; parked goroutines let it sleep.

// syncConn is the parent's end of the sync socket, in non-blocking mode.
type syncConn struct {
	f  *os.File
	rc syscall.RawConn
}

func newSyncConn(sock int) (*syncConn, error) {
	if err := unix.SetNonblock(sock, true); err != nil {
		unix.Close(sock)
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	f := os.NewFile(uintptr(sock), "sync")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	return &syncConn{f: f, rc: rc}, nil
}

func (c *syncConn) recv() (m syncMessage, fds []int, ok bool, err error) {
	rerr := c.rc.Read(func(fd uintptr) bool {
		m, fds, ok, err = recvOnce(int(fd), unix.MSG_DONTWAIT)
		return !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR)
	})
	if rerr != nil {
		return m, nil, false, fmt.Errorf("receive from container init: %w", rerr)
	}
	return m, fds, ok, wrapRecvErr(err)
}

func (c *syncConn) send(m syncMessage, fds ...int) error {
	var err error
	werr := c.rc.Write(func(fd uintptr) bool {
		err = sendMessage(int(fd), m, fds...)
		return !errors.Is(err, unix.EAGAIN)
	})
	if werr != nil {
		return fmt.Errorf("send %s message: %w", m.Type, werr)
	}
	return err
}

func (c *syncConn) Close() error { return c.f.Close() }

// waitPidfd reaps child pid once its pidfd (non-blocking) reports the exit,
// parked in the netpoller meanwhile; it closes the pidfd.
func waitPidfd(pid, pidfd int) (*unix.WaitStatus, error) {
	if err := unix.SetNonblock(pidfd, true); err != nil {
		unix.Close(pidfd)
		return wait(pid)
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return wait(pid)
	}
	var ws unix.WaitStatus
	var werr error
	rerr := rc.Read(func(uintptr) bool {
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			return false
		}
		werr = err
		return err != nil || got == pid
	})
	switch {
	case rerr != nil: // the pidfd cannot be polled
		return wait(pid)
	case werr != nil:
		return nil, fmt.Errorf("wait for process %d: %w", pid, werr)
	}
	return &ws, nil
}
