package cgroups

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"
)

// The eBPF program that enforces a devicePolicy on cgroup v2, assembled by
// hand. It runs as BPF_PROG_TYPE_CGROUP_DEVICE on every device access
// (open, mknod) of a process in the cgroup, with r1 pointing to
//
//	struct bpf_cgroup_dev_ctx {
//		u32 access_type; // low 16 bits: BPF_DEVCG_DEV_*, high 16: BPF_DEVCG_ACC_*
//		u32 major;
//		u32 minor;
//	};
//
// and returns 1 (allow) or 0 (deny) in r0. Layout:
//
//	r2 = type, r3 = access, r4 = major, r5 = minor   (6 instructions)
//	per exception: if any test fails, jump to the next block; else
//	               r0 = the exception's verdict; exit
//	r0 = the default verdict; exit
//
// The exceptions of a policy all have the same verdict, so their order does
// not matter (the list's "last rule wins" is already in the policy).

// bpfInsn is one eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	op       uint8
	dst, src uint8 // registers r0-r10
	off      int16
	imm      int32
}

const (
	opLdxW    = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W  // dst = *(u32 *)(src + off)
	opAnd32   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K  // dst = (u32)(dst & imm)
	opRsh32   = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K  // dst = (u32)dst >> imm
	opMov32   = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K  // dst = (u32)imm
	opMov32X  = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X  // dst = (u32)src
	opJneImm  = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K  // if dst != (s64)imm: pc += off
	opJneX    = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_X  // if dst != src: pc += off
	opJeqImm  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K  // if dst == (s64)imm: pc += off
	opJsetImm = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K // if dst & (s64)imm: pc += off
	opExit    = unix.BPF_JMP | unix.BPF_EXIT              // return r0

	opClass = 0x07 // BPF_CLASS(op): BPF_ALU, BPF_JMP, ...
)

// Registers the program uses (r0-r5).
const (
	rRet    = iota // return value
	rCtx           // the context; scratch once its fields are read
	rType          // device type: BPF_DEVCG_DEV_*
	rAccess        // access asked for: BPF_DEVCG_ACC_*
	rMajor
	rMinor
)

// devicesProgram assembles the program for p.
func devicesProgram(p devicePolicy) []bpfInsn {
	prog := []bpfInsn{
		{op: opLdxW, dst: rType, src: rCtx, off: 0},
		{op: opAnd32, dst: rType, imm: 0xffff},
		{op: opLdxW, dst: rAccess, src: rCtx, off: 0},
		{op: opRsh32, dst: rAccess, imm: 16},
		{op: opLdxW, dst: rMajor, src: rCtx, off: 4},
		{op: opLdxW, dst: rMinor, src: rCtx, off: 8},
	}
	verdict := int32(0)
	if !p.allow {
		verdict = 1
	}
	for _, k := range p.keys() {
		// Tests that jump to the next block on a mismatch; off is fixed below.
		var tests []bpfInsn
		typ := int32(unix.BPF_DEVCG_DEV_CHAR)
		if k.typ == 'b' {
			typ = unix.BPF_DEVCG_DEV_BLOCK
		}
		tests = append(tests, bpfInsn{op: opJneImm, dst: rType, imm: typ})
		if acc := p.ex[k]; acc != accAll {
			if p.allow {
				// A deny exception matches if any access asked for is in it.
				tests = append(tests,
					bpfInsn{op: opMov32X, dst: rCtx, src: rAccess},
					bpfInsn{op: opAnd32, dst: rCtx, imm: int32(acc)},
					bpfInsn{op: opJeqImm, dst: rCtx, imm: 0})
			} else {
				// An allow exception matches if all access asked for is in it.
				tests = append(tests, bpfInsn{op: opJsetImm, dst: rAccess, imm: int32(^uint32(acc) & 0xffff)})
			}
		}
		for _, f := range []struct {
			reg uint8
			n   int64
		}{{rMajor, k.major}, {rMinor, k.minor}} {
			switch {
			case f.n == anyNum:
			case f.n <= math.MaxInt32:
				tests = append(tests, bpfInsn{op: opJneImm, dst: f.reg, imm: int32(f.n)})
			default:
				// imm is sign-extended to 64 bits, the loaded field is not:
				// compare with a register holding the zero-extended value.
				tests = append(tests,
					bpfInsn{op: opMov32, dst: rCtx, imm: int32(uint32(f.n))},
					bpfInsn{op: opJneX, dst: f.reg, src: rCtx})
			}
		}
		end := len(tests) + 2 // the block's end: the next block
		for i := range tests {
			if tests[i].op&opClass == unix.BPF_JMP {
				tests[i].off = int16(end - (i + 1))
			}
		}
		prog = append(prog, tests...)
		prog = append(prog, bpfInsn{op: opMov32, dst: rRet, imm: verdict}, bpfInsn{op: opExit})
	}
	def := int32(0)
	if p.allow {
		def = 1
	}
	return append(prog, bpfInsn{op: opMov32, dst: rRet, imm: def}, bpfInsn{op: opExit})
}

// encodeProgram lays the instructions out as the kernel reads them.
func encodeProgram(prog []bpfInsn) []byte {
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		regs := in.dst&0xf | in.src<<4 // dst_reg:4, src_reg:4 as bit fields
		if !little {
			regs = in.dst<<4 | in.src&0xf
		}
		b = append(b, in.op, regs)
		b = binary.NativeEndian.AppendUint16(b, uint16(in.off))
		b = binary.NativeEndian.AppendUint32(b, uint32(in.imm))
	}
	return b
}
