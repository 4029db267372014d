package runtime

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sealedExe returns a sealed in-memory copy of this binary to start the
// container's first process from (CVE-2019-5736): a container process that
// reaches the runtime through /proc/PID/exe finds a memfd it cannot write,
// never the host file. The descriptor is close-on-exec and numbered above
// the ones a child inherits, so /proc/self/fd/N names it across the fork.
func sealedExe() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/exe: %w", err)
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
		return nil, fmt.Errorf("copy /proc/self/exe to memfd: %w", err)
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
