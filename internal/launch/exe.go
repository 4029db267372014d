package launch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// InitBinaryName is the small binary that container processes start as,
// looked up beside the running executable. Without it the running binary
// itself is used: every binary that starts containers also carries the init.
const InitBinaryName = "sdocker-init"

// initBinary is the binary container processes start as.
func initBinary() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), InitBinaryName)
		if unix.Access(p, unix.X_OK) == nil {
			return p
		}
	}
	return "/proc/self/exe"
}

// sealedExe returns the init binary as something a container cannot
// write (CVE-2019-5736): a container process that reaches the runtime through
// /proc/PID/exe must never find the host file writable. The binary is
// bind-mounted read-only on a detached mount (open_tree + mount_setattr,
// no copy); where the kernel lacks those, it is copied into a sealed memfd.
// The descriptor is close-on-exec and numbered from floor up: above the
// ones a child inherits (see exeFloor), so /proc/self/fd/N names it across
// the fork.
func sealedExe(floor int) (*os.File, error) {
	path := initBinary()
	f, err := readOnlyBind(path)
	if err != nil {
		if f, err = sealedCopy(path); err != nil {
			return nil, err
		}
	}
	high, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, floor)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("dup init binary descriptor: %w", err)
	}
	return os.NewFile(uintptr(high), path), nil
}

// exeFloor is the lowest number the init binary's descriptor may take when
// a child inherits fds. The fork (syscall.forkAndExecInChild) puts fds on
// 0..len(fds)-1, first moving its own error pipe and every fds[i] < i to
// temporary numbers: at most len(fds) of them, counted up from just above
// both len(fds) and the highest of fds. The binary's descriptor lies above
// them all. A fixed high number would do as well, but a descriptor past the
// fd table (64 entries at first) grows the table, and growing the table of
// a multi-threaded process waits for an RCU grace period: milliseconds on
// every start, tens of them on a busy machine.
func exeFloor(fds []uintptr) int {
	top := len(fds)
	for _, fd := range fds {
		if int(fd) >= top {
			top = int(fd) + 1
		}
	}
	return top + len(fds) + 1
}

// readOnlyBind opens path through a detached, read-only bind mount of it.
func readOnlyBind(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("make %s read-only: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sealedCopy copies path into a memfd and seals it against writes.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("sdocker", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "sdocker-exe")
	if st, err := src.Stat(); err == nil {
		// One allocation up front instead of growing page by page.
		// (An optimisation only: the copy reports a full memory.)
		_ = unix.Fallocate(fd, 0, 0, st.Size())
	}
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy %s to memfd: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return mem, nil
}
