package main

import (
	"os/exec"
	"syscall"
)

// maxRSS returns the peak resident set of a finished command in bytes, or
// 0 when unknown.
func maxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // kilobytes on Linux
	}
	return 0
}
