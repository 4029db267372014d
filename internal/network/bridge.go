package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// lockHost takes the host-wide network lock, held while a bridge and its
// rules are made or removed: two runs never make the same one twice. The
// returned function releases it.
func lockHost() (func(), error) {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", RunDir, err)
	}
	p := filepath.Join(RunDir, "network.lock")
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { unix.Close(fd) }, nil
}

// EnsureBridge makes the Linux bridge of n if it is missing, with the
// gateway address on it, up, with its firewall rules, and returns it. The
// sysctls it turns on: route_localnet on the bridge (a port published on
// 127.0.0.1 is translated to the container's address, and the kernel
// routes a 127.0.0.0/8 source out of the bridge only with it), and
// net.ipv4.ip_forward if it is off.
func EnsureBridge(n *Network) (netlink.Link, error) {
	// One netlink socket for every request of this call.
	c, err := newNFT(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	defer func() { _ = c.CloseLasting() }() // a socket only read from
	// The common case, without the lock: the bridge is up, its rules are
	// there.
	if br, err := netlink.LinkByName(n.Bridge); err == nil && br.Attrs().Flags&net.FlagUp != 0 && br.Type() == "bridge" {
		if ok, err := hasNetworkRules(c, n); err == nil && ok {
			return br, nil
		}
	}
	unlock, err := lockHost()
	if err != nil {
		return nil, err
	}
	defer unlock()
	br, err := bridgeUp(n)
	if err != nil {
		return nil, err
	}
	if err := ensureNetworkRules(c, n); err != nil {
		return nil, err
	}
	return br, nil
}

// bridgeUp makes the bridge of n, with its address, up.
func bridgeUp(n *Network) (netlink.Link, error) {
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return nil, fmt.Errorf("network %s: find bridge %s: %w", n.Name, n.Bridge, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.Bridge
		// A fixed address: a bridge would take its ports' one, changing
		// as containers come and go under their neighbour caches.
		attrs.HardwareAddr = macOf(n.Gateway)
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("network %s: create bridge %s: %w", n.Name, n.Bridge, err)
		}
		if br, err = netlink.LinkByName(n.Bridge); err != nil {
			return nil, fmt.Errorf("network %s: find bridge %s: %w", n.Name, n.Bridge, err)
		}
	}
	if br.Type() != "bridge" {
		return nil, fmt.Errorf("network %s: %s is a %s, not a bridge", n.Name, n.Bridge, br.Type())
	}
	if err := sysctlOn(filepath.Join("/proc/sys/net/ipv4/conf", n.Bridge, "route_localnet")); err != nil {
		return nil, err
	}
	if err := sysctlOn("/proc/sys/net/ipv4/ip_forward"); err != nil {
		return nil, err
	}
	gw := &netlink.Addr{IPNet: &net.IPNet{IP: n.Gateway.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(br, gw); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("network %s: address %s on %s: %w", n.Name, gw.IPNet, n.Bridge, err)
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := upWithoutIPv6(nil, br); err != nil {
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return br, nil
}

// sysctlOn writes 1 to the sysctl file p unless it says 1.
func sysctlOn(p string) error {
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", p, err)
	}
	return nil
}

// RemoveBridge deletes the bridge of n, its firewall rules and its leases:
// what `network rm` leaves of a network nobody uses. What is already gone is
// not an error.
func RemoveBridge(n *Network) error {
	unlock, err := lockHost()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	if br, err := netlink.LinkByName(n.Bridge); err == nil {
		if err := netlink.LinkDel(br); err != nil {
			errs = append(errs, fmt.Errorf("network %s: delete bridge %s: %w", n.Name, n.Bridge, err))
		}
	}
	errs = append(errs, deleteRules(networkTag(n.Bridge), "postrouting", "forward"), deleteBridgeElement(n.Bridge))
	if err := os.RemoveAll(leaseDir(n.Bridge)); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", leaseDir(n.Bridge), err))
	}
	return errors.Join(errs...)
}
