package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/network"
)

// ConnectOptions are those of `network connect`.
type ConnectOptions struct {
	Aliases []string
	IP      string
}

// Connect puts running container ref on network name as one more
// interface (eth1, ...), under the container's state lock: no stop or start
// runs meanwhile.
func (e *Engine) Connect(name, ref string, o ConnectOptions) error {
	r, n, unlock, err := e.netTarget(name, ref)
	if err != nil {
		return err
	}
	defer unlock()
	if slices.ContainsFunc(r.Networks, func(a network.Attachment) bool { return a.NetworkID == n.ID }) {
		return fmt.Errorf("%w: container %s is already on network %s", ErrInvalidInput, ids.ShortID(r.ID), n.Name)
	}
	if err := network.CheckAliases(n, o.Aliases); err != nil {
		return err
	}
	opts := network.AttachOptions{ID: r.ID, Netns: network.NetnsPath(r.ID), Index: freeIndex(r.Networks), Aliases: o.Aliases}
	if o.IP != "" {
		leases, err := network.Leases(n.Bridge)
		if err != nil {
			return err
		}
		taken := func(a netip.Addr) bool { _, ok := leases[a]; return ok }
		if opts.IP, err = network.CheckIP(n, o.IP, taken); err != nil {
			return err
		}
	}
	a, err := network.Attach(n, opts)
	if err != nil {
		return err
	}
	err = e.join(r, n, a)
	if err == nil {
		err = e.updateRecord(r.ID, func(x *Record) {
			x.Networks = append(x.Networks, *a)
			x.Host.Connected = append(x.Host.Connected, ConnectedNetwork{Name: n.Name, Aliases: o.Aliases, IP: opts.IP})
		})
	}
	if err != nil {
		return errors.Join(err, network.Detach(a, r.ID), e.leaveOne(n, r.ID))
	}
	return nil
}

// Disconnect takes running container ref off network name: its interface
// on it goes, and its name no longer resolves there.
func (e *Engine) Disconnect(name, ref string) error {
	r, n, unlock, err := e.netTarget(name, ref)
	if err != nil {
		return err
	}
	defer unlock()
	i := slices.IndexFunc(r.Networks, func(a network.Attachment) bool { return a.NetworkID == n.ID })
	if i < 0 {
		return fmt.Errorf("%w: container %s is not on network %s", ErrInvalidInput, ids.ShortID(r.ID), n.Name)
	}
	a := r.Networks[i]
	err = e.updateRecord(r.ID, func(x *Record) {
		x.Networks = slices.DeleteFunc(x.Networks, func(b network.Attachment) bool { return b.NetworkID == n.ID })
		x.Host.Connected = slices.DeleteFunc(x.Host.Connected, func(c ConnectedNetwork) bool { return c.Name == n.Name })
	})
	if err != nil {
		return err
	}
	return errors.Join(network.Detach(&a, r.ID), e.leaveOne(n, r.ID))
}

// netTarget finds network name and running container ref, whose state lock
// it takes (unlock releases it).
func (e *Engine) netTarget(name, ref string) (*Record, *network.Network, func(), error) {
	n, err := e.networkOf(name)
	if err != nil {
		return nil, nil, nil, err
	}
	r, err := e.Find(ref)
	if err != nil {
		return nil, nil, nil, err
	}
	state, err := e.holdState(r.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	unlock := func() { state.Close() }
	if r, err = e.loadRecord(r.ID); err == nil && (!live(r) || r.Status != StateRunning) {
		err = fmt.Errorf("%w: container %s is not running", ErrWrongState, ids.ShortID(r.ID))
	}
	if err == nil && !isBridgeMode(r.Host.Network) {
		err = fmt.Errorf("%w: container %s is on --network %s: only a container on a bridge network can be connected to another", ErrInvalidInput, ids.ShortID(r.ID), r.Host.Network)
	}
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return r, n, unlock, nil
}

// freeIndex is the lowest interface index (eth<N>) atts do not use.
func freeIndex(atts []network.Attachment) int {
	for i := 0; ; i++ {
		if !slices.ContainsFunc(atts, func(a network.Attachment) bool { return a.Interface == "eth"+strconv.Itoa(i) }) {
			return i
		}
	}
}

// leaveOne takes container id out of the members of user-defined network n.
func (e *Engine) leaveOne(n *network.Network, id string) error {
	if !n.UserDefined() {
		return nil
	}
	s, err := e.Networks()
	if err != nil {
		return err
	}
	return s.Leave(n, id)
}
