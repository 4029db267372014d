package proc

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSignal(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	pid := cmd.Process.Pid
	start := StartTime(pid)
	if start == 0 {
		t.Fatalf("no start time for %d", pid)
	}

	// Another process under the same pid (the start time differs): left alone.
	if err := Signal(pid, start+1, unix.SIGKILL); !errors.Is(err, ErrGone) {
		t.Errorf("Signal with a wrong start time = %v, want ErrGone", err)
	}
	if !Alive(pid, start) {
		t.Fatalf("process %d was signalled under a wrong start time", pid)
	}

	if err := Signal(pid, start, unix.SIGTERM); err != nil {
		t.Fatalf("Signal(%d) = %v", pid, err)
	}
	err := cmd.Wait()
	waited = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("sleep ended with %v, want SIGTERM", err)
	}

	// No process has pid 0 (nor a negative one, which kill(2) reads as a group).
	for _, p := range []int{0, -1} {
		if err := Signal(p, 0, unix.SIGKILL); !errors.Is(err, ErrGone) {
			t.Errorf("Signal(%d) = %v, want ErrGone", p, err)
		}
	}

	// Reaped: its pid names nobody (or somebody else).
	if err := Signal(pid, start, unix.SIGKILL); !errors.Is(err, ErrGone) {
		t.Errorf("Signal of an ended process = %v, want ErrGone", err)
	}
}

func TestSignalZombie(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start := StartTime(pid)
	t.Cleanup(func() { _ = cmd.Wait() })
	if start == 0 {
		t.Fatalf("no start time for %d", pid)
	}
	// Wait for the exit without reaping: the process stays a zombie.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if err := Signal(pid, start, unix.SIGKILL); !errors.Is(err, ErrGone) {
		t.Errorf("Signal of a zombie = %v, want ErrGone", err)
	}
}
