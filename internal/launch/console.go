package launch

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setupConsole opens a pty in the container's own devpts instance, hands the
// master to the parent and makes the slave this process's controlling
// terminal and standard streams. For a container's init the slave is also
// bind-mounted on /dev/console.
func setupConsole(cfg *childConfig, isInit bool) error {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fmt.Errorf("open pty slave: %w", errno)
	}
	slave := int(r)
	defer unix.Close(slave)
	if cfg.Winsize != nil {
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, cfg.Winsize); err != nil {
			return fmt.Errorf("set terminal size: %w", err)
		}
	}
	if isInit {
		n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
		if err != nil {
			return fmt.Errorf("get pty number: %w", err)
		}
		if err := bindConsole(fmt.Sprintf("/dev/pts/%d", n)); err != nil {
			return err
		}
	}
	if err := sendMessage(syncFD, syncMessage{Type: "console"}, master); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	// (The slave becomes descriptor 2 with the rest of the container's
	// stderr: see restoreStderr.)
	for _, fd := range []int{0, 1, stderrFD} {
		flags := 0
		if fd == stderrFD && fd != 2 {
			flags = unix.O_CLOEXEC
		}
		if err := unix.Dup3(slave, fd, flags); err != nil {
			return fmt.Errorf("dup pty slave to %d: %w", fd, err)
		}
	}
	return nil
}

func bindConsole(slavePath string) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(root)
	fd, err := fileInRoot(root, "/dev/console", unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(slavePath, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on /dev/console: %w", slavePath, err)
	}
	return nil
}
