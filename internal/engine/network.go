package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/specgen"
)

// A container's network mode, as its record keeps it (Host.Network): "none",
// "host", "container:ID", or the name of a bridge network ("bridge" for
// the default one). On a bridge network the container's namespace is made
// by the engine at network.NetnsPath(ID) before its init starts, and the
// spec joins it by path.

const containerModePrefix = "container:"

// isBridgeMode reports whether mode is a bridge network's name.
func isBridgeMode(mode string) bool {
	return mode != "none" && mode != "host" && mode != "" && !userModeNetwork(mode) && !strings.HasPrefix(mode, containerModePrefix)
}

// userModeNetwork reports whether mode is a rootless engine's network of
// a user-mode stack: pasta or slirp4netns.
func userModeNetwork(mode string) bool { return mode == network.PastaMode || mode == network.SlirpMode }

// ownsNetns reports whether a container of mode has a network namespace
// that the engine makes at network.NetnsPath(ID): a bridge network's, or
// pasta's or slirp4netns's (rootless).
func ownsNetns(mode string) bool { return isBridgeMode(mode) || userModeNetwork(mode) }

// Networks opens the store of network definitions.
func (e *Engine) Networks() (*network.Store, error) { return network.Open(e.Root) }

// networkOf finds the definition of bridge network name.
func (e *Engine) networkOf(name string) (*network.Network, error) {
	s, err := e.Networks()
	if err != nil {
		return nil, err
	}
	if name == network.DefaultName {
		return s.Default()
	}
	n, err := s.Get(name)
	if err != nil {
		return nil, fmt.Errorf("%w: network %s: %w", ErrInvalidInput, name, err)
	}
	return n, nil
}

// chooseNetwork checks the network options of o for a container of id and
// sets them in r: its mode, its published ports (with -P, every port its
// image exposes), its --ip and aliases.
func (e *Engine) chooseNetwork(o RunOptions, r *Record, img *image.Image) error {
	mode := o.Network
	if mode == "" || mode == "default" {
		mode = network.DefaultName
	}
	mode, err := rootlessNetwork(mode)
	if err != nil {
		return err
	}
	var gateway netip.Addr
	switch {
	case mode == "none" || mode == "host" || userModeNetwork(mode):
	case strings.HasPrefix(mode, containerModePrefix):
		if mode, err = e.containerMode(strings.TrimPrefix(mode, containerModePrefix), o.Name); err != nil {
			return err
		}
	default:
		n, err := e.networkOf(mode)
		if err != nil {
			return err
		}
		mode, gateway = n.Name, n.Gateway
	}
	// host-gateway is the network's gateway: the host as the container
	// reaches it.
	if r.Host.ExtraHosts, err = network.CheckExtraHosts(o.ExtraHosts, gateway); err != nil {
		return err
	}
	r.Host.DNS = o.DNS
	r.Host.Network = mode
	ports, err := publishedPorts(o, img)
	if err != nil {
		return err
	}
	if userModeNetwork(mode) && (o.IP != "" || len(o.NetworkAliases) > 0) {
		return fmt.Errorf("%w: --ip and --network-alias need a bridge network, not --network %s", ErrInvalidInput, mode)
	}
	if !ownsNetns(mode) && (len(ports) > 0 || o.IP != "" || len(o.NetworkAliases) > 0) {
		return fmt.Errorf("%w: --publish, --ip and --network-alias need a bridge network, not --network %s", ErrInvalidInput, o.Network)
	}
	if err := network.CheckPorts(ports); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	r.Ports, r.Host.NetworkAliases = ports, o.NetworkAliases
	if !isBridgeMode(mode) {
		return nil
	}
	n, err := e.networkOf(mode)
	if err != nil {
		return err
	}
	// (Their refusals say "invalid" themselves.)
	if err := network.CheckAliases(n, o.NetworkAliases); err != nil {
		return err
	}
	if o.IP != "" {
		leases, err := network.Leases(n.Bridge)
		if err != nil {
			return err
		}
		taken := func(a netip.Addr) bool { _, ok := leases[a]; return ok }
		if r.Host.IP, err = network.CheckIP(n, o.IP, taken); err != nil {
			return err
		}
	}
	return nil
}

// containerMode checks --network container:REF for a container named self:
// REF must run and not be the container itself.
func (e *Engine) containerMode(ref, self string) (string, error) {
	other, err := e.namespaceOwner("--network", specs.NetworkNamespace, ref, self)
	if err != nil {
		return "", err
	}
	return containerModePrefix + other.ID, nil
}

// publishedPorts reads -p, and with -P the image's exposed ports.
func publishedPorts(o RunOptions, img *image.Image) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, p := range o.Publish {
		m, err := network.ParsePublish(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		out = append(out, m...)
	}
	if o.PublishAll && img != nil {
		for _, p := range img.Config.ExposedPorts {
			m, err := network.ParsePublish(p)
			if err != nil {
				return nil, fmt.Errorf("%w: the image's exposed port: %w", ErrInvalidInput, err)
			}
			out = append(out, m...)
		}
	}
	return out, nil
}

// networkSpec is the spec option of r's network mode.
func networkSpec(r *Record) specgen.Opt {
	switch {
	case ownsNetns(r.Host.Network):
		return specgen.WithNetworkNamespacePath(network.NetnsPath(r.ID))
	case strings.HasPrefix(r.Host.Network, containerModePrefix):
		return func(*specs.Spec) error { return nil } // joined at start (see joinNetworkOf)
	default:
		return specgen.WithNetwork(r.Host.Network)
	}
}

// joinNetworkOf points r's spec at the network namespace of the container
// its mode names, which must run.
func (e *Engine) joinNetworkOf(r *Record) error {
	id := strings.TrimPrefix(r.Host.Network, containerModePrefix)
	other, err := e.loadRecord(id)
	if err == nil && !live(other) {
		err = fmt.Errorf("it is %s", other.Status)
	}
	if err != nil {
		return fmt.Errorf("%w: network of container %s: %w", ErrWrongState, ids.ShortID(id), err)
	}
	var opt specgen.Opt
	switch {
	case ownsNetns(other.Host.Network):
		opt = specgen.WithNetworkNamespacePath(network.NetnsPath(other.ID))
	case other.Host.Network == "host":
		opt = specgen.WithNetwork("host")
	default:
		opt = specgen.WithNetworkNamespacePath("/proc/" + strconv.Itoa(other.Pid) + "/ns/net")
	}
	return specgen.Apply(r.Spec, opt, specgen.CheckSysctls)
}

// connect makes r's network namespace and puts it on its network, before
// its init starts. It returns what the record keeps of it, and, when the
// network is still being configured (pasta's, slirp4netns's), ready,
// which waits until it is.
func (e *Engine) connect(r *Record) (atts []network.Attachment, ready func() error, err error) {
	if userModeNetwork(r.Host.Network) {
		return e.connectUserMode(r)
	}
	atts, err = e.connectNow(r)
	return atts, nil, err
}

// connectNow is connect for the networks that are ready at once.
func (e *Engine) connectNow(r *Record) ([]network.Attachment, error) {
	if strings.HasPrefix(r.Host.Network, containerModePrefix) {
		return nil, e.joinNetworkOf(r)
	}
	if !isBridgeMode(r.Host.Network) {
		return nil, nil
	}
	n, err := e.networkOf(r.Host.Network)
	if err != nil {
		return nil, err
	}
	path, err := network.CreateNetns(r.ID)
	if errors.Is(err, os.ErrExist) {
		// What a killed start of it left.
		if err = network.Cleanup(r.ID); err == nil {
			path, err = network.CreateNetns(r.ID)
		}
	}
	if err != nil {
		return nil, err
	}
	a, err := network.Attach(n, network.AttachOptions{
		ID: r.ID, Netns: path, IP: r.Host.IP, Aliases: r.Host.NetworkAliases, Ports: r.Ports,
	})
	if err != nil {
		return nil, errors.Join(err, network.RemoveNetns(r.ID))
	}
	atts := []network.Attachment{*a}
	if err := e.join(r, n, a); err != nil {
		return nil, errors.Join(err, e.disconnect(r, atts))
	}
	for _, c := range r.Host.Connected {
		if atts, err = e.reconnect(r, c, atts); err != nil {
			return nil, errors.Join(err, e.disconnect(r, atts))
		}
	}
	return atts, nil
}

// reconnect puts r, starting, on network c that `network connect` added
// before, after atts.
func (e *Engine) reconnect(r *Record, c ConnectedNetwork, atts []network.Attachment) ([]network.Attachment, error) {
	n, err := e.networkOf(c.Name)
	if err != nil {
		return atts, err
	}
	a, err := network.Attach(n, network.AttachOptions{
		ID: r.ID, Netns: network.NetnsPath(r.ID), Index: freeIndex(atts), IP: c.IP, Aliases: c.Aliases,
	})
	if err != nil {
		return atts, err
	}
	atts = append(atts, *a)
	return atts, e.join(r, n, a)
}

// Every container on a bridge network has its own /etc/hosts,
// /etc/resolv.conf and /etc/hostname, files of its directory bind-mounted
// there, as Docker's.
func (e *Engine) etcPath(id, name string) string { return filepath.Join(e.containerDir(id), name) }

// etcMounts are the bind mounts of r's /etc files.
func (e *Engine) etcMounts(r *Record) []specs.Mount {
	if !ownsNetns(r.Host.Network) {
		return nil
	}
	var out []specs.Mount
	for _, f := range []string{"hosts", "resolv.conf", "hostname"} {
		out = append(out, specgen.Bind(e.etcPath(r.ID, f), "/etc/"+f, false))
	}
	return out
}

// writeEtcFiles writes r's /etc files as they are before it joins a
// network: resolv.conf from the host's (with --dns, --dns-search and
// --dns-option), its hostname, and a hosts file with the localhost lines
// and --add-host's.
func (e *Engine) writeEtcFiles(r *Record) error {
	if !ownsNetns(r.Host.Network) {
		return nil
	}
	host, err := network.HostResolvConf()
	if err != nil {
		return err
	}
	resolv, err := network.ResolvConfWith(host, r.Host.DNS)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	files := map[string][]byte{
		"resolv.conf": resolv,
		"hostname":    []byte(r.Spec.Hostname + "\n"),
		"hosts":       network.HostsFile(network.Member{ContainerID: r.ID, ExtraHosts: r.Host.ExtraHosts}, nil),
	}
	for name, b := range files {
		if err := os.WriteFile(e.etcPath(r.ID, name), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", e.etcPath(r.ID, name), err)
		}
	}
	return nil
}

// join makes r, just attached to n by a, resolvable: on a user-defined
// network by every member (and they by it), through their hosts files; on
// the default one its own hosts file names it.
func (e *Engine) join(r *Record, n *network.Network, a *network.Attachment) error {
	m := network.Member{
		ContainerID: r.ID, Name: r.Name, Aliases: a.Aliases, Addr: a.IP, Mac: a.MAC,
		ExtraHosts: r.Host.ExtraHosts, HostsPath: e.etcPath(r.ID, "hosts"),
	}
	if !n.UserDefined() {
		return network.WriteInPlace(m.HostsPath, network.HostsFile(m, nil))
	}
	s, err := e.Networks()
	if err != nil {
		return err
	}
	return s.Join(n, m)
}

// disconnect releases what r, which does not run, holds on its networks
// and removes its namespace (its veths go with it).
func (e *Engine) disconnect(r *Record, atts []network.Attachment) error {
	if userModeNetwork(r.Host.Network) {
		return e.disconnectUserMode(r)
	}
	if !isBridgeMode(r.Host.Network) {
		return nil
	}
	var errs []error
	for i := range atts {
		errs = append(errs, network.Release(&atts[i], r.ID))
		if atts[i].Network != network.DefaultName {
			errs = append(errs, e.leave(r.ID))
		}
	}
	errs = append(errs, network.RemoveNetns(r.ID))
	return errors.Join(errs...)
}

// leave takes container id out of the members of every network.
func (e *Engine) leave(id string) error {
	s, err := e.Networks()
	if err != nil {
		return err
	}
	return s.LeaveAll(id)
}

// cleanupNetwork removes whatever a killed command left of r's network:
// anything, while its namespace is mounted or its record says it is on a
// network.
func (e *Engine) cleanupNetwork(r *Record) error {
	if !ownsNetns(r.Host.Network) || len(r.Networks) == 0 && !networkLeft(r.ID) {
		return nil
	}
	if userModeNetwork(r.Host.Network) {
		return e.disconnectUserMode(r)
	}
	return e.releaseNetwork(r.ID)
}

// networkLeft reports whether container id's namespace is still mounted:
// a start that attached it was killed before it could record so.
func networkLeft(id string) bool {
	_, err := os.Lstat(network.NetnsPath(id))
	return err == nil
}

// releaseNetwork removes everything container id may hold of the host's
// network, knowing nothing of its record.
func (e *Engine) releaseNetwork(id string) error {
	return errors.Join(network.Cleanup(id), e.leave(id))
}
