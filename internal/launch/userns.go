package launch

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
)

// Joining a user namespace (setns with CLONE_NEWUSER) or a time namespace
// (CLONE_NEWTIME) is refused to a process of more than one thread, and a Go
// program has several before its first line runs. The init binary
// therefore has an entry point of its own (usernsEntry, userns_*.s; linked
// with -ldflags=-E=UsernsEntry): before the Go runtime starts, while the
// process has one thread, it joins the namespaces whose descriptors argv[2]
// names (entryJoins; the parent passes them only to an exec into a
// container with a user or time namespace, or to an init whose user or
// time namespace is given by path): the time namespace first, then the user
// namespace, in which it becomes root (setresgid and setresuid 0, as runc
// does). It notes the result in usernsJoin and jumps to the Go runtime's
// entry. Every other start of the binary (argv has no third element) costs
// one comparison.
//
// The time namespace comes first because joining one needs CAP_SYS_ADMIN
// in the user namespace that owns it as well as in the caller's own: the
// runtime holds it in its user namespace, an ancestor of the container's,
// and so over a time namespace that either owns; once in the container's
// user namespace it would hold it only over those the container's owns.
// Joined at this point the time namespace holds for the init itself (setns
// switches the caller's clocks and vDSO), and so for the user's program it
// executes and its children.

// UsernsEntry is the linker's name of the init binary's entry point: build
// sdocker-init with -ldflags=-E=UsernsEntry.
const UsernsEntry = "github.com/sdocker/sdocker/internal/launch.usernsEntry"

// usernsJoin is what the entry point did: usernsNotRun when it did not run
// (a binary linked without it), else 0 or the negated errno of the first
// call that failed (see entryCalls).
var usernsJoin int64 = usernsNotRun

const usernsNotRun = 1

// usernsFailedCall indexes entryCalls with the call that failed for
// usernsJoin.
var usernsFailedCall int64

// entryCalls are the entry point's calls, in their order.
var entryCalls = [...]string{"join time namespace: setns", "join user namespace: setns", "join user namespace: setresgid 0", "join user namespace: setresuid 0"}

// entryMax bounds each descriptor entryJoins encodes: plus one, each fits
// in 15 bits, and so the pair in the entry point's bound (0x7fffffff).
const entryMax = 0x7ffe

// entryJoins encodes for argv[2] the descriptors (-1 for none) of the user
// and time namespaces that the entry point joins: each plus one, the user
// namespace's in bits 0-15, the time namespace's in bits 16-31.
func entryJoins(userFd, timeFd int) (string, error) {
	if userFd > entryMax || timeFd > entryMax {
		return "", fmt.Errorf("namespace descriptors %d, %d: too high for the init's entry point", userFd, timeFd)
	}
	return strconv.Itoa((userFd + 1) | (timeFd+1)<<16), nil
}

// parseEntryJoins decodes what entryJoins encoded, as the entry point does.
func parseEntryJoins(s string) (userFd, timeFd int, err error) {
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 || v > 0x7fffffff || s[0] < '0' || s[0] > '9' {
		return 0, 0, fmt.Errorf("namespace descriptors %q: not an encoded pair", s)
	}
	return v&0xffff - 1, v>>16 - 1, nil
}

// checkUsernsJoin reports whether the entry point joined the namespaces
// the parent asked for (argv[2]), and closes their descriptors.
func checkUsernsJoin() error {
	if len(os.Args) < 3 {
		return nil
	}
	userFd, timeFd, err := parseEntryJoins(os.Args[2])
	if err != nil {
		return err
	}
	for _, fd := range []int{userFd, timeFd} {
		if fd >= 0 {
			defer unix.Close(fd)
		}
	}
	switch {
	case usernsJoin == usernsNotRun:
		return fmt.Errorf("join namespaces: %s was linked without its entry point (go build -ldflags=-E=%s)", InitBinaryName, UsernsEntry)
	case usernsJoin != 0:
		return fmt.Errorf("%s: %w", entryCalls[usernsFailedCall%int64(len(entryCalls))], unix.Errno(-usernsJoin))
	}
	return nil
}

// userNamespace returns whether spec has a user namespace, and the path of
// one to join.
func userNamespace(spec *specs.Spec) (has bool, path string) {
	ns, ok := namespace(spec, specs.UserNamespace)
	return ok, ns.Path
}

// idMaps converts the spec's mappings to the fork's.
func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, r := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(r.ContainerID), HostID: int(r.HostID), Size: int(r.Size)}
	}
	return out
}

// openNamespace opens the namespace (its /proc/PID/ns name) of process
// pid, whose pidfd proves that pid was not reused meanwhile.
func openNamespace(pid int, pidfd *os.File, name string) (*os.File, error) {
	p := fmt.Sprintf("/proc/%d/ns/%s", pid, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s namespace of container: %w", name, err)
	}
	if err := unix.PidfdSendSignal(int(pidfd.Fd()), 0, nil, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("container init %d: %w", pid, err)
	}
	return f, nil
}

// unshareNamespaces makes the new namespaces of spec but the pid and
// cgroup ones, for an init that joined its user namespace by path (they
// must belong to it, so they could not come with the clone).
func unshareNamespaces(spec *specs.Spec) error {
	if _, userPath := userNamespace(spec); userPath == "" {
		return nil
	}
	flags := 0
	for _, t := range []specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		if newNamespace(spec, t) {
			flags |= int(nsFlags[t])
		}
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare namespaces in user namespace: %w", err)
	}
	return nil
}

// nsJoin is a namespace to join, open, and its CLONE_NEW* type.
type nsJoin struct {
	f    *os.File
	flag int
}

// joinBeforeUserns opens the namespaces given by path that an init with a
// new user namespace must be in before the clone makes that namespace: it
// could not join them from inside, where it has no privilege over what
// the host's root owns (a network namespace that the engine made). The
// forking thread joins them (joinOnThread); the init then skips them (see
// joinNamespaces). Nil without a new user namespace.
func joinBeforeUserns(spec *specs.Spec) (joins []nsJoin, err error) {
	if !newNamespace(spec, specs.UserNamespace) {
		return nil, nil
	}
	for _, t := range joinOrder {
		ns, ok := namespace(spec, t)
		if !ok || ns.Path == "" {
			continue
		}
		f, err := os.Open(ns.Path)
		if err != nil {
			closeJoins(joins)
			return nil, fmt.Errorf("linux.namespaces: open %s namespace %s: %w", t, ns.Path, err)
		}
		joins = append(joins, nsJoin{f, int(nsFlags[t])})
	}
	return joins, nil
}

func closeJoins(joins []nsJoin) {
	for _, j := range joins {
		j.f.Close()
	}
}

// joinOnThread joins the namespaces of joins on this (locked) thread,
// which a mount namespace gives a file system context of its own.
func joinOnThread(joins []nsJoin) error {
	for _, j := range joins {
		if j.flag == unix.CLONE_NEWNS {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs context: %w", err)
			}
		}
		if err := unix.Setns(int(j.f.Fd()), j.flag); err != nil {
			return fmt.Errorf("linux.namespaces: join %s: %w", j.f.Name(), err)
		}
	}
	return nil
}

// CheckUserNamespace refuses id mappings without a user namespace, a new
// one without both maps or without a new mount namespace, mappings the
// kernel would refuse, a new user
// namespace that does not map the container's root or the process's ids,
// and a new pid namespace inside a user namespace given by path (the init
// joins that one after the clone). Mappings that come with a path
// (containerd gives both) are the joined namespace's own and are not
// written.
func CheckUserNamespace(spec *specs.Spec) error {
	l := spec.Linux
	if l == nil {
		return nil
	}
	has, userPath := userNamespace(spec)
	mapped := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	switch {
	case !has && mapped:
		return fmt.Errorf("linux.uidMappings: given without a user namespace in linux.namespaces")
	case has && userPath == "" && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0):
		return fmt.Errorf("linux.uidMappings: a new user namespace needs both uidMappings and gidMappings")
	case userPath != "" && newNamespace(spec, specs.PIDNamespace):
		return fmt.Errorf("linux.namespaces: a new pid namespace inside a user namespace given by path is not supported")
	case has && !newNamespace(spec, specs.MountNamespace):
		// Its root could make no mount in one that another user
		// namespace owns.
		return fmt.Errorf("linux.namespaces: a user namespace needs a new mount namespace")
	}
	if err := ids.CheckMappings("linux.uidMappings", l.UIDMappings); err != nil {
		return err
	}
	if err := ids.CheckMappings("linux.gidMappings", l.GIDMappings); err != nil {
		return err
	}
	if !has || userPath != "" {
		return nil
	}
	// The init becomes root of the new namespace before its execve.
	if _, ok := ids.ToHost(l.UIDMappings, 0); !ok {
		return fmt.Errorf("linux.uidMappings: container uid 0 is not mapped")
	}
	if _, ok := ids.ToHost(l.GIDMappings, 0); !ok {
		return fmt.Errorf("linux.gidMappings: container gid 0 is not mapped")
	}
	if spec.Process == nil {
		return nil
	}
	u := spec.Process.User
	if _, ok := ids.ToHost(l.UIDMappings, u.UID); !ok {
		return fmt.Errorf("process.user.uid: %d is not mapped by linux.uidMappings", u.UID)
	}
	for _, g := range append([]uint32{u.GID}, u.AdditionalGids...) {
		if _, ok := ids.ToHost(l.GIDMappings, g); !ok {
			return fmt.Errorf("process.user: gid %d is not mapped by linux.gidMappings", g)
		}
	}
	return nil
}
