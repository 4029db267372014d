// Package network holds sdocker's container networks: bridge networks defined
// on disk under the engine's root, the address leases of the containers on
// them, and the links, routes and firewall rules a container on one gets.
package network

import (
	"net/netip"
	"time"
)

// DefaultName is the network `sdocker run` uses when --network is not given,
// as Docker's "bridge".
const DefaultName = "bridge"

// DefaultBridge is the Linux bridge of the default network, as Docker's
// docker0.
const DefaultBridge = "sdocker0"

// Network is one bridge network as stored in <root>/networks/<Name>.json.
type Network struct {
	Name     string            `json:"Name"`
	ID       string            `json:"Id"`     // 64 hex digits
	Driver   string            `json:"Driver"` // "bridge"
	Subnet   netip.Prefix      `json:"Subnet"` // masked: 172.17.0.0/16
	Gateway  netip.Addr        `json:"Gateway"`
	Bridge   string            `json:"Bridge"` // the Linux bridge: DefaultBridge, or "sd-" + the id's first 12 digits
	Internal bool              `json:"Internal"`
	Labels   map[string]string `json:"Labels,omitempty"`
	Created  time.Time         `json:"Created"`
}

// UserDefined reports whether n was made by `network create` (names resolve
// only there, as in Docker).
func (n *Network) UserDefined() bool { return n.Name != DefaultName }
