package dockerfmt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/network"
)

// PortBinding is one host side of a published port, as Docker's inspect
// shows it.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// EndpointSettings is a container's place on one network, as Docker's
// inspect shows it under NetworkSettings.Networks.
type EndpointSettings struct {
	Aliases     []string `json:"Aliases"`
	NetworkID   string   `json:"NetworkID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	MacAddress  string   `json:"MacAddress"`
}

// publishedPorts are the ports r publishes now: those of its networks
// while it runs.
func publishedPorts(r *engine.Record) []network.PortMapping {
	var out []network.PortMapping
	for _, a := range r.Networks {
		out = append(out, a.Ports...)
	}
	return out
}

// PortsString is the PORTS column of ps: 0.0.0.0:8080->80/tcp, ...
func PortsString(r *engine.Record) string {
	var parts []string
	for _, m := range publishedPorts(r) {
		parts = append(parts, m.String())
	}
	return strings.Join(parts, ", ")
}

// PortLines are the lines of `sdocker port`: "80/tcp -> 0.0.0.0:8080", for
// every published port, or those of private ("80" or "80/udp").
func PortLines(r *engine.Record, private string) ([]string, error) {
	var want string
	if private != "" {
		port, proto, _ := strings.Cut(private, "/")
		if proto == "" {
			proto = "tcp"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("%w: port %q: use PORT or PORT/tcp|udp", engine.ErrInvalidInput, private)
		}
		want = port + "/" + proto
	}
	var out []string
	for _, m := range publishedPorts(r) {
		key := fmt.Sprintf("%d/%s", m.ContainerPort, m.Proto)
		if want == "" || key == want {
			out = append(out, fmt.Sprintf("%s -> %s:%d", key, hostIP(m), m.HostPort))
		}
	}
	if want != "" && len(out) == 0 {
		return nil, fmt.Errorf("no public port '%s' published for %s", want, r.Name)
	}
	return out, nil
}

func hostIP(m network.PortMapping) string {
	if m.HostIP.IsValid() {
		return m.HostIP.String()
	}
	return "0.0.0.0"
}

// networkSettings fills s from r: its networks and published ports while it
// runs; on the default network, the top-level address fields too (as
// Docker, which keeps them for that network only).
func networkSettings(s *NetworkSettings, r *engine.Record) {
	s.Ports = map[string][]PortBinding{}
	s.Networks = map[string]*EndpointSettings{}
	for _, m := range publishedPorts(r) {
		key := fmt.Sprintf("%d/%s", m.ContainerPort, m.Proto)
		s.Ports[key] = append(s.Ports[key], PortBinding{HostIP: hostIP(m), HostPort: strconv.Itoa(int(m.HostPort))})
	}
	for _, a := range r.Networks {
		ep := &EndpointSettings{
			Aliases: a.Aliases, NetworkID: a.NetworkID, Gateway: a.Gateway.String(),
			IPAddress: a.IP.String(), IPPrefixLen: a.PrefixLen, MacAddress: a.MAC,
		}
		s.Networks[a.Network] = ep
		if a.Network == network.DefaultName {
			s.IPAddress, s.Gateway, s.IPPrefixLen, s.MacAddress = ep.IPAddress, ep.Gateway, ep.IPPrefixLen, ep.MacAddress
		}
	}
	mode := r.Host.Network
	if _, ok := s.Networks[mode]; !ok && mode != "" && !strings.HasPrefix(mode, "container:") {
		// Not running: the network it is on, without an address.
		s.Networks[mode] = &EndpointSettings{Aliases: r.Host.NetworkAliases}
	}
}
