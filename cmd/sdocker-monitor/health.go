package main

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// healthOpt is the prefix of the option that runs the healthcheck.
const healthOpt = "--health="

// checker runs a container's healthcheck: every interval (the first one
// interval after the start, each next one interval after the last ended),
// one at a time, it starts "EXE --root ROOT healthcheck run ID", EXE being
// the sdocker binary the monitor goes back to, which runs the test in the
// container, records it and acts on it. A check that still runs when the
// init exits goes on (it may be restarting the container): sdocker reaps it,
// or, once the container runs again, this process (see sweep). While the
// container is paused (the check says so, pausedStatus), the wait for the
// next check doubles, up to maxPausedWait.
type checker struct {
	every time.Duration
	wait  time.Duration // from the end of a check to the next start
	exe   string
	argv  []string
	env   []string
	pid   int // the check that runs, 0 if none
	pidfd int
	next  time.Time
	// inherited are the descriptors that go on to EXE at the end (the
	// container's lock): close-on-exec meanwhile, so that no check holds
	// them.
	inherited []int
}

// parseHealth reads the value of --health: MS,ID,ROOT.
func parseHealth(v string) (*checker, error) {
	bad := errors.New("invalid argument " + strconv.Quote(healthOpt+v))
	ms, rest, ok := cutComma(v)
	id, root, ok2 := cutComma(rest)
	n, err := strconv.Atoi(ms)
	if !ok || !ok2 || err != nil || n <= 0 || id == "" || root == "" {
		return nil, bad
	}
	every := time.Duration(n) * time.Millisecond
	return &checker{
		every: every, wait: every, next: time.Now().Add(every),
		argv: []string{"sdocker", "--root", root, "healthcheck", "run", id},
		env:  pathOnly(os.Environ()),
	}, nil
}

// pathOnly is the PATH of env, all a check needs: each start copies the
// environment it is given, and the monitor's heap stays small.
func pathOnly(env []string) []string {
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			return []string{kv}
		}
	}
	return nil
}

// hold marks the descriptors this process inherited close-on-exec, and
// keeps their numbers for release.
func (c *checker) hold() {
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	var names []string
	buf := make([]byte, 2048)
	for {
		n, err := unix.ReadDirent(dir, buf)
		if n <= 0 || err != nil {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	unix.Close(dir)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd < 3 || fd == dir {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.CloseOnExec(fd)
			c.inherited = append(c.inherited, fd)
		}
	}
}

// release passes on what hold kept, of what is still open, to the next
// execve; a check that runs is left to it.
func (c *checker) release() {
	if c.pid > 0 {
		unix.Close(c.pidfd)
		c.pid = 0
	}
	for _, fd := range c.inherited {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	}
}

// nextWait is the wait after a check, which found the container paused or
// not (as engine.NextHealthWait, which this package is too small to
// import).
func (c *checker) nextWait(paused bool) time.Duration {
	if !paused {
		return c.every
	}
	return max(c.every, min(2*c.wait, maxPausedWait))
}

// due reports whether a check is to start now.
func (c *checker) due() bool { return c.pid == 0 && !time.Now().Before(c.next) }

// timeout is the poll timeout in milliseconds (-1: none) shortened to the
// next check.
func (c *checker) timeout(ms int) int {
	left := int(time.Until(c.next)/time.Millisecond) + 1
	if left < 0 {
		left = 0
	}
	if ms < 0 || left < ms {
		return left
	}
	return ms
}

// pausedStatus is the exit status of a check of a paused container
// (engine.HealthcheckPausedStatus); maxPausedWait bounds how long the
// checks of a paused container wait, and so how late the first check after
// it is unpaused can be (never more than an interval, if that is longer).
const (
	pausedStatus  = 2
	maxPausedWait = 10 * time.Second
)

// start starts a check; one that cannot start is tried again an interval
// later.
func (c *checker) start() {
	c.next = time.Now().Add(c.every)
	pid, err := syscall.ForkExec(c.exe, c.argv, &syscall.ProcAttr{Env: c.env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		return
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		// It cannot be watched: it is not let run unwatched.
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = unix.Wait4(pid, nil, 0, nil)
		return
	}
	c.pid, c.pidfd = pid, pidfd
}

// sweep reaps the children that have ended, no check running: checks that
// this process started before it went back to sdocker, which restarted the
// container, and that ended since. It stops at the init (its wait status
// and true).
func (c *checker) sweep(init int) (int, bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
		case pid <= 0 || err != nil:
			return 0, false
		case pid == init:
			return int(ws), true
		}
	}
}

// reap collects the check that has ended; the next is due an interval
// later, or, the container paused, twice the last wait (see checker).
func (c *checker) reap() {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(c.pid, &ws, unix.WNOHANG, nil); err != unix.EINTR {
			break
		}
	}
	unix.Close(c.pidfd)
	c.pid = 0
	c.wait = c.nextWait(ws.Exited() && ws.ExitStatus() == pausedStatus)
	c.next = time.Now().Add(c.wait)
	// What starting it allocated, and what the log did meanwhile, goes
	// now (about 0.1 ms): left to the pacer, whose floor is about 1 MiB
	// of garbage, the heap would keep that much more resident.
	runtime.GC()
}
