package proc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrGone is wrapped by the error of Signal when the process is no longer
// the one that started at the given time: it ended, or its pid is
// another's now.
var ErrGone = errors.New("gone")

// Signal sends sig to the process pid that started at start (ticks after
// boot, as StartTime reads them). The pidfd is opened before the start
// time is checked, so a pid reused after the check is never signalled: the
// pidfd still names the process that was checked.
func Signal(pid int, start uint64, sig unix.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("process %d is %w", pid, ErrGone)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("process %d is %w", pid, ErrGone)
	}
	if err != nil {
		return fmt.Errorf("open pidfd %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if !Alive(pid, start) {
		return fmt.Errorf("process %d is %w", pid, ErrGone)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}
