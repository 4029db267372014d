package engine

import (
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
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

// refresh corrects a record whose watcher died (see Collect): a container
// seen as running is really running, and watched (a container whose
// monitor was killed is killed and cleaned up here).
func (e *Engine) refresh(r *Record) *Record {
	if (r.Status == StateRunning || r.Status == StatePaused) && (!live(r) || !watched(r)) {
		e.Collect()
		if n, err := e.load(r.ID); err == nil {
			return n
		}
	}
	return r
}

// refreshRecord reads a record's current state (no spec); an empty record
// if it cannot be read.
func (e *Engine) refreshRecord(id string) *Record {
	if r, err := e.loadRecord(id); err == nil {
		return r
	}
	return &Record{}
}

// signalInit sends sig to the container's init, verified by its start time.
func signalInit(r *Record, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(r.Pid, 0)
	if err != nil {
		return fmt.Errorf("%w: container %s is not running", ErrWrongState, r.ID[:12])
	}
	defer unix.Close(fd)
	if !live(r) {
		return fmt.Errorf("%w: container %s is not running", ErrWrongState, r.ID[:12])
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal container %s: %w", r.ID[:12], err)
	}
	return nil
}

// markStopped keeps the restart policy from starting the container again.
func (e *Engine) markStopped(id string) error {
	if err := os.WriteFile(e.stopMarker(id), nil, 0o600); err != nil {
		return fmt.Errorf("mark container %s stopped: %w", id[:12], err)
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

// Stop sends SIGTERM, and SIGKILL after timeout, and waits until the
// container has exited; its restart policy no longer applies.
func (e *Engine) Stop(ref string, timeout time.Duration) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	if err := e.markStopped(r.ID); err != nil {
		return err
	}
	r = e.refresh(r)
	if r.Status == StatePaused {
		e.thaw(r)
	}
	if live(r) {
		signalInit(r, unix.SIGTERM)
		if !e.waitExit(r.ID, timeout) {
			signalInit(r, unix.SIGKILL)
		}
	}
	e.waitExit(r.ID, -1)
	return nil
}

// Kill sends sig to a running container's init.
func (e *Engine) Kill(ref string, sig unix.Signal) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	r = e.refresh(r)
	if !live(r) {
		return fmt.Errorf("%w: container %s is not running", ErrWrongState, r.ID[:12])
	}
	if sig == unix.SIGKILL || sig == unix.SIGTERM {
		if err := e.markStopped(r.ID); err != nil {
			return err
		}
	}
	if r.Status == StatePaused && sig == unix.SIGKILL {
		defer e.thaw(r)
	}
	return signalInit(r, sig)
}

// Start starts a stopped container again, detached.
func (e *Engine) Start(ref string) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	lock, err := e.holdContainer(r.ID)
	// Another command (ps, inspect) may hold the lock for a moment: only a
	// watcher holds it for long.
	for i := 0; errors.Is(err, unix.EWOULDBLOCK) && i < 50 && !live(e.refreshRecord(r.ID)); i++ {
		time.Sleep(20 * time.Millisecond)
		lock, err = e.holdContainer(r.ID)
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return fmt.Errorf("%w: container %s is already running", ErrWrongState, r.ID[:12])
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	if r, err = e.load(r.ID); err != nil {
		return err
	}
	return e.startMonitor(r, lock)
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

// Remove deletes a stopped container; force kills a running one first;
// volumes also deletes its anonymous volumes.
func (e *Engine) Remove(ref string, force, volumes bool) error {
	e.Collect()
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	if lock, err := e.holdContainer(r.ID); err == nil {
		defer lock.Close()
	} else {
		if !force {
			return fmt.Errorf("%w: container %s is running: stop it first or use -f", ErrWrongState, r.ID[:12])
		}
		e.markStopped(r.ID)
		if r.Status == StatePaused {
			e.thaw(r)
		}
		signalInit(r, unix.SIGKILL)
		e.waitExit(r.ID, -1)
	}
	n, err := e.load(r.ID)
	if errors.Is(err, ErrNotFound) && r.AutoRemove {
		return nil // its watcher removed it as it ended (--rm)
	}
	if err != nil {
		return err
	}
	r = n
	if r.CgroupPath != "" {
		if cg, err := cgroups.New(r.CgroupPath); err == nil {
			cg.Destroy()
		}
	}
	if volumes {
		if err := e.removeAnonymousVolumes(r); err != nil {
			return err
		}
	}
	return e.removeContainer(r)
}

func (e *Engine) cgroupOf(r *Record) (cgroups.Manager, error) {
	return cgroups.New(r.CgroupPath)
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
	r = e.refresh(r)
	want, verb := StateRunning, "pause"
	if !pause {
		want, verb = StatePaused, "unpause"
	}
	if r.Status != want || !live(r) {
		return fmt.Errorf("%w: cannot %s container %s: it is %s", ErrWrongState, verb, r.ID[:12], r.Status)
	}
	cg, err := e.cgroupOf(r)
	if err != nil {
		return err
	}
	if pause {
		err = cg.Freeze()
	} else {
		err = cg.Thaw()
	}
	if err != nil {
		return err
	}
	return e.updateRecord(r.ID, func(n *Record) {
		if n.Status == StateRunning || n.Status == StatePaused {
			n.Status = map[bool]string{true: StatePaused, false: StateRunning}[pause]
		}
	})
}

func (e *Engine) thaw(r *Record) {
	if cg, err := e.cgroupOf(r); err == nil {
		cg.Thaw()
	}
	e.updateRecord(r.ID, func(n *Record) {
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

// Update changes the memory, CPU and pids limits of a container.
func (e *Engine) Update(ref string, l func(*specgen.Limits) error) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	limits := r.Limits
	if err := l(&limits); err != nil {
		return err
	}
	res, err := limits.Resources()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if live(e.refresh(r)) {
		cg, err := e.cgroupOf(r)
		if err != nil {
			return err
		}
		if err := cg.Set(res); err != nil {
			return err
		}
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, err := e.load(r.ID)
	if err != nil {
		return err
	}
	n.Limits = limits
	res.Devices = n.Spec.Linux.Resources.Devices
	n.Spec.Linux.Resources = res
	if err := e.saveSpec(n); err != nil {
		return err
	}
	return e.save(n)
}
