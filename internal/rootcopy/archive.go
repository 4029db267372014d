package rootcopy

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ContentOnly reports whether src names a directory's content, not the
// directory: it ends with "/." (as Docker reads cp's SRC_PATH), or is the
// root, which has no name of its own.
func ContentOnly(src string) bool {
	return src == "." || strings.HasSuffix(src, "/.") || path.Clean("/"+src) == "/"
}

// TopName is the name src's archive has at its top: its base name, or "."
// for a directory's content.
func TopName(src string) string {
	if ContentOnly(src) {
		return "."
	}
	return path.Base(path.Clean("/" + src))
}

// WriteArchive writes src (a file or a directory and all below it) from the
// root to w as a tar stream, its entries named under TopName(src). A last
// component that is a symlink is copied as a symlink, or followed (inside
// the root) if follow. Hard links within src stay hard links.
func (r *Root) WriteArchive(w io.Writer, src string, follow bool) error {
	flags := unix.O_PATH
	if !follow && !ContentOnly(src) {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := r.open(src, flags)
	if err != nil {
		return r.pathErr(src, err)
	}
	defer unix.Close(fd)
	tw := tar.NewWriter(w)
	a := &archiver{tw: tw, buf: make([]byte, 128*1024), root: r, links: map[[2]uint64]string{}}
	if err := a.entry(fd, "", TopName(src)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

type archiver struct {
	tw   *tar.Writer
	buf  []byte
	root *Root
	// links names the first entry of each file with more than one link
	// (by device and inode): the others are hard links to it.
	links map[[2]uint64]string
}

// entry archives the file at name in dirfd ("" : dirfd itself, an O_PATH
// descriptor) as tarName: never following a symlink, and reading each
// file through a descriptor of its own, checked to be what was seen.
func (a *archiver) entry(dirfd int, name, tarName string) error {
	fd := dirfd
	if name != "" {
		var err error
		fd, err = unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil // removed while we copied
		}
		if err != nil {
			return fmt.Errorf("open %s in %s: %w", tarName, a.root.Name, err)
		}
		defer unix.Close(fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s in %s: %w", tarName, a.root.Name, err)
	}
	hdr := header(&st, tarName)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return a.dir(fd, hdr)
	case unix.S_IFREG:
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := a.links[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return a.write(hdr)
			}
			a.links[key] = tarName
		}
		return a.file(fd, hdr)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return fmt.Errorf("read link %s in %s: %w", tarName, a.root.Name, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = map[bool]byte{true: tar.TypeChar, false: tar.TypeBlock}[st.Mode&unix.S_IFMT == unix.S_IFCHR]
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // a socket is no file to copy
	}
	return a.write(hdr)
}

func (a *archiver) write(hdr *tar.Header) error {
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write archive: %s: %w", hdr.Name, err)
	}
	return nil
}

func header(st *unix.Stat_t, name string) *tar.Header {
	return &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Format: tar.FormatPAX,
	}
}

// dir archives the directory of the O_PATH descriptor fd and its content.
func (a *archiver) dir(fd int, hdr *tar.Header) error {
	hdr.Typeflag = tar.TypeDir
	hdr.Name += "/"
	if err := a.write(hdr); err != nil {
		return err
	}
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) == nil && kernelFS[fs.Type] {
		return nil // the kernel's files, not the container's
	}
	d, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s in %s: %w", hdr.Name, a.root.Name, err)
	}
	f := os.NewFile(uintptr(d), hdr.Name)
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if err := a.entry(d, n, path.Join(hdr.Name, n)); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s in %s: %w", hdr.Name, a.root.Name, err)
		}
	}
}

// file archives the regular file of the O_PATH descriptor fd: as long as
// it was when seen (cut or padded with zeros if it changes meanwhile).
func (a *archiver) file(fd int, hdr *tar.Header) error {
	f, err := reopen(fd, unix.S_IFREG)
	if err != nil {
		return fmt.Errorf("open %s in %s: %w", hdr.Name, a.root.Name, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s in %s: %w", hdr.Name, a.root.Name, err)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	if err := a.write(hdr); err != nil {
		return err
	}
	n, err := io.CopyBuffer(a.tw, io.LimitReader(onlyReader{f}, st.Size), a.buf)
	if err != nil {
		return fmt.Errorf("copy %s from %s: %w", hdr.Name, a.root.Name, err)
	}
	for ; n < st.Size; n++ { // it shrank
		if _, err := a.tw.Write([]byte{0}); err != nil {
			return fmt.Errorf("write archive: %s: %w", hdr.Name, err)
		}
	}
	return nil
}

// kernelFS are the file systems whose content a copy leaves out (a running
// container's /proc, /sys and cgroups): only their mount point is copied.
var kernelFS = map[int64]bool{
	unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.CGROUP_SUPER_MAGIC: true,
	unix.CGROUP2_SUPER_MAGIC: true, unix.DEVPTS_SUPER_MAGIC: true, mqueueMagic: true,
}

// mqueueMagic is the mqueue file system's (not in x/sys/unix).
const mqueueMagic = 0x19800202

// onlyReader hides every method but Read (io.CopyBuffer would otherwise
// use the file's WriterTo and a buffer of its own).
type onlyReader struct{ io.Reader }
