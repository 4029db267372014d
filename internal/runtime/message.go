package runtime

import (
	"errors"
	"fmt"
	"os"

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
	extraFD  = 5 // exec: a pidfd of the container's init; init: the exec fifo
)

// protocol changes whenever childConfig or the messages change: a parent and
// an init binary from different builds refuse each other.
const protocol = 4

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
	// the config, and says "placed" when done.
	WaitPlaced bool
	// NewKeyring: join a new session keyring named after the container.
	NewKeyring bool

	state []byte // from the parent's "continue", for the init's hooks
}

// syncMessage travels between child and parent on the sync socket.
type syncMessage struct {
	// "console" (with a pty master fd), "hooks" (the parent may run its
	// createRuntime hooks; it answers "continue"), "ready" (waiting on the
	// exec fifo) or "error"; from the parent: "placed", "continue".
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
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(sock, b, oob, nil, 0); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// recvMessage reads one message; io end-of-file is reported as ok=false.
func recvMessage(sock int) (m syncMessage, fds []int, ok bool, err error) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return m, nil, false, fmt.Errorf("receive from container init: %w", err)
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
			return m, nil, false, fmt.Errorf("decode message from container init: %w", err)
		}
		return m, fds, true, nil
	}
}
