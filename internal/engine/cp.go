package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/rootcopy"
)

// CopyOptions are the options of `sdocker cp`.
type CopyOptions struct {
	rootcopy.Options
	Stdin  io.Reader // the archive of cp - CONTAINER:DST
	Stdout io.Writer // the archive of cp CONTAINER:SRC -
}

// CopyFrom copies src of container ref to dst on the host; dst "-" writes a
// tar stream to o.Stdout.
func (e *Engine) CopyFrom(ref, src, dst string, o CopyOptions) error {
	if dst == "-" {
		return e.withRoot(ref, func(root *rootcopy.Root) error {
			return root.WriteArchive(o.Stdout, src, o.Follow)
		})
	}
	host, dst, err := hostRoot(dst)
	if err != nil {
		return err
	}
	defer host.Close()
	return e.withRoot(ref, func(root *rootcopy.Root) error {
		return rootcopy.Copy(root, src, host, dst, o.Options)
	})
}

// CopyTo copies src on the host to dst in container ref; src "-" extracts a
// tar stream from o.Stdin into the directory dst.
func (e *Engine) CopyTo(src, ref, dst string, o CopyOptions) error {
	if src == "-" {
		return e.withRoot(ref, func(root *rootcopy.Root) error {
			return rootcopy.ExtractInto(o.Stdin, root, dst, o.Archive)
		})
	}
	host, src, err := hostRoot(src)
	if err != nil {
		return err
	}
	defer host.Close()
	return e.withRoot(ref, func(root *rootcopy.Root) error {
		return rootcopy.Copy(host, src, root, dst, o.Options)
	})
}

// hostRoot is the host's root for cp, and p made absolute (a trailing "/"
// or "/." kept: they mean something to cp).
func hostRoot(p string) (*rootcopy.Root, string, error) {
	if !filepath.IsAbs(p) {
		wd, err := os.Getwd()
		if err != nil {
			return nil, "", fmt.Errorf("cp: %w", err)
		}
		p = wd + "/" + p
	}
	root, err := rootcopy.OpenRoot("/", "the host")
	return root, p, err
}

// withRoot calls fn with the root of container ref: a running container's
// own (through its init, with its volumes), or the root file system of a
// stopped one, mounted meanwhile for an image's container; no start begins
// before fn returns.
func (e *Engine) withRoot(ref string, fn func(*rootcopy.Root) error) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	r = e.refresh(r)
	name := "container " + r.Name
	for end := time.Now().Add(stateWait); ; {
		lock, err := e.holdContainer(r.ID)
		if err == nil {
			defer lock.Close()
			return e.withStoppedRoot(r.ID, name, fn)
		}
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		if r, err = e.load(r.ID); err != nil {
			return err
		}
		if live(r) {
			root, err := rootcopy.OpenRoot(fmt.Sprintf("/proc/%d/root", r.Pid), name)
			// The pid was the init's when its root was opened.
			if err == nil && proc.Alive(r.Pid, r.PidStart) {
				defer root.Close()
				return fn(withOwners(root, r))
			}
			if err == nil {
				root.Close()
			}
		}
		if time.Now().After(end) {
			return fmt.Errorf("%w: container %s is still in use after %s", ErrWrongState, ids.ShortID(r.ID), stateWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withStoppedRoot calls fn with the root file system of container id, which
// does not run (the caller holds its lock), its volumes mounted on it as
// they are when it runs.
func (e *Engine) withStoppedRoot(id, name string, fn func(*rootcopy.Root) error) (err error) {
	r, err := e.load(id)
	if err != nil {
		return err
	}
	if r.mountsRootfs() && !isMounted(r.Rootfs) {
		if err := e.mountRootfs(r); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, image.ReleaseRootfs(e.containerDir(id))) }()
	}
	if len(r.Mounts) > 0 {
		return withVolumes(r, name, fn)
	}
	root, err := rootcopy.OpenRoot(r.Rootfs, name)
	if err != nil {
		return err
	}
	defer root.Close()
	return fn(withOwners(root, r))
}

// withVolumes calls fn with the root file system of r and its volumes
// mounted on it, in a mount namespace of one thread of ours: neither the
// host nor the container ever sees these mounts, and they end with fn.
// (Paths are resolved from the root's descriptor, so the copy's other
// threads see them too.)
func withVolumes(r *Record, name string, fn func(*rootcopy.Root) error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends, and its namespace with it.
		runtime.LockOSThread()
		errc <- inVolumeNamespace(r, name, fn)
	}()
	return <-errc
}

func inVolumeNamespace(r *Record, name string, fn func(*rootcopy.Root) error) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("cp: new mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("cp: make mounts private: %w", err)
	}
	root, err := rootcopy.OpenRoot(r.Rootfs, name)
	if err != nil {
		return err
	}
	defer root.Close()
	withOwners(root, r)
	// Its volumes and binds; a tmpfs of a stopped container holds nothing.
	var mounts []MountPoint
	for _, m := range r.Mounts {
		if typeOf(m) != mountTmpfs {
			mounts = append(mounts, m)
		}
	}
	for i, m := range mountSpecs(mounts) {
		if err := launch.MountInRoot(root.Fd(), m); err != nil {
			return fmt.Errorf("cp: %w", err)
		}
		if r.idMapsStorage() && typeOf(mounts[i]) == mountVolume {
			// Its files are the container's ids on disk (see
			// idMapVolumes).
			root.OwnIDsUnder = append(root.OwnIDsUnder, path.Clean("/"+m.Destination))
		}
	}
	return fn(root)
}

// withOwners gives root, of container r, the ids of r's user namespace
// (none without one): cp into it gives its files the container's owners,
// cp out of it records them.
func withOwners(root *rootcopy.Root, r *Record) *rootcopy.Root {
	root.UIDMap, root.GIDMap = r.Host.UIDMap, r.Host.GIDMap
	return root
}
