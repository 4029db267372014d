//go:build linux && amd64

package seccomp

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// data is struct seccomp_data.
type data struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d *data) bytes() [64]byte {
	var b [64]byte
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// checkProgram does what the kernel's classic-BPF and seccomp checkers do
// for the instructions we use.
func checkProgram(t testing.TB, prog []unix.SockFilter) {
	t.Helper()
	if len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
		t.Fatalf("program length %d", len(prog))
	}
	for pc, in := range prog {
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || in.K >= 64 {
				t.Fatalf("%d: bad load offset %d", pc, in.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_RET | unix.BPF_K:
		case unix.BPF_JMP | unix.BPF_JA:
			if pc+1+int(in.K) >= len(prog) {
				t.Fatalf("%d: ja out of range", pc)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if pc+1+int(in.Jt) >= len(prog) || pc+1+int(in.Jf) >= len(prog) {
				t.Fatalf("%d: jump out of range", pc)
			}
		default:
			t.Fatalf("%d: unexpected opcode %#x", pc, in.Code)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		t.Fatalf("last instruction is not a ret: %#x", last.Code)
	}
}

// emulate runs a classic-BPF seccomp program over d. It also returns the
// number of instructions executed.
func emulate(t testing.TB, prog []unix.SockFilter, d data) (uint32, int) {
	b := d.bytes()
	ret, steps, err := run(prog, b[:])
	if err != nil {
		t.Fatal(err)
	}
	return ret, steps
}

// reference decides a call straight from the configuration, without BPF.
func reference(s *specs.LinuxSeccomp, d data) uint32 {
	var x32, i386 bool
	for _, a := range s.Architectures {
		x32 = x32 || a == specs.ArchX32
		i386 = i386 || a == specs.ArchX86
	}
	var a abi
	switch {
	case d.arch == unix.AUDIT_ARCH_X86_64 && d.nr < 0x40000000:
		a = abiX86_64
	case d.arch == unix.AUDIT_ARCH_X86_64 && x32:
		a = abiX32
	case d.arch == unix.AUDIT_ARCH_I386 && i386:
		a = abiI386
	default:
		return unix.SECCOMP_RET_KILL_THREAD
	}
	for _, e := range s.Syscalls {
		for _, name := range e.Names {
			nr, ok := lookup(a, name)
			if ok && nr == d.nr && refConds(e.Args, d.args, a == abiI386) {
				return refAction(e.Action, e.ErrnoRet)
			}
			if m, ok := i386Mux[name]; ok && a == abiI386 && d.nr == m.nr {
				call := uint32(d.args[0])
				if m.nr == 117 {
					call &= 0xffff
				}
				if call == m.call {
					return refAction(e.Action, e.ErrnoRet)
				}
			}
		}
	}
	return refAction(s.DefaultAction, s.DefaultErrnoRet)
}

func refConds(conds []specs.LinuxSeccompArg, args [6]uint64, low32 bool) bool {
	for _, c := range conds {
		x, v, v2 := args[c.Index], c.Value, c.ValueTwo
		if low32 {
			x, v, v2 = uint64(uint32(x)), uint64(uint32(v)), uint64(uint32(v2))
		}
		var ok bool
		switch c.Op {
		case specs.OpNotEqual:
			ok = x != v
		case specs.OpLessThan:
			ok = x < v
		case specs.OpLessEqual:
			ok = x <= v
		case specs.OpEqualTo:
			ok = x == v
		case specs.OpGreaterEqual:
			ok = x >= v
		case specs.OpGreaterThan:
			ok = x > v
		case specs.OpMaskedEqual:
			ok = x&v == v2&v
		}
		if !ok {
			return false
		}
	}
	return true
}

func refAction(a specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	data := uint32(1)
	if errnoRet != nil {
		data = uint32(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return 0
	case specs.ActKillProcess:
		return 0x80000000
	case specs.ActTrap:
		return 0x00030000
	case specs.ActErrno:
		return 0x00050000 | data
	case specs.ActTrace:
		return 0x7ff00000 | data
	case specs.ActAllow:
		return 0x7fff0000
	case specs.ActLog:
		return 0x7ffc0000
	}
	panic("bad action " + a)
}

func u(v uint) *uint { return &v }

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) *Filter {
	t.Helper()
	f, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	checkProgram(t, f.prog)
	return f
}

// interesting returns syscall numbers and argument values worth probing for
// a configuration.
func interesting(s *specs.LinuxSeccomp) (nrs []uint32, vals []uint64) {
	set := map[uint32]bool{0: true, 1: true, 102: true, 117: true, 0x3fffffff: true,
		0x40000000: true, 0x40000001: true, 0x7fffffff: true, 0xfffffffe: true, 0xffffffff: true}
	vset := map[uint64]bool{0: true, 1: true, ^uint64(0): true, 0xffffffff: true, 1 << 32: true, 1 << 63: true}
	for _, e := range s.Syscalls {
		for _, name := range e.Names {
			for a := abi(0); a < numABIs; a++ {
				if nr, ok := lookup(a, name); ok {
					set[nr-1], set[nr], set[nr+1] = true, true, true
				}
			}
			if m, ok := i386Mux[name]; ok {
				vset[uint64(m.call)] = true
				vset[uint64(m.call)|0x10000] = true
				vset[uint64(m.call)|1<<32] = true
			}
		}
		for _, c := range e.Args {
			for _, v := range []uint64{c.Value, c.ValueTwo, c.Value & c.ValueTwo} {
				for _, w := range []uint64{v, v - 1, v + 1, v ^ 1<<32, v ^ 1<<31, v | 0xffffffff00000000, v & 0xffffffff, v + 1<<32, v - 1<<32} {
					vset[w] = true
				}
			}
		}
	}
	for nr := range set {
		nrs = append(nrs, nr)
	}
	for v := range vset {
		vals = append(vals, v)
	}
	return nrs, vals
}

var arches = []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0}

// compare checks the compiled program against the reference for many calls.
func compare(t *testing.T, s *specs.LinuxSeccomp, rng *rand.Rand, perNr int) {
	t.Helper()
	f := mustCompile(t, s)
	nrs, vals := interesting(s)
	for _, arch := range arches {
		for _, nr := range nrs {
			for i := 0; i < perNr; i++ {
				d := data{nr: nr, arch: arch, ip: rng.Uint64()}
				for j := range d.args {
					if i == 0 {
						continue // all-zero args
					}
					if rng.Intn(8) == 0 {
						d.args[j] = rng.Uint64()
					} else {
						d.args[j] = vals[rng.Intn(len(vals))]
					}
				}
				got, _ := emulate(t, f.prog, d)
				if want := reference(s, d); got != want {
					js, _ := json.Marshal(s)
					t.Fatalf("arch %#x nr %#x args %#x: got %#x, want %#x\nconfig: %s\n%s", arch, nr, d.args, got, want, js, disasm(f.prog))
				}
			}
		}
	}
}

func disasm(prog []unix.SockFilter) string {
	var sb strings.Builder
	for i, in := range prog {
		fmt.Fprintf(&sb, "%4d: code=%#04x jt=%d jf=%d k=%#x\n", i, in.Code, in.Jt, in.Jf, in.K)
	}
	return sb.String()
}

func TestValidation(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, tc := range []struct {
		name string
		s    specs.LinuxSeccomp
		want string
	}{
		{"unknown default", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"},
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"missing default", specs.LinuxSeccomp{}, `linux.seccomp.defaultAction: missing`},
		{"default errno on allow", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: u(5)},
			`linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE`},
		{"errno too big", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: u(70000)},
			`linux.seccomp.defaultErrnoRet: 70000 is out of range`},
		{"unknown action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{ok, ok, ok,
			{Names: []string{"read"}, Action: "SCMP_ACT_FOO"}}},
			`linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActNotify}}},
			`linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported`},
		{"notify default", specs.LinuxSeccomp{DefaultAction: specs.ActNotify},
			`linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported`},
		{"listener", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/x.sock"},
			`linux.seccomp.listenerPath: seccomp user notification is not supported`},
		{"errnoRet on allow", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: u(1)}}},
			`linux.seccomp.syscalls[0].errnoRet: only valid with`},
		{"no names", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Action: specs.ActErrno}}},
			`linux.seccomp.syscalls[0].names: no syscall names`},
		{"empty name", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", ""}, Action: specs.ActErrno}}},
			`linux.seccomp.syscalls[0].names[1]: empty syscall name`},
		{"arg index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo}, {Index: 6, Op: specs.OpEqualTo}}}}},
			`linux.seccomp.syscalls[0].args[1].index: 6 is out of range 0-5`},
		{"arg op", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_FOO"}}}}},
			`linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_FOO"`},
		{"arg op missing", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Value: 1}}}}},
			`linux.seccomp.syscalls[0].args[0].op: unknown operator ""`},
		{"flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{
			specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_FOO"}},
			`linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
		{"killable recv", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{
			specs.LinuxSeccompFlagWaitKillableRecv}},
			`linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported`},
		{"arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{
			specs.ArchX86_64, "SCMP_ARCH_VAX"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(&tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Compile(nil); err == nil {
		t.Fatal("Compile(nil) succeeded")
	}
}

func TestAccepted(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64, specs.ArchARM},
		Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog,
			specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"no_such_syscall", "read", "arm_fadvise64_64"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: u(0)},
			{Names: []string{"close"}, Action: specs.ActTrace, ErrnoRet: u(65535)},
		},
	}
	f := mustCompile(t, s)
	if want := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW); f.flags != want {
		t.Errorf("flags %#x, want %#x", f.flags, want)
	}
	for nr, want := range map[uint32]uint32{
		unix.SYS_READ:  unix.SECCOMP_RET_ALLOW,
		unix.SYS_WRITE: unix.SECCOMP_RET_ERRNO | 0, //nolint:staticcheck // SA4016: errno 0 spelt out
		unix.SYS_CLOSE: unix.SECCOMP_RET_TRACE | 65535,
		unix.SYS_OPEN:  unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM),
	} {
		if got, _ := emulate(t, f.prog, data{nr: nr, arch: unix.AUDIT_ARCH_X86_64}); got != want {
			t.Errorf("nr %d: got %#x, want %#x", nr, got, want)
		}
	}
	insns := f.Instructions()
	insns[0].K = 12345
	if f.prog[0].K == 12345 {
		t.Error("Instructions does not return a copy")
	}
	// A name unknown everywhere changes nothing.
	s2 := *s
	s2.Syscalls = []specs.LinuxSyscall{{Names: []string{"no_such_syscall"}, Action: specs.ActAllow}}
	s3 := *s
	s3.Syscalls = nil
	if a, b := mustCompile(t, &s2).prog, mustCompile(t, &s3).prog; fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("an unknown syscall name changed the program")
	}
}

func TestActions(t *testing.T) {
	for a, want := range map[specs.LinuxSeccompAction]uint32{
		specs.ActKill:        unix.SECCOMP_RET_KILL_THREAD,
		specs.ActKillThread:  unix.SECCOMP_RET_KILL_THREAD,
		specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS,
		specs.ActTrap:        unix.SECCOMP_RET_TRAP,
		specs.ActErrno:       unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM),
		specs.ActTrace:       unix.SECCOMP_RET_TRACE | uint32(unix.EPERM),
		specs.ActAllow:       unix.SECCOMP_RET_ALLOW,
		specs.ActLog:         unix.SECCOMP_RET_LOG,
	} {
		for _, def := range []specs.LinuxSeccompAction{specs.ActAllow, specs.ActKillProcess} {
			f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: def,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: a}}})
			if got, _ := emulate(t, f.prog, data{nr: unix.SYS_GETPID, arch: unix.AUDIT_ARCH_X86_64}); got != want {
				t.Errorf("%s: got %#x, want %#x", a, got, want)
			}
			f = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: a})
			if got, _ := emulate(t, f.prog, data{nr: unix.SYS_GETPID, arch: unix.AUDIT_ARCH_X86_64}); got != want {
				t.Errorf("default %s: got %#x, want %#x", a, got, want)
			}
		}
	}
}

func TestArchitectures(t *testing.T) {
	mkdir := specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: u(13)}
	x86 := func(nr uint32) data { return data{nr: nr, arch: unix.AUDIT_ARCH_X86_64} }
	i386 := func(nr uint32) data { return data{nr: nr, arch: unix.AUDIT_ARCH_I386} }
	const allow, kill, eacces, eperm = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_KILL_THREAD,
		unix.SECCOMP_RET_ERRNO | 13, unix.SECCOMP_RET_ERRNO | 1
	for _, tc := range []struct {
		arches []specs.Arch
		def    specs.LinuxSeccompAction
		d      data
		want   uint32
	}{
		{nil, specs.ActAllow, x86(83), eacces},
		{nil, specs.ActAllow, x86(84), allow},
		// x32 calls, not listed: bad arch, never the (allowing) default.
		{nil, specs.ActAllow, x86(0x40000000 | 83), kill},
		{nil, specs.ActAllow, x86(0x40000000 | 84), kill},
		{nil, specs.ActAllow, x86(0xffffffff), kill},
		// i386 and others, not listed.
		{nil, specs.ActAllow, i386(39), kill},
		{nil, specs.ActAllow, data{nr: 83, arch: unix.AUDIT_ARCH_AARCH64}, kill},
		{[]specs.Arch{specs.ArchX86_64}, specs.ActAllow, x86(0x40000000 | 83), kill},
		// x32 listed: its own numbers, default for the rest.
		{[]specs.Arch{specs.ArchX32}, specs.ActAllow, x86(0x40000000 | 83), eacces},
		{[]specs.Arch{specs.ArchX32}, specs.ActAllow, x86(0x40000000 | 84), allow},
		{[]specs.Arch{specs.ArchX32}, specs.ActErrno, x86(0xffffffff), eperm},
		{[]specs.Arch{specs.ArchX32}, specs.ActAllow, i386(39), kill},
		// i386 listed: mkdir is 39 there.
		{[]specs.Arch{specs.ArchX86}, specs.ActAllow, i386(39), eacces},
		{[]specs.Arch{specs.ArchX86}, specs.ActAllow, i386(83), allow},
		{[]specs.Arch{specs.ArchX86}, specs.ActAllow, x86(0x40000000 | 83), kill},
	} {
		s := &specs.LinuxSeccomp{DefaultAction: tc.def, Architectures: tc.arches, Syscalls: []specs.LinuxSyscall{mkdir}}
		f := mustCompile(t, s)
		if got, _ := emulate(t, f.prog, tc.d); got != tc.want {
			t.Errorf("%v default %s arch %#x nr %#x: got %#x, want %#x", tc.arches, tc.def, tc.d.arch, tc.d.nr, got, tc.want)
		}
	}
}

func TestArgs64(t *testing.T) {
	const hit = unix.SECCOMP_RET_ERRNO | 99
	type probe struct {
		x   uint64
		hit bool
	}
	for _, tc := range []struct {
		op     specs.LinuxSeccompOperator
		v, v2  uint64
		probes []probe
	}{
		{specs.OpEqualTo, 0x100000005, 0, []probe{{5, false}, {0x100000005, true}, {0x200000005, false}, {0x100000004, false}}},
		{specs.OpNotEqual, 0x100000005, 0, []probe{{5, true}, {0x100000005, false}, {0x100000006, true}}},
		{specs.OpGreaterThan, 0x100000005, 0, []probe{{0xffffffff, false}, {0x100000005, false}, {0x100000006, true}, {0x200000000, true}, {0x100000004, false}}},
		{specs.OpGreaterEqual, 0x100000005, 0, []probe{{0x100000004, false}, {0x100000005, true}, {0x200000000, true}, {6, false}}},
		{specs.OpLessThan, 0x100000005, 0, []probe{{0x100000004, true}, {0x100000005, false}, {0xffffffff, true}, {0x200000000, false}}},
		{specs.OpLessEqual, 0x100000005, 0, []probe{{0x100000005, true}, {0x100000006, false}, {0x0ffffffff, true}, {0x100000000, true}}},
		{specs.OpGreaterThan, 0xffffffff, 0, []probe{{0xffffffff, false}, {0x100000000, true}, {1 << 63, true}}},
		{specs.OpLessThan, 1 << 63, 0, []probe{{1 << 63, false}, {1<<63 - 1, true}, {^uint64(0), false}}},
		{specs.OpMaskedEqual, 0xff000000ff, 0x1200000034, []probe{{0x1200000034, true}, {0x12ffffff34, true}, {0x1300000034, false}, {0x1200000035, false}, {0x34, false}}},
		{specs.OpMaskedEqual, 0x7E020000, 0, []probe{{0x11, true}, {0x10000000, false}, {0xffffffff00000011, true}}},
		// valueTwo bits outside the mask are ignored (libseccomp).
		{specs.OpMaskedEqual, 0xf, 0xf3, []probe{{0x3, true}, {0xf3, true}, {0x4, false}}},
		{specs.OpMaskedEqual, 0, 5, []probe{{0, true}, {^uint64(0), true}}},
	} {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: u(99),
			Args: []specs.LinuxSeccompArg{{Index: 3, Op: tc.op, Value: tc.v, ValueTwo: tc.v2}}}}}
		f := mustCompile(t, s)
		for _, p := range tc.probes {
			d := data{nr: unix.SYS_GETPGID, arch: unix.AUDIT_ARCH_X86_64}
			d.args[3] = p.x
			got, _ := emulate(t, f.prog, d)
			if (got == hit) != p.hit {
				t.Errorf("%s %#x/%#x on %#x: got %#x, want hit=%v", tc.op, tc.v, tc.v2, p.x, got, p.hit)
			}
		}
	}
}

func TestFirstMatchAndAnd(t *testing.T) {
	arg := func(i uint, op specs.LinuxSeccompOperator, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v}
	}
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: u(1), Syscalls: []specs.LinuxSyscall{
		{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: u(10),
			Args: []specs.LinuxSeccompArg{arg(0, specs.OpGreaterEqual, 10), arg(0, specs.OpLessEqual, 20), arg(1, specs.OpEqualTo, 7)}},
		{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: u(11), Args: []specs.LinuxSeccompArg{arg(0, specs.OpGreaterEqual, 10)}},
		{Names: []string{"personality"}, Action: specs.ActAllow},
		{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: u(12)}, // unreachable
	}}
	f := mustCompile(t, s)
	for _, tc := range []struct {
		a0, a1 uint64
		want   uint32
	}{
		{15, 7, unix.SECCOMP_RET_ERRNO | 10},
		{15, 8, unix.SECCOMP_RET_ERRNO | 11},
		{21, 7, unix.SECCOMP_RET_ERRNO | 11},
		{9, 7, unix.SECCOMP_RET_ALLOW},
	} {
		d := data{nr: unix.SYS_PERSONALITY, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{tc.a0, tc.a1}}
		if got, _ := emulate(t, f.prog, d); got != tc.want {
			t.Errorf("personality(%d, %d): got %#x, want %#x", tc.a0, tc.a1, got, tc.want)
		}
	}
}

func TestI386(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: u(97),
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 40}}},
			{Names: []string{"shmat"}, Action: specs.ActErrno, ErrnoRet: u(98)},
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: u(99),
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0xffffffff}}},
		}}
	f := mustCompile(t, s)
	for _, tc := range []struct {
		nr   uint32
		a0   uint64
		want uint32
	}{
		{359, 40, unix.SECCOMP_RET_ERRNO | 97},            // socket(AF_VSOCK)
		{359, 40 | 1<<32, unix.SECCOMP_RET_ERRNO | 97},    // stale upper half ignored
		{359, 2, unix.SECCOMP_RET_ALLOW},                  // socket(AF_INET)
		{102, 1, unix.SECCOMP_RET_ERRNO | 97},             // socketcall(SYS_SOCKET, ...): args out of reach
		{102, 2, unix.SECCOMP_RET_ALLOW},                  // socketcall(SYS_BIND, ...)
		{117, 21, unix.SECCOMP_RET_ERRNO | 98},            // ipc(SHMAT)
		{117, 21 | 1<<16, unix.SECCOMP_RET_ERRNO | 98},    // ipc(SHMAT, version 1)
		{117, 22, unix.SECCOMP_RET_ALLOW},                 // ipc(SHMDT)
		{397, 0, unix.SECCOMP_RET_ERRNO | 98},             // direct shmat
		{136, 0xffffffff, unix.SECCOMP_RET_ERRNO | 99},    // personality
		{136, ^uint64(0), unix.SECCOMP_RET_ERRNO | 99},    // low word only
		{136, 0xfffffffe, unix.SECCOMP_RET_ALLOW},         // personality
		{136 | 0x40000000, 0, unix.SECCOMP_RET_ALLOW},     // no x32 split on i386
		{unix.SYS_PERSONALITY, 0, unix.SECCOMP_RET_ALLOW}, // 135 is not personality on i386
	} {
		d := data{nr: tc.nr, arch: unix.AUDIT_ARCH_I386, args: [6]uint64{tc.a0}}
		if got, _ := emulate(t, f.prog, d); got != tc.want {
			t.Errorf("i386 nr %d arg0 %#x: got %#x, want %#x", tc.nr, tc.a0, got, tc.want)
		}
	}
}

func loadDockerDefault(t testing.TB) *specs.LinuxSeccomp {
	t.Helper()
	// Docker's profiles/seccomp/default.json as dockerd renders it on amd64
	// for a container with the default capabilities.
	b, err := os.ReadFile("testdata/docker-default-amd64.json")
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestDockerDefault(t *testing.T) {
	s := loadDockerDefault(t)
	if n := len(s.Syscalls[0].Names); n < 340 {
		t.Fatalf("fixture has only %d names in its allow entry", n)
	}
	f := mustCompile(t, s)
	t.Logf("Docker default profile: %d instructions", len(f.prog))
	if len(f.prog) > 1500 {
		t.Errorf("%d instructions: layout got worse", len(f.prog))
	}
	const allow, eperm = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | 1
	worst := 0
	for _, tc := range []struct {
		arch uint32
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{unix.AUDIT_ARCH_X86_64, unix.SYS_READ, [6]uint64{}, allow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_WRITEV, [6]uint64{}, allow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_MOUNT, [6]uint64{}, eperm},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_UNSHARE, [6]uint64{}, eperm},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE3, [6]uint64{}, unix.SECCOMP_RET_ERRNO | 38},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD}, allow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE, [6]uint64{unix.CLONE_NEWUSER}, eperm},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_VSOCK}, eperm},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_INET}, allow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY, [6]uint64{0xffffffff}, allow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY, [6]uint64{0x0008}, allow},
		{unix.AUDIT_ARCH_X86_64, unix.SYS_PERSONALITY, [6]uint64{0x0400000}, eperm},
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | unix.SYS_READ, [6]uint64{}, allow},
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | unix.SYS_MOUNT, [6]uint64{}, eperm},
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | 520, [6]uint64{}, allow}, // x32 execve
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | 59, [6]uint64{}, eperm},  // no x32 syscall there
		{unix.AUDIT_ARCH_I386, 140, [6]uint64{}, allow},                // _llseek
		{unix.AUDIT_ARCH_I386, 102, [6]uint64{}, allow},                // socketcall
		{unix.AUDIT_ARCH_I386, 21, [6]uint64{}, eperm},                 // mount
		{unix.AUDIT_ARCH_AARCH64, 63, [6]uint64{}, unix.SECCOMP_RET_KILL_THREAD},
	} {
		got, steps := emulate(t, f.prog, data{nr: tc.nr, arch: tc.arch, args: tc.args})
		if got != tc.want {
			t.Errorf("arch %#x nr %#x args %#x: got %#x, want %#x", tc.arch, tc.nr, tc.args[:1], got, tc.want)
		}
		worst = max(worst, steps)
	}
	// Every x86_64 syscall: the cost of the search stays logarithmic.
	for nr := uint32(0); nr < 600; nr++ {
		_, steps := emulate(t, f.prog, data{nr: nr, arch: unix.AUDIT_ARCH_X86_64})
		worst = max(worst, steps)
	}
	t.Logf("worst case %d instructions executed", worst)
	if worst > 40 {
		t.Errorf("worst case %d instructions executed", worst)
	}
	compare(t, s, rand.New(rand.NewSource(1)), 3)
}

// TestLongJumps forces bodies and subtrees larger than 255 instructions.
func TestLongJumps(t *testing.T) {
	var entries []specs.LinuxSyscall
	for i := 0; i < 40; i++ {
		entries = append(entries, specs.LinuxSyscall{
			Names: []string{"personality", "getpgid"}, Action: specs.ActErrno, ErrnoRet: u(uint(i)),
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: uint64(i) << 20},
				{Index: 1, Op: specs.OpGreaterThan, Value: uint64(i)},
			}})
	}
	entries = append(entries, specs.LinuxSyscall{Names: []string{"read", "write", "close"}, Action: specs.ActTrap})
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, specs.ArchX32}, Syscalls: entries}
	f := mustCompile(t, s)
	t.Logf("%d instructions", len(f.prog))
	if len(f.prog) < 1500 {
		t.Fatalf("only %d instructions: the test does not exercise long jumps", len(f.prog))
	}
	ja := 0
	for _, in := range f.prog {
		if in.Code == unix.BPF_JMP|unix.BPF_JA {
			ja++
		}
	}
	if ja == 0 {
		t.Error("no trampolines")
	}
	compare(t, s, rand.New(rand.NewSource(2)), 20)
	for i := uint64(0); i < 40; i++ {
		for _, d := range []data{
			{nr: unix.SYS_GETPGID, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{i << 20, i + 1}},
			{nr: 0x40000000 | unix.SYS_PERSONALITY, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{i << 20, i + 1}},
			{nr: 136, arch: unix.AUDIT_ARCH_I386, args: [6]uint64{i << 20, i + 1}},
		} {
			if got, _ := emulate(t, f.prog, d); got != unix.SECCOMP_RET_ERRNO|uint32(i) {
				t.Fatalf("%+v: got %#x, want errno %d", d, got, i)
			}
		}
	}
}

func TestTooLarge(t *testing.T) {
	var entries []specs.LinuxSyscall
	for i, e := range syscallTable { // a different condition for every syscall
		entries = append(entries, specs.LinuxSyscall{Names: []string{e.name}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpGreaterThan, Value: uint64(i) << 40}}})
	}
	_, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86, specs.ArchX32}, Syscalls: entries})
	if err == nil || !strings.Contains(err.Error(), "kernel's limit of 4096") {
		t.Fatalf("got %v", err)
	}
}

// TestRandom compares random configurations against the reference.
func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	names := []string{"read", "write", "mkdir", "personality", "socket", "bind", "ipc", "socketcall", "semop",
		"shmat", "execve", "ioctl", "_llseek", "chown32", "no_such_call", "clone", "getpgid", "uretprobe",
		"listns", "rt_sigaction", "preadv2", "arch_prctl"}
	ops := []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual}
	acts := []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillThread, specs.ActKillProcess, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog}
	vals := []uint64{0, 1, 2, 40, 0xffff, 0xffffffff, 1 << 32, 0x100000005, ^uint64(0), 1 << 63, 0x7E020000, 0xff00ff00ff00ff00}
	val := func() uint64 {
		if rng.Intn(4) == 0 {
			return rng.Uint64() >> uint(rng.Intn(64))
		}
		return vals[rng.Intn(len(vals))]
	}
	allArches := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64}
	n := 400
	if testing.Short() {
		n = 50
	}
	for i := 0; i < n; i++ {
		s := &specs.LinuxSeccomp{DefaultAction: acts[rng.Intn(len(acts))]}
		if s.DefaultAction == specs.ActErrno && rng.Intn(2) == 0 {
			s.DefaultErrnoRet = u(uint(rng.Intn(4096)))
		}
		for _, a := range allArches {
			if rng.Intn(2) == 0 {
				s.Architectures = append(s.Architectures, a)
			}
		}
		for j := rng.Intn(12); j > 0; j-- {
			e := specs.LinuxSyscall{Action: acts[rng.Intn(len(acts))]}
			if (e.Action == specs.ActErrno || e.Action == specs.ActTrace) && rng.Intn(2) == 0 {
				e.ErrnoRet = u(uint(rng.Intn(65536)))
			}
			for k := 1 + rng.Intn(3); k > 0; k-- {
				e.Names = append(e.Names, names[rng.Intn(len(names))])
			}
			for k := rng.Intn(4); k > 0; k-- {
				e.Args = append(e.Args, specs.LinuxSeccompArg{Index: uint(rng.Intn(3)), Op: ops[rng.Intn(len(ops))],
					Value: val(), ValueTwo: val()})
			}
			s.Syscalls = append(s.Syscalls, e)
		}
		compare(t, s, rng, 6)
	}
}

// TestTables checks the generated table against the kernel uapi headers when
// they are installed (linux-libc-dev); x/sys may know newer syscalls.
func TestTables(t *testing.T) {
	re := regexp.MustCompile(`^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ )?(\d+)\)?$`)
	for _, tc := range []struct {
		file string
		a    abi
		bit  uint32
	}{
		{"unistd_64.h", abiX86_64, 0},
		{"unistd_x32.h", abiX32, x32SyscallBit},
		{"unistd_32.h", abiI386, 0},
	} {
		fh, err := os.Open("/usr/include/x86_64-linux-gnu/asm/" + tc.file)
		if err != nil {
			t.Skipf("kernel headers not installed: %v", err)
		}
		seen := 0
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			m := re.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			nr, _ := strconv.Atoi(m[2])
			got, ok := lookup(tc.a, m[1])
			if !ok || got != uint32(nr)|tc.bit {
				t.Errorf("%s: %s is %d, table says %#x (%v)", tc.file, m[1], nr, got, ok)
			}
			seen++
		}
		fh.Close()
		if seen < 300 {
			t.Errorf("%s: only %d syscalls parsed", tc.file, seen)
		}
	}
	// Spot checks that do not depend on the headers.
	for _, tc := range []struct {
		a    abi
		name string
		nr   uint32
	}{
		{abiX86_64, "read", 0}, {abiX86_64, "mkdir", 83}, {abiX86_64, "clone3", 435},
		{abiX32, "execve", 0x40000000 | 520}, {abiX32, "read", 0x40000000},
		{abiI386, "socketcall", 102}, {abiI386, "mkdir", 39}, {abiI386, "socket", 359},
	} {
		if got, ok := lookup(tc.a, tc.name); !ok || got != tc.nr {
			t.Errorf("%s on abi %d: got %#x %v, want %#x", tc.name, tc.a, got, ok, tc.nr)
		}
	}
	for _, tc := range []struct {
		a    abi
		name string
	}{{abiX32, "ioctl_64"}, {abiX86_64, "socketcall"}, {abiX32, "uselib"}} {
		if nr, ok := lookup(tc.a, tc.name); ok {
			t.Errorf("%s on abi %d: unexpectedly %#x", tc.name, tc.a, nr)
		}
	}
	for i := 1; i < len(syscallTable); i++ {
		if syscallTable[i-1].name >= syscallTable[i].name {
			t.Fatalf("table not sorted at %s", syscallTable[i].name)
		}
	}
}

func BenchmarkCompileDockerDefault(b *testing.B) {
	s := loadDockerDefault(b)
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// Refuses names the action that refuses a call whatever its arguments, and
// nothing when the call goes through or its arguments decide.
func TestRefuses(t *testing.T) {
	rule := func(a specs.LinuxSeccompAction, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{"execve"}, Action: a, Args: args}
	}
	arg := specs.LinuxSeccompArg{Index: 0, Value: 1, Op: specs.OpEqualTo}
	for _, c := range []struct {
		def   specs.LinuxSeccompAction
		rules []specs.LinuxSyscall
		want  specs.LinuxSeccompAction
	}{
		{specs.ActAllow, nil, ""},
		{specs.ActLog, nil, ""},
		{specs.ActErrno, nil, specs.ActErrno},
		{specs.ActKill, nil, specs.ActKillThread},
		{specs.ActKillProcess, []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}, specs.ActKillProcess},
		{specs.ActKillProcess, []specs.LinuxSyscall{rule(specs.ActAllow)}, ""},
		{specs.ActAllow, []specs.LinuxSyscall{rule(specs.ActTrap)}, specs.ActTrap},
		{specs.ActAllow, []specs.LinuxSyscall{rule(specs.ActTrace)}, ""},
		{specs.ActAllow, []specs.LinuxSyscall{rule(specs.ActKill, arg)}, ""},
		{specs.ActErrno, []specs.LinuxSyscall{rule(specs.ActAllow, arg)}, ""},
	} {
		f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: c.def, Syscalls: c.rules})
		if got := f.Refuses("execve"); got != c.want {
			t.Errorf("default %s, rules %v: %q, want %q", c.def, c.rules, got, c.want)
		}
	}
	f, err := FromProgram(mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActKill}).prog, 0)
	if err != nil || f.Refuses("execve") != "" {
		t.Errorf("a filter from a program knows no profile: %v", err)
	}
}

// Eval decides a call with its arguments as the installed filter does.
func TestEval(t *testing.T) {
	f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"execve"}, Action: specs.ActKill, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0x1000, Op: specs.OpGreaterThan}}},
	}})
	for _, c := range []struct {
		args [6]uint64
		want specs.LinuxSeccompAction
	}{
		{[6]uint64{1, 2, 0x1000}, ""},
		{[6]uint64{1, 2, 0x1001}, specs.ActKillThread},
		{[6]uint64{1, 2, 1 << 40}, specs.ActKillThread},
	} {
		ret, ok := f.Eval(unix.SYS_EXECVE, c.args)
		if !ok || Refusal(ret) != c.want {
			t.Errorf("execve%v: %#x %v, want %q", c.args, ret, ok, c.want)
		}
	}
	if ret, ok := f.Eval(unix.SYS_GETPID, [6]uint64{}); !ok || ret != unix.SECCOMP_RET_ALLOW {
		t.Errorf("getpid: %#x %v", ret, ok)
	}
}
