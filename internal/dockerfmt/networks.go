package dockerfmt

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/network"
)

// NetworkJSON is a network in the shape of `docker network inspect`.
type NetworkJSON struct {
	Name       string                   `json:"Name"`
	ID         string                   `json:"Id"`
	Created    time.Time                `json:"Created"`
	Scope      string                   `json:"Scope"`
	Driver     string                   `json:"Driver"`
	EnableIPv6 bool                     `json:"EnableIPv6"`
	IPAM       NetworkIPAM              `json:"IPAM"`
	Internal   bool                     `json:"Internal"`
	Attachable bool                     `json:"Attachable"`
	Ingress    bool                     `json:"Ingress"`
	ConfigFrom struct{ Network string } `json:"ConfigFrom"`
	ConfigOnly bool                     `json:"ConfigOnly"`
	Containers map[string]EndpointJSON  `json:"Containers"`
	Options    map[string]string        `json:"Options"`
	Labels     map[string]string        `json:"Labels"`
}

// NetworkIPAM is a network's address management: one IPv4 subnet.
type NetworkIPAM struct {
	Driver  string            `json:"Driver"`
	Options map[string]string `json:"Options"`
	Config  []IPAMConfig      `json:"Config"`
}

// IPAMConfig is one subnet of a network and its gateway.
type IPAMConfig struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

// EndpointJSON is a container on a network, as `network inspect` lists it.
type EndpointJSON struct {
	Name        string `json:"Name"`
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
	IPv6Address string `json:"IPv6Address"`
}

// InspectNetwork is n as `network inspect` shows it, with its running
// members.
func InspectNetwork(n *network.Network, members []network.Member) *NetworkJSON {
	j := &NetworkJSON{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		IPAM: NetworkIPAM{
			Driver: "default",
			Config: []IPAMConfig{{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}},
		},
		Internal:   n.Internal,
		Containers: map[string]EndpointJSON{},
		Options:    map[string]string{"com.docker.network.bridge.name": n.Bridge},
		Labels:     n.Labels,
	}
	if j.Labels == nil {
		j.Labels = map[string]string{}
	}
	for _, m := range members {
		e := EndpointJSON{Name: m.Name, MacAddress: m.Mac}
		if m.Addr.IsValid() {
			e.IPv4Address = fmt.Sprintf("%s/%d", m.Addr, n.Subnet.Bits())
		}
		j.Containers[m.ContainerID] = e
	}
	return j
}

// NetworkRow is one network as `network ls --format` sees it.
type NetworkRow struct {
	ID, Name, Driver, Scope, CreatedAt string
	Internal, IPv6                     bool
	Labels                             string
}

// NewNetworkRow is n's row; its id shortened unless noTrunc.
func NewNetworkRow(n *network.Network, noTrunc bool) NetworkRow {
	labels := make([]string, 0, len(n.Labels))
	for k, v := range n.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	id := n.ID
	if !noTrunc {
		id = ids.ShortID(id)
	}
	return NetworkRow{
		ID: id, Name: n.Name, Driver: n.Driver, Scope: "local",
		CreatedAt: n.Created.Local().Format("2006-01-02 15:04:05.999999999 -0700 MST"),
		Internal:  n.Internal, Labels: strings.Join(labels, ","),
	}
}

// WriteNetworksTable writes rows as `docker network ls` does, or with
// quiet the ids alone.
func WriteNetworksTable(w io.Writer, rows []NetworkRow, quiet bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSCOPE")
	}
	for _, r := range rows {
		if quiet {
			fmt.Fprintln(tw, r.ID)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Driver, r.Scope)
	}
	return tw.Flush()
}

// WriteNetworksFormat writes rows with ls's --format: "json" (a JSON object
// a line) or a Go template ("\t" and "\n" written as two characters are a
// tab and a newline).
func WriteNetworksFormat(w io.Writer, format string, rows []NetworkRow) error {
	if strings.TrimSpace(format) == "json" {
		return writeJSONLines(w, rows)
	}
	tmpl, err := ParseTemplate(strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format))
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := tmpl.Execute(w, r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	return nil
}
