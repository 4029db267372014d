package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/seccomp"
)

// The child's config and the sync messages cross in a small binary encoding
// of their own, not JSON: a Go process decoding its first JSON pays for
// reflecting over every type once (~2 ms for a runtime spec), and the init
// is a fresh process every time. Only the spec fields the child reads are
// carried (carriedSpecFields lists them; a test keeps the list and the
// child's code in step); the parent validated the rest.

var errTruncated = errors.New("truncated")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)   { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(b []byte) { e.uint(uint64(len(b))); e.b = append(e.b, b...) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

// present writes whether an optional value follows.
func (e *encoder) present(ok bool) bool { e.bool(ok); return ok }

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail(errTruncated)
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail(fmt.Errorf("bad boolean %d", v))
	}
	return v == 1
}

// count reads a length and checks that at least that many bytes follow
// (every element takes at least one), so a corrupt length cannot make the
// decoder allocate without bound.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		ss = append(ss, d.str())
	}
	return ss
}

func (d *decoder) uint32() uint32 {
	v := d.uint()
	if v > 1<<32-1 {
		d.fail(fmt.Errorf("value %d out of range", v))
	}
	return uint32(v)
}

// carriedSpecFields names the fields of the runtime spec's types that the
// child receives; every other field arrives empty.
var carriedSpecFields = []string{
	"Spec.Process", "Spec.Root", "Spec.Hostname", "Spec.Domainname", "Spec.Mounts", "Spec.Hooks", "Spec.Linux",
	"Process.Terminal", "Process.User", "Process.Args", "Process.Env", "Process.Cwd", "Process.Capabilities",
	"Process.Rlimits", "Process.NoNewPrivileges", "Process.OOMScoreAdj",
	"User.UID", "User.GID", "User.Umask", "User.AdditionalGids",
	"LinuxCapabilities.Bounding", "LinuxCapabilities.Effective", "LinuxCapabilities.Inheritable",
	"LinuxCapabilities.Permitted", "LinuxCapabilities.Ambient",
	"POSIXRlimit.Type", "POSIXRlimit.Hard", "POSIXRlimit.Soft",
	"Root.Path", "Root.Readonly",
	"Mount.Destination", "Mount.Type", "Mount.Source", "Mount.Options",
	"Hooks.CreateContainer", "Hooks.StartContainer",
	"Hook.Path", "Hook.Args", "Hook.Env", "Hook.Timeout",
	"Linux.Sysctl", "Linux.Namespaces", "Linux.Devices", "Linux.RootfsPropagation", "Linux.MaskedPaths",
	"Linux.ReadonlyPaths", "Linux.Personality",
	"LinuxNamespace.Type", "LinuxNamespace.Path",
	"LinuxDevice.Path", "LinuxDevice.Type", "LinuxDevice.Major", "LinuxDevice.Minor", "LinuxDevice.FileMode",
	"LinuxDevice.UID", "LinuxDevice.GID",
	"LinuxPersonality.Domain", "LinuxPersonality.Flags", "Linux.TimeOffsets",
	"LinuxTimeOffset.Secs", "LinuxTimeOffset.Nanosecs",
}

// marshal encodes the config for the child.
func (c *childConfig) marshal() []byte {
	e := &encoder{b: make([]byte, 0, 4096)}
	e.uint(protocol) // first, so that a mismatched pair is told apart
	e.str(c.ID)
	if e.present(c.Winsize != nil) {
		for _, v := range []uint16{c.Winsize.Row, c.Winsize.Col, c.Winsize.Xpixel, c.Winsize.Ypixel} {
			e.uint(uint64(v))
		}
	}
	e.int(int64(c.JoinFlags))
	e.uint(uint64(c.PreserveFDs))
	for _, b := range []bool{c.KillWithParent, c.ExecFifo, c.CreateRuntime, c.Orphan, c.WaitPlaced, c.NewKeyring, c.Trace} {
		e.bool(b)
	}
	e.str(c.LateWrite)
	e.uint(uint64(len(c.IDMapped)))
	for _, i := range c.IDMapped {
		e.uint(uint64(i))
	}
	if e.present(c.Seccomp != nil) {
		prog := c.Seccomp.Instructions()
		e.uint(uint64(c.Seccomp.Flags()))
		e.uint(uint64(len(prog)))
		for _, in := range prog {
			e.uint(uint64(in.Code))
			e.uint(uint64(in.Jt))
			e.uint(uint64(in.Jf))
			e.uint(uint64(in.K))
		}
	}
	if e.present(c.Spec != nil) {
		e.spec(c.Spec)
	}
	return e.b
}

// unmarshalChildConfig decodes what marshal encoded.
func unmarshalChildConfig(b []byte) (*childConfig, error) {
	d := &decoder{b: b}
	c := &childConfig{Protocol: int(d.uint())}
	if d.err == nil && c.Protocol != protocol {
		return c, nil // the caller names the mismatch
	}
	c.ID = d.str()
	if d.bool() {
		c.Winsize = &unix.Winsize{}
		for _, p := range []*uint16{&c.Winsize.Row, &c.Winsize.Col, &c.Winsize.Xpixel, &c.Winsize.Ypixel} {
			*p = uint16(d.uint())
		}
	}
	c.JoinFlags = int(d.int())
	c.PreserveFDs = int(d.uint())
	for _, p := range []*bool{&c.KillWithParent, &c.ExecFifo, &c.CreateRuntime, &c.Orphan, &c.WaitPlaced, &c.NewKeyring, &c.Trace} {
		*p = d.bool()
	}
	c.LateWrite = d.str()
	if n := d.count(); n > 0 {
		c.IDMapped = make([]int, n)
		for i := range c.IDMapped {
			c.IDMapped[i] = int(d.uint())
		}
	}
	if d.bool() {
		flags := uintptr(d.uint())
		n := d.count()
		prog := make([]unix.SockFilter, n)
		for i := range prog {
			prog[i] = unix.SockFilter{Code: uint16(d.uint()), Jt: uint8(d.uint()), Jf: uint8(d.uint()), K: d.uint32()}
		}
		if d.err == nil {
			f, err := seccomp.FromProgram(prog, flags)
			if err != nil {
				d.fail(err)
			}
			c.Seccomp = f
		}
	}
	if d.bool() {
		c.Spec = d.spec()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the config", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode config: %w", d.err)
	}
	return c, nil
}

// spec encodes what the init uses of s, in this order: process, root,
// hostname, domainname, mounts, hooks, linux.
func (e *encoder) spec(s *specs.Spec) {
	if p := s.Process; e.present(p != nil) {
		e.process(p)
	}
	if e.present(s.Root != nil) {
		e.str(s.Root.Path)
		e.bool(s.Root.Readonly)
	}
	e.str(s.Hostname)
	e.str(s.Domainname)
	e.uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		e.str(m.Destination)
		e.str(m.Type)
		e.str(m.Source)
		e.strs(m.Options)
	}
	if h := s.Hooks; e.present(h != nil) {
		e.hooks(h.CreateContainer)
		e.hooks(h.StartContainer)
	}
	if l := s.Linux; e.present(l != nil) {
		e.linux(l)
	}
}

func (e *encoder) process(p *specs.Process) {
	e.bool(p.Terminal)
	e.uint(uint64(p.User.UID))
	e.uint(uint64(p.User.GID))
	if e.present(p.User.Umask != nil) {
		e.uint(uint64(*p.User.Umask))
	}
	e.uint(uint64(len(p.User.AdditionalGids)))
	for _, g := range p.User.AdditionalGids {
		e.uint(uint64(g))
	}
	e.strs(p.Args)
	e.strs(p.Env)
	e.str(p.Cwd)
	if c := p.Capabilities; e.present(c != nil) {
		for _, set := range [][]string{c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient} {
			e.strs(set)
		}
	}
	e.uint(uint64(len(p.Rlimits)))
	for _, r := range p.Rlimits {
		e.str(r.Type)
		e.uint(r.Hard)
		e.uint(r.Soft)
	}
	e.bool(p.NoNewPrivileges)
	if e.present(p.OOMScoreAdj != nil) {
		e.int(int64(*p.OOMScoreAdj))
	}
}

// linux encodes linux without its resources and seccomp profile (see
// childConfig).
func (e *encoder) linux(l *specs.Linux) {
	e.uint(uint64(len(l.Sysctl)))
	for k, v := range l.Sysctl {
		e.str(k)
		e.str(v)
	}
	e.uint(uint64(len(l.Namespaces)))
	for _, ns := range l.Namespaces {
		e.str(string(ns.Type))
		e.str(ns.Path)
	}
	e.uint(uint64(len(l.Devices)))
	for _, dev := range l.Devices {
		e.device(dev)
	}
	e.str(l.RootfsPropagation)
	e.strs(l.MaskedPaths)
	e.strs(l.ReadonlyPaths)
	if p := l.Personality; e.present(p != nil) {
		e.str(string(p.Domain))
		e.uint(uint64(len(p.Flags)))
		for _, f := range p.Flags {
			e.str(string(f))
		}
	}
	e.uint(uint64(len(l.TimeOffsets)))
	for clock, off := range l.TimeOffsets {
		e.str(clock)
		e.int(off.Secs)
		e.uint(uint64(off.Nanosecs))
	}
}

func (e *encoder) device(dev specs.LinuxDevice) {
	e.str(dev.Path)
	e.str(dev.Type)
	e.int(dev.Major)
	e.int(dev.Minor)
	if e.present(dev.FileMode != nil) {
		e.uint(uint64(*dev.FileMode))
	}
	if e.present(dev.UID != nil) {
		e.uint(uint64(*dev.UID))
	}
	if e.present(dev.GID != nil) {
		e.uint(uint64(*dev.GID))
	}
}

func (e *encoder) hooks(hs []specs.Hook) {
	e.uint(uint64(len(hs)))
	for _, h := range hs {
		e.str(h.Path)
		e.strs(h.Args)
		e.strs(h.Env)
		if e.present(h.Timeout != nil) {
			e.int(int64(*h.Timeout))
		}
	}
}

// spec decodes what encoder.spec wrote.
func (d *decoder) spec() *specs.Spec {
	s := &specs.Spec{}
	if d.bool() {
		s.Process = d.process()
	}
	if d.bool() {
		s.Root = &specs.Root{Path: d.str(), Readonly: d.bool()}
	}
	s.Hostname, s.Domainname = d.str(), d.str()
	if n := d.count(); n > 0 {
		s.Mounts = make([]specs.Mount, n)
		for i := range s.Mounts {
			s.Mounts[i] = specs.Mount{Destination: d.str(), Type: d.str(), Source: d.str(), Options: d.strs()}
		}
	}
	if d.bool() {
		s.Hooks = &specs.Hooks{CreateContainer: d.hooks(), StartContainer: d.hooks()}
	}
	if d.bool() {
		s.Linux = d.linux()
	}
	return s
}

func (d *decoder) process() *specs.Process {
	p := &specs.Process{Terminal: d.bool()}
	p.User.UID, p.User.GID = d.uint32(), d.uint32()
	if d.bool() {
		umask := d.uint32()
		p.User.Umask = &umask
	}
	if n := d.count(); n > 0 {
		p.User.AdditionalGids = make([]uint32, n)
		for i := range p.User.AdditionalGids {
			p.User.AdditionalGids[i] = d.uint32()
		}
	}
	p.Args, p.Env, p.Cwd = d.strs(), d.strs(), d.str()
	if d.bool() {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding: d.strs(), Effective: d.strs(), Inheritable: d.strs(), Permitted: d.strs(), Ambient: d.strs(),
		}
	}
	if n := d.count(); n > 0 {
		p.Rlimits = make([]specs.POSIXRlimit, n)
		for i := range p.Rlimits {
			p.Rlimits[i] = specs.POSIXRlimit{Type: d.str(), Hard: d.uint(), Soft: d.uint()}
		}
	}
	p.NoNewPrivileges = d.bool()
	if d.bool() {
		adj := int(d.int())
		p.OOMScoreAdj = &adj
	}
	return p
}

func (d *decoder) linux() *specs.Linux {
	l := &specs.Linux{}
	if n := d.count(); n > 0 {
		l.Sysctl = make(map[string]string, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str()
			l.Sysctl[k] = d.str()
		}
	}
	if n := d.count(); n > 0 {
		l.Namespaces = make([]specs.LinuxNamespace, n)
		for i := range l.Namespaces {
			l.Namespaces[i] = specs.LinuxNamespace{Type: specs.LinuxNamespaceType(d.str()), Path: d.str()}
		}
	}
	if n := d.count(); n > 0 {
		l.Devices = make([]specs.LinuxDevice, n)
		for i := range l.Devices {
			l.Devices[i] = d.device()
		}
	}
	l.RootfsPropagation = d.str()
	l.MaskedPaths, l.ReadonlyPaths = d.strs(), d.strs()
	if d.bool() {
		p := &specs.LinuxPersonality{Domain: specs.LinuxPersonalityDomain(d.str())}
		if n := d.count(); n > 0 {
			p.Flags = make([]specs.LinuxPersonalityFlag, n)
			for i := range p.Flags {
				p.Flags[i] = specs.LinuxPersonalityFlag(d.str())
			}
		}
		l.Personality = p
	}
	if n := d.count(); n > 0 {
		l.TimeOffsets = make(map[string]specs.LinuxTimeOffset, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str()
			l.TimeOffsets[k] = specs.LinuxTimeOffset{Secs: d.int(), Nanosecs: d.uint32()}
		}
	}
	return l
}

func (d *decoder) device() specs.LinuxDevice {
	dev := specs.LinuxDevice{Path: d.str(), Type: d.str(), Major: d.int(), Minor: d.int()}
	if d.bool() {
		mode := os.FileMode(d.uint32())
		dev.FileMode = &mode
	}
	if d.bool() {
		uid := d.uint32()
		dev.UID = &uid
	}
	if d.bool() {
		gid := d.uint32()
		dev.GID = &gid
	}
	return dev
}

func (d *decoder) hooks() []specs.Hook {
	n := d.count()
	if n == 0 {
		return nil
	}
	hs := make([]specs.Hook, n)
	for i := range hs {
		hs[i] = specs.Hook{Path: d.str(), Args: d.strs(), Env: d.strs()}
		if d.bool() {
			t := int(d.int())
			hs[i].Timeout = &t
		}
	}
	return hs
}

// marshal encodes a sync message (one packet on the sync socket).
func (m *syncMessage) marshal() []byte {
	e := &encoder{b: make([]byte, 0, 16+len(m.Type)+len(m.Error)+len(m.State))}
	e.str(m.Type)
	e.str(m.Error)
	e.int(int64(m.Code))
	e.bytes(m.State)
	return e.b
}

func unmarshalSyncMessage(b []byte) (syncMessage, error) {
	d := &decoder{b: b}
	m := syncMessage{Type: d.str(), Error: d.str(), Code: int(d.int())}
	if st := d.bytes(); len(st) > 0 {
		m.State = st
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the message", len(d.b))
	}
	return m, d.err
}
