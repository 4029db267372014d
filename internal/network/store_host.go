package network

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// HostNet is a route or an address of the host that a network's subnet
// must not overlap.
type HostNet struct {
	Prefix netip.Prefix // masked
	Addr   netip.Addr   // the address, for an address; zero for a route
	Dev    string       // the link's name, "" if unknown
}

func (h HostNet) String() string {
	what := "route " + h.Prefix.String()
	if h.Addr.IsValid() {
		what = fmt.Sprintf("address %s/%d", h.Addr, h.Prefix.Bits())
	}
	if h.Dev != "" {
		what += " (dev " + h.Dev + ")"
	}
	return what
}

// hostRoutes lists the host's IPv4 addresses and the routes of its main
// table, but not its default routes (they overlap everything).
func hostRoutes() ([]HostNet, error) {
	names := map[int]string{}
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list the host's addresses: %w", err)
	}
	var out []HostNet
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if a.IPNet == nil || !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		ip = ip.Unmap()
		out = append(out, HostNet{Prefix: netip.PrefixFrom(ip, ones).Masked(), Addr: ip, Dev: names[a.LinkIndex]})
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list the host's routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		if !ok || ones == 0 {
			continue
		}
		out = append(out, HostNet{Prefix: netip.PrefixFrom(ip.Unmap(), ones).Masked(), Dev: names[r.LinkIndex]})
	}
	return out, nil
}
