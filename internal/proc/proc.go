// Package proc names processes over time: a pid plus its start time, read
// from /proc, so a reused pid is never mistaken for the process it was.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Stat reads a process's state letter and start time (clock ticks after
// boot, field 22 of /proc/PID/stat).
func Stat(pid int) (state byte, start uint64, err error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, 0, err
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// statFields returns the fields of /proc/PID/stat from the third (the
// state) on: fields[0] is field 3, fields[19] field 22.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	// The command name may hold spaces and parentheses: skip past the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 || len(fields[0]) != 1 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return fields, nil
}

// Parent returns the pid of pid's parent (field 4 of /proc/PID/stat).
func Parent(pid int) (int, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return ppid, nil
}

// PidNamespace identifies pid's pid namespace (the inode of
// /proc/PID/ns/pid); 0 when it cannot be read.
func PidNamespace(pid int) uint64 {
	var st unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st) != nil {
		return 0
	}
	return st.Ino
}

// Family lists those of pids that belong to the container whose init is
// pid init, started at start: the init, its descendants and, when the
// init has a pid namespace of its own, the processes in that namespace
// (those exec'd into the container). It lists none when the init is gone:
// its orphans cannot be told from anybody else's then.
func Family(pids []int, init int, start uint64) []int {
	if !Alive(init, start) {
		return nil
	}
	ns := PidNamespace(init)
	ownNS := ns != 0 && ns != PidNamespace(os.Getpid())
	below := map[int]bool{init: true}
	var out []int
	for _, pid := range pids {
		if (ownNS && PidNamespace(pid) == ns) || descends(pid, init, below) {
			out = append(out, pid)
		}
	}
	return out
}

// descends reports whether pid is init or below it, following parents;
// known caches the answer for every process on the way.
func descends(pid, init int, known map[int]bool) bool {
	var path []int
	found := false
	for p := pid; p > 1 && len(path) < 4096; {
		if v, ok := known[p]; ok {
			found = v
			break
		}
		path = append(path, p)
		ppid, err := Parent(p)
		if err != nil {
			break
		}
		p = ppid
	}
	for _, p := range path {
		known[p] = found
	}
	return found
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
