package launch

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
)

// Paths inside the rootfs are attacker-controlled: every one is resolved by
// file descriptor with openat2 (RESOLVE_IN_ROOT keeps symlinks and ".."
// inside the rootfs), and mounts go through /proc/self/fd/N.

func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// openInRoot opens p (absolute, relative to root) as an O_PATH descriptor.
func openInRoot(root int, p string, resolve uint64) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
	}
	// openat2 answers EAGAIN when a rename or mount anywhere on the
	// machine raced its walk: walk again (as image's openBeneath does).
	for range 16 {
		fd, err := unix.Openat2(root, "./"+strings.TrimLeft(p, "/"), how)
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			if err != nil {
				return -1, err
			}
			return fd, nil
		}
	}
	return -1, unix.EAGAIN
}

// maxSymlinks bounds how many dangling symlinks a mount point may follow.
const maxSymlinks = 40

// mkdirInRoot opens directory p inside root, creating it and its parents.
func mkdirInRoot(root int, p string, resolve uint64) (int, error) {
	return createInRoot(root, p, resolve, true, 0)
}

// fileInRoot opens file p inside root, creating an empty one (and its
// parents) if missing: a mount point for a file.
func fileInRoot(root int, p string, resolve uint64) (int, error) {
	return createInRoot(root, p, resolve, false, 0)
}

// createInRoot opens p inside root, creating it if missing. A last
// component that is a dangling symlink is followed inside the root (as
// RESOLVE_IN_ROOT would) and its target created: an image's
// /etc/resolv.conf -> ../run/resolv.conf gets its mount point.
func createInRoot(root int, p string, resolve uint64, dir bool, hops int) (int, error) {
	fd, err := openInRoot(root, p, resolve)
	if !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	if hops > maxSymlinks {
		return -1, unix.ELOOP
	}
	parent, err := createInRoot(root, path.Dir(p), resolve, true, hops)
	if err != nil {
		return -1, err
	}
	name := path.Base(p)
	buf := make([]byte, unix.PathMax)
	if n, err := unix.Readlinkat(parent, name, buf); err == nil && resolve&unix.RESOLVE_NO_SYMLINKS == 0 {
		unix.Close(parent)
		target := string(buf[:n])
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		return createInRoot(root, path.Clean("/"+target), resolve, dir, hops+1)
	}
	if dir {
		err = unix.Mkdirat(parent, name, 0o755)
	} else {
		var f int
		f, err = unix.Openat(parent, name, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
	}
	unix.Close(parent)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return openInRoot(root, p, resolve)
}

type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"atime": {true, unix.MS_NOATIME}, "noatime": {false, unix.MS_NOATIME},
	"diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"iversion": {false, unix.MS_I_VERSION}, "noiversion": {true, unix.MS_I_VERSION},
	"lazytime": {false, unix.MS_LAZYTIME}, "nolazytime": {true, unix.MS_LAZYTIME},
	"silent": {false, unix.MS_SILENT}, "loud": {true, unix.MS_SILENT},
	"defaults": {true, 0}, // mount(8)'s rw, suid, dev, exec, async: what no flag means
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// MountOptions lists the mount options this runtime understands.
func MountOptions() []string {
	var out []string
	for o := range mountFlags {
		out = append(out, o)
	}
	for o := range propagationFlags {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// parseMountOptions splits OCI mount options into mount flags, propagation
// flags and the file-system specific data string.
func parseMountOptions(opts []string) (flags, prop uintptr, data string) {
	var extra []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
		} else if p, ok := propagationFlags[o]; ok {
			prop |= p
		} else {
			extra = append(extra, o)
		}
	}
	return flags, prop, strings.Join(extra, ",")
}

// Destinations that must be the real thing, never a symlink in the rootfs.
var noSymlinkDests = map[string]bool{"/proc": true, "/sys": true, "/dev": true}

// MountInRoot makes mount m inside the directory root (a descriptor): its
// mount point is resolved inside it and created if missing, as for a
// container's mounts (the engine's view of a stopped container's volumes).
func MountInRoot(root int, m specs.Mount) error { return mountInRoot(root, m) }

func mountInRoot(root int, m specs.Mount) error {
	if m.Type == "cgroup" {
		return mountCgroupFS(root, m)
	}
	dest, resolve, err := checkDestination(m)
	if err != nil {
		return err
	}
	flags, prop, data := parseMountOptions(m.Options)
	bind := flags&unix.MS_BIND != 0 || m.Type == "bind"
	if bind {
		flags |= unix.MS_BIND
	}
	open := func() (int, error) {
		if bind {
			if st, err := os.Stat(m.Source); err == nil && !st.IsDir() {
				return fileInRoot(root, dest, resolve)
			}
		}
		return mkdirInRoot(root, dest, resolve)
	}
	fd, err := open()
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("mount %s: destination is a symlink in the rootfs: refused", dest)
	}
	if err != nil {
		return fmt.Errorf("mount %s: create mount point: %w", dest, err)
	}
	defer unix.Close(fd)
	if bind {
		if err := checkBindKind(m.Source, fd, dest); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, fdPath(fd), "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", m.Source, dest, err)
		}
		// The other flags need a remount of the new mount, reached anew.
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := remount(root, dest, resolve, rest|unix.MS_BIND); err != nil {
				return fmt.Errorf("remount %s: %w", dest, err)
			}
		}
	} else {
		typ := m.Type
		if err := unix.Mount(m.Source, fdPath(fd), typ, flags, data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", typ, dest, err)
		}
	}
	if prop != 0 {
		if err := remountPropagation(root, dest, resolve, prop); err != nil {
			return err
		}
	}
	return nil
}

// checkDestination returns m's destination, cleaned, and how its path
// resolves in the rootfs; an error for / or a relative one.
func checkDestination(m specs.Mount) (dest string, resolve uint64, err error) {
	dest = path.Clean(m.Destination)
	if !path.IsAbs(dest) || dest == "/" {
		return "", 0, fmt.Errorf("mount %s: destination must be an absolute path other than /", m.Destination)
	}
	if noSymlinkDests[dest] || m.Type == "proc" || m.Type == "sysfs" {
		resolve = unix.RESOLVE_NO_SYMLINKS
	}
	return dest, resolve, nil
}

// checkBindKind refuses a bind mount of a file on a directory or of a
// directory on a file (fd, the mount point), which mount(2) tells only as
// "not a directory".
func checkBindKind(source string, fd int, dest string) error {
	var src, dst unix.Stat_t
	if unix.Stat(source, &src) != nil || unix.Fstat(fd, &dst) != nil {
		return nil // mount(2) says what is wrong
	}
	srcDir, dstDir := src.Mode&unix.S_IFMT == unix.S_IFDIR, dst.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case srcDir && !dstDir:
		return fmt.Errorf("bind mount %s on %s: the source is a directory and the destination is not in the rootfs", source, dest)
	case !srcDir && dstDir:
		return fmt.Errorf("bind mount %s on %s: the source is a file and the destination is a directory in the rootfs", source, dest)
	}
	return nil
}

func remount(root int, dest string, resolve uint64, flags uintptr) error {
	fd, err := openInRoot(root, dest, resolve)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Mount("", fdPath(fd), "", flags|unix.MS_REMOUNT, "")
}

func remountPropagation(root int, dest string, resolve uint64, prop uintptr) error {
	fd, err := openInRoot(root, dest, resolve)
	if err != nil {
		return fmt.Errorf("set propagation of %s: %w", dest, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount("", fdPath(fd), "", prop, ""); err != nil {
		return fmt.Errorf("set propagation of %s: %w", dest, err)
	}
	return nil
}

// setupRootfs makes the container's mount tree and pivots into it.
// beforePivot runs once every mount is made, before pivot_root;
// afterPivot right after it, before paths are masked or made read-only.
// Without a mount namespace of its own (runc's chroot) the container's
// mounts are made under a private bind mount of the rootfs in the caller's
// mount namespace, which is left untouched but for that one mount (see
// enterRoot and detachRoot).
func setupRootfs(spec *specs.Spec, beforePivot, afterPivot func() error) (err error) {
	ownNS := hasNamespace(spec, specs.MountNamespace)
	rootfs := spec.Root.Path
	if ownNS {
		if err := privateRootfsParent(spec); err != nil {
			return err
		}
	}
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount rootfs %s: %w", rootfs, err)
	}
	jailed := false
	if !ownNS {
		defer func() {
			// Best effort: the error says what failed.
			switch {
			case err != nil && jailed:
				_ = detachRoot()
			case err != nil:
				_ = unix.Unmount(rootfs, unix.MNT_DETACH)
			}
		}()
		// Nothing mounted under it reaches the caller's mounts.
		if err := unix.Mount("", rootfs, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make rootfs %s private: %w", rootfs, err)
		}
	}
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	steps.Mark("mount: / propagation, rootfs bind")
	devIsTmpfs := false
	userns := hasNamespace(spec, specs.UserNamespace)
	for i, m := range spec.Mounts {
		if fd, ok := idMappedFDs[i]; ok {
			if err := mountDetached(root, m, fd); err != nil {
				return err
			}
			continue
		}
		if userns {
			m = userNSMount(spec, m)
		}
		if err := mountInRoot(root, m); err != nil {
			return err
		}
		if steps != nil {
			steps.Mark("mount " + m.Type + " " + m.Destination)
		}
		if path.Clean(m.Destination) == "/dev" && m.Type == "tmpfs" {
			devIsTmpfs = true
		}
	}
	if err := verifyFS(root, "/proc", unix.PROC_SUPER_MAGIC); err != nil {
		return err
	}
	if err := createDevices(root, spec, devIsTmpfs, userns); err != nil {
		return err
	}
	steps.Mark("devices")
	if err := beforePivot(); err != nil {
		return err
	}
	if err := enterRoot(root, ownNS); err != nil {
		return err
	}
	jailed = true
	steps.Mark("pivot_root")
	if err := afterPivot(); err != nil {
		return err
	}
	if spec.Linux != nil {
		if err := maskPaths(spec.Linux.MaskedPaths); err != nil {
			return err
		}
		steps.Mark("masked paths")
		if err := readonlyPaths(spec.Linux.ReadonlyPaths); err != nil {
			return err
		}
		steps.Mark("read-only paths")
		if p := spec.Linux.RootfsPropagation; p != "" {
			flags, ok := propagationFlags[p]
			if !ok {
				return fmt.Errorf("linux.rootfsPropagation: unknown value %q", p)
			}
			if err := unix.Mount("", "/", "", flags, ""); err != nil {
				return fmt.Errorf("set rootfs propagation %s: %w", p, err)
			}
		}
	}
	if spec.Root.Readonly {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
		steps.Mark("rootfs read-only")
	}
	return nil
}

// privateRootfsParent sets the propagation of / in the container's own
// mount namespace and makes the mount that holds the rootfs private.
func privateRootfsParent(spec *specs.Spec) error {
	// As runc: the host's mounts go on reaching the container's (so a
	// bind mount of a shared host path with rslave or rshared sees what
	// the host mounts there later), nothing of ours propagates back unless
	// linux.rootfsPropagation asks for it (rshared).
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if spec.Linux != nil && spec.Linux.RootfsPropagation != "" {
		flags, ok := propagationFlags[spec.Linux.RootfsPropagation]
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation: unknown value %q", spec.Linux.RootfsPropagation)
		}
		prop = flags
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set the propagation of /: %w", err)
	}
	// The mount holding the rootfs becomes private: the rootfs's bind
	// mount is then private too (pivot_root refuses a shared one) and
	// propagates nowhere.
	parent, err := mountPointOf(spec.Root.Path)
	if err != nil {
		return err
	}
	if err := unix.Mount("", parent, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", parent, err)
	}
	return nil
}

// enterRoot makes root the process's root: pivot_root in a mount namespace
// of the container's own, else chroot (the caller's mount namespace keeps
// its root).
func enterRoot(root int, ownNS bool) error {
	if ownNS {
		return pivotRoot(root)
	}
	if err := unix.Fchdir(root); err != nil {
		return fmt.Errorf("change to rootfs: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to rootfs: %w", err)
	}
	return nil
}

// detachRoot takes the container's root, a bind mount in the caller's
// mount namespace (see setupRootfs), out of that namespace's tree once the
// last mount in it is made: the process moves to a detached copy of the
// tree (open_tree, whose mounts stay connected when its descriptor is
// closed, unlike those of a lazy unmount), and the original is unmounted.
// The caller sees none of the container's mounts, the kernel frees them
// with the container's last process, and ".." at the container's root
// leads nowhere (a chroot's can: there is no tree above it to climb to).
func detachRoot() error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("copy the container's mounts: %w", err)
	}
	defer unix.Close(tree)
	if err := unix.Unmount("/", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the container's root from the caller's mounts: %w", err)
	}
	return enterRoot(tree, false)
}

// mountPointOf is the mount point that holds the absolute path p: p or
// its nearest parent that is the root of a mount (statx's
// STATX_ATTR_MOUNT_ROOT, Linux 5.8; "/" on older kernels).
func mountPointOf(p string) (string, error) {
	for dir := path.Clean(p); dir != "/"; dir = path.Dir(dir) {
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, 0, &st); err != nil {
			return "", fmt.Errorf("statx %s: %w", dir, err)
		}
		if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
			break
		}
		if st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			return dir, nil
		}
	}
	return "/", nil
}

// verifyFS checks that p, when mounted, is the file system it claims to be.
func verifyFS(root int, p string, magic int64) error {
	fd, err := openInRoot(root, p, unix.RESOLVE_NO_SYMLINKS)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", p, err)
	}
	if st.Type != magic {
		return fmt.Errorf("%s is not the expected file system: refused", p)
	}
	return nil
}

func pivotRoot(root int) error {
	oldRoot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the old root: %w", err)
	}
	defer unix.Close(oldRoot)
	if err := unix.Fchdir(root); err != nil {
		return fmt.Errorf("change to rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root is now stacked on the new one; detach it, from within
	// it: "." in the new root would be the new root's tree, whose mounts
	// (a shared volume's) must keep their propagation.
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("change to the old root: %w", err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root a slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("change to new root: %w", err)
	}
	return nil
}

type device struct {
	name         string
	major, minor uint32
}

// The devices OCI says every container has.
var defaultDevices = []device{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// DefaultDeviceRules are the device cgroup rules every container gets after
// its own (the last matching rule wins): the default devices, ptys, and
// mknod of any node (using a node still needs a rule).
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	n := func(v int64) *int64 { return &v }
	rules := []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "b", Access: "m"},
		{Allow: true, Type: "c", Major: n(136), Access: "rwm"},               // /dev/pts/*
		{Allow: true, Type: "c", Major: n(5), Minor: n(2), Access: "rwm"},    // /dev/ptmx
		{Allow: true, Type: "c", Major: n(5), Minor: n(1), Access: "rwm"},    // /dev/console
		{Allow: true, Type: "c", Major: n(10), Minor: n(200), Access: "rwm"}, // /dev/net/tun
	}
	for _, d := range defaultDevices {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(int64(d.major)), Minor: n(int64(d.minor)), Access: "rwm"})
	}
	return rules
}

var defaultDevLinks = [][2]string{
	{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"},
}

// createDevices makes the default devices (on a tmpfs /dev) and those of
// linux.devices; in a user namespace, where mknod is refused, it
// bind-mounts the host's nodes instead (see bindDevice).
func createDevices(root int, spec *specs.Spec, devIsTmpfs, userns bool) error {
	dev, err := mkdirInRoot(root, "/dev", unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return fmt.Errorf("open /dev in rootfs: %w", err)
	}
	defer unix.Close(dev)
	if devIsTmpfs {
		for _, d := range defaultDevices {
			var err error
			if !userns {
				err = unix.Mknodat(dev, d.name, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor)))
			}
			if userns || errors.Is(err, unix.EPERM) {
				// In a user namespace (the container's, or the one a
				// rootless engine runs in): the host's node, bind-mounted.
				err = bindDevice(root, "/dev/"+d.name)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("mknod /dev/%s: %w", d.name, err)
			}
		}
		for _, l := range defaultDevLinks {
			if err := unix.Symlinkat(l[0], dev, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
			}
		}
	}
	if spec.Linux == nil {
		return nil
	}
	for _, d := range spec.Linux.Devices {
		create := createDevice
		if userns {
			create = func(root int, d specs.LinuxDevice) error { return bindDevice(root, d.Path) }
		}
		if err := create(root, d); err != nil {
			return err
		}
	}
	return nil
}

// bindDevice bind-mounts the host's device node p on a file at p in the
// rootfs, as runc does in a user namespace: the node keeps the host's
// owner and mode (the device cgroup still decides its use).
func bindDevice(root int, p string) error {
	p = path.Clean(p)
	if !strings.HasPrefix(p, "/dev/") {
		return fmt.Errorf("linux.devices: %s: not under /dev", p)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fmt.Errorf("linux.devices: host device %s: %w", p, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK && t != unix.S_IFIFO {
		return fmt.Errorf("linux.devices: host %s is not a device", p)
	}
	fd, err := fileInRoot(root, p, unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return fmt.Errorf("linux.devices: %s: create mount point: %w", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(p, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("linux.devices: bind mount %s: %w", p, err)
	}
	return nil
}

// userNSMount is m as a user namespace allows it: sysfs needs a network
// namespace that the user namespace owns, else the host's /sys comes
// read-only, as with runc.
func userNSMount(spec *specs.Spec, m specs.Mount) specs.Mount {
	if m.Type != "sysfs" || newNamespace(spec, specs.NetworkNamespace) {
		return m
	}
	return specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
}

func createDevice(root int, d specs.LinuxDevice) error {
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("linux.devices: %s: unknown type %q", d.Path, d.Type)
	}
	p := path.Clean(d.Path)
	if !strings.HasPrefix(p, "/dev/") {
		return fmt.Errorf("linux.devices: %s: not under /dev", d.Path)
	}
	parent, err := mkdirInRoot(root, path.Dir(p), 0)
	if err != nil {
		return fmt.Errorf("linux.devices: %s: %w", d.Path, err)
	}
	defer unix.Close(parent)
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(*d.FileMode) & 0o7777
	}
	name := path.Base(p)
	_ = unix.Unlinkat(parent, name, 0) // what cannot go makes mknod fail
	if err := unix.Mknodat(parent, name, typ|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return fmt.Errorf("linux.devices: mknod %s: %w", d.Path, err)
	}
	uid, gid := -1, -1 // chown's "unchanged"
	if d.UID != nil {
		if err := ids.Check("linux.devices: "+d.Path+": uid", uint64(*d.UID)); err != nil {
			return err
		}
		uid = int(*d.UID)
	}
	if d.GID != nil {
		if err := ids.Check("linux.devices: "+d.Path+": gid", uint64(*d.GID)); err != nil {
			return err
		}
		gid = int(*d.GID)
	}
	if uid >= 0 || gid >= 0 {
		if err := unix.Fchownat(parent, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("linux.devices: chown %s: %w", d.Path, err)
		}
	}
	return nil
}

// maskPaths hides paths (after pivot_root): files under a verified
// /dev/null, directories under an empty read-only tmpfs.
func maskPaths(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(root)
	null, err := openInRoot(root, "/dev/null", unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return fmt.Errorf("open /dev/null: %w", err)
	}
	defer unix.Close(null)
	var st unix.Stat_t
	if err := unix.Fstat(null, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return fmt.Errorf("/dev/null is not the null device (char 1:3): refused")
	}
	for _, p := range paths {
		fd, err := openInRoot(root, p, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		if err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = unix.Mount("tmpfs", fdPath(fd), "tmpfs", unix.MS_RDONLY, "")
			} else {
				err = unix.Mount(fdPath(null), fdPath(fd), "", unix.MS_BIND, "")
			}
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// readonlyPaths bind-mounts paths on themselves read-only (after pivot_root).
func readonlyPaths(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(root)
	for _, p := range paths {
		fd, err := openInRoot(root, p, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
		err = unix.Mount(fdPath(fd), fdPath(fd), "", unix.MS_BIND|unix.MS_REC, "")
		unix.Close(fd)
		if err == nil {
			err = remount(root, p, 0, unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
		}
		if err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}
