package cgroups

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The OCI device allowlist (linux.resources.devices), shared by v1 (the
// devices controller, devices_v1.go) and v2 (an eBPF program,
// devices_v2.go).
//
// A rule list reads top to bottom and, for every device and every access
// (read, write, mknod) on it, the last rule that matches decides; nothing
// matching means deny. An access of several kinds (open for read and
// write) is allowed only if each kind is. The list is reduced to a
// devicePolicy, the form v1's devices.list has: a default verdict plus
// exceptions with the other verdict. The same policy then feeds both
// versions, so a container sees the same devices on either.
//
// Not every list fits that form: taking some access away from a part of
// what an earlier, wider rule gave ("allow c 1:* rwm" then "deny c 1:3 w")
// would need a hole in an exception, which v1 cannot express. Such a list
// is refused with ErrInvalid (runc refuses it too) rather than enforced
// differently on v1 and v2.

// Device access bits, the kernel's BPF_DEVCG_ACC_* ("m", "r", "w").
const (
	accMknod = unix.BPF_DEVCG_ACC_MKNOD
	accRead  = unix.BPF_DEVCG_ACC_READ
	accWrite = unix.BPF_DEVCG_ACC_WRITE
	accAll   = accMknod | accRead | accWrite
)

// anyNum is a wildcard major or minor ("*").
const anyNum = -1

// devKey is what an exception matches: a device type ('c' or 'b') and a
// major and minor number, each of which may be anyNum.
type devKey struct {
	typ          byte
	major, minor int64
}

func (k devKey) String() string {
	num := func(n int64) string {
		if n == anyNum {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s", k.typ, num(k.major), num(k.minor))
}

// covers reports whether every device k matches is matched by c too.
func (c devKey) covers(k devKey) bool {
	return c.typ == k.typ && (c.major == anyNum || c.major == k.major) && (c.minor == anyNum || c.minor == k.minor)
}

// overlaps reports whether some device is matched by both.
func (c devKey) overlaps(k devKey) bool {
	return c.typ == k.typ && (c.major == anyNum || k.major == anyNum || c.major == k.major) &&
		(c.minor == anyNum || k.minor == anyNum || c.minor == k.minor)
}

func (k devKey) less(o devKey) bool {
	if k.typ != o.typ {
		return k.typ < o.typ
	}
	if k.major != o.major {
		return k.major < o.major
	}
	return k.minor < o.minor
}

// accessString spells access bits as devices.list does ("rwm" order).
func accessString(acc uint8) string {
	var b strings.Builder
	for _, a := range []struct {
		bit uint8
		c   byte
	}{{accRead, 'r'}, {accWrite, 'w'}, {accMknod, 'm'}} {
		if acc&a.bit != 0 {
			b.WriteByte(a.c)
		}
	}
	return b.String()
}

func parseAccess(s string) (uint8, bool) {
	var acc uint8
	for _, c := range s {
		switch c {
		case 'r':
			acc |= accRead
		case 'w':
			acc |= accWrite
		case 'm':
			acc |= accMknod
		default:
			return 0, false
		}
	}
	return acc, true
}

// devRule is one OCI rule, checked: either a reset of the whole list
// (type "a" on every device with every access) or a rule on char or block
// devices (type "a" otherwise stands for two of them).
type devRule struct {
	index  int // in the OCI list
	allow  bool
	reset  bool
	key    devKey
	access uint8
}

func (r devRule) String() string {
	verdict := "deny"
	if r.allow {
		verdict = "allow"
	}
	if r.reset {
		return verdict + " a *:* rwm"
	}
	return verdict + " " + r.key.String() + " " + accessString(r.access)
}

// parseDeviceRules checks OCI rules and turns them into devRules.
func parseDeviceRules(rules []specs.LinuxDeviceCgroup) ([]devRule, error) {
	var out []devRule
	for i, r := range rules {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("device rule %d: "+format+": %w", append(append([]any{i}, a...), ErrInvalid)...)
		}
		num := func(what string, p *int64) (int64, error) {
			switch {
			case p == nil || *p == anyNum:
				return anyNum, nil
			case *p < 0 || *p >= math.MaxUint32: // the kernel's wildcard is ^u32(0)
				return 0, bad("%s %d: must be 0-%d, or unset (or -1) for any", what, *p, uint32(math.MaxUint32-1))
			}
			return *p, nil
		}
		major, err := num("major", r.Major)
		if err != nil {
			return nil, err
		}
		minor, err := num("minor", r.Minor)
		if err != nil {
			return nil, err
		}
		acc, ok := parseAccess(r.Access)
		if !ok {
			return nil, bad("access %q: must be made of r, w and m", r.Access)
		}
		switch r.Type {
		case "", "a":
			if r.Access == "" && major == anyNum && minor == anyNum {
				acc = accAll // {"allow": false} alone: all of it, as runc reads it
			}
			if acc == 0 {
				return nil, bad("access is empty")
			}
			if acc == accAll && major == anyNum && minor == anyNum {
				out = append(out, devRule{index: i, allow: r.Allow, reset: true})
				continue
			}
			for _, t := range []byte{'c', 'b'} {
				out = append(out, devRule{index: i, allow: r.Allow, key: devKey{t, major, minor}, access: acc})
			}
		case "c", "b":
			if acc == 0 {
				return nil, bad("access is empty")
			}
			out = append(out, devRule{index: i, allow: r.Allow, key: devKey{r.Type[0], major, minor}, access: acc})
		default:
			return nil, bad("type %q: must be a, c or b", r.Type)
		}
	}
	return out, nil
}

// devicePolicy is the state of a devices cgroup (v1's model): every
// access is allowed (allow) or denied (!allow), except what an exception
// lists. Two rules of kernel v1 apply to exceptions:
//   - default deny: an access is allowed if ONE exception matches the
//     device and has every access asked for;
//   - default allow: an access is denied if an exception matches the
//     device and has ANY access asked for.
type devicePolicy struct {
	allow bool
	ex    map[devKey]uint8
}

// newDevicePolicy computes the policy of an OCI rule list. Nothing in the
// list means deny everything; callers treat an empty list as "no device
// rules" before getting here.
func newDevicePolicy(rules []specs.LinuxDeviceCgroup) (devicePolicy, error) {
	p := devicePolicy{ex: map[devKey]uint8{}}
	rs, err := parseDeviceRules(rules)
	if err != nil {
		return p, err
	}
	for _, r := range rs {
		switch {
		case r.reset:
			p = devicePolicy{allow: r.allow, ex: map[devKey]uint8{}}
		case r.allow != p.allow:
			p.ex[r.key] |= r.access
		default:
			if err := p.remove(r); err != nil {
				return p, err
			}
		}
	}
	p.normalize()
	return p, nil
}

// remove takes r's access away from the exceptions r matches (r's verdict
// is the default). An exception that overlaps r without being inside it
// would need a hole: refused.
func (p *devicePolicy) remove(r devRule) error {
	for k, acc := range p.ex {
		if k.overlaps(r.key) && !r.key.covers(k) && acc&r.access != 0 {
			other := devRule{allow: !p.allow, key: k, access: acc}
			return fmt.Errorf("device rule %d (%s) would cut a hole in %q (what the rules before it amount to), "+
				"which the devices cgroup cannot express: %w", r.index, r, other, ErrInvalid)
		}
	}
	for k, acc := range p.ex {
		if r.key.covers(k) {
			if acc &^= r.access; acc == 0 {
				delete(p.ex, k)
			} else {
				p.ex[k] = acc
			}
		}
	}
	return nil
}

// normalize makes the exceptions mean what the rule list means under the
// kernel's matching, and drops those that add nothing.
//
// Default deny: the list allows an access kind by kind ("allow c 1:* r"
// and "allow c 1:3 w" allow rw on 1:3), the kernel only if one exception
// has it all. So every exception gets the access of those covering it
// (1:3 becomes rw), and where c M:* and c *:m together give more than each
// alone, c M:m is added with the sum. Default allow needs nothing: one
// exception with any of the access asked for already denies.
func (p *devicePolicy) normalize() {
	orig := p.ex
	ex := make(map[devKey]uint8, len(orig))
	sum := func(k devKey) uint8 {
		var acc uint8
		for c, a := range orig {
			if c.covers(k) {
				acc |= a
			}
		}
		return acc
	}
	for k, acc := range orig {
		if !p.allow {
			acc = sum(k)
		}
		ex[k] = acc
	}
	if !p.allow {
		for a := range orig {
			for b := range orig {
				if a.major == anyNum || a.minor != anyNum || b.major != anyNum || b.minor == anyNum || a.typ != b.typ {
					continue // a is M:*, b is *:m
				}
				k := devKey{a.typ, a.major, b.minor}
				if _, ok := ex[k]; !ok {
					if acc := sum(k); acc != ex[a] && acc != ex[b] {
						ex[k] = acc
					}
				}
			}
		}
	}
	// An exception inside another with at least its access adds nothing
	// (after the step above, default deny: the same access).
	for k, acc := range ex {
		for c, cacc := range ex {
			if c != k && c.covers(k) && acc&^cacc == 0 {
				delete(ex, k)
				break
			}
		}
	}
	p.ex = ex
}

// keys lists the exceptions in a stable order.
func (p devicePolicy) keys() []devKey {
	ks := make([]devKey, 0, len(p.ex))
	for k := range p.ex {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b devKey) int {
		switch {
		case a.less(b):
			return -1
		case b.less(a):
			return 1
		}
		return 0
	})
	return ks
}

// allowsAll reports whether the policy lets everything through.
func (p devicePolicy) allowsAll() bool { return p.allow && len(p.ex) == 0 }

// devicePolicyOf returns the policy of r's device rules; ok is false when
// r has none, which leaves the cgroup's devices as they are.
func devicePolicyOf(r *specs.LinuxResources) (p devicePolicy, ok bool, err error) {
	if r == nil || len(r.Devices) == 0 {
		return p, false, nil
	}
	p, err = newDevicePolicy(r.Devices)
	return p, err == nil, err
}
