// Command sdocker-tini is the init that `sdocker run --init` puts in front of
// a container's command, as PID 1: it starts the command in a process group
// of its own, forwards every signal it gets to that group, reaps every
// process that ends up its child (orphans included), and exits with the
// command's status (128+N when a signal N killed it).
//
// A program that is PID 1 of its namespace gets no signal whose handler is
// the default one (the kernel drops them), so a server that sets no SIGTERM
// handler ignores `stop`; behind this init it is an ordinary process again.
// It is bind-mounted read-only into the container; it stays small and needs
// nothing of the container's file system.
package main

import (
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unsafe"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fail("usage: sdocker-tini [--] COMMAND [ARG...]")
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs) // every signal, from now: none is lost before the child runs
	child, err := start(args)
	if err != nil {
		fail("sdocker-tini: " + err.Error())
	}
	for sig := range sigs {
		s := sig.(syscall.Signal)
		switch s {
		case syscall.SIGCHLD:
		case syscall.SIGURG: // the Go runtime's own preemption signal
		default:
			// The group first; a child that left it still gets the signal.
			if syscall.Kill(-child, s) != nil {
				_ = syscall.Kill(child, s) // it may have exited already: reaped below
			}
		}
		// After every signal, not only SIGCHLD: a flood of signals that
		// fills the channel may drop the SIGCHLD.
		if status, done := reap(child); done {
			os.Exit(exitStatus(status))
		}
	}
}

// start runs args in a new process group, the terminal's foreground group
// when stdin is one. The command is looked up in PATH as execvp does.
func start(args []string) (int, error) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if isTerminal(0) {
		attr.Foreground, attr.Ctty = true, 0
	}
	path, err := lookPath(args[0])
	if err != nil {
		return 0, err
	}
	return syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: attr,
	})
}

// reap collects every child that has ended; done is set with the status
// of child once it is among them.
func reap(child int) (status syscall.WaitStatus, done bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return status, done
		}
		if pid == child {
			status, done = ws, true
		}
	}
}

// exitStatus is the shell's convention: the exit code, or 128+N for a
// death by signal N.
func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func isTerminal(fd int) bool {
	var pgrp int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp)))
	return errno == 0
}

// lookPath finds name in PATH unless it has a slash: the first regular
// file there that is executable.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && syscall.Access(p, 1) == nil {
			return p, nil
		}
	}
	return "", errors.New(name + ": executable file not found in $PATH")
}

func fail(msg string) {
	_, _ = os.Stderr.WriteString(msg + "\n") // nothing to do if stderr is gone
	os.Exit(127)
}
