package runtime

import (
	"encoding/json"
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
const protocol = 3

// childConfig is everything the child needs; it crosses the config pipe as JSON.
type childConfig struct {
	Protocol int         `json:"protocol"`
	ID       string      `json:"id"`
	Spec     *specs.Spec `json:"spec"`
	// Winsize is the terminal size to give a new pty.
	Winsize *unix.Winsize `json:"winsize,omitempty"`
	// JoinFlags are the CLONE_NEW* namespaces an exec joins through the pidfd.
	JoinFlags int `json:"joinFlags,omitempty"`
	// KillWithParent: the process dies with the thread that started it.
	KillWithParent bool `json:"killWithParent,omitempty"`
	// PreserveFDs is how many descriptors from 3 up the program inherits.
	PreserveFDs int `json:"preserveFds,omitempty"`
	// ExecFifo: the init waits before execve until the fifo (extraFD) is read.
	ExecFifo bool `json:"execFifo,omitempty"`
	// CreateRuntime: the init stops before pivot_root until the parent has
	// run its hooks.
	CreateRuntime bool `json:"createRuntime,omitempty"`
	// Seccomp is the compiled linux.seccomp filter, if any.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
	// Orphan: start the program as a child and exit (see Options.Orphan).
	Orphan bool `json:"orphan,omitempty"`
	// WaitPlaced: the parent puts the child in its cgroups after sending
	// the config, and says "placed" when done.
	WaitPlaced bool `json:"waitPlaced,omitempty"`
	// NewKeyring: join a new session keyring named after the container.
	NewKeyring bool `json:"newKeyring,omitempty"`

	state []byte // from the parent's "continue", for the init's hooks
}

// syncMessage travels from child to parent on the sync socket.
type syncMessage struct {
	// "console" (with a pty master fd), "hooks" (the parent may run its
	// createRuntime hooks; it answers "continue"), "ready" (waiting on the
	// exec fifo) or "error".
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"` // exit status the failure maps to
	// State is the container's state JSON, for the init's own hooks.
	State json.RawMessage `json:"state,omitempty"`
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
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
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
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return m, nil, false, fmt.Errorf("decode message from container init: %w", err)
		}
		return m, fds, true, nil
	}
}
