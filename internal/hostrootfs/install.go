package hostrootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// installer writes into a rootfs directory through an os.Root, so that no
// path, and no symlink inside the tree, can make it write outside the
// directory. Every file is written to a temporary name in its final
// directory and renamed into place, so a container running on the tree never
// sees a half-written file; files already up to date are left alone.
type installer struct {
	root *os.Root
	dir  string          // for messages
	done map[string]bool // host paths already mirrored
}

// tmpCounter makes temporary names unique within the process; the pid in
// them makes them unique between processes.
var tmpCounter atomic.Uint64

// mode bits kept when copying a host file.
const keptModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// rel turns an absolute path into a name relative to the rootfs.
func rel(abs string) string {
	r := strings.TrimPrefix(filepath.Clean(abs), "/")
	if r == "" {
		return "."
	}
	return r
}

// mirror installs the host path p at the same path in the rootfs, resolving
// it the way the kernel does: every directory passed is created (with the
// host's permissions), every symlink met is recreated with the same target
// and then followed, and the final file is copied. It returns the host path
// with all symlinks resolved.
//
// So /bin/sh on a usrmerge Debian becomes the symlinks bin -> usr/bin and
// usr/bin/sh -> dash plus the file usr/bin/dash: the same names work in
// the container as on the host.
func (in *installer) mirror(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("install %s: path is not absolute", p)
	}
	cur := "/"
	rest := strings.Split(filepath.Clean(p), "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("install %s: %w", p, err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > 40 {
				return "", fmt.Errorf("install %s: %w", p, syscall.ELOOP)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", fmt.Errorf("install %s: %w", p, err)
			}
			if !in.done[next] {
				if err := in.symlink(target, next); err != nil {
					return "", err
				}
				in.done[next] = true
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
		case fi.IsDir():
			if !in.done[next] {
				if err := in.mkdir(next, fi.Mode()&keptModeBits, false); err != nil {
					return "", err
				}
				in.done[next] = true
			}
			cur = next
		case len(rest) > 0:
			return "", fmt.Errorf("install %s: %s: %w", p, next, syscall.ENOTDIR)
		case !fi.Mode().IsRegular():
			return "", fmt.Errorf("install %s: %s is not a regular file", p, next)
		default:
			if !in.done[next] {
				if err := in.copyFile(next, next, fi); err != nil {
					return "", err
				}
				in.done[next] = true
			}
			cur = next
		}
	}
	return cur, nil
}

// mkdir makes the directory abs in the rootfs (parents 0755) with mode.
// An existing directory keeps its mode unless force is set.
func (in *installer) mkdir(abs string, mode fs.FileMode, force bool) error {
	name := rel(abs)
	fi, err := in.root.Lstat(name)
	switch {
	case err == nil && fi.IsDir():
		if !force || fi.Mode()&keptModeBits == mode {
			return nil
		}
	case err == nil:
		return fmt.Errorf("mkdir %s in %s: exists and is not a directory", abs, in.dir)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("mkdir %s in %s: %w", abs, in.dir, err)
	default:
		if d := filepath.Dir(name); d != "." {
			if err := in.root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("mkdir %s in %s: %w", filepath.Dir(abs), in.dir, err)
			}
		}
		if err := in.root.Mkdir(name, mode&fs.ModePerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("mkdir %s in %s: %w", abs, in.dir, err)
		}
	}
	// Mkdir is subject to the umask and ignores the special bits.
	if err := in.root.Chmod(name, mode); err != nil {
		return fmt.Errorf("chmod %s in %s: %w", abs, in.dir, err)
	}
	return nil
}

// tmpName returns a fresh temporary name next to name.
func (in *installer) tmpName(name string) string {
	return filepath.Join(filepath.Dir(name), ".sdocker-tmp-"+strconv.Itoa(os.Getpid())+"-"+
		strconv.FormatUint(tmpCounter.Add(1), 10)+"-"+filepath.Base(name))
}

// symlink makes abs in the rootfs a symlink to target, replacing what is
// there unless it is already that symlink.
func (in *installer) symlink(target, abs string) error {
	name := rel(abs)
	if cur, err := in.root.Readlink(name); err == nil && cur == target {
		return nil
	}
	if fi, err := in.root.Lstat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("symlink %s in %s: a directory is in the way", abs, in.dir)
	}
	tmp := in.tmpName(name)
	if err := in.root.Symlink(target, tmp); err != nil {
		return fmt.Errorf("symlink %s in %s: %w", abs, in.dir, err)
	}
	if err := in.root.Rename(tmp, name); err != nil {
		in.root.Remove(tmp)
		return fmt.Errorf("symlink %s in %s: %w", abs, in.dir, err)
	}
	return nil
}

// copyFile copies the host file src (described by fi) to abs in the rootfs,
// keeping its mode and modification time. It does nothing when abs already
// is a regular file of the same size, mode and modification time.
func (in *installer) copyFile(src, abs string, fi fs.FileInfo) error {
	name := rel(abs)
	mode := fi.Mode() & keptModeBits
	if cur, err := in.root.Lstat(name); err == nil && cur.Mode().IsRegular() &&
		cur.Size() == fi.Size() && cur.Mode()&keptModeBits == mode && cur.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install %s: %w", src, err)
	}
	defer f.Close()
	return in.writeAtomic(abs, mode, fi.ModTime(), f)
}

// writeFile writes data to abs in the rootfs with mode, unless abs already
// is a regular file with that content and mode.
func (in *installer) writeFile(abs string, data []byte, mode fs.FileMode) error {
	name := rel(abs)
	if cur, err := in.root.Lstat(name); err == nil && cur.Mode().IsRegular() && cur.Mode()&keptModeBits == mode {
		if old, err := in.root.ReadFile(name); err == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	if err := in.root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("write %s in %s: %w", abs, in.dir, err)
	}
	return in.writeAtomic(abs, mode, time.Time{}, bytes.NewReader(data))
}

// writeAtomic writes r to a temporary file next to abs and renames it over
// abs. A zero mtime leaves the modification time at now.
func (in *installer) writeAtomic(abs string, mode fs.FileMode, mtime time.Time, r io.Reader) (err error) {
	name := rel(abs)
	tmp := in.tmpName(name)
	f, err := in.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s in %s: %w", abs, in.dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			in.root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s in %s: %w", abs, in.dir, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s in %s: %w", abs, in.dir, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s in %s: %w", abs, in.dir, err)
	}
	if !mtime.IsZero() {
		if err := in.root.Chtimes(tmp, mtime, mtime); err != nil {
			return fmt.Errorf("chtimes %s in %s: %w", abs, in.dir, err)
		}
	}
	if err := in.root.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s in %s: %w", abs, in.dir, err)
	}
	return nil
}
