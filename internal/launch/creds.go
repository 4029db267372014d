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
	if _, _, e := unix.RawSyscall(unix.SYS_GETRESUID, uintptr(unsafe.Pointer(&c.uid[0])), uintptr(unsafe.Pointer(&c.uid[1])), uintptr(unsafe.Pointer(&c.uid[2]))); e != 0 {
		return c, fmt.Errorf("getresuid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_GETRESGID, uintptr(unsafe.Pointer(&c.gid[0])), uintptr(unsafe.Pointer(&c.gid[1])), uintptr(unsafe.Pointer(&c.gid[2]))); e != 0 {
		return c, fmt.Errorf("getresgid: %w", e)
	}
	// setfsuid and setfsgid of an invalid id (-1) change nothing and
	// return the current one.
	fsuid, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
	fsgid, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0)
	c.uid[3], c.gid[3] = uint32(fsuid), uint32(fsgid)
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

// checkCredentials refuses to go on unless this thread has exactly the ids
// u asks for: set*id calls read some values as "leave unchanged" (-1), and
// a process that should not be root must never run as root.
func checkCredentials(u specs.User) error {
	c, err := readCredentials()
	if err != nil {
		return fmt.Errorf("read back the process's credentials: %w", err)
	}
	return c.mismatch(u)
}
