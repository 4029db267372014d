package launch

import (
	"fmt"
	"slices"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// credentials are the ids of this thread as the kernel has them.
type credentials struct {
	uid, gid [4]uint32 // real, effective, saved, file system
	groups   []uint32
}

// readCredentials reads this thread's ids back from the kernel.
func readCredentials() (credentials, error) {
	var c credentials
	if _, e := readIDs(&c, nil); e != 0 {
		return c, fmt.Errorf("read the ids: %w", e)
	}
	n, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, 0, 0, 0)
	if e != 0 {
		return c, fmt.Errorf("getgroups: %w", e)
	}
	c.groups = make([]uint32, n)
	if n > 0 {
		if n, _, e = unix.RawSyscall(unix.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&c.groups[0])), 0); e != 0 {
			return c, fmt.Errorf("getgroups: %w", e)
		}
		c.groups = c.groups[:n]
	}
	return c, nil
}

// readIDs reads this thread's uids and gids into c and its groups into
// buf, and returns how many there are (EINVAL: more than buf holds; an
// empty buf only counts them). It allocates nothing and is never
// preempted (see privileges.applyRaw).
//
//go:nosplit
func readIDs(c *credentials, buf []uint32) (int, unix.Errno) {
	if _, _, e := unix.RawSyscall(unix.SYS_GETRESUID, uintptr(unsafe.Pointer(&c.uid[0])), uintptr(unsafe.Pointer(&c.uid[1])), uintptr(unsafe.Pointer(&c.uid[2]))); e != 0 {
		return 0, e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_GETRESGID, uintptr(unsafe.Pointer(&c.gid[0])), uintptr(unsafe.Pointer(&c.gid[1])), uintptr(unsafe.Pointer(&c.gid[2]))); e != 0 {
		return 0, e
	}
	// setfsuid and setfsgid of an invalid id (-1) change nothing and
	// return the current one.
	fsuid, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
	fsgid, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0)
	c.uid[3], c.gid[3] = uint32(fsuid), uint32(fsgid)
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, uintptr(len(buf)), uintptr(p), 0)
	return int(n), e
}

// sameIDs reports whether the real, effective, saved and file system ids
// are all want.
//
//go:nosplit
func sameIDs(ids [4]uint32, want uint32) bool {
	for i := 0; i < 4; i++ {
		if ids[i] != want {
			return false
		}
	}
	return true
}

// mismatch says how c differs from the user a process was asked to run
// as, or returns nil when it does not.
func (c credentials) mismatch(u specs.User) error {
	for _, id := range []struct {
		field string
		want  uint32
		got   [4]uint32
	}{{"process.user.uid", u.UID, c.uid}, {"process.user.gid", u.GID, c.gid}} {
		if id.got != [4]uint32{id.want, id.want, id.want, id.want} {
			return fmt.Errorf("%s: asked for %d, the process has %d (real), %d (effective), %d (saved), %d (file system): refused to run it",
				id.field, id.want, id.got[0], id.got[1], id.got[2], id.got[3])
		}
	}
	want, got := slices.Clone(u.AdditionalGids), slices.Clone(c.groups)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		return fmt.Errorf("process.user.additionalGids: asked for %v, the process has the groups %v: refused to run it", u.AdditionalGids, c.groups)
	}
	return nil
}
