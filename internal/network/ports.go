package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PortMapping is one published port: HostIP:HostPort on the host forwards
// to ContainerPort of the container, for Proto.
type PortMapping struct {
	HostIP        netip.Addr `json:"hostIp,omitzero"` // zero: every address of the host
	HostPort      uint16     `json:"hostPort"`        // 0 until one is picked (-p CTRPORT, -P)
	ContainerPort uint16     `json:"containerPort"`
	Proto         string     `json:"proto"` // tcp or udp
}

// String is Docker's form: 0.0.0.0:8080->80/tcp.
func (m PortMapping) String() string {
	return fmt.Sprintf("%s:%d->%d/%s", m.hostAddr(), m.HostPort, m.ContainerPort, m.Proto)
}

func (m PortMapping) hostAddr() netip.Addr {
	if m.HostIP.IsValid() {
		return m.HostIP
	}
	return netip.IPv4Unspecified()
}

// ParsePublish reads one -p option: [IP:][HOSTPORT:]CTRPORT[/tcp|/udp], each
// port a number or a range A-B (both sides as long).
func ParsePublish(s string) ([]PortMapping, error) {
	bad := func(why string) error {
		return fmt.Errorf("publish %q: %s (use [IP:][HOSTPORT:]CTRPORT[/tcp|/udp])", s, why)
	}
	rest, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return nil, bad("protocol " + strconv.Quote(proto) + ": use tcp or udp")
	}
	parts := strings.Split(rest, ":")
	var ipPart, hostPart, ctrPart string
	switch len(parts) {
	case 1:
		ctrPart = parts[0]
	case 2:
		hostPart, ctrPart = parts[0], parts[1]
	case 3:
		ipPart, hostPart, ctrPart = parts[0], parts[1], parts[2]
	default:
		return nil, bad("too many colons")
	}
	var ip netip.Addr
	if ipPart != "" {
		a, err := netip.ParseAddr(ipPart)
		if err != nil || !a.Is4() {
			return nil, bad("host address " + strconv.Quote(ipPart) + " is not an IPv4 address")
		}
		if !a.IsUnspecified() {
			ip = a
		}
	}
	c0, c1, err := parsePortRange(ctrPart)
	if err != nil {
		return nil, bad("container port: " + err.Error())
	}
	var h0 uint16
	if hostPart != "" {
		var h1 uint16
		if h0, h1, err = parsePortRange(hostPart); err != nil {
			return nil, bad("host port: " + err.Error())
		}
		if h1-h0 != c1-c0 {
			return nil, bad("the host and container ranges differ in length")
		}
	}
	var out []PortMapping
	for i := 0; i <= int(c1-c0); i++ {
		m := PortMapping{HostIP: ip, ContainerPort: c0 + uint16(i), Proto: proto}
		if h0 != 0 {
			m.HostPort = h0 + uint16(i)
		}
		out = append(out, m)
	}
	return out, nil
}

// parsePortRange reads N or A-B, each in 1-65535, A <= B.
func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %q ends before it starts", s)
		}
	}
	return lo, hi, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint16(n), nil
}

// ErrPortInUse is returned for a host port that is already published or
// listened on.
var ErrPortInUse = errors.New("port is already in use")

// A published host port is reserved host-wide by a symlink in portDir named
// PROTO-PORT, pointing at the container's id: created atomically, so two
// runs never get the same port. A port is reserved whatever the address it
// is published on.
func portDir() string { return filepath.Join(RunDir, "ports") }

func portPath(proto string, port uint16) string {
	return filepath.Join(portDir(), fmt.Sprintf("%s-%d", proto, port))
}

// reservePorts reserves the host ports of maps for container id, picking a
// free one where HostPort is 0, and returns maps with every port set. On
// error nothing stays reserved.
func reservePorts(maps []PortMapping, id string) ([]PortMapping, error) {
	if len(maps) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(portDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", portDir(), err)
	}
	out := make([]PortMapping, 0, len(maps))
	for _, m := range maps {
		var err error
		if m.HostPort == 0 {
			m.HostPort, err = reserveEphemeral(m, id)
		} else {
			err = reservePort(m, id)
		}
		if err != nil {
			return nil, errors.Join(err, releasePorts(out, id))
		}
		out = append(out, m)
	}
	return out, nil
}

// CheckPorts fails for a host port of maps that is already published or
// listened on: run refuses it before it creates anything (the port is
// reserved at start, see Attach).
func CheckPorts(maps []PortMapping) error {
	for _, m := range maps {
		if m.HostPort == 0 {
			continue
		}
		if owner, err := os.Readlink(portPath(m.Proto, m.HostPort)); err == nil {
			return fmt.Errorf("publish %s:%d/%s: %w: published by container %.12s", m.hostAddr(), m.HostPort, m.Proto, ErrPortInUse, owner)
		}
		if err := probePort(m.Proto, m.hostAddr(), m.HostPort); err != nil {
			return fmt.Errorf("publish %s:%d/%s: %w: %w", m.hostAddr(), m.HostPort, m.Proto, ErrPortInUse, err)
		}
	}
	return nil
}

// reservePort reserves m.HostPort, which must be neither published nor
// listened on.
func reservePort(m PortMapping, id string) error {
	p := portPath(m.Proto, m.HostPort)
	if err := os.Symlink(id, p); err != nil {
		if errors.Is(err, os.ErrExist) {
			owner, _ := os.Readlink(p)
			return fmt.Errorf("publish %s:%d/%s: %w: published by container %.12s", m.hostAddr(), m.HostPort, m.Proto, ErrPortInUse, owner)
		}
		return fmt.Errorf("reserve port %s: %w", p, err)
	}
	if err := probePort(m.Proto, m.hostAddr(), m.HostPort); err != nil {
		return errors.Join(fmt.Errorf("publish %s:%d/%s: %w: %w", m.hostAddr(), m.HostPort, m.Proto, ErrPortInUse, err), removeIfOwned(p, id))
	}
	return nil
}

// reserveEphemeral picks a host port for m as the kernel picks one for a
// socket bound to port 0, and reserves it.
func reserveEphemeral(m PortMapping, id string) (uint16, error) {
	for range 32 {
		port, err := freePort(m.Proto, m.hostAddr())
		if err != nil {
			return 0, fmt.Errorf("publish %d/%s: pick a host port: %w", m.ContainerPort, m.Proto, err)
		}
		m.HostPort = port
		if err := reservePort(m, id); err == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("publish %d/%s: no free host port found", m.ContainerPort, m.Proto)
}

// probePort fails if a socket of this network namespace listens on port.
func probePort(proto string, addr netip.Addr, port uint16) error {
	ap := netip.AddrPortFrom(addr, port).String()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", ap)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp4", ap)
	if err != nil {
		return err
	}
	return l.Close()
}

func freePort(proto string, addr netip.Addr) (uint16, error) {
	ap := netip.AddrPortFrom(addr, 0).String()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", ap)
		if err != nil {
			return 0, err
		}
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), c.Close()
	}
	l, err := net.Listen("tcp4", ap)
	if err != nil {
		return 0, err
	}
	return uint16(l.Addr().(*net.TCPAddr).Port), l.Close()
}

// releasePorts gives back the host ports of maps that container id holds.
func releasePorts(maps []PortMapping, id string) error {
	var errs []error
	for _, m := range maps {
		errs = append(errs, removeIfOwned(portPath(m.Proto, m.HostPort), id))
	}
	return errors.Join(errs...)
}

// removeIfOwned removes the lease or port reservation p if it points at
// container id. What is not there is not an error.
func removeIfOwned(p, id string) error {
	if owner, err := os.Readlink(p); err != nil || owner != id {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release %s: %w", p, err)
	}
	return nil
}

// releaseOwned gives back every lease or reservation in dir that container
// id holds.
func releaseOwned(dir, id string) error {
	ents, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range ents {
		errs = append(errs, removeIfOwned(filepath.Join(dir, e.Name()), id))
	}
	return errors.Join(errs...)
}
