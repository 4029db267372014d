package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Unit tests of the device rules: the policy, the v1 writes and the eBPF
// program (run by a small interpreter below). No root needed.

func devRuleSpec(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
}

// containerRules is the usual list: deny all, allow /dev/null and /dev/zero.
func containerRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "rwm"),
		devRuleSpec(true, "c", ptr[int64](1), ptr[int64](5), "rwm"),
	}
}

func TestDevicePolicy(t *testing.T) {
	p, err := newDevicePolicy(containerRules())
	want := map[devKey]uint8{{'c', 1, 3}: accAll, {'c', 1, 5}: accAll}
	if err != nil || p.allow || !maps.Equal(p.ex, want) {
		t.Errorf("container rules: %+v, %v; want deny with %v", p, err, want)
	}

	for _, c := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		allow bool
		ex    map[devKey]uint8
	}{
		{"allow all", []specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Access: "rwm"}}, true, nil},
		{"allow all, no access", []specs.LinuxDeviceCgroup{{Allow: true}}, true, nil},
		{"deny all, then allow all", []specs.LinuxDeviceCgroup{{Access: "rwm"}, {Allow: true, Access: "rwm"}}, true, nil},
		{"allow all but writing 8:*", []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"},
			devRuleSpec(false, "b", ptr[int64](8), nil, "w")}, true, map[devKey]uint8{{'b', 8, anyNum}: accWrite}},
		{"a with numbers is c and b", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "a", ptr[int64](1), ptr[int64](-1), "r")}, false,
			map[devKey]uint8{{'c', 1, anyNum}: accRead, {'b', 1, anyNum}: accRead}},
		{"a with less access is c and b", []specs.LinuxDeviceCgroup{{Access: "rwm"}, {Allow: true, Access: "m"}}, false,
			map[devKey]uint8{{'c', anyNum, anyNum}: accMknod, {'b', anyNum, anyNum}: accMknod}},
		{"same device, access merged", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "r"),
			devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "w")}, false, map[devKey]uint8{{'c', 1, 3}: accRead | accWrite}},
		{"later deny takes access away", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "rwm"),
			devRuleSpec(false, "c", nil, nil, "w")}, false, map[devKey]uint8{{'c', 1, 3}: accRead | accMknod}},
		{"narrower rule inherits the wider's access", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](1), nil, "r"),
			devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "w")}, false,
			map[devKey]uint8{{'c', 1, anyNum}: accRead, {'c', 1, 3}: accRead | accWrite}},
		{"M:* and *:m meet in M:m", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](1), nil, "r"),
			devRuleSpec(true, "c", nil, ptr[int64](3), "w")}, false,
			map[devKey]uint8{{'c', 1, anyNum}: accRead, {'c', anyNum, 3}: accWrite, {'c', 1, 3}: accRead | accWrite}},
		{"redundant narrower rule dropped", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "r"),
			devRuleSpec(true, "c", ptr[int64](1), nil, "rw")}, false, map[devKey]uint8{{'c', 1, anyNum}: accRead | accWrite}},
		{"deny of what is not allowed is a no-op", []specs.LinuxDeviceCgroup{{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), "rwm"),
			devRuleSpec(false, "b", ptr[int64](1), ptr[int64](3), "rwm")}, false, map[devKey]uint8{{'c', 1, 3}: accAll}},
		{"empty list denies all", nil, false, nil},
	} {
		p, err := newDevicePolicy(c.rules)
		if err != nil || p.allow != c.allow || len(p.ex) != len(c.ex) || (len(c.ex) > 0 && !maps.Equal(p.ex, c.ex)) {
			t.Errorf("%s: got %+v, %v; want allow=%v %v", c.name, p, err, c.allow, c.ex)
		}
	}

	// A hole in a wider exception cannot be expressed.
	for name, rules := range map[string][]specs.LinuxDeviceCgroup{
		"deny inside an allow": {{Access: "rwm"}, devRuleSpec(true, "c", ptr[int64](1), nil, "rwm"),
			devRuleSpec(false, "c", ptr[int64](1), ptr[int64](3), "w")},
		"deny across an allow": {{Access: "rwm"}, devRuleSpec(true, "c", ptr[int64](1), nil, "rwm"),
			devRuleSpec(false, "c", nil, ptr[int64](3), "r")},
		"allow inside a deny": {{Allow: true, Access: "rwm"}, devRuleSpec(false, "b", nil, nil, "w"),
			devRuleSpec(true, "b", ptr[int64](8), ptr[int64](0), "w")},
	} {
		_, err := newDevicePolicy(rules)
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "device rule 2 (") || !strings.Contains(err.Error(), "cannot express") {
			t.Errorf("%s: err = %v, want an ErrInvalid about a hole", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestParseDeviceRulesRefusals(t *testing.T) {
	for name, r := range map[string]specs.LinuxDeviceCgroup{
		"type":             devRuleSpec(true, "p", nil, nil, "rwm"),
		"access":           devRuleSpec(true, "c", nil, nil, "rwx"),
		"empty access":     devRuleSpec(true, "c", ptr[int64](1), ptr[int64](3), ""),
		"empty access a":   devRuleSpec(true, "a", ptr[int64](1), nil, ""),
		"negative major":   devRuleSpec(true, "c", ptr[int64](-2), nil, "r"),
		"major too large":  devRuleSpec(true, "c", ptr[int64](math.MaxUint32), nil, "r"),
		"minor too large":  devRuleSpec(true, "b", nil, ptr[int64](1<<40), "r"),
		"negative minor a": devRuleSpec(true, "a", nil, ptr[int64](-7), "r"),
	} {
		err := validate(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "rwm"}, r}})
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "device rule 1: ") {
			t.Errorf("%s: validate = %v, want an ErrInvalid about rule 1", name, err)
		}
	}
	if _, err := parseDeviceRules([]specs.LinuxDeviceCgroup{devRuleSpec(true, "c", ptr[int64](math.MaxUint32-1), ptr[int64](0), "r")}); err != nil {
		t.Errorf("major 2^32-2: %v", err)
	}
}

func TestV1DeviceWrites(t *testing.T) {
	target, err := newDevicePolicy(containerRules())
	if err != nil {
		t.Fatal(err)
	}
	// A new cgroup allows everything (its exceptions unknown).
	got := v1DeviceWrites(nil, target)
	want := []deviceWrite{{"devices.deny", "a"}, {"devices.allow", "c 1:3 rwm"}, {"devices.allow", "c 1:5 rwm"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fresh cgroup: %q, want %q", got, want)
	}
	// No change, no writes.
	if got := v1DeviceWrites(&target, target); len(got) != 0 {
		t.Errorf("same rules: %q, want none", got)
	}
	// Narrowing: only the difference, taken away, no reset.
	next, err := newDevicePolicy([]specs.LinuxDeviceCgroup{{Access: "rwm"},
		devRuleSpec(true, "c", ptr[int64](1), ptr[int64](5), "r"),
		devRuleSpec(true, "b", ptr[int64](7), nil, "m")})
	if err != nil {
		t.Fatal(err)
	}
	got = v1DeviceWrites(&target, next)
	want = []deviceWrite{{"devices.deny", "c 1:3 rwm"}, {"devices.deny", "c 1:5 wm"}, {"devices.allow", "b 7:* m"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("narrowing: %q, want %q", got, want)
	}
	// To a deny list and back.
	deny, err := newDevicePolicy([]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}, devRuleSpec(false, "b", nil, nil, "w")})
	if err != nil {
		t.Fatal(err)
	}
	got = v1DeviceWrites(&target, deny)
	want = []deviceWrite{{"devices.allow", "a"}, {"devices.deny", "b *:* w"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("to a deny list: %q, want %q", got, want)
	}
	got = v1DeviceWrites(nil, target)
	if got[0] != (deviceWrite{"devices.deny", "a"}) {
		t.Errorf("from a deny list: %q, want a reset first", got)
	}
}

func TestParseDevicesList(t *testing.T) {
	p, err := parseDevicesList("c 1:3 rwm\nc 1:5 rwm\nb *:* m\nc 136:* rw\n")
	want := map[devKey]uint8{{'c', 1, 3}: accAll, {'c', 1, 5}: accAll, {'b', anyNum, anyNum}: accMknod, {'c', 136, anyNum}: accRead | accWrite}
	if err != nil || p == nil || p.allow || !maps.Equal(p.ex, want) {
		t.Errorf("parseDevicesList = %+v, %v", p, err)
	}
	if p, err := parseDevicesList("a *:* rwm\n"); err != nil || p != nil {
		t.Errorf("allow all: %+v, %v; want nil", p, err)
	}
	if p, err := parseDevicesList(""); err != nil || p == nil || len(p.ex) != 0 {
		t.Errorf("empty: %+v, %v; want deny all", p, err)
	}
	for _, bad := range []string{"c 1:3", "x 1:3 rwm", "c 1-3 rwm", "c 1:3 rwx", "c a:3 r"} {
		if _, err := parseDevicesList(bad); err == nil {
			t.Errorf("parseDevicesList(%q) succeeded", bad)
		}
	}
}

func TestDevicesProgramShape(t *testing.T) {
	p, err := newDevicePolicy(containerRules())
	if err != nil {
		t.Fatal(err)
	}
	got := devicesProgram(p)
	block := func(minor int32) []bpfInsn {
		return []bpfInsn{
			{op: opJneImm, dst: rType, imm: unix.BPF_DEVCG_DEV_CHAR, off: 4},
			{op: opJneImm, dst: rMajor, imm: 1, off: 3},
			{op: opJneImm, dst: rMinor, imm: minor, off: 2},
			{op: opMov32, dst: rRet, imm: 1},
			{op: opExit},
		}
	}
	want := []bpfInsn{
		{op: opLdxW, dst: rType, src: rCtx, off: 0},
		{op: opAnd32, dst: rType, imm: 0xffff},
		{op: opLdxW, dst: rAccess, src: rCtx, off: 0},
		{op: opRsh32, dst: rAccess, imm: 16},
		{op: opLdxW, dst: rMajor, src: rCtx, off: 4},
		{op: opLdxW, dst: rMinor, src: rCtx, off: 8},
	}
	want = append(want, block(3)...)
	want = append(want, block(5)...)
	want = append(want, bpfInsn{op: opMov32, dst: rRet, imm: 0}, bpfInsn{op: opExit})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("program:\n%s\nwant:\n%s", dumpProgram(got), dumpProgram(want))
	}
	code := encodeProgram(got)
	if len(code) != 8*len(got) {
		t.Fatalf("encoded %d bytes for %d instructions", len(code), len(got))
	}
	if first := code[:8]; !reflect.DeepEqual(first, []byte{0x61, 0x12, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("first instruction (rType = *(u32 *)(rCtx + 0)) encodes as % x", first)
	}
	if jne := code[6*8 : 7*8]; !reflect.DeepEqual(jne, []byte{0x55, 0x02, 4, 0, 2, 0, 0, 0}) {
		t.Errorf("if rType != 2 goto +4 encodes as % x", jne)
	}

	// Allow all: the default alone.
	allowAll, _ := newDevicePolicy([]specs.LinuxDeviceCgroup{{Allow: true}})
	if prog := devicesProgram(allowAll); len(prog) != 8 || prog[6] != (bpfInsn{op: opMov32, dst: rRet, imm: 1}) {
		t.Errorf("allow-all program:\n%s", dumpProgram(prog))
	}
}

// TestDeviceRulesAgree checks, for many random rule lists and every
// device and access of a small universe, that the list's meaning (last
// matching rule wins, access kind by kind) is what the eBPF program
// decides, what the v1 kernel decides with the policy's exceptions, and
// what the v1 kernel ends up with after the writes of v1DeviceWrites from
// any earlier state.
func TestDeviceRulesAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	majors := []int64{anyNum, 0, 1, 7, math.MaxInt32 + 6}
	minors := []int64{anyNum, 0, 3, 5}
	num := func(ns []int64) *int64 {
		switch n := ns[rng.IntN(len(ns))]; {
		case n == anyNum && rng.IntN(2) == 0:
			return nil
		default:
			return &n
		}
	}
	randomList := func() []specs.LinuxDeviceCgroup {
		rules := make([]specs.LinuxDeviceCgroup, 1+rng.IntN(6))
		for i := range rules {
			r := specs.LinuxDeviceCgroup{Allow: rng.IntN(2) == 0, Type: []string{"", "a", "c", "b", "c", "b"}[rng.IntN(6)]}
			if rng.IntN(5) > 0 {
				r.Major, r.Minor = num(majors), num(minors)
			}
			for r.Access == "" {
				r.Access = accessString(uint8(rng.IntN(8)))
			}
			if (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil && rng.IntN(4) == 0 {
				r.Access = ""
			}
			rules[i] = r
		}
		return rules
	}

	var prev *devicePolicy
	kernel := &kernelV1{ex: map[devKey]uint8{}, allow: true}
	tested, refused := 0, 0
	for range 3000 {
		rules := randomList()
		p, err := newDevicePolicy(rules)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: %v", fmtRules(rules), err)
			}
			refused++
			continue
		}
		tested++
		prog := devicesProgram(p)

		// The kernel v1 writes from the previous list's state.
		var cur *devicePolicy
		if prev != nil && !prev.allow {
			cur = prev
		}
		for _, w := range v1DeviceWrites(cur, p) {
			if err := kernel.write(w); err != nil {
				t.Fatalf("%s: write %q: %v", fmtRules(rules), w, err)
			}
		}
		if kernel.allow != p.allow || !maps.Equal(kernel.ex, p.ex) && len(kernel.ex)+len(p.ex) > 0 {
			t.Fatalf("%s: v1 kernel ends with %+v, want %+v", fmtRules(rules), *kernel, p)
		}
		prev = &p

		for _, typ := range []byte{'c', 'b'} {
			for _, major := range []uint32{0, 1, 2, 7, math.MaxInt32 + 6} {
				for _, minor := range []uint32{0, 1, 3, 5} {
					for acc := uint8(1); acc <= accAll; acc++ {
						want := listAllows(rules, typ, major, minor, acc)
						if got := kernel.decide(typ, major, minor, acc); got != want {
							t.Fatalf("%s: %c %d:%d %s: v1 kernel says %v, the list %v (policy %+v)",
								fmtRules(rules), typ, major, minor, accessString(acc), got, want, p)
						}
						got, err := runDevicesProgram(prog, typ, major, minor, acc)
						if err != nil {
							t.Fatalf("%s: %v\n%s", fmtRules(rules), err, dumpProgram(prog))
						}
						if got != want {
							t.Fatalf("%s: %c %d:%d %s: eBPF says %v, the list %v (policy %+v)\n%s",
								fmtRules(rules), typ, major, minor, accessString(acc), got, want, p, dumpProgram(prog))
						}
					}
				}
			}
		}
	}
	t.Logf("%d random lists checked, %d refused as holes", tested, refused)
	if tested < 1000 {
		t.Errorf("only %d lists could be checked", tested)
	}
}

// listAllows is the meaning of an OCI rule list: for each kind of access
// asked for, the last rule that matches decides (none: deny).
func listAllows(rules []specs.LinuxDeviceCgroup, typ byte, major, minor uint32, access uint8) bool {
	numMatches := func(p *int64, n uint32) bool { return p == nil || *p == -1 || *p == int64(n) }
	for _, bit := range []uint8{accRead, accWrite, accMknod} {
		if access&bit == 0 {
			continue
		}
		allowed := false
		for _, r := range rules {
			acc, _ := parseAccess(r.Access)
			if r.Access == "" {
				acc = accAll
			}
			if (r.Type == "" || r.Type == "a" || r.Type[0] == typ) && numMatches(r.Major, major) && numMatches(r.Minor, minor) && acc&bit != 0 {
				allowed = r.Allow
			}
		}
		if !allowed {
			return false
		}
	}
	return true
}

// kernelV1 models the v1 devices controller of one cgroup whose parent
// allows everything (security/device_cgroup.c).
type kernelV1 struct {
	allow bool
	ex    map[devKey]uint8
}

func (k *kernelV1) write(w deviceWrite) error {
	if w.file != "devices.allow" && w.file != "devices.deny" {
		return fmt.Errorf("no file %s", w.file)
	}
	if strings.HasPrefix(w.line, "a") {
		k.allow, k.ex = w.file == "devices.allow", map[devKey]uint8{}
		return nil
	}
	p, err := parseDevicesList(w.line)
	if err != nil || p == nil || len(p.ex) != 1 {
		return fmt.Errorf("bad line %q", w.line)
	}
	for key, acc := range p.ex {
		if (w.file == "devices.allow") != k.allow {
			k.ex[key] |= acc
		} else if k.ex[key] &^= acc; k.ex[key] == 0 {
			delete(k.ex, key)
		}
	}
	return nil
}

// decide is devcgroup_legacy_check_permission: with default allow, an
// exception with any of the access denies; with default deny, one
// exception with all of it allows.
func (k *kernelV1) decide(typ byte, major, minor uint32, access uint8) bool {
	dev := devKey{typ, int64(major), int64(minor)}
	for key, acc := range k.ex {
		if !key.covers(dev) {
			continue
		}
		if k.allow && acc&access != 0 {
			return false
		}
		if !k.allow && access&^acc == 0 {
			return true
		}
	}
	return k.allow
}

// runDevicesProgram interprets the instructions devicesProgram emits, with
// some of the verifier's checks: no unknown opcode, only forward jumps
// that land inside, only reads of the context's three u32 from r1 while it
// holds the context, no read of an unset register, r0 set at exit, and 0
// or 1 returned.
func runDevicesProgram(prog []bpfInsn, typ byte, major, minor uint32, access uint8) (bool, error) {
	devType := uint32(unix.BPF_DEVCG_DEV_CHAR)
	if typ == 'b' {
		devType = unix.BPF_DEVCG_DEV_BLOCK
	}
	ctx := [3]uint32{devType | uint32(access)<<16, major, minor}
	var reg [11]uint64
	var set [11]bool
	set[rCtx] = true
	r1IsCtx := true
	use := func(pc int, r uint8) error {
		if r > 10 || !set[r] {
			return fmt.Errorf("insn %d: reads unset register r%d", pc, r)
		}
		return nil
	}
	def := func(r uint8, v uint64) {
		reg[r], set[r] = v, true
		if r == rCtx {
			r1IsCtx = false
		}
	}
	for pc := 0; pc < len(prog); {
		in := prog[pc]
		next := pc + 1
		if in.op&opClass == unix.BPF_JMP && in.op != opExit {
			if in.off < 0 || next+int(in.off) >= len(prog) {
				return false, fmt.Errorf("insn %d: jump by %d out of the program or backwards", pc, in.off)
			}
		}
		var err error
		switch in.op {
		case opLdxW:
			if in.src != rCtx || !r1IsCtx || in.off < 0 || in.off > 8 || in.off%4 != 0 {
				return false, fmt.Errorf("insn %d: bad context read r%d+%d", pc, in.src, in.off)
			}
			def(in.dst, uint64(ctx[in.off/4]))
		case opAnd32:
			err = use(pc, in.dst)
			def(in.dst, uint64(uint32(reg[in.dst])&uint32(in.imm)))
		case opRsh32:
			err = use(pc, in.dst)
			def(in.dst, uint64(uint32(reg[in.dst])>>(uint32(in.imm)&31)))
		case opMov32:
			def(in.dst, uint64(uint32(in.imm)))
		case opMov32X:
			err = use(pc, in.src)
			def(in.dst, uint64(uint32(reg[in.src])))
		case opJneImm, opJeqImm, opJsetImm, opJneX:
			if err = use(pc, in.dst); err != nil {
				break
			}
			imm := uint64(int64(in.imm)) // sign-extended, as the kernel does
			var jump bool
			switch in.op {
			case opJneImm:
				jump = reg[in.dst] != imm
			case opJeqImm:
				jump = reg[in.dst] == imm
			case opJsetImm:
				jump = reg[in.dst]&imm != 0
			case opJneX:
				err = use(pc, in.src)
				jump = reg[in.dst] != reg[in.src]
			}
			if jump {
				next += int(in.off)
			}
		case opExit:
			if err := use(pc, rRet); err != nil {
				return false, err
			}
			if reg[rRet] > 1 {
				return false, fmt.Errorf("insn %d: returns %d", pc, reg[rRet])
			}
			return reg[rRet] == 1, nil
		default:
			return false, fmt.Errorf("insn %d: unknown opcode %#x", pc, in.op)
		}
		if err != nil {
			return false, err
		}
		pc = next
	}
	return false, errors.New("runs off the end of the program")
}

func dumpProgram(prog []bpfInsn) string {
	var b strings.Builder
	for i, in := range prog {
		fmt.Fprintf(&b, "%3d: op=%#02x dst=r%d src=r%d off=%d imm=%d\n", i, in.op, in.dst, in.src, in.off, in.imm)
	}
	return b.String()
}

// fmtRules spells a rule list for failure messages.
func fmtRules(rules []specs.LinuxDeviceCgroup) string {
	num := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	var parts []string
	for _, r := range rules {
		parts = append(parts, fmt.Sprintf("{%v %q %s:%s %q}", r.Allow, r.Type, num(r.Major), num(r.Minor), r.Access))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
