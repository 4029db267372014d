package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/jsonlog"
	"github.com/sdocker/sdocker/internal/proc"
)

// Every container's directory is flock'ed by the sdocker process that
// watches it for as long as the container lives; a container that claims to
// run while nobody holds that lock was left behind by a killed command.

// holdContainer takes the container's lock, or fails with EWOULDBLOCK when
// another process holds it. Closing the returned file releases it; a child
// that inherits the file holds the lock too.
func (e *Engine) holdContainer(id string) (*os.File, error) {
	dir := e.containerDir(id)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// Collect cleans up after containers whose watching process died: it kills
// what is left of them, removes their cgroups and marks them exited (or
// removes them, for --rm).
func (e *Engine) Collect() error {
	_, unlock, err := e.lockAndCollect()
	unlock()
	return err
}

// lockAndCollect takes the store lock, collects dead containers and returns
// every record; the caller releases the lock with unlock, even on error.
func (e *Engine) lockAndCollect() (all []*Record, unlock func(), err error) {
	if unlock, err = e.lock(); err != nil {
		return nil, func() {}, err
	}
	if all, err = e.List(); err == nil {
		err = e.collect(all)
	}
	return all, unlock, err
}

// collect is Collect for a caller that holds the store lock.
func (e *Engine) collect(all []*Record) error {
	errs := []error{e.removeHalfCreated(all)}
	for _, r := range all {
		if r.Status == StateExited && r.exitUnsaved == nil && !e.leftBehind(r) {
			continue
		}
		release, err := e.holdContainer(r.ID)
		if err != nil {
			// Watched, or removed since it was listed (its own --rm).
			if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if r.Status == StateDamaged {
			// No record to update: what it holds is released, and the
			// directory stays for rm -f.
			errs = append(errs, e.releaseDamaged(r.ID))
		} else {
			errs = append(errs, e.cleanupDead(r))
		}
		release.Close()
	}
	return errors.Join(errs...)
}

// cleanupDead collects container r, whose lock the caller holds: nobody
// watches it. A container that ran is killed and marked exited (137: it
// was killed with its watcher); one whose start was killed before it ran
// keeps its state; a record its creator did not finish (no spec yet) goes,
// as a --rm container does (but one that create made, waiting for start).
func (e *Engine) cleanupDead(r *Record) error {
	why := "ended: the host restarted while it ran"
	if r.BootID == proc.BootID() {
		// ErrGone: it has ended; whatever else is left of it,
		// destroyCgroups kills.
		why = unwatchedCause(r.Detached, proc.Signal(r.Pid, r.PidStart, unix.SIGKILL) == nil)
	}
	if err := e.destroyCgroups(r); err != nil {
		return err
	}
	if err := errors.Join(e.cleanupNetwork(r), e.releaseShmOf(r)); err != nil {
		return err
	}
	r.Networks = nil
	if _, err := os.Stat(e.specPath(r.ID)); errors.Is(err, os.ErrNotExist) {
		// Its creator died before it wrote the spec: it can never start,
		// and nothing of it is kept.
		r.AutoRemove, r.ByCreate = true, false
	}
	if r.AutoRemove && !(r.ByCreate && r.Status == StateCreated) {
		return e.removeContainer(r)
	}
	var err error
	if r.mountsRootfs() {
		err = image.ReleaseRootfs(e.containerDir(r.ID))
	}
	if r.Status == StateExited && r.exitUnsaved == nil || r.Status == StateCreated {
		return err
	}
	if r.exitUnsaved == nil {
		r.Status = StateExited
		r.ExitCode = 128 + int(unix.SIGKILL)
		r.FinishedAt = time.Now().UTC()
		r.Error = why
		if err := e.markUnwatched(r, why); err != nil {
			fmt.Fprintf(os.Stderr, "sdocker: container %s: %v\n", ids.ShortID(r.ID), err)
		}
		e.event(r, "die", exitAttr(r.ExitCode)...)
	} else if err := e.markLost(r); err != nil { // its watcher recorded the exit
		return err
	}
	if _, err := os.Stat(e.containerDir(r.ID)); err != nil {
		return nil
	}
	return errors.Join(err, e.save(r))
}

// unwatchedCause says why a container that nobody watches any more ended
// (State.Error). One run in the foreground is killed with the command that
// ran it; a detached one still ran when it was collected (killed), or
// ended with no one left to record how.
func unwatchedCause(detached, killed bool) string {
	switch {
	case !detached:
		return "killed: the sdocker command that ran it died"
	case killed:
		return "killed: its monitor died"
	}
	return "exit status lost: its monitor died before it could record it"
}

// markUnwatched ends the log of r, if it has one, with a marker line that
// says why its output stops there.
func (e *Engine) markUnwatched(r *Record, why string) error {
	p := e.LogPath(r.ID)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write log %s: %w", p, unwrapPath(err))
	}
	defer f.Close()
	if err := jsonlog.NewWriter(int(f.Fd())).Write(jsonlog.NoteText(why), "stderr", r.FinishedAt); err != nil {
		return fmt.Errorf("write log %s: %w", p, err)
	}
	return nil
}

// destroyCgroups kills what is left in r's cgroups and removes them (a
// record saved before its spec has none).
func (e *Engine) destroyCgroups(r *Record) error {
	if r.CgroupPath == "" {
		return nil
	}
	cg, err := e.cgroupOf(r)
	if err != nil {
		return err
	}
	if err := cg.Destroy(); err != nil {
		return fmt.Errorf("clean up container %s: %w", ids.ShortID(r.ID), err)
	}
	return nil
}

// leftBehind reports whether container r, recorded as exited, still has a
// cgroup, its root file system or its shareable /dev/shm mounted: a start
// killed before the record said running, or a monitor killed before it
// cleaned up.
func (e *Engine) leftBehind(r *Record) bool {
	if r.mountsRootfs() && isMounted(filepath.Join(e.containerDir(r.ID), "rootfs")) {
		return true
	}
	if r.Host.Namespaces.IPC == "shareable" && isMounted(e.shmPath(r.ID)) {
		return true
	}
	if ownsNetns(r.Host.Network) && networkLeft(r.ID) {
		return true
	}
	if r.CgroupPath == "" {
		return false
	}
	cg, err := e.cgroupOf(r)
	if err != nil {
		return false
	}
	for _, p := range cg.Paths() {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// removeHalfCreated removes container directories without a record that
// nobody holds: what a command killed while creating a container left. A
// directory whose root file system stays mounted is kept (and reported):
// removing it would reach into the mount.
func (e *Engine) removeHalfCreated(all []*Record) error {
	known := make(map[string]bool, len(all))
	for _, r := range all {
		known[r.ID] = true
	}
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return fmt.Errorf("read %s: %w", e.containersDir(), err)
	}
	var errs []error
	for _, ent := range ents {
		if !ent.IsDir() || known[ent.Name()] {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.containerDir(ent.Name()), "container.json")); err == nil && !strings.HasPrefix(ent.Name(), removingPrefix) {
			continue // listed since
		}
		lock, err := e.holdContainer(ent.Name())
		if err != nil {
			continue // its creator is still at work
		}
		if networkLeft(ent.Name()) {
			if err := e.releaseNetwork(ent.Name()); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(image.ReleaseRootfs(e.containerDir(ent.Name())), releaseShm(e.containerDir(ent.Name()))); err != nil {
			errs = append(errs, err)
		} else if err := os.RemoveAll(e.containerDir(ent.Name())); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e.containerDir(ent.Name()), err))
		}
		lock.Close()
	}
	return errors.Join(errs...)
}
