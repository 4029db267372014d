package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Layer tars use AUFS-style whiteouts; on disk a layer is kept in overlayfs
// format instead.
const (
	whiteoutPrefix = ".wh."         // .wh.NAME deletes NAME from the layers below
	whiteoutMeta   = ".wh..wh."     // AUFS bookkeeping (.wh..wh.plnk, ...): skipped
	opaqueMarker   = ".wh..wh..opq" // the directory hides the layers below
	xattrPAXPrefix = "SCHILY.xattr."
	opaqueXattr    = "trusted.overlay.opaque"
)

// resolveBeneath is how every path inside a layer is resolved: never above the
// layer directory, never through a symlink (a tar that wants to write through
// a symlink it planted itself is refused, not followed), never through /proc
// magic links or onto another mount.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// extractor unpacks one layer tar into a directory. Every filesystem
// operation is relative to a directory file descriptor obtained with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) from the layer root, and acts
// on a single path component, so nothing can be created, changed or removed
// outside the layer directory whatever the archive contains.
type extractor struct {
	root    int // O_PATH descriptor of the layer directory
	canOwn  bool
	size    int64 // bytes of regular file content
	entries int
	dirs    []dirTimes // applied last: creating children changes a dir's mtime
}

type dirTimes struct {
	parts []string
	ts    []unix.Timespec
}

// unpackLayer unpacks the layer tar read from r into dir, an existing empty
// directory, and reports the bytes of file content and the number of entries.
// A refused entry fails the whole layer with an error naming the entry.
func unpackLayer(r io.Reader, dir string) (size int64, entries int, err error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("open layer dir %s: %w", dir, err)
	}
	defer unix.Close(root)
	x := &extractor{root: root, canOwn: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read layer tar: %w: %w", err, ErrInvalid)
		}
		x.entries++
		if err := x.entry(hdr, tr); err != nil {
			return 0, 0, fmt.Errorf("layer entry %q in %s: %w", hdr.Name, dir, err)
		}
	}
	for _, d := range x.dirs {
		x.setDirTimes(d)
	}
	return x.size, x.entries, nil
}

// splitName turns a tar entry name into path components, refusing absolute
// names and any ".." component. No components means the layer root.
func splitName(name string) ([]string, error) {
	if name == "" {
		return nil, fmt.Errorf("empty name: %w", ErrInvalid)
	}
	if strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("absolute path refused: %w", ErrInvalid)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("path with \"..\" refused: %w", ErrInvalid)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	parts, err := splitName(hdr.Name)
	if err != nil {
		return err
	}
	if err := checkOwner(hdr); err != nil {
		return err
	}
	if len(parts) == 0 { // the layer root itself ("./")
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("layer root must be a directory: %w", ErrInvalid)
		}
		return x.dir(x.root, ".", nil, hdr)
	}
	parent, base := parts[:len(parts)-1], parts[len(parts)-1]
	pfd, err := x.openDir(parent, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	switch {
	case base == opaqueMarker:
		return setOpaque(pfd)
	case strings.HasPrefix(base, whiteoutMeta):
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return fmt.Errorf("invalid whiteout: %w", ErrInvalid)
		}
		if err := removeAt(pfd, target); err != nil {
			return err
		}
		// overlayfs: a 0:0 character device is a whiteout.
		if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("mknod whiteout %s: %w", target, err)
		}
		return nil
	}

	// A later entry replaces an earlier one of the same name (only a
	// directory over a directory is merged). Removing first also means a
	// planted symlink is replaced, never written through.
	var st unix.Stat_t
	switch err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		if hdr.Typeflag != tar.TypeDir || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := removeAt(pfd, base); err != nil {
				return err
			}
		}
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("stat: %w", err)
	}

	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(pfd, base, parts, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		n, err := io.Copy(fdWriter(fd), r)
		if err == nil {
			err = x.fdMeta(fd, hdr)
		}
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write file: %w", err)
		}
		if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times: %w", err)
		}
		x.size += n
	case tar.TypeSymlink:
		// The target is stored as is: symlinks are never followed while
		// unpacking, and in a container they resolve inside its rootfs.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		if err := x.atMeta(pfd, base, hdr, false); err != nil {
			return err
		}
	case tar.TypeLink:
		lparts, err := splitName(hdr.Linkname)
		if err != nil || len(lparts) == 0 {
			return fmt.Errorf("hardlink target %q refused: %w", hdr.Linkname, ErrInvalid)
		}
		ofd, err := x.openDir(lparts[:len(lparts)-1], false)
		if err != nil {
			return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		defer unix.Close(ofd)
		// flags 0: a symlink target is linked itself, not followed.
		if err := unix.Linkat(ofd, lparts[len(lparts)-1], pfd, base, 0); err != nil {
			return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(pfd, base, typ|mode, dev); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
		if err := x.atMeta(pfd, base, hdr, true); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, ErrInvalid)
	}
	return nil
}

// dir creates (or keeps) directory base in pfd and applies hdr's metadata;
// its times are set after the whole layer is unpacked.
func (x *extractor) dir(pfd int, base string, parts []string, hdr *tar.Header) error {
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer unix.Close(fd)
	if err := x.fdMeta(fd, hdr); err != nil {
		return err
	}
	x.dirs = append(x.dirs, dirTimes{parts: parts, ts: times(hdr)})
	return nil
}

// checkOwner refuses an owner no file can have: chown reads -1
// (4294967295) as "leave unchanged" and cuts wider values to 32 bits, so
// the file would belong to root or to another id than the layer says.
func checkOwner(hdr *tar.Header) error {
	for _, id := range []struct {
		name string
		v    int
	}{{"uid", hdr.Uid}, {"gid", hdr.Gid}} {
		if id.v < 0 || id.v > math.MaxUint32-1 {
			return fmt.Errorf("%s %d: no file can have it (0-%d): %w", id.name, id.v, uint32(math.MaxUint32-1), ErrInvalid)
		}
	}
	return nil
}

// fdMeta applies ownership, mode and xattrs to an open file or directory,
// in that order (chown clears set-id bits and file capabilities).
func (x *extractor) fdMeta(fd int, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil && (x.canOwn || !errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for name, val := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, name, []byte(val), 0); err != nil && !ignorableXattrErr(name, err) {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// atMeta applies metadata to base in pfd for entries that cannot be opened
// (symlinks, device nodes, fifos). base was just created by us as a
// non-directory in a directory nothing else writes to.
func (x *extractor) atMeta(pfd int, base string, hdr *tar.Header, chmod bool) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && (x.canOwn || !errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("chown: %w", err)
	}
	if chmod { // base is a device node or fifo, not a symlink
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if xa := xattrs(hdr); len(xa) > 0 {
		// lsetxattr on /proc/self/fd/N/base: the directory by descriptor,
		// base itself not followed.
		p := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
		for name, val := range xa {
			if err := unix.Lsetxattr(p, name, []byte(val), 0); err != nil && !ignorableXattrErr(name, err) {
				return fmt.Errorf("set xattr %s: %w", name, err)
			}
		}
	}
	if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (x *extractor) setDirTimes(d dirTimes) {
	if len(d.parts) == 0 {
		_ = unix.UtimesNanoAt(x.root, ".", d.ts, unix.AT_SYMLINK_NOFOLLOW)
		return
	}
	pfd, err := x.openDir(d.parts[:len(d.parts)-1], false)
	if err != nil {
		return // replaced later in the same layer
	}
	defer unix.Close(pfd)
	_ = unix.UtimesNanoAt(pfd, d.parts[len(d.parts)-1], d.ts, unix.AT_SYMLINK_NOFOLLOW)
}

// openDir opens the directory parts below the layer root (O_PATH), creating
// missing components with mode 0755 when create is set. Symlinks, ".." and
// mount crossings on the way are refused by the kernel (openat2).
func (x *extractor) openDir(parts []string, create bool) (int, error) {
	p := "."
	if len(parts) > 0 {
		p = strings.Join(parts, "/")
	}
	fd, err := openBeneath(x.root, p)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, resolveErr(p, err)
	}
	fd, err = openBeneath(x.root, ".")
	if err != nil {
		return -1, resolveErr(".", err)
	}
	for i, c := range parts {
		next, err := openBeneath(fd, c)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, c, 0o755); err == nil {
				err = unix.Fchmodat(fd, c, 0o755, 0) // despite the umask
			}
			if err == nil || errors.Is(err, unix.EEXIST) {
				next, err = openBeneath(fd, c)
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, resolveErr(strings.Join(parts[:i+1], "/"), err)
		}
		fd = next
	}
	return fd, nil
}

func openBeneath(dirfd int, p string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveBeneath}
	for range 16 {
		fd, err := unix.Openat2(dirfd, p, how)
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

func resolveErr(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("path %q traverses a symlink, refused: %w", p, ErrInvalid)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("path %q escapes the layer, refused: %w", p, ErrInvalid)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("path %q: not a directory: %w", p, ErrInvalid)
	}
	return fmt.Errorf("open %q: %w", p, err)
}

// removeAt removes name (recursively if a directory) from dirfd; a missing
// name is not an error. Symlinks are removed, never followed.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	for _, n := range names {
		if err == nil {
			err = removeAt(fd, n)
		}
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

func setOpaque(pfd int) error {
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open opaque dir: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark dir opaque: %w", err)
	}
	return nil
}

// xattrs returns the PAX SCHILY.xattr.* records of hdr, without overlayfs'
// own attributes: a layer must not forge opaque dirs, redirects or metacopy
// other than through whiteout entries.
func xattrs(hdr *tar.Header) map[string]string {
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrPAXPrefix)
		if !ok || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v
	}
	return m
}

// ignorableXattrErr: xattrs are kept where the filesystem allows them.
func ignorableXattrErr(name string, err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) ||
		(strings.HasPrefix(name, "security.selinux") && errors.Is(err, unix.EINVAL))
}

func times(hdr *tar.Header) []unix.Timespec {
	m := unix.Timespec{Sec: hdr.ModTime.Unix(), Nsec: int64(hdr.ModTime.Nanosecond())}
	a := m
	if !hdr.AccessTime.IsZero() {
		a = unix.Timespec{Sec: hdr.AccessTime.Unix(), Nsec: int64(hdr.AccessTime.Nanosecond())}
	}
	return []unix.Timespec{a, m}
}

// fdWriter writes to a raw descriptor: an os.File would first try to add a
// regular file to the network poller, costing syscalls per file.
type fdWriter int

func (w fdWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(w), b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
