// Package proc names processes over time: a pid plus its start time, read
// from /proc, so a reused pid is never mistaken for the process it was.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Stat reads a process's state letter and start time (clock ticks after
// boot, field 22 of /proc/PID/stat).
func Stat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	// The command name may hold spaces and parentheses: skip past the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// StartTime is the start time of pid, 0 if it cannot be read.
func StartTime(pid int) uint64 {
	_, start, _ := Stat(pid)
	return start
}

// Alive reports whether the process pid that started at start still runs
// (a zombie counts as gone).
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, st, err := Stat(pid)
	return err == nil && st == start && state != 'Z' && state != 'X'
}

// BootID identifies the current boot: pids and start times from another
// boot mean nothing.
func BootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// ParseSignal reads a signal as a number (1-64), a name (KILL) or a
// SIG-prefixed name (SIGKILL).
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}
