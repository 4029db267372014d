package rootcopy

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Rename maps the top name of an archive to another: entries named From or
// under From/ are extracted as To or under To/; the others are skipped. A
// zero Rename keeps every name.
type Rename struct{ From, To string }

func (rn Rename) apply(name string) (string, bool) {
	switch rn.From {
	case "":
		return name, true
	case ".": // a directory's content: every name is below it
		return path.Join(rn.To, name), true
	}
	if name == rn.From {
		return rn.To, true
	}
	if rest, ok := strings.CutPrefix(name, rn.From+"/"); ok {
		return path.Join(rn.To, rest), true
	}
	return "", false
}

// Extract reads a tar stream into directory dir of the root, each entry's
// name mapped by rn. An entry that would land outside dir (an absolute name
// is taken below dir; ".." is refused) or a name already there as a
// directory for a file (or the reverse) fails. With archive, each file gets
// the owner the archive gives it; else it is root's, as the writer's.
func (r *Root) Extract(rd io.Reader, dir string, rn Rename, archive bool) error {
	if !r.mapped() {
		return r.extract(rd, dir, rn, archive)
	}
	// Created as the namespace's root: an id-mapped mount (a volume, a
	// rootfs directory) takes no file of an owner it does not map, which
	// this process's root is.
	uid, gid, err := r.toHost(0, 0, "/")
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with its file system ids.
		runtime.LockOSThread()
		if err := becomeFileOwner(uid, gid); err != nil {
			errc <- err
			return
		}
		errc <- r.extract(rd, dir, rn, archive)
	}()
	return <-errc
}

// becomeFileOwner makes this thread create files as uid and gid (its file
// system ids), with the capabilities that the change takes from its
// effective set given back (it still chowns, and reaches every file).
func becomeFileOwner(uid, gid int) error {
	_, _ = unix.SetfsgidRetGid(gid)
	_, _ = unix.SetfsuidRetUid(uid)
	// setfsuid and setfsgid say the previous ids: asking again checks.
	u, _ := unix.SetfsuidRetUid(uid)
	g, _ := unix.SetfsgidRetGid(gid)
	if u != uid || g != gid {
		return fmt.Errorf("cp: become %d:%d to create files: not permitted", uid, gid)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("cp: capget: %w", err)
	}
	for i := range data {
		data[i].Effective = data[i].Permitted
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("cp: capset: %w", err)
	}
	return nil
}

func (r *Root) extract(rd io.Reader, dir string, rn Rename, archive bool) error {
	tr := tar.NewReader(rd)
	x := &extractor{root: r, dir: dir, rn: rn, archive: archive}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return x.dirTimes()
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if name, ok := rn.apply(name); ok {
			if err := x.entry(hdr, name, tr); err != nil {
				return err
			}
		}
	}
}

// entryName is an archive entry's name relative to where it is extracted.
func entryName(name string) (string, error) {
	clean := path.Clean(strings.TrimLeft(name, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("archive entry %q: outside the destination, refused", name)
	}
	return clean, nil
}

type extractor struct {
	root    *Root
	dir     string
	rn      Rename
	archive bool
	// dirs are the directories made, whose times are set at the end
	// (what is extracted into them changes them meanwhile).
	dirs []dirTime
}

type dirTime struct {
	path string
	hdr  *tar.Header
}

// dirTimes sets the times of the directories extracted, each reached anew
// inside the root.
func (x *extractor) dirTimes() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		fd, err := x.root.open(d.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			continue // gone or replaced since
		}
		err = setTimes(fd, d.hdr)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("set times of %s in %s: %w", d.path, x.root.Name, err)
		}
	}
	return nil
}

func (x *extractor) entry(hdr *tar.Header, name string, body io.Reader) error {
	full := path.Join(x.dir, name)
	if name == "." {
		return nil // the destination itself, which exists
	}
	pfd, err := x.root.open(path.Dir(full), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return x.root.pathErr(path.Dir(full), err)
	}
	defer unix.Close(pfd)
	base := path.Base(full)
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(pfd, base, full, hdr)
	case tar.TypeReg:
		return x.file(pfd, base, full, hdr, body)
	case tar.TypeSymlink:
		if err := x.replace(pfd, base, full); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("create symlink %s in %s: %w", full, x.root.Name, err)
		}
		return x.owner(pfd, base, full, hdr)
	case tar.TypeLink:
		return x.link(pfd, base, full, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if err := x.replace(pfd, base, full); err != nil {
			return err
		}
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(pfd, base, kind|mode, dev); err != nil {
			return fmt.Errorf("create %s in %s: %w", full, x.root.Name, err)
		}
		return x.owner(pfd, base, full, hdr)
	}
	return nil // what a file system cannot hold (PAX globals, ...) is skipped
}

// replace removes what is at base in pfd, unless it is missing; a
// directory is refused (a file does not replace a directory).
func (x *extractor) replace(pfd int, base, full string) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("cannot overwrite directory %s in %s with a file", full, x.root.Name)
	}
	if err == nil && mountPoint(pfd, base) {
		// Unlinking it would unmount it where it is mounted (in a
		// container's namespace the kernel lets that happen silently).
		err = unix.EBUSY
	}
	if err == nil {
		err = unix.Unlinkat(pfd, base, 0)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("replace %s in %s: %w", full, x.root.Name, err)
	}
	return nil
}

// mountPoint reports whether something is mounted on base in pfd (its
// mount differs from its parent's).
func mountPoint(pfd int, base string) bool {
	var parent, st unix.Statx_t
	if unix.Statx(pfd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &parent) != nil ||
		unix.Statx(pfd, base, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st) != nil {
		return false
	}
	return parent.Mask&st.Mask&unix.STATX_MNT_ID != 0 && parent.Mnt_id != st.Mnt_id
}

func (x *extractor) mkdir(pfd int, base, full string, hdr *tar.Header) error {
	err := unix.Mkdirat(pfd, base, uint32(hdr.Mode&0o7777))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create directory %s in %s: %w", full, x.root.Name, err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("cannot overwrite non-directory %s in %s with a directory", full, x.root.Name)
	}
	if err != nil {
		return fmt.Errorf("open directory %s in %s: %w", full, x.root.Name, err)
	}
	defer unix.Close(fd)
	x.dirs = append(x.dirs, dirTime{full, hdr})
	return x.meta(fd, full, hdr)
}

func (x *extractor) file(pfd int, base, full string, hdr *tar.Header, body io.Reader) error {
	fd, err := x.create(pfd, base, full)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), full)
	defer f.Close()
	if _, err := io.Copy(onlyWriter{f}, body); err != nil {
		return fmt.Errorf("write %s in %s: %w", full, x.root.Name, err)
	}
	return x.meta(fd, full, hdr)
}

// create makes a new regular file base in pfd, in place of what is there;
// a file that something is mounted on (a file volume) is written over
// instead.
func (x *extractor) create(pfd int, base, full string) (int, error) {
	err := x.replace(pfd, base, full)
	if errors.Is(err, unix.EBUSY) {
		return x.overwrite(pfd, base, full)
	}
	if err != nil {
		return -1, err
	}
	// O_EXCL with O_NOFOLLOW: whatever appeared since is not written through.
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, fmt.Errorf("create %s in %s: %w", full, x.root.Name, err)
	}
	return fd, nil
}

// overwrite opens the regular file base in pfd for writing, emptied: seen
// (never through a symlink) before it is opened again through /proc, so
// that nothing else is opened for writing.
func (x *extractor) overwrite(pfd int, base, full string) (int, error) {
	pathFd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s in %s: %w", full, x.root.Name, err)
	}
	defer unix.Close(pathFd)
	var st unix.Stat_t
	if err := unix.Fstat(pathFd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return -1, fmt.Errorf("replace %s in %s: %w", full, x.root.Name, unix.EBUSY)
	}
	fd, err := unix.Open(fdPath(pathFd), unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("write %s in %s: %w", full, x.root.Name, err)
	}
	return fd, nil
}

// onlyWriter hides the file's ReadFrom (io.Copy would splice through a pipe).
type onlyWriter struct{ io.Writer }

// link makes a hard link to an earlier entry (named as the archive names
// it, mapped as every name is).
func (x *extractor) link(pfd int, base, full string, hdr *tar.Header) error {
	target, err := entryName(hdr.Linkname)
	if err != nil {
		return err
	}
	target, ok := x.rn.apply(target)
	if !ok {
		return fmt.Errorf("archive entry %q: a link to %q, outside what is copied", hdr.Name, hdr.Linkname)
	}
	tfd, err := x.root.open(path.Join(x.dir, target), unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return x.root.pathErr(path.Join(x.dir, target), err)
	}
	defer unix.Close(tfd)
	if err := x.replace(pfd, base, full); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, "", pfd, base, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("link %s in %s: %w", full, x.root.Name, err)
	}
	return nil
}

// chownTo says whether an extracted file gets an owner other than its
// writer's, and which: the archive's with archive, else the root's
// (where the root's namespace is not this process's: see Root.UIDMap).
func (x *extractor) chownTo(full string, hdr *tar.Header) (uid, gid int, ok bool, err error) {
	if !x.archive && !x.root.mapped() {
		return 0, 0, false, nil
	}
	uid, gid = hdr.Uid, hdr.Gid
	if !x.archive {
		uid, gid = 0, 0
	}
	uid, gid, err = x.root.toHost(uid, gid, full)
	return uid, gid, err == nil, err
}

// meta gives the open file fd its mode, times and owner (see chownTo).
func (x *extractor) meta(fd int, full string, hdr *tar.Header) error {
	uid, gid, chown, err := x.chownTo(full, hdr)
	if err != nil {
		return err
	}
	if chown {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("chown %s in %s: %w", full, x.root.Name, err)
		}
	}
	// After chown, which clears the set-id bits.
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod %s in %s: %w", full, x.root.Name, err)
	}
	if err := setTimes(fd, hdr); err != nil {
		return fmt.Errorf("set times of %s in %s: %w", full, x.root.Name, err)
	}
	return nil
}

// setTimes gives the file of fd (any descriptor, O_PATH too) hdr's times.
func setTimes(fd int, hdr *tar.Header) error {
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, fdPath(fd), []unix.Timespec{ts, ts}, 0)
}

// owner gives a file that cannot be opened (symlink, device) its owner.
func (x *extractor) owner(pfd int, base, full string, hdr *tar.Header) error {
	uid, gid, chown, err := x.chownTo(full, hdr)
	if err != nil || !chown {
		return err
	}
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s in %s: %w", full, x.root.Name, err)
	}
	return nil
}
