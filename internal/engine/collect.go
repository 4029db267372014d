package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/image"
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
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	all, err := e.List()
	if err != nil {
		return err
	}
	return e.collect(all)
}

// collect is Collect for a caller that holds the store lock.
func (e *Engine) collect(all []*Record) error {
	var errs []error
	e.removeHalfCreated(all)
	for _, r := range all {
		if r.Status == StateExited && !e.leftBehind(r) {
			continue
		}
		release, err := e.holdContainer(r.ID)
		if err != nil {
			if !errors.Is(err, unix.EWOULDBLOCK) {
				errs = append(errs, err)
			}
			continue
		}
		errs = append(errs, e.cleanupDead(r))
		release.Close()
	}
	return errors.Join(errs...)
}

// cleanupDead collects container r, whose lock the caller holds: nobody
// watches it. A container that ran is killed and marked exited (137: it
// was killed with its watcher); one whose start was killed before it ran
// keeps its state; a record its creator did not finish (no spec yet) goes,
// as a --rm container does.
func (e *Engine) cleanupDead(r *Record) error {
	if r.Pid > 0 && r.BootID == proc.BootID() && proc.Alive(r.Pid, r.PidStart) {
		unix.Kill(r.Pid, unix.SIGKILL)
	}
	if err := e.destroyCgroups(r); err != nil {
		return err
	}
	if r.Status == StateCreated && !e.hasSpec(r.ID) {
		r.AutoRemove = true // half made: nothing of it is kept
	}
	if r.AutoRemove {
		return e.removeContainer(r)
	}
	var err error
	if r.ImageID != "" {
		err = image.ReleaseRootfs(e.containerDir(r.ID))
	}
	if r.Status == StateExited || r.Status == StateCreated {
		return err
	}
	r.Status = StateExited
	r.ExitCode = 128 + int(unix.SIGKILL)
	r.FinishedAt = time.Now().UTC()
	if _, err := os.Stat(e.containerDir(r.ID)); err != nil {
		return nil
	}
	return errors.Join(err, e.save(r))
}

// destroyCgroups kills what is left in r's cgroups and removes them (a
// record saved before its spec has none).
func (e *Engine) destroyCgroups(r *Record) error {
	if r.CgroupPath == "" {
		return nil
	}
	cg, err := cgroups.New(r.CgroupPath)
	if err != nil {
		return err
	}
	if err := cg.Destroy(); err != nil {
		return fmt.Errorf("clean up container %s: %w", r.ID[:12], err)
	}
	return nil
}

// leftBehind reports whether container r, recorded as exited, still has a
// cgroup or its root file system mounted: a start killed before the
// record said running.
func (e *Engine) leftBehind(r *Record) bool {
	if r.ImageID != "" && isMounted(filepath.Join(e.containerDir(r.ID), "rootfs")) {
		return true
	}
	if r.CgroupPath == "" {
		return false
	}
	cg, err := cgroups.New(r.CgroupPath)
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

func (e *Engine) hasSpec(id string) bool {
	_, err := os.Stat(filepath.Join(e.containerDir(id), "spec.json"))
	return err == nil
}

// removeAnonymousVolumes deletes the volumes made for r alone (-v /path):
// rm -v, and every removal of a --rm container.
func (e *Engine) removeAnonymousVolumes(r *Record) error {
	var errs []error
	for _, m := range r.Mounts {
		if m.Anonymous {
			if err := os.RemoveAll(m.Source); err != nil {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", m.Source, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeHalfCreated removes container directories without a record that
// nobody holds: what a command killed while creating a container left.
func (e *Engine) removeHalfCreated(all []*Record) {
	known := make(map[string]bool, len(all))
	for _, r := range all {
		known[r.ID] = true
	}
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return
	}
	for _, ent := range ents {
		if !ent.IsDir() || known[ent.Name()] {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.containerDir(ent.Name()), "container.json")); err == nil {
			continue // listed since
		}
		lock, err := e.holdContainer(ent.Name())
		if err != nil {
			continue // its creator is still at work
		}
		image.ReleaseRootfs(e.containerDir(ent.Name()))
		os.RemoveAll(e.containerDir(ent.Name()))
		lock.Close()
	}
}
