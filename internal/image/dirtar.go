package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WriteDirTar writes the tree under src to w as a layer tar: a reproducible
// stream (sorted, no user names, no atime/ctime) so importing the same tree
// twice yields the same diffID. Hardlinks inside the tree stay hardlinks;
// sockets are skipped.
func WriteDirTar(w io.Writer, src string) error { return writeTree(w, src, false, nil, nil) }

// Owners maps the owner of a file as the host sees it to the one a layer
// records: a container with a user namespace sees its files through its
// mappings (see IDMap), and a layer records the ids it sees. Nil records
// them as they are.
type Owners func(uid, gid int) (int, int)

// WriteDirTarOwned is WriteDirTar with the owners mapped by owners.
func WriteDirTarOwned(w io.Writer, src string, owners Owners) error {
	return writeTree(w, src, false, nil, owners)
}

// WriteDiffTar writes a container's upper directory (overlayfs format) as a
// layer tar: its whiteouts (0:0 character devices) become .wh.NAME entries,
// its opaque directories get a .wh..wh..opq entry, overlayfs's own xattrs
// stay out, and so does the directory itself.
func WriteDiffTar(w io.Writer, upper string, mountPoints []string) error {
	return writeTree(w, upper, true, mountPoints, nil)
}

// writeTree writes the tree src as a tar; diff: as an overlayfs upper
// directory, whose whiteouts become the layer format's. An empty regular
// file at one of mountPoints (slash-separated, relative to src) is left
// out: a mount point made for a file mount, not content. owners, if not
// nil, maps the owners.
func writeTree(w io.Writer, src string, diff bool, mountPoints []string, owners Owners) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		var target string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if diff && name == "." {
			return nil
		}
		if fi.Mode().IsRegular() && fi.Size() == 0 && slices.Contains(mountPoints, name) {
			return nil
		}
		if diff && isWhiteout(fi) {
			return tw.WriteHeader(whiteoutHeader(name))
		}
		switch {
		case name == ".":
			name = "./"
		case fi.IsDir():
			name += "/"
		}
		hdr.Name = name
		hdr.Format = tar.FormatPAX
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if owners != nil {
				hdr.Uid, hdr.Gid = owners(hdr.Uid, hdr.Gid)
			}
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := [2]uint64{uint64(st.Dev), st.Ino}
				if first, ok := links[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					links[key] = name
				}
			}
		}
		opaque := false
		for k, v := range readXattrs(p) {
			if diff && strings.HasPrefix(k, "trusted.overlay.") {
				opaque = opaque || k == opaqueXattr && v == "y"
				continue
			}
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAXPrefix+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if opaque && fi.IsDir() {
			if err := tw.WriteHeader(whiteoutHeader(name + opaqueMarker)); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// isWhiteout reports whether fi is an overlayfs whiteout: a 0:0 character
// device.
func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// whiteoutHeader is the tar entry that deletes name's last element: an
// empty file .wh.NAME beside it (or name itself when it is a marker).
func whiteoutHeader(name string) *tar.Header {
	dir, base := path.Split(strings.TrimSuffix(name, "/"))
	if !strings.HasPrefix(base, whiteoutPrefix) {
		base = whiteoutPrefix + base
	}
	return &tar.Header{Name: dir + base, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX}
}

// readXattrs returns p's extended attributes (not following a symlink),
// best effort.
func readXattrs(p string) map[string]string {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz <= 0 {
		return nil
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, buf); err != nil {
		return nil
	}
	m := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vsz, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsz)
		if vsz, err = unix.Lgetxattr(p, name, val); err != nil {
			continue
		}
		m[name] = string(val[:vsz])
	}
	return m
}

// dirTarSize estimates the size of writeDirTar's stream for a progress bar:
// a header block per entry, file content rounded up to blocks.
func dirTarSize(src string) int64 {
	total := int64(1024)
	// An estimate: what cannot be read is left out (the walk never fails).
	_ = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		total += 512
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += (fi.Size() + 511) &^ 511
			}
		}
		return nil
	})
	return total
}
