package launch

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Capabilities by their OCI names.
var capabilities = map[string]uint{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN,
	"CAP_SYS_BOOT": unix.CAP_SYS_BOOT, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME,
	"CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG, "CAP_MKNOD": unix.CAP_MKNOD, "CAP_LEASE": unix.CAP_LEASE,
	"CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE, "CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL,
	"CAP_SETFCAP": unix.CAP_SETFCAP, "CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE,
	"CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN, "CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
	"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// CapabilityNames lists every capability name this runtime knows, in the
// kernel's order.
func CapabilityNames() []string {
	names := make([]string, 0, len(capabilities))
	for n := range capabilities {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return capabilities[names[i]] < capabilities[names[j]] })
	return names
}

// ValidCapability reports whether name (CAP_ prefixed) is a known capability.
func ValidCapability(name string) bool {
	_, ok := capabilities[name]
	return ok
}

func lastCap() uint {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return uint(n)
		}
	}
	return unix.CAP_LAST_CAP
}

// BoundingCapabilities lists the capabilities in this process's bounding
// set: all a container can be given.
func BoundingCapabilities() []string {
	var out []string
	for _, name := range CapabilityNames() {
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(capabilities[name]), 0, 0, 0); err == nil && r == 1 {
			out = append(out, name)
		}
	}
	return out
}

type capSet [2]uint32

func toCapSet(names []string) (capSet, error) {
	var s capSet
	for _, n := range names {
		c, ok := capabilities[n]
		if !ok {
			return s, fmt.Errorf("process.capabilities: unknown capability %q", n)
		}
		s[c/32] |= 1 << (c % 32)
	}
	return s, nil
}

//go:nosplit
func (s capSet) has(c uint) bool { return s[c/32]&(1<<(c%32)) != 0 }

// privileges are the process's user and capability sets, prepared so that
// applying them allocates nothing and makes raw system calls only: without
// no_new_privs they follow the seccomp filter (see finish), and a call of
// the Go runtime's own (a heap growing, a thread parked) must not.
type privileges struct {
	bounding, effective, permitted, inheritable, ambient capSet
	last                                                 uint
	user                                                 userSwitch
}

func newPrivileges(proc *specs.Process) (*privileges, error) {
	caps := proc.Capabilities
	if caps == nil {
		caps = &specs.LinuxCapabilities{}
	}
	var sets [5]capSet
	for i, names := range [][]string{caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient} {
		s, err := toCapSet(names)
		if err != nil {
			return nil, err
		}
		sets[i] = s
	}
	return &privileges{
		bounding: sets[0], effective: sets[1], permitted: sets[2], inheritable: sets[3], ambient: sets[4],
		last: lastCap(), user: newUserSwitch(proc.User),
	}, nil
}

// prctl is a raw prctl(2) (see privileges).
//
//go:nosplit
func prctl(option int, arg2, arg3 uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, uintptr(option), arg2, arg3, 0, 0, 0)
	return e
}

// privStep names the system call of privileges.applyRaw that failed.
type privStep uint8

const (
	privDone privStep = iota
	privKeepcaps
	privBounding
	privSetgroups
	privSetgid
	privSetuid
	privReadBack
	privMismatch // the uid read back is not the one asked for
	privMismatchGid
	privMismatchGroups
	privClearKeepcaps
	privCapset
	privClearAmbient
	privAmbient
)

// apply drops the bounding set, switches to the process's user and sets the
// remaining capability sets, in runc's order.
func (p *privileges) apply() error {
	return p.failure(p.applyRaw())
}

// failure is the error of applyRaw's result.
func (p *privileges) failure(step privStep, c uint, e unix.Errno) error {
	switch step {
	case privDone:
		return nil
	case privKeepcaps:
		return fmt.Errorf("set keepcaps: %w", e)
	case privBounding:
		return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
	case privSetgroups:
		return fmt.Errorf("setgroups %v: %w", p.user.groups, e)
	case privSetgid:
		return fmt.Errorf("setgid %d: %w", p.user.u.GID, e)
	case privSetuid:
		return fmt.Errorf("setuid %d: %w", p.user.u.UID, e)
	case privReadBack:
		return fmt.Errorf("read back the process's credentials: %w", e)
	case privMismatch, privMismatchGid, privMismatchGroups:
		return p.user.mismatch()
	case privClearKeepcaps:
		return fmt.Errorf("clear keepcaps: %w", e)
	case privCapset:
		return fmt.Errorf("set capabilities: %w", e)
	case privClearAmbient:
		return fmt.Errorf("clear ambient capabilities: %w", e)
	default:
		return fmt.Errorf("raise ambient capability %d: %w", c, e)
	}
}

// applyRaw is apply's work. Without no_new_privs it runs under the seccomp
// filter, so it only makes the system calls the README lists (prctl,
// setgroups, setresgid, setresuid, getresuid, getresgid, setfsuid,
// setfsgid, getgroups, capset), raw, and neither allocates nor calls a
// function that the scheduler could preempt (nosplit, all the way down).
//
//go:nosplit
func (p *privileges) applyRaw() (privStep, uint, unix.Errno) {
	if e := prctl(unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
		return privKeepcaps, 0, e
	}
	for c := uint(0); c <= p.last; c++ {
		if !p.bounding.has(c) {
			if e := prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != unix.EINVAL {
				return privBounding, c, e
			}
		}
	}
	if step, e := p.user.applyRaw(); step != privDone {
		return step, 0, e
	}
	if e := prctl(unix.PR_SET_KEEPCAPS, 0, 0); e != 0 {
		return privClearKeepcaps, 0, e
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := 0; i < 2; i++ {
		data[i] = unix.CapUserData{Effective: p.effective[i], Permitted: p.permitted[i], Inheritable: p.inheritable[i]}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return privCapset, 0, e
	}
	if e := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 {
		return privClearAmbient, 0, e
	}
	for c := uint(0); c <= p.last; c++ {
		if p.ambient.has(c) {
			// As runc: an ambient capability needs the same one in the
			// inheritable and permitted sets; without them it is skipped.
			if e := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c)); e != 0 && e != unix.EPERM {
				return privAmbient, c, e
			}
		}
	}
	return privDone, 0, 0
}

// userSwitch is a process user, prepared for setUser's system calls.
type userSwitch struct {
	u      specs.User
	groups []uint32 // the additional gids, sorted
	read   []uint32 // room for the groups read back: one more than wanted
}

func newUserSwitch(u specs.User) userSwitch {
	groups := slices.Clone(u.AdditionalGids)
	slices.Sort(groups)
	return userSwitch{u: u, groups: groups, read: make([]uint32, len(groups)+1)}
}

// setUser switches this thread to the process's uid, gid and groups, and
// checks that it has them.
func setUser(u specs.User) error {
	s := newUserSwitch(u)
	switch step, e := s.applyRaw(); step {
	case privDone:
		return nil
	case privSetgroups:
		return fmt.Errorf("setgroups %v: %w", s.groups, e)
	case privSetgid:
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	case privSetuid:
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	case privReadBack:
		return fmt.Errorf("read back the process's credentials: %w", e)
	default:
		return s.mismatch()
	}
}

// applyRaw makes the switch, with the constraints of
// privileges.applyRaw. Raw system calls also because Go's wrappers change
// every thread of the process, which costs a signal round to each; only
// this thread goes on to execve. set*id calls read some values as "leave
// unchanged" (-1), and a filter can fake them: the ids are read back, and
// a process that should not be root must never run as root.
//
//go:nosplit
func (s *userSwitch) applyRaw() (privStep, unix.Errno) {
	var p unsafe.Pointer
	if len(s.groups) > 0 {
		p = unsafe.Pointer(&s.groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(s.groups)), uintptr(p), 0); e != 0 {
		return privSetgroups, e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(s.u.GID), uintptr(s.u.GID), uintptr(s.u.GID)); e != 0 {
		return privSetgid, e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(s.u.UID), uintptr(s.u.UID), uintptr(s.u.UID)); e != 0 {
		return privSetuid, e
	}
	var c credentials
	n, e := readIDs(&c, s.read)
	if e == unix.EINVAL {
		return privMismatchGroups, 0 // more groups than asked for
	}
	if e != 0 {
		return privReadBack, e
	}
	if !sameIDs(c.uid, s.u.UID) {
		return privMismatch, 0
	}
	if !sameIDs(c.gid, s.u.GID) {
		return privMismatchGid, 0
	}
	if n != len(s.groups) {
		return privMismatchGroups, 0
	}
	for i := 0; i < n; i++ { // both sorted: the kernel sorts a group list
		if s.read[i] != s.groups[i] {
			return privMismatchGroups, 0
		}
	}
	return privDone, 0
}

// mismatch reads the ids back again and says how they differ.
func (s *userSwitch) mismatch() error {
	c, err := readCredentials()
	if err != nil {
		return fmt.Errorf("read back the process's credentials: %w", err)
	}
	if err := c.mismatch(s.u); err != nil {
		return err
	}
	return fmt.Errorf("process.user: the credentials changed while they were read back: refused to run it")
}

// sealedMismatch is the error of a mismatch step (privMismatch...) under
// the seccomp filter: the ids read back cannot be put in words there (see
// sealedFailures), only the ones asked for.
func (s *userSwitch) sealedMismatch(step privStep) error {
	field, asked, what := "process.user.uid", fmt.Sprint(s.u.UID), "the uid read back differs"
	switch step {
	case privMismatchGid:
		field, asked, what = "process.user.gid", fmt.Sprint(s.u.GID), "the gid read back differs"
	case privMismatchGroups:
		field, asked, what = "process.user.additionalGids", fmt.Sprint(s.u.AdditionalGids), "the groups read back differ"
	}
	return fmt.Errorf("%s: asked for %s, %s (a call that sets it claimed success): refused to run it", field, asked, what)
}

// sealedFailures are the error messages of privileges.applyRaw's steps,
// encoded for the sync socket before the seccomp filter goes in. Once it
// is in, a step that fails must end the init without the Go runtime: an
// error built by fmt may grow the stack, and a goroutine preempted there
// hands its thread over with a futex call, which the filter may refuse
// (the runtime then dies with a stack trace).
type sealedFailures struct {
	steps   [16][]byte // by privStep, for EPERM (what a filter's refusal returns by default)
	generic []byte     // any other errno
}

func newSealedFailures(p *privileges) *sealedFailures {
	f := &sealedFailures{}
	encode := func(err error) []byte {
		m := syncMessage{Type: "error", Error: err.Error(), Code: 125}
		return m.marshal()
	}
	for s := privKeepcaps; s <= privAmbient; s++ {
		var err error
		switch s {
		case privBounding:
			err = fmt.Errorf("drop a capability from the bounding set: %w", unix.EPERM)
		case privMismatch, privMismatchGid, privMismatchGroups:
			err = p.user.sealedMismatch(s)
		case privAmbient:
			err = fmt.Errorf("raise an ambient capability: %w", unix.EPERM)
		default:
			err = p.failure(s, 0, unix.EPERM)
		}
		f.steps[s&15] = encode(fmt.Errorf("linux.seccomp: after the filter: %w", err))
	}
	f.generic = encode(errors.New("linux.seccomp: after the filter: a call that dropping privileges needs failed (see the README's list of the calls made after the filter)"))
	return f
}

// exit reports the failed step on the sync socket and ends the init with
// 125, in raw system calls only (nosplit, see applyRaw).
//
//go:nosplit
func (f *sealedFailures) exit(step privStep, e unix.Errno) {
	msg := f.generic
	if e == unix.EPERM || e == 0 { // 0: the ids read back differ
		msg = f.steps[step&15]
	}
	if len(msg) > 0 {
		// Nothing else can be done if the parent cannot be told.
		_, _, _ = unix.RawSyscall(unix.SYS_WRITE, uintptr(syncFD), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)))
	}
	_, _, _ = unix.RawSyscall(unix.SYS_EXIT_GROUP, 125, 0, 0)
}
