package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PrepareRootfs mounts a container's rootfs: an overlay of the image's layer
// directories (read-only lower layers, top first) under containerDir/upper
// (the container's changes) with containerDir/work, at containerDir/rootfs,
// which it returns. Nothing is copied, and the image never changes: every
// write lands in containerDir/upper. imageID may be any reference Get takes.
// If the rootfs is mounted already it is returned as is.
//
// The mount options must fit in one page (4096 bytes). When the layer paths
// are too long for that (~35 layers under /var/lib/sdocker/image), or contain
// characters overlayfs options cannot carry (":" ","), every directory is
// passed as /proc/self/fd/N of a descriptor this process holds open during
// mount(2) instead: ~19 bytes a layer, so ~200 layers (overlayfs itself takes
// up to 500). The mount table then shows those /proc/self/fd paths; the
// layers are still the store's directories.
func (s *Store) PrepareRootfs(imageID, containerDir string) (rootfs string, err error) {
	return s.PrepareRootfsMapped(imageID, containerDir, nil)
}

// IDMap is how a container with a user namespace sees its root file
// system: through id-mapped mounts with the mappings of Userns (a user
// namespace), so that the layers, owned by the host's root on disk, are
// its root's with no copy. RootUID and RootGID are the host ids of its
// root, which gets the upper directory.
type IDMap struct {
	Userns           *os.File
	RootUID, RootGID int
}

// PrepareRootfsMapped is PrepareRootfs, with each lower layer an id-mapped
// mount of m (none when m is nil). overlayfs takes id-mapped layers (Linux
// 5.19), not an id-mapped overlay.
func (s *Store) PrepareRootfsMapped(imageID, containerDir string, m *IDMap) (rootfs string, err error) {
	unlock, err := s.lock("gc.lock", unix.LOCK_SH) // no layer GC while we mount
	if err != nil {
		return "", err
	}
	defer unlock()
	img, err := s.Get(imageID)
	if err != nil {
		return "", fmt.Errorf("prepare rootfs: %w", err)
	}
	var lower []string
	seen := map[string]bool{}
	// Top layer first; a layer listed twice only counts where it is highest
	// (the lower copy cannot show through the higher one).
	for i := len(img.Layers) - 1; i >= 0; i-- {
		d := filepath.Join(s.layerDir(img.Layers[i]), "diff")
		if seen[d] {
			continue
		}
		seen[d] = true
		if _, err := os.Stat(d); err != nil {
			return "", fmt.Errorf("prepare rootfs: layer %s of image %s: %w", img.Layers[i], img.ShortID(), err)
		}
		lower = append(lower, d)
	}
	if len(lower) == 0 {
		return "", fmt.Errorf("prepare rootfs: image %s has no layers: %w", img.ShortID(), ErrInvalid)
	}

	containerDir, err = filepath.Abs(containerDir)
	if err != nil {
		return "", err
	}
	upper := filepath.Join(containerDir, "upper")
	work := filepath.Join(containerDir, "work")
	rootfs = RootfsOf(containerDir)
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{containerDir, 0o700}, {upper, 0o755}, {work, 0o700}, {rootfs, 0o755}} {
		if err := os.Mkdir(d.path, d.mode); err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("prepare rootfs: %w", err)
		}
	}
	if mounted, err := isMountPoint(rootfs); err != nil {
		return "", fmt.Errorf("prepare rootfs: %w", err)
	} else if mounted {
		return rootfs, nil
	}

	if m != nil {
		if err := os.Chown(upper, m.RootUID, m.RootGID); err != nil {
			return "", fmt.Errorf("prepare rootfs: %w", err)
		}
	}
	opts := overlayOptions(lower, upper, work)
	if m != nil || len(opts) >= os.Getpagesize() || strings.ContainsAny(strings.Join(append(lower, upper, work), ""), ":,\\") {
		var fds []int
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		open := func(p string) (string, error) {
			fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return "", fmt.Errorf("prepare rootfs: open %s: %w", p, err)
			}
			fds = append(fds, fd)
			return "/proc/self/fd/" + strconv.Itoa(fd), nil
		}
		openLower := open
		if m != nil {
			openLower = func(p string) (string, error) {
				fd, err := idMappedTree(p, m.Userns)
				if err != nil {
					return "", fmt.Errorf("prepare rootfs: %w", err)
				}
				fds = append(fds, fd)
				return "/proc/self/fd/" + strconv.Itoa(fd), nil
			}
		}
		short := make([]string, len(lower))
		for i, d := range lower {
			if short[i], err = openLower(d); err != nil {
				return "", err
			}
		}
		u, err := open(upper)
		if err != nil {
			return "", err
		}
		w, err := open(work)
		if err != nil {
			return "", err
		}
		opts = overlayOptions(short, u, w)
		if len(opts) >= os.Getpagesize() {
			return "", fmt.Errorf("prepare rootfs: image %s has too many layers (%d) for one overlay mount: %w", img.ShortID(), len(lower), ErrInvalid)
		}
	}
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount overlay on %s: %w", rootfs, err)
	}
	return rootfs, nil
}

// idMappedTree returns a detached id-mapped bind mount of directory p,
// with the mappings of the user namespace userns.
func idMappedTree(p string, userns *os.File) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", p, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) {
			err = fmt.Errorf("%w (its file system cannot be id-mapped on this kernel)", err)
		}
		return -1, fmt.Errorf("id-map %s: %w", p, err)
	}
	return fd, nil
}

// MountIDMapped mounts directory dir, id-mapped by m, at
// containerDir/rootfs (RootfsOf), which it returns: the root file system
// of a container with a user namespace that runs on a directory. If
// something is mounted there already it is returned as is; ReleaseRootfs
// unmounts it.
func MountIDMapped(dir, containerDir string, m *IDMap) (string, error) {
	rootfs := RootfsOf(containerDir)
	if err := os.Mkdir(rootfs, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("prepare rootfs: %w", err)
	}
	if mounted, err := isMountPoint(rootfs); err != nil || mounted {
		return rootfs, err
	}
	fd, err := idMappedTree(dir, m.Userns)
	if err != nil {
		return "", fmt.Errorf("prepare rootfs: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("mount id-mapped %s on %s: %w", dir, rootfs, err)
	}
	return rootfs, nil
}

// RootfsOf is where PrepareRootfs mounts the rootfs of containerDir (an
// absolute path).
func RootfsOf(containerDir string) string { return filepath.Join(containerDir, "rootfs") }

func overlayOptions(lower []string, upper, work string) string {
	return "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work
}

// ReleaseRootfs unmounts containerDir/rootfs (lazily: MNT_DETACH). It is a
// no-op if it is not mounted, so it may be called any number of times. The
// container's directories stay for the caller to remove.
func ReleaseRootfs(containerDir string) error {
	rootfs := RootfsOf(containerDir)
	for range 16 { // a rootfs mounted several times over
		err := unix.Unmount(rootfs, unix.MNT_DETACH)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		}
		return fmt.Errorf("unmount %s: %w", rootfs, err)
	}
	return fmt.Errorf("unmount %s: still mounted", rootfs)
}

// isMountPoint reports whether p is mounted over (its device differs from
// its parent's).
func isMountPoint(p string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(p), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev || st.Ino == pst.Ino, nil
}
