package launch

import (
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"9": syscall.SIGKILL, "KILL": syscall.SIGKILL, "kill": syscall.SIGKILL, "SIGKILL": syscall.SIGKILL,
		"sigterm": syscall.SIGTERM, "HUP": syscall.SIGHUP, "1": syscall.SIGHUP, "64": 64,
	} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "65", "-9", "", "SIG", "NOPE", "SIGNOPE", "9x"} {
		if got, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) = %v, want an error", in, got)
		}
	}
}
