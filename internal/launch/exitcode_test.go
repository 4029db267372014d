package launch

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestExitCode(t *testing.T) {
	ws := func(v int) *unix.WaitStatus { w := unix.WaitStatus(v); return &w }
	for _, tc := range []struct {
		ws   *unix.WaitStatus
		want int
	}{
		{nil, 125},
		{ws(0), 0},
		{ws(3 << 8), 3},              // exit 3
		{ws(int(unix.SIGKILL)), 137}, // killed by SIGKILL
		{ws(int(unix.SIGTERM)), 143},
		{ws(0x137f), 125}, // stopped (SIGSTOP): neither exited nor signalled
	} {
		if got := ExitCode(tc.ws, 125); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.ws, got, tc.want)
		}
	}
}
