package network

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
)

// Member is a running container on a network, as its hosts file and the
// other members' hosts files name it. It is kept in
// <root>/networks/members/<network id>/<container id>.json.
type Member struct {
	ContainerID string   `json:"ContainerID"`
	Name        string   `json:"Name"`              // without Docker's leading "/"
	Aliases     []string `json:"Aliases,omitempty"` // --network-alias, on this network
	ShortID     string   `json:"ShortID,omitempty"` // "" is the id's first 12 digits
	Hostname    string   `json:"Hostname,omitempty"`
	// Addr is the container's address on this network, invalid on none and
	// host (no line of its own then).
	Addr netip.Addr `json:"Addr"`
	Mac  string     `json:"Mac,omitempty"`
	// ExtraHosts are --add-host's "NAME:IP" (or "NAME=IP"), written after
	// the localhost lines.
	ExtraHosts []string `json:"ExtraHosts,omitempty"`
	// HostsPath is the container's hosts file (in its container
	// directory, bind-mounted on /etc/hosts): rewritten in place.
	HostsPath string `json:"HostsPath"`
	// Network is the network's name (set by Join).
	Network string `json:"Network"`
}

// shortID is m's short id, from its container id if not given.
func (m Member) shortID() string {
	if m.ShortID != "" {
		return m.ShortID
	}
	return ids.ShortID(m.ContainerID)
}

// names are what resolve to m's address, once each, in order: hostname (and
// its first label if it has dots), name, aliases, short id.
func (m Member) names(withHostname bool) []string {
	var out []string
	add := func(n string) {
		// A name that would break the line (a space, a '#') is left out.
		if validHostName(n) && !contains(out, n) {
			out = append(out, n)
		}
	}
	if withHostname {
		add(m.Hostname)
		if h, _, ok := strings.Cut(m.Hostname, "."); ok {
			add(h)
		}
	}
	add(m.Name)
	for _, a := range m.Aliases {
		add(a)
	}
	add(m.shortID())
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// localhostLines are the first lines of every container's hosts file, as
// Docker writes them.
const localhostLines = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// HostsFile is the /etc/hosts of container self: the localhost lines, its
// --add-host entries, its own address with its hostname, name, aliases and
// short id, then one line for every other member (name, aliases, short id).
// A member without an address has no line.
func HostsFile(self Member, others []Member) []byte {
	lines := make([]string, 0, len(others))
	for _, o := range others {
		if o.ContainerID != self.ContainerID {
			lines = append(lines, o.line())
		}
	}
	return hostsFile(self, lines)
}

// hostsFile is HostsFile with the others' lines made (line).
func hostsFile(self Member, others []string) []byte {
	size := len(localhostLines) + 128
	for _, l := range others {
		size += len(l)
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteString(localhostLines)
	for _, e := range self.ExtraHosts {
		if name, ip, err := ParseExtraHost(e); err == nil {
			fmt.Fprintf(b, "%s\t%s\n", ip, name)
		}
	}
	if self.Addr.IsValid() {
		fmt.Fprintf(b, "%s\t%s\n", self.Addr, strings.Join(self.names(true), " "))
	}
	for _, l := range others {
		b.WriteString(l)
	}
	return b.Bytes()
}

// line is m's line in the others' hosts files; "" without an address.
func (m Member) line() string {
	if !m.Addr.IsValid() {
		return ""
	}
	return m.Addr.String() + "\t" + strings.Join(m.names(false), " ") + "\n"
}

// ParseExtraHost reads an --add-host value, "NAME:IP" or "NAME=IP" (an IPv6
// address may follow the colon, and may be bracketed). "host-gateway" is
// replaced before (CheckExtraHosts).
func ParseExtraHost(s string) (name string, ip netip.Addr, err error) {
	name, addr, ok := cutExtraHost(s)
	if !ok || !validHostName(name) {
		return "", netip.Addr{}, refuse(ErrInvalid, "invalid --add-host %q: want NAME:IP", s)
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	ip, err = netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return "", netip.Addr{}, refuse(ErrInvalid, "invalid --add-host %q: %q is not an IP address", s, addr)
	}
	return name, ip.Unmap(), nil
}

// HostGateway is the address --add-host NAME:host-gateway stands for: the
// host as the container reaches it, its network's gateway (Docker's
// host-gateway-ip is docker0's address).
const HostGateway = "host-gateway"

// CheckExtraHosts validates run's --add-host values before anything is
// made, and writes "host-gateway" as gateway's address.
func CheckExtraHosts(list []string, gateway netip.Addr) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, e := range list {
		if name, addr, ok := cutExtraHost(e); ok && addr == HostGateway {
			if !gateway.IsValid() {
				return nil, refuse(ErrInvalid, "invalid --add-host %q: host-gateway needs a bridge network", e)
			}
			e = name + ":" + gateway.String()
		}
		if _, _, err := ParseExtraHost(e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// cutExtraHost splits an --add-host value at its first "=", or else its
// first ":".
func cutExtraHost(s string) (name, addr string, ok bool) {
	if name, addr, ok = strings.Cut(s, "="); !ok {
		name, addr, ok = strings.Cut(s, ":")
	}
	return name, addr, ok
}

// WriteInPlace replaces the content of file path without replacing the
// file: a bind mount of it (a container's /etc/hosts) keeps its inode and
// so sees the new content. The new content is written in one write over the
// old, then the file is cut to its length: never emptied first, so a lookup
// meanwhile finds the localhost lines and, but for the instant of the
// write, every name (a resolver reads the file again on each lookup). Not a
// symlink; created (0644) if missing.
func WriteInPlace(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	for off := 0; off < len(data); {
		n, err := unix.Pwrite(fd, data[off:], int64(off))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		off += n
	}
	if err := unix.Ftruncate(fd, int64(len(data))); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	return nil
}

// touch creates file path (0644) if it is not there; "" is no file.
func touch(path string) error {
	if path == "" {
		return nil
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return unix.Close(fd)
}

// writeHosts writes a hosts file if it is still there: the directory of a
// container that was removed without leaving is no error.
func writeHosts(path string, data []byte) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return WriteInPlace(path, data)
}
