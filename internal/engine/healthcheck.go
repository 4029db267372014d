package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
)

// ErrPaused is matched by the error of a healthcheck of a paused
// container, which is not checked: healthcheck run exits with
// HealthcheckPausedStatus, on which the monitor waits longer for the next.
var ErrPaused = errors.New("paused")

// HealthcheckPausedStatus is the exit status of healthcheck run on a paused
// container (0: the check passed, 1: it failed, 125: it could not run).
// After one, the wait for the next check doubles, up to
// MaxPausedHealthWait (never less than the interval): that bounds how late
// the first check after an unpause is.
const (
	HealthcheckPausedStatus = 2
	MaxPausedHealthWait     = 10 * time.Second
)

// NextHealthWait is the wait after a check, from its end to the next start,
// of a healthcheck of interval every whose last wait was last: the
// interval, or after a check that found the container paused twice the
// last, up to MaxPausedHealthWait.
func NextHealthWait(every, last time.Duration, paused bool) time.Duration {
	if !paused {
		return every
	}
	return max(every, min(2*last, MaxPausedHealthWait))
}

// HealthcheckResult is what one check found: whether the test passed, and
// the container's health status once it was counted.
type HealthcheckResult struct {
	Passed bool
	Status string
}

// Healthcheck runs the healthcheck of a running container once, as its
// monitor does every interval: the test runs in the container as exec
// runs a command, at most its timeout; the result is recorded, a change
// of status is told as a health_status event, and once the container is
// unhealthy its --health-on-failure action is taken.
func (e *Engine) Healthcheck(ref string) (HealthcheckResult, error) {
	r, err := e.running(ref)
	if errors.Is(err, ErrWrongState) {
		if p, ferr := e.Find(ref); ferr == nil && p.Status == StatePaused && live(p) {
			err = fmt.Errorf("container %s is %w: it is not checked until it is unpaused", ids.ShortID(p.ID), ErrPaused)
		}
	}
	if err != nil {
		return HealthcheckResult{}, err
	}
	if !r.HasHealthcheck() {
		return HealthcheckResult{}, fmt.Errorf("%w: container %s has no healthcheck", ErrWrongState, ids.ShortID(r.ID))
	}
	res := e.probe(r)
	before, after, ok, err := e.addHealthResult(r, res)
	out := HealthcheckResult{Passed: res.ExitCode == 0, Status: after}
	if err != nil || !ok {
		return out, err
	}
	if after != before && after != HealthStarting {
		e.event(r, "health_status: "+after)
	}
	if after == HealthUnhealthy {
		err = e.onUnhealthy(r)
	}
	return out, err
}

// onUnhealthy takes the --health-on-failure action of r, unhealthy: kill
// (SIGKILL; its restart policy applies, as to any death), stop (as
// `stop`: the restart policy does not bring it back) or restart.
func (e *Engine) onUnhealthy(r *Record) error {
	switch r.HealthOnFailure {
	case "kill":
		return e.settled(r.ID, func(n *Record) error {
			if !n.StartedAt.Equal(r.StartedAt) || !live(n) {
				return nil // it ended, or runs again, meanwhile
			}
			e.event(n, "kill", signalAttr(unix.SIGKILL)...)
			if n.Status == StatePaused {
				return errors.Join(signalInit(n, unix.SIGKILL), e.thaw(n))
			}
			return signalInit(n, unix.SIGKILL)
		})
	case "stop":
		return e.Stop(r.ID, ContainerStopTimeout)
	case "restart":
		return e.Restart(r.ID, ContainerStopTimeout)
	}
	return nil
}

// probe runs r's test once.
func (e *Engine) probe(r *Record) HealthResult {
	c := r.Healthcheck
	args := c.Test[1:]
	if c.Test[0] == "CMD-SHELL" {
		args = []string{"/bin/sh", "-c", strings.Join(c.Test[1:], " ")}
	}
	_, timeout, _, _ := healthTimings(c)
	res := HealthResult{Start: time.Now()}
	code, out, err := e.execProbe(r, args, timeout)
	res.End, res.ExitCode, res.Output = time.Now(), code, out
	if err != nil {
		res.Output = err.Error()
	}
	return res
}

// execProbe runs args in r as exec does, its stdout and stderr together
// kept up to healthOutputMax bytes; it kills it after timeout (exit code
// -1, as Docker). A process that could not be started gives the exit code
// exec would, and the error.
func (e *Engine) execProbe(r *Record, args []string, timeout time.Duration) (int, string, error) {
	pr, err := execProcess(r, ExecOptions{Args: args})
	if err != nil {
		return -1, "", err
	}
	cg, err := cgroups.New(r.Spec.Linux.CgroupsPath)
	if err != nil {
		return -1, "", err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return -1, "", fmt.Errorf("create pipe: %w", err)
	}
	defer rd.Close()
	p, err := launch.Exec(r.Pid, r.Spec, pr, cg, launch.Options{Stdio: launch.Stdio{Stdout: wr, Stderr: wr}, KillWithParent: true})
	wr.Close()
	if err != nil {
		return launch.ExitCodeOf(err), "", err
	}
	output := make(chan string, 1)
	go func() { output <- readLimited(rd, healthOutputMax) }()
	waited := make(chan *unix.WaitStatus, 1)
	go func() {
		ws, _ := p.Wait()
		waited <- ws
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var ws *unix.WaitStatus
	timedOut := false
	select {
	case ws = <-waited:
	case <-timer.C:
		timedOut = true
		_ = p.Signal(unix.SIGKILL)
		<-waited
	}
	// What it left behind may hold the pipe open: what was written is
	// read, and no more is waited for.
	_ = rd.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	out := <-output
	if timedOut {
		return -1, fmt.Sprintf("Health check exceeded timeout (%s)", timeout), nil
	}
	return launch.ExitCode(ws, -1), out, nil
}

// readLimited reads r to its end (or an error), and returns its first max
// bytes, "..." appended if there was more.
func readLimited(r io.Reader, max int) string {
	buf := make([]byte, 0, max)
	chunk := make([]byte, 4096)
	more := false
	for {
		n, err := r.Read(chunk)
		keep := min(n, max-len(buf))
		buf = append(buf, chunk[:keep]...)
		more = more || keep < n
		if err != nil {
			break
		}
	}
	if more {
		return string(buf) + "..."
	}
	return string(buf)
}

// healthArg is the option that makes sdocker-monitor run r's healthcheck
// every interval ("" when it has none): --health=MS,ID,ROOT.
func (e *Engine) healthArg(r *Record) string {
	if !r.HasHealthcheck() {
		return ""
	}
	interval, _, _, _ := healthTimings(r.Healthcheck)
	return "--health=" + strconv.FormatInt(max(interval.Milliseconds(), 1), 10) + "," + r.ID + "," + e.Root
}

// checkInProcess runs r's healthcheck every interval, one check at a time,
// as sdocker-monitor does for a detached container: for a container that
// runs in the foreground, or is watched in this process. The returned
// function ends it; a check that runs then goes on by itself (it may be
// stopping the container, which waits for this process).
func (e *Engine) checkInProcess(r *Record) (stop func()) {
	if !r.HasHealthcheck() {
		return func() {}
	}
	interval, _, _, _ := healthTimings(r.Healthcheck)
	done := make(chan struct{})
	go func() {
		wait := interval
		timer := time.NewTimer(interval)
		defer timer.Stop()
		for {
			select {
			case <-done:
				return
			case <-timer.C:
			}
			cmd := exec.Command("/proc/self/exe", "--root", e.Root, "healthcheck", "run", r.ID)
			cmd.Args[0] = "sdocker"
			_ = cmd.Run() // its result is in the health state
			paused := cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == HealthcheckPausedStatus
			wait = NextHealthWait(interval, wait, paused)
			timer.Reset(wait)
		}
	}()
	return func() { close(done) }
}
