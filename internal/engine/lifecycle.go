package engine

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/attachio"
	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/specgen"
)

// live reports whether r's init runs (in this boot, the same process).
func live(r *Record) bool {
	return r.BootID == proc.BootID() && proc.Alive(r.Pid, r.PidStart)
}

// watched reports whether r's monitor (or foreground run) lives.
func watched(r *Record) bool {
	return r.BootID == proc.BootID() && proc.Alive(r.Monitor, r.MonitorStart)
}

// stale reports whether r claims to run while its init or its watcher is
// dead (see Collect).
func stale(r *Record) bool {
	return (r.Status == StateRunning || r.Status == StatePaused) && (!live(r) || !watched(r))
}

// refresh corrects a record whose watcher died (see Collect): a container
// seen as running is really running, and watched (a container whose
// monitor was killed is killed and cleaned up here).
func (e *Engine) refresh(r *Record) *Record {
	if stale(r) {
		// What Collect fails on is reported by the next ps; r then stays
		// as it was read.
		_ = e.Collect()
		if n, err := e.load(r.ID); err == nil {
			return n
		}
	}
	return r
}

// settled calls fn with the current record of container id once no start
// of it is under way; none begins (and nobody removes it) before fn
// returns. ErrNotFound if it is gone.
func (e *Engine) settled(id string, fn func(*Record) error) error {
	state, err := e.holdState(id)
	if err != nil {
		return err
	}
	defer state.Close()
	r, err := e.load(id)
	if err == nil && stale(r) {
		_ = e.Collect() // as in refresh
		r, err = e.load(id)
	}
	if err != nil {
		return err
	}
	return fn(r)
}

// idle is a container that nothing watches, held by a command: its lock
// and state lock, and its record as read under them.
type idle struct {
	r           *Record
	lock, state *os.File
}

func (h *idle) Close() {
	h.state.Close()
	h.lock.Close()
}

// holdIdle takes container id once nothing watches it (nil if busy said
// done). Until then, each time no start is under way, busy sees the current
// record: it may act on it (kill it), say the wait is over (done), or fail.
// The wait is bounded: whoever holds the container's lock without a
// running container (a command that looks at it, a monitor that records an
// exit) lets go soon.
func (e *Engine) holdIdle(id string, busy func(*Record) (done bool, err error)) (*idle, error) {
	for end := time.Now().Add(stateWait); ; {
		lock, err := e.holdContainer(id)
		if err == nil {
			return e.holdIdleState(lock, id)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
		var done bool
		err = e.settled(id, func(r *Record) (err error) {
			done, err = busy(r)
			return err
		})
		if done || err != nil {
			return nil, err
		}
		if time.Now().After(end) {
			return nil, fmt.Errorf("%w: container %s is still in use after %s", ErrWrongState, ids.ShortID(id), stateWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdIdleState completes holdIdle once the container's lock is held.
func (e *Engine) holdIdleState(lock *os.File, id string) (*idle, error) {
	h := &idle{lock: lock}
	state, err := e.holdState(id)
	if err != nil {
		lock.Close()
		return nil, err
	}
	h.state = state
	if h.r, err = e.load(id); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// signalInit sends sig to the container's init, verified by its start time.
func signalInit(r *Record, sig unix.Signal) error {
	if r.BootID != proc.BootID() {
		return fmt.Errorf("%w: container %s is not running", ErrWrongState, ids.ShortID(r.ID))
	}
	err := proc.Signal(r.Pid, r.PidStart, sig)
	if errors.Is(err, proc.ErrGone) {
		return fmt.Errorf("%w: container %s is not running", ErrWrongState, ids.ShortID(r.ID))
	}
	if err != nil {
		return fmt.Errorf("signal container %s: %w", ids.ShortID(r.ID), err)
	}
	return nil
}

// markStopped keeps the restart policy from starting the container again.
func (e *Engine) markStopped(id string) error {
	if err := os.WriteFile(e.stopMarker(id), nil, 0o600); err != nil {
		return fmt.Errorf("mark container %s stopped: %w", ids.ShortID(id), err)
	}
	return nil
}

// waitExit waits until nobody watches the container any more (it ended and
// was recorded), at most timeout (forever if negative); it reports whether
// that happened.
func (e *Engine) waitExit(id string, timeout time.Duration) bool {
	end := time.Now().Add(timeout)
	for {
		lock, err := e.holdContainer(id)
		if errors.Is(err, os.ErrNotExist) {
			// Removed, or still being removed by whoever holds it.
			lock, err = e.holdContainer(removingPrefix + id)
		}
		if err == nil {
			lock.Close()
			return true
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return true // gone
		}
		if timeout >= 0 && time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends its stop signal (SIGTERM unless --stop-signal), and SIGKILL
// after timeout (ContainerStopTimeout: its own), and waits until the
// container has exited; its restart policy no longer applies. A starting
// container is stopped once it runs.
func (e *Engine) Stop(ref string, timeout time.Duration) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	var running *Record
	err = e.settled(r.ID, func(r *Record) error {
		if err := e.markStopped(r.ID); err != nil {
			return err
		}
		if r.Status == StatePaused {
			if err := e.thaw(r); err != nil {
				return err
			}
		}
		if live(r) {
			// Told before it is sent: the die it causes comes after.
			sig := stopSignal(r)
			e.event(r, "kill", signalAttr(sig)...)
			if signalInit(r, sig) == nil {
				running = r
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var killErr error
	if running != nil && !e.waitExit(r.ID, stopTimeout(r, timeout)) {
		e.event(running, "kill", signalAttr(unix.SIGKILL)...)
		// ErrWrongState: it has exited since.
		if killErr = signalInit(running, unix.SIGKILL); errors.Is(killErr, ErrWrongState) {
			killErr = nil
		}
	}
	if !e.waitExit(r.ID, stateWait) {
		return errors.Join(killErr, fmt.Errorf("stop container %s: it has not exited %s after SIGKILL", ids.ShortID(r.ID), stateWait))
	}
	err = e.settle(r.ID)
	if err == nil && running != nil {
		e.event(running, "stop")
	}
	return err
}

// Kill sends sig to a running container's init; a starting container's
// once it runs.
func (e *Engine) Kill(ref string, sig unix.Signal) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	return e.settled(r.ID, func(r *Record) error {
		if !live(r) {
			return fmt.Errorf("%w: container %s is not running", ErrWrongState, ids.ShortID(r.ID))
		}
		if sig == unix.SIGKILL || sig == unix.SIGTERM {
			if err := e.markStopped(r.ID); err != nil {
				return err
			}
		}
		// Told before it is sent: the die it causes comes after.
		e.event(r, "kill", signalAttr(sig)...)
		if r.Status == StatePaused && sig == unix.SIGKILL {
			// Thawed once the signal is pending: it then dies at once.
			return errors.Join(signalInit(r, sig), e.thaw(r))
		}
		return signalInit(r, sig)
	})
}

// Start starts a stopped container again, detached; a running (or
// starting) one is left as it is, as Docker does.
func (e *Engine) Start(ref string) error {
	h, err := e.holdToStart(ref)
	if h == nil || err != nil {
		return err
	}
	defer h.Close()
	if err := e.requireSpec(h.r); err != nil {
		return err
	}
	return e.startMonitor(h.r, h.lock, h.state, nil)
}

// holdToStart takes container ref to start it; nil if it runs (or starts)
// already.
func (e *Engine) holdToStart(ref string) (*idle, error) {
	r, err := e.Find(ref)
	if err != nil {
		return nil, err
	}
	return e.holdIdle(r.ID, func(r *Record) (bool, error) {
		if r.Status == StatePaused && live(r) {
			return false, fmt.Errorf("%w: cannot start paused container %s, unpause it instead", ErrWrongState, ids.ShortID(r.ID))
		}
		return live(r) || r.Status == StateRestarting, nil
	})
}

// StartAttach is start -a: Start, attached (see Attach) from the
// container's first output on; o.Keys (start -i) is passed on as attach
// does. A container that runs already is attached to.
func (e *Engine) StartAttach(ref string, o AttachOptions) (int, error) {
	h, err := e.holdToStart(ref)
	if err != nil {
		return 125, err
	}
	if h == nil {
		return e.Attach(ref, o)
	}
	c, l, err := e.connectFirst(h.r)
	if err == nil {
		err = e.startMonitor(h.r, h.lock, h.state, l)
		l.Close()
		if err != nil {
			c.Close()
		}
	}
	h.Close()
	if err != nil {
		return launch.ExitCodeOf(err), err
	}
	return e.follow(h.r, c, o)
}

// connectFirst makes the attach socket of r's next run and connects to it,
// before anything runs to write output.
func (e *Engine) connectFirst(r *Record) (*attachio.Client, *os.File, error) {
	if err := e.requireSpec(r); err != nil {
		return nil, nil, err
	}
	l, err := attachio.Listen(e.containerDir(r.ID))
	if err != nil {
		return nil, nil, err
	}
	c, err := attachio.Dial(e.containerDir(r.ID))
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return c, l, nil
}

// Restart stops a container (if it runs) and starts it again.
func (e *Engine) Restart(ref string, timeout time.Duration) error {
	if err := e.Stop(ref, timeout); err != nil {
		return err
	}
	return e.Start(ref)
}

// Wait blocks until the container has exited and returns its exit code.
func (e *Engine) Wait(ref string) (int, error) {
	r, err := e.Find(ref)
	if err != nil {
		return 0, err
	}
	e.waitExit(r.ID, -1)
	r, err = e.load(r.ID)
	if err != nil {
		return 0, err
	}
	return r.ExitCode, nil
}

// Remove deletes a stopped container; force kills a running (or starting)
// one first; volumes also deletes its anonymous volumes.
func (e *Engine) Remove(ref string, force, volumes bool) error {
	_ = e.Collect() // as in refresh
	r, err := e.Find(ref)
	var d *DamagedError
	if errors.As(err, &d) {
		return e.removeDamaged(d, force, volumes)
	}
	if err != nil {
		return err
	}
	told := false
	h, err := e.holdIdle(r.ID, func(r *Record) (bool, error) {
		if !live(r) && r.Status != StateRestarting {
			return false, nil // its watcher lets go in a moment
		}
		if !force {
			return false, fmt.Errorf("%w: container %s is %s: stop it first or use -f", ErrWrongState, ids.ShortID(r.ID), r.Status)
		}
		if err := e.markStopped(r.ID); err != nil {
			return false, err
		}
		if r.Status == StatePaused {
			if err := e.thaw(r); err != nil {
				return false, err
			}
		}
		if !told { // (busy is asked again until the container has ended)
			e.event(r, "kill", signalAttr(unix.SIGKILL)...)
			told = true
		}
		if err := signalInit(r, unix.SIGKILL); err != nil && !errors.Is(err, ErrWrongState) {
			return false, err // (ErrWrongState: it has exited since)
		}
		return false, nil
	})
	if force && errors.Is(err, ErrNotFound) {
		// Gone while we killed it (its own --rm): done once whoever
		// removes it lets go.
		e.waitExit(r.ID, stateWait)
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	r = h.r
	if r.CgroupPath != "" {
		if cg, err := e.cgroupOf(r); err == nil {
			if err := cg.Destroy(); err != nil {
				return err // the record stays: rm again removes what is left
			}
		}
	}
	if volumes {
		if err := e.removeVolumes(r); err != nil {
			return err
		}
	}
	return e.removeContainer(r)
}

// cgroupOf is the Manager of the container's cgroup, knowing which of its
// directories were made for it.
func (e *Engine) cgroupOf(r *Record) (cgroups.Manager, error) {
	return cgroups.Open(r.CgroupPath, r.CgroupOwnership)
}

// Pause freezes every process of a running container; Unpause thaws them.
func (e *Engine) Pause(ref string) error { return e.setPaused(ref, true) }

// Unpause thaws a paused container.
func (e *Engine) Unpause(ref string) error { return e.setPaused(ref, false) }

func (e *Engine) setPaused(ref string, pause bool) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	return e.settled(r.ID, func(r *Record) error { return e.freeze(r, pause) })
}

// freeze pauses or unpauses r, which must be running or paused.
func (e *Engine) freeze(r *Record, pause bool) error {
	want, verb := StateRunning, "pause"
	if !pause {
		want, verb = StatePaused, "unpause"
	}
	if r.Status != want || !live(r) {
		return fmt.Errorf("%w: cannot %s container %s: it is %s", ErrWrongState, verb, ids.ShortID(r.ID), r.Status)
	}
	cg, err := e.cgroupOf(r)
	if err != nil {
		return err
	}
	err = cgroups.SetFrozen(cg, pause, func() error {
		return e.updateRecord(r.ID, func(n *Record) {
			if n.Status == StateRunning || n.Status == StatePaused {
				n.Status = map[bool]string{true: StatePaused, false: StateRunning}[pause]
			}
		})
	})
	if err == nil {
		e.event(r, verb)
	}
	return err
}

// thaw thaws a paused container that is to be stopped, so that it can
// take its signal, and records it as running.
func (e *Engine) thaw(r *Record) error {
	cg, err := e.cgroupOf(r)
	if err == nil {
		err = cg.Thaw()
	}
	if err != nil {
		return fmt.Errorf("thaw container %s: %w", ids.ShortID(r.ID), err)
	}
	return e.updateRecord(r.ID, func(n *Record) {
		if n.Status == StatePaused {
			n.Status = StateRunning
		}
	})
}

// updateRecord changes a record that its monitor also writes: under the
// store lock, re-read, change, write.
func (e *Engine) updateRecord(id string, change func(*Record)) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r, err := e.loadRecord(id)
	if err != nil {
		return err
	}
	change(r)
	return e.save(r)
}

// adopt takes the state of n, a fresh copy of the same record without
// its spec, keeping r's spec.
func (r *Record) adopt(n *Record) {
	spec := r.Spec
	*r = *n
	r.Spec = spec
}

// Update changes the memory, CPU and pids limits of a container (once it
// runs, if it starts).
func (e *Engine) Update(ref string, l func(*specgen.Limits) error) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	return e.settled(r.ID, func(r *Record) error {
		if err := e.requireSpec(r); err != nil {
			return err
		}
		limits := r.Limits
		if err := l(&limits); err != nil {
			return err
		}
		res, err := limits.Resources()
		if err == nil {
			err = cgroups.Unsupported(res)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		var made *cgroups.Ownership
		if live(r) {
			cg, err := e.cgroupOf(r)
			if err != nil {
				return err
			}
			if made, err = cgroups.Update(cg, res); err != nil {
				return err
			}
		}
		// Under the store lock, re-read: its monitor writes the record too.
		unlock, err := e.lock()
		if err != nil {
			return err
		}
		defer unlock()
		n, err := e.load(r.ID)
		if err == nil {
			err = e.requireSpec(n)
		}
		if err != nil {
			return err
		}
		if made != nil && n.StartedAt.Equal(r.StartedAt) { // (not restarted since)
			n.CgroupOwnership = made
		}
		n.Limits = limits
		n.Spec.Linux.Resources = cgroups.Updated(n.Spec.Linux.Resources, res)
		if err := e.saveSpec(n); err != nil {
			return err
		}
		return e.save(n)
	})
}
