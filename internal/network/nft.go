package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Every firewall rule of sdocker lives in its own table, `table ip sdocker`;
// nothing else of the host's ruleset is read or changed. Its chains:
//
//	prerouting  (nat, dstnat)   fib daddr type local jump ports
//	output      (nat, dstnat)   fib daddr type local jump ports
//	ports                       one DNAT per published port, tagged with its container
//	postrouting (nat, srcnat)   per network: masquerade of its subnet to the outside,
//	                            of hairpin traffic and of 127.0.0.0/8 sources
//	forward     (filter)        per network: isolation from the other sdocker bridges,
//	                            the names of which are the set @bridges
//
// Each rule carries a comment, "container=ID" or "network=BRIDGE", by which
// exactly the rules of one container or network are found and deleted.

const tableName = "sdocker"

var table = &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}

func chain(name string) *nftables.Chain { return &nftables.Chain{Name: name, Table: table} }

// baseChains are the hooked chains of the table.
func baseChains() []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return []*nftables.Chain{
		{Name: "prerouting", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		{Name: "output", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
		{Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
		{Name: "forward", Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept},
	}
}

func containerTag(id string) string   { return "container=" + id }
func networkTag(bridge string) string { return "network=" + bridge }

func comment(tag string) []byte { return userdata.AppendString(nil, userdata.TypeComment, tag) }

func ruleTag(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// ensureTable makes the table, its chains and its jumps unless the table is
// there. The caller holds the host's network lock.
func ensureTable(c *nftables.Conn) error {
	if _, err := c.ListTableOfFamily(tableName, nftables.TableFamilyIPv4); err == nil {
		return nil
	}
	c.AddTable(table)
	for _, ch := range baseChains() {
		c.AddChain(ch)
	}
	c.AddChain(chain("ports"))
	if err := c.AddSet(bridgeSet(), nil); err != nil {
		return fmt.Errorf("nftables: set @%s: %w", bridgeSet().Name, err)
	}
	for _, name := range []string{"prerouting", "output"} {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain(name), Exprs: []expr.Any{
			&expr.Fib{Register: 1, ResultADDRTYPE: true, FlagDADDR: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: "ports"},
		}})
	}
	if err := flushNFT(c); err != nil {
		return fmt.Errorf("nftables: create table ip %s: %w", tableName, err)
	}
	return nil
}

// bridgeSet is the set of the bridges of sdocker's networks.
func bridgeSet() *nftables.Set {
	return &nftables.Set{Table: table, Name: "bridges", KeyType: nftables.TypeIFName}
}

// Expression builders.

func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: ifnameBytes(name)}}
}

// inBridges matches an interface that is one of sdocker's bridges.
func inBridges(key expr.MetaKey) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Lookup{SourceRegister: 1, SetName: bridgeSet().Name}}
}

// addrIn matches the source (offset 12) or destination (16) address in p.
func addrIn(offset uint32, p netip.Prefix) []expr.Any {
	a := p.Masked().Addr().As4()
	var mask [4]byte
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

// dnatted matches a connection whose destination was translated.
func dnatted() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

func notDnatted() []expr.Any {
	e := dnatted()
	e[2] = &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}}
	return e
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	masq = []expr.Any{&expr.Masq{}}
	drop = []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
)

// networkRules are the postrouting and forward rules of network n.
func networkRules(n *Network) []*nftables.Rule {
	br := n.Bridge
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	post := [][]expr.Any{
		// Hairpin: a container reaching a published port of its own
		// bridge through a host address gets the reply through the host.
		join(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), addrIn(12, n.Subnet), dnatted(), masq),
		// A port published on 127.0.0.1, reached from the host.
		join(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), addrIn(12, loopback), masq),
	}
	var fwd [][]expr.Any
	if n.Internal {
		fwd = [][]expr.Any{
			join(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), drop),
			join(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), drop),
		}
	} else {
		post = append(post, join(addrIn(12, n.Subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), masq))
		// Containers of different networks do not reach each other,
		// but for published ports.
		fwd = [][]expr.Any{join(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br),
			inBridges(expr.MetaKeyOIFNAME), notDnatted(), drop)}
	}
	var out []*nftables.Rule
	tag := comment(networkTag(br))
	for _, e := range post {
		out = append(out, &nftables.Rule{Table: table, Chain: chain("postrouting"), Exprs: e, UserData: tag})
	}
	for _, e := range fwd {
		out = append(out, &nftables.Rule{Table: table, Chain: chain("forward"), Exprs: e, UserData: tag})
	}
	return out
}

// ensureNetworkRules adds the rules of n unless they are there. The caller
// holds the host's network lock.
func ensureNetworkRules(c *nftables.Conn, n *Network) error {
	if err := ensureTable(c); err != nil {
		return err
	}
	if ok, err := hasNetworkRules(c, n); err != nil || ok {
		return err
	}
	if err := c.SetAddElements(bridgeSet(), []nftables.SetElement{{Key: ifnameBytes(n.Bridge)}}); err != nil {
		return fmt.Errorf("nftables: add %s to @%s: %w", n.Bridge, bridgeSet().Name, err)
	}
	for _, r := range networkRules(n) {
		c.AddRule(r)
	}
	if err := flushNFT(c); err != nil {
		return fmt.Errorf("nftables: add the rules of network %s: %w", n.Name, err)
	}
	return nil
}

// hasNetworkRules reports whether the rules of n are in the table.
func hasNetworkRules(c *nftables.Conn, n *Network) (bool, error) {
	rules, err := c.GetRules(table, chain("postrouting"))
	if err != nil {
		return false, fmt.Errorf("nftables: list ip %s postrouting: %w", tableName, err)
	}
	for _, r := range rules {
		if ruleTag(r) == networkTag(n.Bridge) {
			return true, nil
		}
	}
	return false, nil
}

// portRules are the DNAT rules of maps to addr, for container id.
func portRules(maps []PortMapping, addr netip.Addr, id string) []*nftables.Rule {
	var out []*nftables.Rule
	tag := comment(containerTag(id))
	to := addr.As4()
	for _, m := range maps {
		proto := byte(unix.IPPROTO_TCP)
		if m.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		var e []expr.Any
		if m.HostIP.IsValid() {
			e = addrIn(16, netip.PrefixFrom(m.HostIP, 32))
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(m.HostPort)},
			&expr.Immediate{Register: 1, Data: to[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(m.ContainerPort)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 2, RegProtoMax: 2, Specified: true},
		)
		out = append(out, &nftables.Rule{Table: table, Chain: chain("ports"), Exprs: e, UserData: tag})
	}
	return out
}

// addPortRules publishes maps on addr for container id.
func addPortRules(maps []PortMapping, addr netip.Addr, id string) error {
	if len(maps) == 0 {
		return nil
	}
	c, err := newNFT()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, r := range portRules(maps, addr, id) {
		c.AddRule(r)
	}
	if err := flushNFT(c); err != nil {
		return fmt.Errorf("nftables: publish the ports of container %.12s: %w", id, err)
	}
	return nil
}

// deleteRules deletes the rules of chains carrying tag. A missing table has
// none.
func deleteRules(tag string, chains ...string) error {
	c, err := newNFT()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	n := 0
	for _, name := range chains {
		rules, err := c.GetRules(table, chain(name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("nftables: list ip %s %s: %w", tableName, name, err)
		}
		for _, r := range rules {
			if ruleTag(r) == tag {
				if err := c.DelRule(r); err != nil {
					return fmt.Errorf("nftables: delete rule of %s: %w", tag, err)
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if err := flushNFT(c); err != nil {
		return fmt.Errorf("nftables: delete the rules of %s: %w", tag, err)
	}
	return nil
}

// RuleCount counts the rules of sdocker's table that carry the tag of
// container id ("" for every rule): what a test checks is gone.
func RuleCount(id string) (int, error) {
	c, err := newNFT()
	if err != nil {
		return 0, fmt.Errorf("nftables: %w", err)
	}
	n := 0
	for _, name := range []string{"prerouting", "output", "ports", "postrouting", "forward"} {
		rules, err := c.GetRules(table, chain(name))
		if err != nil {
			continue
		}
		for _, r := range rules {
			if id == "" || ruleTag(r) == containerTag(id) {
				n++
			}
		}
	}
	return n, nil
}

// ipsDstNAT is the kernel's IPS_DST_NAT bit of a connection's status.
const ipsDstNAT = 1 << 5

// deleteBridgeElement takes bridge out of @bridges.
func deleteBridgeElement(bridge string) error {
	c, err := newNFT()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	set, err := c.GetSetByName(table, bridgeSet().Name)
	if err != nil {
		return nil // no table, no set: nothing to delete
	}
	if err := c.SetDeleteElements(set, []nftables.SetElement{{Key: ifnameBytes(bridge)}}); err != nil {
		return fmt.Errorf("nftables: delete %s from @%s: %w", bridge, set.Name, err)
	}
	if err := flushNFT(c); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete %s from @%s: %w", bridge, set.Name, err)
	}
	return nil
}

// nftTimeout bounds every wait for the kernel's answer to an nftables
// request: a kernel that cannot load a netfilter module it needs has been
// seen to never answer, and a command must not hang on it.
const nftTimeout = 10 * time.Second

// newNFT is an nftables connection whose every netlink socket gives up
// waiting for the kernel after nftTimeout.
func newNFT(opts ...nftables.ConnOption) (*nftables.Conn, error) {
	deadline := nftables.WithSockOptions(func(c *mdnetlink.Conn) error {
		return c.SetReadDeadline(time.Now().Add(nftTimeout))
	})
	return nftables.New(append(opts, deadline)...)
}

// flushNFT sends c's batch; a kernel that did not answer is named.
func flushNFT(c *nftables.Conn) error {
	err := c.Flush()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("nftables: no answer from the kernel within %s (a netfilter module it cannot load?): %w", nftTimeout, err)
	}
	return err
}
