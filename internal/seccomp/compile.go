package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// body is what a range of syscall numbers does: try rules in order, else
// return def.
type body struct {
	rules []rule
	def   uint32
	key   string // equal keys, equal behaviour
}

func newBody(rules []rule, def uint32) *body {
	// An unconditional rule (only ever the last one) is the fallback.
	if n := len(rules); n > 0 && len(rules[n-1].conds) == 0 {
		def = rules[n-1].ret
		rules = rules[:n-1]
	}
	// A trailing rule that returns the fallback changes nothing.
	for len(rules) > 0 && rules[len(rules)-1].ret == def {
		rules = rules[:len(rules)-1]
	}
	key := make([]byte, 0, 8+len(rules)*16)
	for _, r := range rules {
		key = binary.LittleEndian.AppendUint32(key, r.ret)
		for _, c := range r.conds {
			key = append(key, byte(c.arg), byte(len(c.op)))
			key = append(key, c.op...)
			key = binary.LittleEndian.AppendUint64(key, c.val)
			key = binary.LittleEndian.AppendUint64(key, c.val2)
		}
		key = append(key, ';')
	}
	key = binary.LittleEndian.AppendUint32(key, def)
	return &body{rules: rules, def: def, key: string(key)}
}

// segment covers syscall numbers [lo, next segment's lo).
type segment struct {
	lo   uint32
	body *body
}

// segments cuts the 32-bit syscall-number space of one arch token into
// ranges. rules maps numbers to their rule lists; gap gives the body of a
// number without rules, which may change only at __X32_SYSCALL_BIT.
func segments(rules map[uint32][]rule, def uint32, gap func(uint32) *body) []segment {
	nrs := make([]uint32, 0, len(rules))
	for nr := range rules {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	var segs []segment
	add := func(lo uint32, b *body) {
		if n := len(segs); n > 0 && segs[n-1].body.key == b.key {
			return
		}
		segs = append(segs, segment{lo, b})
	}
	addGap := func(lo, hi uint64) { // [lo, hi)
		if lo < hi {
			add(uint32(lo), gap(uint32(lo)))
		}
		if lo < x32SyscallBit && hi > x32SyscallBit {
			add(x32SyscallBit, gap(x32SyscallBit))
		}
	}
	simple := map[uint32]*body{} // bodies of one unconditional rule, the common case
	next := uint64(0)
	for _, nr := range nrs {
		addGap(next, uint64(nr))
		rs := rules[nr]
		if len(rs) == 1 && len(rs[0].conds) == 0 {
			b := simple[rs[0].ret]
			if b == nil {
				b = newBody(rs, def)
				simple[rs[0].ret] = b
			}
			add(nr, b)
		} else {
			add(nr, newBody(rs, def))
		}
		next = uint64(nr) + 1
	}
	addGap(next, 1<<32)
	return segs
}

// generate builds the whole program; see the package documentation.
func generate(p *policy) ([]unix.SockFilter, error) {
	def := newBody(nil, p.def)
	bad := newBody(nil, retBadArch)

	// AUDIT_ARCH_X86_64: x86_64 numbers below __X32_SYSCALL_BIT, x32 above.
	native := map[uint32][]rule{}
	for nr, rs := range p.rules[abiX86_64] {
		if nr < x32SyscallBit {
			native[nr] = rs
		}
	}
	if p.abis[abiX32] {
		for nr, rs := range p.rules[abiX32] {
			native[nr] = rs
		}
	}
	segs64 := segments(native, p.def, func(nr uint32) *body {
		if nr >= x32SyscallBit && !p.abis[abiX32] {
			return bad
		}
		return def
	})

	var a asm
	l64, l32 := a.newLabel(), a.newLabel()
	a.ld(offArch)
	a.jmp(unix.BPF_JEQ, unix.AUDIT_ARCH_X86_64, l64, nil)
	if p.abis[abiI386] {
		a.jmp(unix.BPF_JEQ, unix.AUDIT_ARCH_I386, l32, nil)
	}
	a.ret(retBadArch)

	a.bind(l64)
	a.ld(offNr)
	a.tree(segs64, false)

	if p.abis[abiI386] {
		segs32 := segments(p.rules[abiI386], p.def, func(uint32) *body { return def })
		a.bind(l32)
		a.ld(offNr)
		a.tree(segs32, true)
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("linux.seccomp: the filter needs %d BPF instructions, more than the kernel's limit of %d", len(prog), unix.BPF_MAXINSNS)
	}
	return prog, nil
}

// tree emits a balanced binary search over segs; A holds the syscall number.
func (a *asm) tree(segs []segment, args32 bool) {
	if len(segs) == 1 {
		a.body(segs[0].body, args32)
		return
	}
	mid := len(segs) / 2
	right := a.newLabel()
	a.jmp(unix.BPF_JGE, segs[mid].lo, right, nil)
	a.tree(segs[:mid], args32)
	a.bind(right)
	a.tree(segs[mid:], args32)
}

// body emits the rule chain of one segment; every path ends in a ret.
func (a *asm) body(b *body, args32 bool) {
	for _, r := range b.rules {
		if len(r.conds) == 0 {
			a.ret(r.ret)
			return
		}
		next := a.newLabel()
		for _, c := range r.conds {
			a.cond(c, next, args32)
		}
		a.ret(r.ret)
		a.bind(next)
	}
	a.ret(b.def)
}

func argLo(i uint) uint32 { return offArgs + 8*uint32(i) }
func argHi(i uint) uint32 { return offArgs + 8*uint32(i) + 4 }

// cond emits code that falls through when c holds and jumps to fail when it
// does not. Unsigned 64-bit comparisons are done on the high words first,
// then on the low words when the high words are equal. With args32 (i386)
// only the low words are compared.
func (a *asm) cond(c cond, fail *label, args32 bool) {
	vh, vl := uint32(c.val>>32), uint32(c.val)
	pass := a.newLabel()
	switch c.op {
	case specs.OpEqualTo:
		if !args32 {
			a.ld(argHi(c.arg))
			a.jmp(unix.BPF_JEQ, vh, nil, fail)
		}
		a.ld(argLo(c.arg))
		a.jmp(unix.BPF_JEQ, vl, nil, fail)
	case specs.OpNotEqual:
		if !args32 {
			a.ld(argHi(c.arg))
			a.jmp(unix.BPF_JEQ, vh, nil, pass)
		}
		a.ld(argLo(c.arg))
		a.jmp(unix.BPF_JEQ, vl, fail, nil)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		// hi > vh: pass; hi < vh: fail; else compare lo.
		op := uint16(unix.BPF_JGT)
		if c.op == specs.OpGreaterEqual {
			op = unix.BPF_JGE
		}
		if !args32 {
			a.ld(argHi(c.arg))
			a.jmp(unix.BPF_JGT, vh, pass, nil)
			a.jmp(unix.BPF_JEQ, vh, nil, fail)
		}
		a.ld(argLo(c.arg))
		a.jmp(op, vl, nil, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		// LT is !GE, LE is !GT.
		op := uint16(unix.BPF_JGE)
		if c.op == specs.OpLessEqual {
			op = unix.BPF_JGT
		}
		if !args32 {
			a.ld(argHi(c.arg))
			a.jmp(unix.BPF_JGT, vh, fail, nil)
			a.jmp(unix.BPF_JEQ, vh, nil, pass)
		}
		a.ld(argLo(c.arg))
		a.jmp(op, vl, fail, nil)
	case specs.OpMaskedEqual:
		dh, dl := uint32(c.val2>>32), uint32(c.val2)
		if !args32 && vh != 0 { // with a zero mask the word always matches
			a.ld(argHi(c.arg))
			a.alu(unix.BPF_AND, vh)
			a.jmp(unix.BPF_JEQ, dh, nil, fail)
		}
		if vl != 0 {
			a.ld(argLo(c.arg))
			a.alu(unix.BPF_AND, vl)
			a.jmp(unix.BPF_JEQ, dl, nil, fail)
		}
	default:
		panic("seccomp: unvalidated operator " + string(c.op))
	}
	a.bind(pass)
}

// asm is a tiny classic-BPF assembler with symbolic forward labels.
type asm struct {
	code    []*insn
	pending []*label // bound to the next emitted instruction
}

type insn struct {
	code   uint16
	k      uint32
	jt, jf *label // conditional jumps; jt alone for BPF_JA
	pos    int    // index in the program, set by assemble
}

type label struct{ at *insn }

func (a *asm) newLabel() *label { return &label{} }

// bind places l at the next instruction emitted.
func (a *asm) bind(l *label) { a.pending = append(a.pending, l) }

func (a *asm) emit(in *insn) {
	for _, l := range a.pending {
		l.at = in
	}
	a.pending = a.pending[:0]
	a.code = append(a.code, in)
}

func (a *asm) ld(off uint32) { a.emit(&insn{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off}) }
func (a *asm) alu(op uint16, k uint32) {
	a.emit(&insn{code: unix.BPF_ALU | op | unix.BPF_K, k: k})
}
func (a *asm) ret(k uint32) { a.emit(&insn{code: unix.BPF_RET | unix.BPF_K, k: k}) }

// jmp emits a conditional jump; a nil target means the next instruction.
func (a *asm) jmp(op uint16, k uint32, jt, jf *label) {
	in := &insn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf}
	var next *label
	if jt == nil || jf == nil {
		next = a.newLabel()
		if jt == nil {
			in.jt = next
		}
		if jf == nil {
			in.jf = next
		}
	}
	a.emit(in)
	if next != nil {
		a.bind(next)
	}
}

func isCondJump(code uint16) bool {
	return code&0x07 == unix.BPF_JMP && code&0xf0 != unix.BPF_JA
}

// assemble resolves labels into offsets. A conditional jump reaches at most
// 255 instructions ahead; for a farther target a trampoline is inserted right
// after the jump (a copy of a ret target, else a BPF_JA with a 32-bit
// offset). Insertions only lengthen other jumps, so this repeats until every
// offset fits, which it does after a few rounds.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	if len(a.pending) != 0 {
		return nil, fmt.Errorf("seccomp: internal error: label bound past the end of the program")
	}
	code := a.code
	for {
		for i, in := range code {
			in.pos = i
		}
		out := make([]*insn, 0, len(code))
		grown := false
		for i, in := range code {
			out = append(out, in)
			if !isCondJump(in.code) {
				continue
			}
			for _, t := range []**label{&in.jt, &in.jf} {
				target := (*t).at
				if target.pos-i-1 <= 255 {
					continue
				}
				tr := &insn{code: unix.BPF_JMP | unix.BPF_JA, jt: &label{at: target}}
				if target.code == unix.BPF_RET|unix.BPF_K {
					tr = &insn{code: target.code, k: target.k}
				}
				out = append(out, tr)
				*t = &label{at: tr}
				grown = true
			}
		}
		code = out
		if !grown {
			break
		}
	}
	prog := make([]unix.SockFilter, len(code))
	for i, in := range code {
		f := unix.SockFilter{Code: in.code, K: in.k}
		off := func(l *label) int {
			if l == nil || l.at == nil {
				panic("seccomp: unbound label")
			}
			return l.at.pos - i - 1
		}
		switch {
		case in.code == unix.BPF_JMP|unix.BPF_JA:
			f.K = uint32(off(in.jt))
		case isCondJump(in.code):
			jt, jf := off(in.jt), off(in.jf)
			if jt < 0 || jf < 0 || jt > 255 || jf > 255 {
				return nil, fmt.Errorf("seccomp: internal error: jump offset %d/%d at %d", jt, jf, i)
			}
			f.Jt, f.Jf = uint8(jt), uint8(jf)
		}
		prog[i] = f
	}
	return prog, nil
}
