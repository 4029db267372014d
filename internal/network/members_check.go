package network

import (
	"net/netip"
	"strings"
)

// maxNameLen is the longest name a hosts file line is given (a DNS name's).
const maxNameLen = 253

// CheckAliases validates run's and connect's --network-alias for network
// n: only on a user-defined network (as Docker), and each a name a hosts
// file can hold ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 253 characters).
func CheckAliases(n *Network, aliases []string) error {
	if len(aliases) > 0 && !n.UserDefined() {
		return refuse(ErrInvalid, "invalid --network-alias: network-scoped aliases are supported only on user-defined networks, not %s", n.Name)
	}
	for _, a := range aliases {
		if !validHostName(a) {
			return refuse(ErrInvalid, "invalid --network-alias %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most %d", a, maxNameLen)
		}
	}
	return nil
}

// validHostName reports whether s can stand in a hosts file line as a name.
// It is nameRe's rule, written out: it runs for every name of every line
// of every hosts file rewritten.
func validHostName(s string) bool {
	if s == "" || len(s) > maxNameLen || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// CheckIP validates run's and connect's --ip for network n: an IPv4 address
// inside its subnet, neither its network, broadcast nor gateway address,
// and not taken (by another container: the caller's leases, which it reads
// under its own lock). As Docker, only on a user-defined network.
func CheckIP(n *Network, s string, taken func(netip.Addr) bool) (netip.Addr, error) {
	if !n.UserDefined() {
		return netip.Addr{}, refuse(ErrInvalid, "invalid --ip %s: a chosen address is supported only on user-defined networks, not %s", s, n.Name)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, refuse(ErrInvalid, "invalid --ip %q: not an IP address", s)
	}
	a = a.Unmap()
	switch {
	case !a.Is4():
		return netip.Addr{}, refuse(ErrInvalid, "invalid --ip %s: only IPv4 addresses are supported", s)
	case !n.Subnet.Contains(a):
		return netip.Addr{}, refuse(ErrInvalid, "invalid --ip %s: not in subnet %s of network %s", s, n.Subnet, n.Name)
	case a == n.Subnet.Addr() || a == Broadcast(n.Subnet):
		return netip.Addr{}, refuse(ErrInvalid, "invalid --ip %s: the network or broadcast address of %s", s, n.Subnet)
	case a == n.Gateway:
		return netip.Addr{}, refuse(ErrInvalid, "invalid --ip %s: the gateway of network %s", s, n.Name)
	case taken != nil && taken(a):
		return netip.Addr{}, refuse(ErrExists, "--ip %s: address already in use on network %s", s, n.Name)
	}
	return a, nil
}
