package network

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// The host's resolv.conf, and the one systemd-resolved keeps beside its
// stub's (127.0.0.53) for programs that cannot reach the stub: a
// container's network namespace has its own loopback.
const (
	hostResolvConf     = "/etc/resolv.conf"
	resolvedResolvConf = "/run/systemd/resolve/resolv.conf"
)

// DNSConfig is run's --dns, --dns-search and --dns-option: each, when
// given, replaces the host's lines of its kind.
type DNSConfig struct {
	Nameservers []string
	Search      []string // "." alone: no search line
	Options     []string
}

// HostResolvConf reads the host's resolv.conf; when every nameserver in it
// is a loopback one (systemd-resolved's stub) and systemd-resolved's own
// list of upstream servers exists, that one instead, as Docker does.
func HostResolvConf() ([]byte, error) {
	b, err := os.ReadFile(hostResolvConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", hostResolvConf, err)
	}
	if len(nameservers(b)) > 0 && len(nameservers(ResolvConf(b))) == 0 {
		if r, err := os.ReadFile(resolvedResolvConf); err == nil {
			return r, nil
		}
	}
	return b, nil
}

// ResolvConf is a container's resolv.conf made from the host's: the
// nameservers a container cannot reach are dropped (loopback ones, 127.x
// and ::1, which are the container's own loopback there; and IPv6 ones, as
// sdocker's networks are IPv4 only). Every other line stays (search,
// options, domain, comments). If no nameserver is left there is no
// nameserver line: a public resolver is never added.
func ResolvConf(host []byte) []byte {
	var b bytes.Buffer
	for line := range strings.Lines(string(host)) {
		if ns, ok := nameserverOf(line); ok && !reachable(ns) {
			continue
		}
		b.WriteString(line)
	}
	if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ResolvConfWith is ResolvConf with run's --dns, --dns-search and
// --dns-option: the lines of each kind given are replaced (the given
// nameservers are kept as they are, loopback ones too, as Docker).
func ResolvConfWith(host []byte, c DNSConfig) ([]byte, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for line := range strings.Lines(string(ResolvConf(host))) {
		kind := firstField(line)
		if (kind == "nameserver" && len(c.Nameservers) > 0) ||
			((kind == "search" || kind == "domain") && len(c.Search) > 0) ||
			(kind == "options" && len(c.Options) > 0) {
			continue
		}
		b.WriteString(line)
	}
	for _, ns := range c.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(c.Search) > 0 && (len(c.Search) != 1 || c.Search[0] != ".") {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.Search, " "))
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	return b.Bytes(), nil
}

// Check refuses a --dns that is not an IP address, and a --dns-search or
// --dns-option that is empty or would break the line it goes on.
func (c DNSConfig) Check() error {
	for _, ns := range c.Nameservers {
		if a, err := netip.ParseAddr(ns); err != nil || a.Zone() != "" {
			return refuse(ErrInvalid, "invalid --dns %q: not an IP address", ns)
		}
	}
	for _, s := range c.Search {
		if s == "" || strings.ContainsAny(s, " \t\n#;") || (s == "." && len(c.Search) > 1) {
			return refuse(ErrInvalid, "invalid --dns-search %q: not a domain name", s)
		}
	}
	for _, o := range c.Options {
		if o == "" || strings.ContainsAny(o, " \t\n#;") {
			return refuse(ErrInvalid, "invalid --dns-option %q: one option, e.g. ndots:2", o)
		}
	}
	return nil
}

func firstField(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// nameserverOf reads the address of a "nameserver ADDR" line.
func nameserverOf(line string) (netip.Addr, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "nameserver" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(f[1])
	if err != nil {
		// Not an address: the resolver ignores it, so do we.
		return netip.Addr{}, true
	}
	return a, true
}

// reachable reports whether a container on an sdocker network can reach
// nameserver a.
func reachable(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.Is4() && !a.IsLoopback() && !a.IsUnspecified()
}

// nameservers lists the addresses of the nameserver lines of a resolv.conf.
func nameservers(b []byte) []netip.Addr {
	var out []netip.Addr
	for line := range strings.Lines(string(b)) {
		if a, ok := nameserverOf(line); ok {
			out = append(out, a)
		}
	}
	return out
}
