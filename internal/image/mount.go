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

	opts := overlayOptions(lower, upper, work)
	if len(opts) >= os.Getpagesize() || strings.ContainsAny(strings.Join(append(lower, upper, work), ""), ":,\\") {
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
		short := make([]string, len(lower))
		for i, d := range lower {
			if short[i], err = open(d); err != nil {
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
