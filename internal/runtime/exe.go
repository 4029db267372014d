package runtime

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

// sealedExe returns a sealed in-memory copy of the init binary to start the
// container's first process from (CVE-2019-5736): a container process that
// reaches the runtime through /proc/PID/exe finds a memfd it cannot write,
// never the host file. The descriptor is close-on-exec and numbered above
// the ones a child inherits, so /proc/self/fd/N names it across the fork.
func sealedExe() (*os.File, error) {
	path := initBinary()
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
		unix.Fallocate(fd, 0, 0, st.Size())
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
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 1000)
	mem.Close()
	if err != nil {
		return nil, fmt.Errorf("dup memfd: %w", err)
	}
	return os.NewFile(uintptr(high), "sdocker-exe"), nil
}
