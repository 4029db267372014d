package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// The address leases of a bridge are symlinks in leaseDir(bridge), named by
// the address and pointing at the id of the container that holds it. A lease
// is taken by creating its link, which the kernel does atomically: of many
// concurrent runs exactly one gets each address, without a lock.

// ErrSubnetFull is returned when a network has no address left.
var ErrSubnetFull = errors.New("no free address")

// ErrAddressInUse is returned for an --ip that another container holds.
var ErrAddressInUse = errors.New("address already in use")

func leaseDir(bridge string) string { return filepath.Join(RunDir, "leases", bridge) }

// hostRange is the first and last address a container may get on subnet:
// neither the subnet's own address nor its broadcast.
func hostRange(subnet netip.Prefix) (first, last netip.Addr) {
	base := subnet.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(base[:]) | uint32(1<<(32-subnet.Bits())-1)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return subnet.Masked().Addr().Next(), netip.AddrFrom4(b).Prev()
}

// allocate leases an address of n to container id: want if it is valid,
// else the lowest free one.
func allocate(n *Network, id string, want netip.Addr) (netip.Addr, error) {
	if !n.Subnet.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("network %s: subnet %s: only IPv4 is supported", n.Name, n.Subnet)
	}
	dir := leaseDir(n.Bridge)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return netip.Addr{}, fmt.Errorf("create %s: %w", dir, err)
	}
	first, last := hostRange(n.Subnet)
	if want.IsValid() {
		if !n.Subnet.Contains(want) || want.Less(first) || last.Less(want) || want == n.Gateway {
			return netip.Addr{}, fmt.Errorf("network %s: address %s is not a container address of %s", n.Name, want, n.Subnet)
		}
		if err := os.Symlink(id, filepath.Join(dir, want.String())); err != nil {
			if errors.Is(err, os.ErrExist) {
				return netip.Addr{}, fmt.Errorf("network %s: %s: %w", n.Name, want, ErrAddressInUse)
			}
			return netip.Addr{}, fmt.Errorf("lease %s: %w", filepath.Join(dir, want.String()), err)
		}
		return want, nil
	}
	used := map[string]bool{}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			used[e.Name()] = true
		}
	}
	for a := first; !last.Less(a); a = a.Next() {
		if a == n.Gateway || used[a.String()] {
			continue
		}
		err := os.Symlink(id, filepath.Join(dir, a.String()))
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return netip.Addr{}, fmt.Errorf("lease %s: %w", filepath.Join(dir, a.String()), err)
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s: %w in %s", n.Name, ErrSubnetFull, n.Subnet)
}

// release gives back the lease of addr on bridge if container id holds it.
func release(bridge string, addr netip.Addr, id string) error {
	return removeIfOwned(filepath.Join(leaseDir(bridge), addr.String()), id)
}

// releaseAll gives back every lease that container id holds, on any bridge:
// what a killed command left.
func releaseAll(id string) error {
	bridges, _ := os.ReadDir(filepath.Join(RunDir, "leases"))
	var errs []error
	for _, b := range bridges {
		errs = append(errs, releaseOwned(leaseDir(b.Name()), id))
	}
	return errors.Join(errs...)
}

// Leases lists the addresses leased on bridge and the container holding each.
func Leases(bridge string) (map[netip.Addr]string, error) {
	dir := leaseDir(bridge)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	out := map[netip.Addr]string{}
	for _, e := range ents {
		a, err := netip.ParseAddr(e.Name())
		if owner, lerr := os.Readlink(filepath.Join(dir, e.Name())); err == nil && lerr == nil {
			out[a] = owner
		}
	}
	return out, nil
}
