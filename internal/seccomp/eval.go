package seccomp

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Eval is the filter's return value for a system call of the native ABI
// with args, as the kernel computes it (the instruction pointer read as 0,
// which no compiled filter looks at); false for a program with an
// instruction Compile never makes.
func (f *Filter) Eval(nr uint32, args [6]uint64) (uint32, bool) {
	var b [64]byte // struct seccomp_data
	binary.LittleEndian.PutUint32(b[0:], nr)
	binary.LittleEndian.PutUint32(b[4:], unix.AUDIT_ARCH_X86_64)
	for i, a := range args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	ret, _, err := run(f.prog, b[:])
	return ret, err == nil
}

// Refusal is the profile's action that the return value ret stands for
// when it refuses the call (kills, traps or fails it), "" when it lets it
// through.
func Refusal(ret uint32) specs.LinuxSeccompAction {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case retKillThread:
		return specs.ActKillThread
	case retKillProcess:
		return specs.ActKillProcess
	case retTrap:
		return specs.ActTrap
	case retErrno:
		return specs.ActErrno
	}
	return ""
}

// run interprets prog on the seccomp_data b: its return value and the
// number of instructions it ran.
func run(prog []unix.SockFilter, b []byte) (uint32, int, error) {
	var acc uint32
	pc := 0
	for steps := 1; ; steps++ {
		if pc < 0 || pc >= len(prog) {
			return 0, steps, fmt.Errorf("seccomp filter: pc %d out of range", pc)
		}
		in := prog[pc]
		pc++
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if int(in.K)+4 > len(b) {
				return 0, steps, fmt.Errorf("seccomp filter: load at %d", in.K)
			}
			acc = binary.LittleEndian.Uint32(b[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += pick(acc == in.K, in)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += pick(acc > in.K, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += pick(acc >= in.K, in)
		case unix.BPF_RET | unix.BPF_K:
			return in.K, steps, nil
		default:
			return 0, steps, fmt.Errorf("seccomp filter: unexpected opcode %#x", in.Code)
		}
	}
}

func pick(c bool, in unix.SockFilter) int {
	if c {
		return int(in.Jt)
	}
	return int(in.Jf)
}
