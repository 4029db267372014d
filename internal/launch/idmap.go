package launch

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Id-mapped mounts (mounts[].uidMappings and gidMappings, or the idmap and
// ridmap options with the container's own mappings). Only the host's root
// may id-map a mount of a host file system, so the parent makes each one,
// detached (open_tree, then mount_setattr with MOUNT_ATTR_IDMAP and a user
// namespace that holds the mappings), and sends it to the init, which
// moves it onto its mount point (mountDetached).

// idMappedMounts returns the indexes of spec's id-mapped mounts.
func idMappedMounts(spec *specs.Spec) []int {
	var out []int
	for i, m := range spec.Mounts {
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || slices.Contains(m.Options, "idmap") || slices.Contains(m.Options, "ridmap") {
			out = append(out, i)
		}
	}
	return out
}

// mountAttrs are the options an id-mapped mount gets with its mapping.
var mountAttrs = map[string]uint64{
	"ro": unix.MOUNT_ATTR_RDONLY, "nosuid": unix.MOUNT_ATTR_NOSUID, "nodev": unix.MOUNT_ATTR_NODEV,
	"noexec": unix.MOUNT_ATTR_NOEXEC, "noatime": unix.MOUNT_ATTR_NOATIME, "nodiratime": unix.MOUNT_ATTR_NODIRATIME,
}

// makeIDMapped makes the id-mapped mounts idx of spec, detached, for the
// init pid: a mount with the container's mappings (or none of its own)
// takes the init's user namespace, one with others a namespace made for
// it. The caller closes the descriptors.
func makeIDMapped(spec *specs.Spec, idx []int, pid int) (fds []int, err error) {
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}()
	for _, i := range idx {
		fd, err := makeIDMappedMount(spec, i, pid)
		if err != nil {
			return fds, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func makeIDMappedMount(spec *specs.Spec, i, pid int) (int, error) {
	m := spec.Mounts[i]
	field := fmt.Sprintf("mounts[%d]", i)
	uids, gids := m.UIDMappings, m.GIDMappings
	l := spec.Linux
	if len(uids) == 0 && len(gids) == 0 && l != nil {
		uids, gids = l.UIDMappings, l.GIDMappings
	}
	if len(uids) == 0 || len(gids) == 0 {
		return -1, fmt.Errorf("%s: an id-mapped mount needs uidMappings and gidMappings (its own or linux's)", field)
	}
	var userns *os.File
	var err error
	if has, _ := userNamespace(spec); has && l != nil && slices.Equal(uids, l.UIDMappings) && slices.Equal(gids, l.GIDMappings) {
		userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	} else {
		userns, err = MappedUserns(uids, gids)
	}
	if err != nil {
		return -1, fmt.Errorf("%s: user namespace for the mapping: %w", field, err)
	}
	defer userns.Close()
	treeFlags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if slices.Contains(m.Options, "rbind") {
		treeFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, uint(treeFlags))
	if err != nil {
		return -1, fmt.Errorf("%s: open_tree %s: %w", field, m.Source, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	for _, o := range m.Options {
		attr.Attr_set |= mountAttrs[o]
	}
	setFlags := unix.AT_EMPTY_PATH
	if slices.Contains(m.Options, "ridmap") || slices.Contains(m.Options, "rbind") && !slices.Contains(m.Options, "idmap") {
		setFlags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", uint(setFlags), &attr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) {
			err = fmt.Errorf("%w (its file system cannot be id-mapped on this kernel)", err)
		}
		return -1, fmt.Errorf("%s: id-map %s: %w", field, m.Source, err)
	}
	return fd, nil
}

// MappedUserns returns a user namespace with the mappings given: that of a
// child cloned into it (the init binary, which waits for a config that
// never comes), ended once its namespace is open.
func MappedUserns(uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	configR, configW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	defer configW.Close()
	defer configR.Close()
	fds := []uintptr{configR.Fd(), configR.Fd(), configR.Fd(), configR.Fd()}
	exe, err := sealedExe(exeFloor(fds))
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	attr := &syscall.ProcAttr{Env: childEnv(), Files: fds, Sys: &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER, UidMappings: idMaps(uids), GidMappings: idMaps(gids), Pdeathsig: unix.SIGKILL,
	}}
	pid, err := syscall.ForkExec(fdPath(int(exe.Fd())), []string{initArg0, "3"}, attr)
	if err != nil {
		return nil, fmt.Errorf("start a process in a new user namespace: %w", err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	unix.Kill(pid, unix.SIGKILL)
	_, _ = wait(pid) // killed: its status says nothing
	if err != nil {
		return nil, fmt.Errorf("open its user namespace: %w", err)
	}
	return f, nil
}

// idMappedFDs are the child's id-mapped mounts, by index in Spec.Mounts
// (from the parent's "mounts" message).
var idMappedFDs map[int]int

// recvIDMapped receives the id-mapped mounts of cfg.
func recvIDMapped(cfg *childConfig) error {
	if len(cfg.IDMapped) == 0 {
		return nil
	}
	m, fds, ok, err := recvMessage(syncFD)
	if err != nil {
		return err
	}
	if !ok || m.Type != "mounts" || len(fds) != len(cfg.IDMapped) {
		return fmt.Errorf("parent did not send the %d id-mapped mounts", len(cfg.IDMapped))
	}
	idMappedFDs = map[int]int{}
	for i, fd := range fds {
		idMappedFDs[cfg.IDMapped[i]] = fd
	}
	return nil
}

// mountDetached moves the detached mount fd (made by the parent for m)
// onto m's destination in root.
func mountDetached(root int, m specs.Mount, fd int) error {
	defer unix.Close(fd)
	dest, resolve, err := checkDestination(m)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("mount %s: stat id-mapped %s: %w", dest, m.Source, err)
	}
	open := mkdirInRoot
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		open = fileInRoot
	}
	target, err := open(root, dest, resolve)
	if err != nil {
		return fmt.Errorf("mount %s: create mount point: %w", dest, err)
	}
	defer unix.Close(target)
	if err := unix.MoveMount(fd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount id-mapped %s on %s: %w", m.Source, dest, err)
	}
	if _, prop, _ := parseMountOptions(m.Options); prop != 0 {
		return remountPropagation(root, dest, resolve, prop)
	}
	return nil
}
