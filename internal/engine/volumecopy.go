package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// copyUp fills the empty volume directory dst with what the root file
// system rootfs has at path p (a directory; nothing else is copied), with
// owners, modes and symlinks as they are: Docker's first mount of a new
// volume. p is resolved inside rootfs by descriptor, and nothing of the
// image is followed out of it: its symlinks are copied, not read through.
// The copy is made beside dst and renamed over it: a copy cut short (a
// kill, a full disk) leaves dst empty, to be filled by the next mount.
func copyUp(rootfs, p, dst string) error {
	if empty, err := isEmptyDir(dst); err != nil || !empty {
		return err // not empty: kept as it is
	}
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	src, err := unix.Openat2(root, "./"+strings.TrimLeft(p, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing there, or not a directory: nothing to copy
	}
	if err != nil {
		return fmt.Errorf("open %s in %s: %w", p, rootfs, err)
	}
	defer unix.Close(src)
	tmp := dst + ".new"
	if err := copyTree(src, tmp); err != nil {
		return errors.Join(fmt.Errorf("copy %s of the image into volume %s: %w", p, dst, err), os.RemoveAll(tmp))
	}
	// rename(2) replaces an empty directory (os.Rename refuses any); one
	// that was filled meanwhile (ENOTEMPTY, EEXIST) is kept.
	if err := unix.Rename(tmp, dst); err != nil {
		rerr := os.RemoveAll(tmp)
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return rerr
		}
		return errors.Join(fmt.Errorf("fill volume %s: %w", dst, err), rerr)
	}
	return nil
}

func isEmptyDir(dir string) (bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		return false, fmt.Errorf("open volume %s: %w", dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read volume %s: %w", dir, err)
	}
	return len(names) == 0, nil
}

// copyTree makes directory tmp (after what a copy cut short left there), a
// copy of directory src with its owner and mode.
func copyTree(src int, tmp string) error {
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	d, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", tmp, err)
	}
	defer unix.Close(d)
	if err := copyDir(src, d); err != nil {
		return err
	}
	return copyAttrs(src, d)
}

// copyDir copies the entries of directory src into directory dst.
func copyDir(src, dst int) error {
	names, err := readNames(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name); err != nil {
			return err
		}
	}
	return nil
}

func readNames(dirfd int) ([]string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// copyEntry copies name of src into dst: a directory with what it holds, a
// file's content, a symlink as a symlink, a device, fifo or socket node.
func copyEntry(src, dst int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return copySubdir(src, dst, name)
	case unix.S_IFREG:
		return copyFile(src, dst, name)
	case unix.S_IFLNK:
		target, err := readlinkat(src, name)
		if err == nil {
			err = unix.Symlinkat(target, dst, name)
		}
		if err == nil {
			err = unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("copy symlink %s: %w", name, err)
		}
		return nil
	default:
		err := unix.Mknodat(dst, name, st.Mode, int(st.Rdev))
		if err == nil {
			err = unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil {
			err = unix.Fchmodat(dst, name, st.Mode&0o7777, 0)
		}
		if err != nil {
			return fmt.Errorf("copy node %s: %w", name, err)
		}
		return nil
	}
}

func copySubdir(src, dst int, name string) error {
	if err := unix.Mkdirat(dst, name, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", name, err)
	}
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(s)
	d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(d)
	if err := copyDir(s, d); err != nil {
		return fmt.Errorf("%s/%w", name, err)
	}
	return copyAttrs(s, d)
}

func copyFile(src, dst int, name string) error {
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	sf := os.NewFile(uintptr(s), name)
	defer sf.Close()
	d, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	df := os.NewFile(uintptr(d), name)
	defer df.Close()
	if _, err := io.Copy(df, sf); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return copyAttrs(s, d)
}

// copyAttrs gives dst the owner and mode of src (the mode after the owner:
// a chown clears the set-id bits).
func copyAttrs(src, dst int) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(dst, st.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return nil
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// volumeDirOf is the directory of the volume whose data directory is
// source, if source is ROOT/volumes/NAME/_data.
func (e *Engine) volumeDirOf(source string) (string, bool) {
	dir := filepath.Dir(filepath.Clean(source))
	return dir, filepath.Base(source) == "_data" && filepath.Dir(dir) == e.volumesDir()
}
