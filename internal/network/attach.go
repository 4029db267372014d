package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Attachment is a container's place on one network, as its record keeps it.
type Attachment struct {
	Network   string        `json:"network"`
	NetworkID string        `json:"networkId"`
	Bridge    string        `json:"bridge"`
	Interface string        `json:"interface"` // in the container: eth0, eth1, ...
	HostVeth  string        `json:"hostVeth"`  // the host's end, on the bridge
	IP        netip.Addr    `json:"ip"`
	PrefixLen int           `json:"prefixLen"`
	Gateway   netip.Addr    `json:"gateway"`
	MAC       string        `json:"mac"`
	Aliases   []string      `json:"aliases,omitempty"`
	Ports     []PortMapping `json:"ports,omitempty"` // with every host port picked
}

// AttachOptions say how a container joins a network.
type AttachOptions struct {
	ID      string     // the container's id
	Netns   string     // the path of its network namespace
	Index   int        // 0 for its first network (eth0, the default route, lo up), 1 for eth1, ...
	IP      netip.Addr // --ip, or zero for the next free address
	Aliases []string
	Ports   []PortMapping // published on this network (host port 0: one is picked)
}

// maxInterfaces bounds the networks of one container: the host veth's name
// has one digit for it.
const maxInterfaces = 10

// vethName is the host end of container id's index'th interface: "sd", 12
// digits of the id and the index, 15 characters, the most a link name has.
func vethName(id string, index int) string {
	return "sd" + id[:12] + strconv.Itoa(index)
}

// macOf derives a container's MAC address from its IPv4 address, as Docker
// does (02:42 and the address): an address given to another container
// gets the same MAC, and the neighbours' caches stay right.
func macOf(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// Attach puts container o.ID on n: an address leased, a veth pair with its
// host end on n's bridge and its other end in the container's namespace
// (eth<index>), the address and, for the first network but on an internal
// one, a default route through the gateway; then its published ports. On
// error nothing of it is left.
func Attach(n *Network, o AttachOptions) (_ *Attachment, err error) {
	if len(o.ID) < 12 || o.Index < 0 || o.Index >= maxInterfaces {
		return nil, fmt.Errorf("network %s: attach %q as interface %d: bad container id or too many networks", n.Name, o.ID, o.Index)
	}
	br, err := EnsureBridge(n)
	if err != nil {
		return nil, err
	}
	ip, err := allocate(n, o.ID, o.IP)
	if err != nil {
		return nil, err
	}
	a := &Attachment{
		Network: n.Name, NetworkID: n.ID, Bridge: n.Bridge, Interface: "eth" + strconv.Itoa(o.Index),
		HostVeth: vethName(o.ID, o.Index), IP: ip, PrefixLen: n.Subnet.Bits(), Gateway: n.Gateway,
		MAC: macOf(ip).String(), Aliases: o.Aliases,
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, Detach(a, o.ID))
		}
	}()
	if err := wire(n, br, a, o); err != nil {
		return nil, err
	}
	if a.Ports, err = reservePorts(o.Ports, o.ID); err != nil {
		return nil, err
	}
	if err := addPortRules(a.Ports, ip, o.ID); err != nil {
		return nil, err
	}
	return a, nil
}

// wire makes the veth pair of a and configures its inner end.
func wire(n *Network, br netlink.Link, a *Attachment, o AttachOptions) error {
	ns, err := netns.GetFromPath(o.Netns)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", o.Netns, err)
	}
	defer func() { _ = ns.Close() }() // a descriptor only read from
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MasterIndex = a.HostVeth, br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: a.Interface, PeerHardwareAddr: macOf(a.IP), PeerNamespace: netlink.NsFd(int(ns))}
	err = netlink.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) {
		// The veth of this container's previous run, whose namespace
		// the kernel has not torn down yet.
		if err = deleteLink(a.HostVeth); err == nil {
			err = netlink.LinkAdd(veth)
		}
	}
	if err != nil {
		return fmt.Errorf("network %s: create veth %s: %w", n.Name, a.HostVeth, err)
	}
	// Hairpin: a container reaching its own published port gets the
	// translated packets back through the port they came in by.
	if err := netlink.LinkSetHairpin(veth, true); err != nil {
		return fmt.Errorf("network %s: hairpin mode on %s: %w", n.Name, a.HostVeth, err)
	}
	if err := upWithoutIPv6(nil, veth); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("network %s: netlink in %s: %w", n.Name, o.Netns, err)
	}
	defer h.Close()
	if o.Index == 0 {
		if err := linkUp(h, "lo"); err != nil {
			return err
		}
	}
	inner, err := h.LinkByName(a.Interface)
	if err != nil {
		return fmt.Errorf("network %s: find %s in %s: %w", n.Name, a.Interface, o.Netns, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.IP.AsSlice(), Mask: net.CIDRMask(a.PrefixLen, 32)}}
	if err := h.AddrAdd(inner, addr); err != nil {
		return fmt.Errorf("network %s: address %s on %s: %w", n.Name, addr.IPNet, a.Interface, err)
	}
	if err := upWithoutIPv6(h, inner); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if o.Index == 0 && !n.Internal {
		route := &netlink.Route{LinkIndex: inner.Attrs().Index, Gw: n.Gateway.AsSlice()}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("network %s: default route via %s: %w", n.Name, n.Gateway, err)
		}
	}
	return nil
}

// upWithoutIPv6 sets l up with no IPv6 address (networks are IPv4 only):
// no link-local address, so none of the router and neighbour solicitations
// that would otherwise cross the bridge. h nil is this network namespace.
func upWithoutIPv6(h *netlink.Handle, l netlink.Link) error {
	if h == nil {
		h = &netlink.Handle{} // the package's own: this namespace
	}
	if err := h.LinkSetIP6AddrGenMode(l, addrGenModeNone); err != nil {
		return fmt.Errorf("no IPv6 address on %s: %w", l.Attrs().Name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

// addrGenModeNone is the kernel's IN6_ADDR_GEN_MODE_NONE.
const addrGenModeNone = 1

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err == nil {
		err = h.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// Detach takes container id off the network of a while it runs: its veth
// pair, its published ports and their rules, its lease. What is already
// gone is not an error.
func Detach(a *Attachment, id string) error {
	return errors.Join(deleteLink(a.HostVeth), Release(a, id))
}

// Release gives back what container id holds on the network of a but its
// veth pair: its published ports and their rules, its lease. A container
// that has ended needs no more: its veth pair goes with its namespace, which
// the kernel tears down in the background once the last process and mount
// of it are gone (deleting a link waits for the kernel's RCU grace period,
// tens of milliseconds).
func Release(a *Attachment, id string) error {
	var errs []error
	if len(a.Ports) > 0 {
		errs = append(errs, deleteRules(containerTag(id), "ports"), releasePorts(a.Ports, id))
	}
	errs = append(errs, release(a.Bridge, a.IP, id))
	return errors.Join(errs...)
}

func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil // gone
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// CreateNetns makes the network namespace of container id at NetnsPath(id),
// with nothing in it: Attach wires it.
func CreateNetns(id string) (string, error) {
	p := NetnsPath(id)
	return p, createNetns(p)
}

// Cleanup removes everything container id may hold of the host's network:
// its veths, firewall rules, leases, published ports and the mount of its
// namespace. It needs nothing of the container's record: it is what the
// collector runs after a killed command. What is already gone is not an
// error.
func Cleanup(id string) error {
	if len(id) < 12 {
		return nil
	}
	var errs []error
	if links, err := netlink.LinkList(); err == nil {
		prefix := "sd" + id[:12]
		for _, l := range links {
			if name := l.Attrs().Name; strings.HasPrefix(name, prefix) && len(name) == len(prefix)+1 {
				errs = append(errs, deleteLink(name))
			}
		}
	}
	errs = append(errs, deleteRules(containerTag(id), "ports"), releaseOwned(portDir(), id))
	errs = append(errs, releaseAll(id), removeNetns(NetnsPath(id)))
	return errors.Join(errs...)
}

// RemoveNetns unmounts the namespace of container id.
func RemoveNetns(id string) error { return removeNetns(NetnsPath(id)) }
