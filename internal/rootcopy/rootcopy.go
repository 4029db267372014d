// Package rootcopy copies files into and out of a root directory as tar
// streams, for `sdocker cp`. The root is a container's and so
// attacker-controlled: every path is resolved inside it by descriptor
// (openat2 with RESOLVE_IN_ROOT: symlinks and ".." stay inside), and each
// file is then created, opened or read through its parent's descriptor
// with one name and O_NOFOLLOW. A symlink swapped in by the container
// between two steps leads back inside the root at worst, never outside:
// there is no check-then-use by path.
package rootcopy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
)

// ErrNotFound is a path that does not exist in a root.
var ErrNotFound = errors.New("could not find the file")

var errNoEnt = unix.ENOENT

// Root is a directory every path is resolved inside.
type Root struct {
	fd int
	// Name says whose root it is in errors, e.g. "container web".
	Name string
	// UIDMap and GIDMap are the mappings of the user namespace whose ids
	// the files of the root are (a container's with --userns): a file
	// extracted into it is owned by the ids of that namespace (the
	// namespace's root without an archive's owners). Nil: this
	// process's.
	UIDMap, GIDMap []specs.LinuxIDMapping
	// OwnIDsUnder are directories of the root (mount points) whose files
	// hold the namespace's ids as they are (id-mapped where the container
	// runs): no mapping there.
	OwnIDsUnder []string
}

// mapped reports whether the root's ids are those of a user namespace.
func (r *Root) mapped() bool { return len(r.UIDMap) > 0 || len(r.GIDMap) > 0 }

// toHost is the owner (this process's ids) of a file that the root's
// namespace owns by uid and gid; an error names what is not mapped.
func (r *Root) toHost(uid, gid int, full string) (int, int, error) {
	if !r.mapped() || slices.ContainsFunc(r.OwnIDsUnder, func(d string) bool { return isUnder(full, d) }) {
		return uid, gid, nil
	}
	hu, okU := ids.ToHost(r.UIDMap, uint32(uid))
	hg, okG := ids.ToHost(r.GIDMap, uint32(gid))
	if uid < 0 || gid < 0 || !okU || !okG {
		return 0, 0, fmt.Errorf("chown %s in %s: owner %d:%d is not mapped in its user namespace", full, r.Name, uid, gid)
	}
	return int(hu), int(hg), nil
}

// OpenRoot opens dir as a root; name is for errors.
func OpenRoot(dir, name string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &Root{fd: fd, Name: name}, nil
}

// isUnder reports whether p is dir or below it (both clean, absolute).
func isUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// Fd is the root's descriptor (O_PATH), valid until Close.
func (r *Root) Fd() int { return r.fd }

// Close releases the root's descriptor.
func (r *Root) Close() { unix.Close(r.fd) }

// relative is p as openat2 takes it below the root.
func relative(p string) string { return "./" + strings.TrimLeft(path.Clean("/"+p), "/") }

// open opens p inside the root; O_NOFOLLOW in flags leaves a last
// component that is a symlink unfollowed.
func (r *Root) open(p string, flags int) (int, error) {
	for {
		fd, err := unix.Openat2(r.fd, relative(p), &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		// EAGAIN: a rename in the root raced the lookup; try again.
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// Stat describes p in the root: whether it exists and is a directory,
// following a last symlink if follow. A parent that is missing or not a
// directory is ErrNotFound too.
func (r *Root) Stat(p string, follow bool) (exists, dir bool, err error) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := r.open(p, flags)
	if errors.Is(err, unix.ENOENT) {
		return false, false, nil
	}
	if err != nil {
		return false, false, r.pathErr(p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, false, r.pathErr(p, err)
	}
	return true, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// pathErr names p and the root in err; a missing path is ErrNotFound.
func (r *Root) pathErr(p string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w %s in %s", ErrNotFound, p, r.Name)
	}
	return fmt.Errorf("%s in %s: %w", p, r.Name, err)
}

// fdPath reaches an open file again through /proc (the same file, whatever
// its path has become since).
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// reopen opens the file of the O_PATH descriptor fd for reading, as what it
// must still be (mode bits of S_IFMT); a FIFO never blocks the copy.
func reopen(fd int, want uint32) (*os.File, error) {
	f, err := unix.Open(fdPath(fd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(f, &st); err != nil || st.Mode&unix.S_IFMT != want {
		unix.Close(f)
		return nil, fmt.Errorf("changed while it was copied: %w", unix.ESTALE)
	}
	if err := unix.SetNonblock(f, false); err != nil {
		unix.Close(f)
		return nil, err
	}
	return os.NewFile(uintptr(f), ""), nil
}
