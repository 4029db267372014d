package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp program, ready to install. Its program and
// flags can cross to another process (Instructions, Flags, FromProgram), so a
// runtime can compile in one process and install in another.
type Filter struct {
	prog  []unix.SockFilter
	flags uintptr
	p     *policy // Compile's (none from FromProgram)
}

// FromProgram makes a filter of a program and flags that Instructions and
// Flags gave.
func FromProgram(prog []unix.SockFilter, flags uintptr) (*Filter, error) {
	if len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp filter of %d instructions", len(prog))
	}
	return &Filter{prog: prog, flags: flags}, nil
}

// Flags returns the SECCOMP_FILTER_FLAG_* the filter is installed with.
func (f *Filter) Flags() uintptr { return f.flags }

// Instructions returns a copy of the compiled classic-BPF program.
func (f *Filter) Instructions() []unix.SockFilter {
	return append([]unix.SockFilter(nil), f.prog...)
}

// Refuses is the profile's action for the native (x86-64) system call
// name when the filter, as Compile made it, refuses that call whatever its
// arguments (kills, traps or fails it); "" when it lets it through, or
// decides by its arguments.
func (f *Filter) Refuses(name string) specs.LinuxSeccompAction {
	if f.p == nil {
		return ""
	}
	nr, ok := lookup(abiX86_64, name)
	if !ok {
		return ""
	}
	ret := f.p.def
	if rs := f.p.rules[abiX86_64][nr]; len(rs) > 0 {
		if len(rs[0].conds) > 0 {
			return ""
		}
		ret = rs[0].ret
	}
	return Refusal(ret)
}

// Install applies the filter to the calling OS thread (all threads of the
// process with SECCOMP_FILTER_FLAG_TSYNC). The thread must have no_new_privs
// set or hold CAP_SYS_ADMIN. Install locks the calling goroutine to its OS
// thread for good: a filtered thread must not go back to the Go scheduler.
// Call it on the thread that will execve, right before execve.
func (f *Filter) Install() error {
	if f == nil || len(f.prog) == 0 {
		return errors.New("install seccomp filter: empty filter")
	}
	runtime.LockOSThread() // never unlocked, see above
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	r1, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(&prog)
	runtime.KeepAlive(f)
	if errno != 0 {
		if errno == unix.EACCES {
			return fmt.Errorf("install seccomp filter: %w (the thread needs no_new_privs or CAP_SYS_ADMIN)", errno)
		}
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	if r1 != 0 {
		// With TSYNC, a positive return is the id of a thread that could
		// not be synchronized; nothing was installed.
		return fmt.Errorf("install seccomp filter: thread %d could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)", r1)
	}
	return nil
}

// Seccomp return values and seccomp_data offsets.
const (
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retTrap        = unix.SECCOMP_RET_TRAP
	retErrno       = unix.SECCOMP_RET_ERRNO
	retTrace       = unix.SECCOMP_RET_TRACE
	retLog         = unix.SECCOMP_RET_LOG
	retAllow       = unix.SECCOMP_RET_ALLOW

	// retBadArch answers a call from an architecture (or ABI) the
	// configuration does not list: libseccomp's default, SCMP_ACT_KILL.
	retBadArch = retKillThread

	x32SyscallBit = 0x40000000

	offNr   = 0
	offArch = 4
	offArgs = 16 // args[i] at 16+8*i: low word, then high word (little-endian)
)

var filterFlags = map[specs.LinuxSeccompFlag]uintptr{
	"SECCOMP_FILTER_FLAG_TSYNC":     unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:       unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}

// abi is one of the syscall ABIs the x86 kernel can receive.
type abi int

const (
	abiX86_64 abi = iota
	abiX32
	abiI386
	numABIs
)

// sysEntry is one row of the generated syscallTable.
type sysEntry struct {
	name              string
	x86_64, x32, i386 int16
}

// lookup returns the number of a syscall name on an ABI (x32 numbers with
// __X32_SYSCALL_BIT set).
func lookup(a abi, name string) (uint32, bool) {
	i := sort.Search(len(syscallTable), func(i int) bool { return syscallTable[i].name >= name })
	if i == len(syscallTable) || syscallTable[i].name != name {
		return 0, false
	}
	e := &syscallTable[i]
	var nr int16
	switch a {
	case abiX86_64:
		nr = e.x86_64
	case abiX32:
		nr = e.x32
	case abiI386:
		nr = e.i386
	}
	if nr < 0 {
		return 0, false
	}
	if a == abiX32 {
		return uint32(nr) | x32SyscallBit, true
	}
	return uint32(nr), true
}

// i386 multiplexers: socketcall(call, args) and ipc(call, ...), with the call
// numbers of include/uapi/linux/net.h and ipc/syscall.c.
const (
	i386Socketcall = 102
	i386IPC        = 117
)

var i386Mux = map[string]struct {
	nr, call uint32
}{
	"socket": {i386Socketcall, 1}, "bind": {i386Socketcall, 2}, "connect": {i386Socketcall, 3},
	"listen": {i386Socketcall, 4}, "accept": {i386Socketcall, 5}, "getsockname": {i386Socketcall, 6},
	"getpeername": {i386Socketcall, 7}, "socketpair": {i386Socketcall, 8}, "send": {i386Socketcall, 9},
	"recv": {i386Socketcall, 10}, "sendto": {i386Socketcall, 11}, "recvfrom": {i386Socketcall, 12},
	"shutdown": {i386Socketcall, 13}, "setsockopt": {i386Socketcall, 14}, "getsockopt": {i386Socketcall, 15},
	"sendmsg": {i386Socketcall, 16}, "recvmsg": {i386Socketcall, 17}, "accept4": {i386Socketcall, 18},
	"recvmmsg": {i386Socketcall, 19}, "sendmmsg": {i386Socketcall, 20},
	"semop": {i386IPC, 1}, "semget": {i386IPC, 2}, "semctl": {i386IPC, 3}, "semtimedop": {i386IPC, 4},
	"msgsnd": {i386IPC, 11}, "msgrcv": {i386IPC, 12}, "msgget": {i386IPC, 13}, "msgctl": {i386IPC, 14},
	"shmat": {i386IPC, 21}, "shmdt": {i386IPC, 22}, "shmget": {i386IPC, 23}, "shmctl": {i386IPC, 24},
}

// cond is one validated argument condition. For MASKED_EQ, val is the mask
// and val2 the datum, already masked.
type cond struct {
	arg  uint
	op   specs.LinuxSeccompOperator
	val  uint64
	val2 uint64
}

// rule is one validated syscalls[] entry: all conds hold -> ret.
type rule struct {
	conds []cond
	ret   uint32
}

func (r *rule) equal(o *rule) bool {
	if r.ret != o.ret || len(r.conds) != len(o.conds) {
		return false
	}
	for i := range r.conds {
		if r.conds[i] != o.conds[i] {
			return false
		}
	}
	return true
}

// policy is a validated configuration, resolved per ABI.
type policy struct {
	def   uint32
	abis  [numABIs]bool
	rules [numABIs]map[uint32][]rule
}

func (p *policy) add(a abi, nr uint32, r rule) {
	m := p.rules[a]
	if m == nil {
		m = make(map[uint32][]rule, 512)
		p.rules[a] = m
	}
	rs := m[nr]
	if n := len(rs); n > 0 && (len(rs[n-1].conds) == 0 || rs[n-1].equal(&r)) {
		return // unreachable after an unconditional rule, or a repeat
	}
	m[nr] = append(rs, r)
}

// Compile validates a seccomp configuration and compiles it to a filter for
// the native architecture. Errors name the offending field.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, errors.New("linux.seccomp: no seccomp configuration")
	}
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("linux.seccomp: seccomp is not supported on %s", runtime.GOARCH)
	}
	p := &policy{}
	var err error
	p.def, err = action(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")
	if err != nil {
		return nil, err
	}
	if s.ListenerPath != "" {
		return nil, errors.New("linux.seccomp.listenerPath: seccomp user notification is not supported")
	}
	f := &Filter{}
	for i, fl := range s.Flags {
		v, ok := filterFlags[fl]
		if !ok {
			if fl == specs.LinuxSeccompFlagWaitKillableRecv {
				return nil, fmt.Errorf("linux.seccomp.flags[%d]: %s is not supported (it needs SCMP_ACT_NOTIFY)", i, fl)
			}
			return nil, fmt.Errorf("linux.seccomp.flags[%d]: unknown flag %q", i, fl)
		}
		f.flags |= v
	}
	p.abis[abiX86_64] = true
	for i, a := range s.Architectures {
		switch a {
		case specs.ArchX86_64:
		case specs.ArchX86:
			p.abis[abiI386] = true
		case specs.ArchX32:
			p.abis[abiX32] = true
		case specs.ArchARM, specs.ArchAARCH64, specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32,
			specs.ArchMIPSEL, specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
			specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64,
			specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB:
			// Never seen by an x86 kernel.
		default:
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: unknown architecture %q", i, a)
		}
	}
	for i := range s.Syscalls {
		sc := &s.Syscalls[i]
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		r, err := compileRule(sc, field)
		if err != nil {
			return nil, err
		}
		for j, name := range sc.Names {
			if name == "" {
				return nil, fmt.Errorf("%s.names[%d]: empty syscall name", field, j)
			}
			for a := abi(0); a < numABIs; a++ {
				if !p.abis[a] {
					continue
				}
				if nr, ok := lookup(a, name); ok {
					p.add(a, nr, r)
				}
				if mux, ok := i386Mux[name]; ok && a == abiI386 {
					c := cond{arg: 0, op: specs.OpEqualTo, val: uint64(mux.call)}
					if mux.nr == i386IPC { // the ipc version sits in the high 16 bits
						c = cond{arg: 0, op: specs.OpMaskedEqual, val: 0xffff, val2: uint64(mux.call)}
					}
					p.add(a, mux.nr, rule{conds: []cond{c}, ret: r.ret})
				}
			}
		}
	}
	prog, err := generate(p)
	if err != nil {
		return nil, err
	}
	f.prog, f.p = prog, p
	return f, nil
}

func compileRule(sc *specs.LinuxSyscall, field string) (rule, error) {
	var r rule
	if len(sc.Names) == 0 {
		return r, fmt.Errorf("%s.names: no syscall names", field)
	}
	var err error
	r.ret, err = action(sc.Action, sc.ErrnoRet, field+".action", field+".errnoRet")
	if err != nil {
		return r, err
	}
	for j, a := range sc.Args {
		afield := fmt.Sprintf("%s.args[%d]", field, j)
		if a.Index > 5 {
			return r, fmt.Errorf("%s.index: %d is out of range 0-5", afield, a.Index)
		}
		c := cond{arg: a.Index, op: a.Op, val: a.Value}
		switch a.Op {
		case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
			specs.OpGreaterEqual, specs.OpGreaterThan:
		case specs.OpMaskedEqual:
			c.val2 = a.ValueTwo & a.Value
		default:
			return r, fmt.Errorf("%s.op: unknown operator %q", afield, a.Op)
		}
		r.conds = append(r.conds, c)
	}
	return r, nil
}

// action maps an OCI action and its optional errnoRet to a seccomp return
// value.
func action(a specs.LinuxSeccompAction, errnoRet *uint, field, errnoField string) (uint32, error) {
	var ret uint32
	switch a {
	case specs.ActKill, specs.ActKillThread:
		ret = retKillThread
	case specs.ActKillProcess:
		ret = retKillProcess
	case specs.ActTrap:
		ret = retTrap
	case specs.ActErrno:
		ret = retErrno
	case specs.ActTrace:
		ret = retTrace
	case specs.ActAllow:
		ret = retAllow
	case specs.ActLog:
		ret = retLog
	case specs.ActNotify:
		return 0, fmt.Errorf("%s: %s is not supported (no seccomp user notification)", field, a)
	case "":
		return 0, fmt.Errorf("%s: missing", field)
	default:
		return 0, fmt.Errorf("%s: unknown action %q", field, a)
	}
	if ret != retErrno && ret != retTrace {
		if errnoRet != nil {
			return 0, fmt.Errorf("%s: only valid with %s or %s, not %s", errnoField, specs.ActErrno, specs.ActTrace, a)
		}
		return ret, nil
	}
	data := uint32(unix.EPERM) // the spec's default for both
	if errnoRet != nil {
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("%s: %d is out of range 0-%d", errnoField, *errnoRet, unix.SECCOMP_RET_DATA)
		}
		data = uint32(*errnoRet)
	}
	return ret | data, nil
}
