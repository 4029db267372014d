package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/rootless"
	"github.com/sdocker/sdocker/internal/specgen"
)

// A rootless engine (sdocker of an unprivileged user, in the user's
// namespaces: see package rootless) puts its containers' cgroups in the
// cgroup v2 subtree delegated to the user; without one (or on cgroup v1)
// containers get no cgroups: limits are not applied, with a warning.
func (e *Engine) setupRootless() {
	parent, why := rootless.CgroupParent()
	if parent == "" {
		cgroups.Disable(why)
		return
	}
	e.CgroupParent = parent
}

// rootlessNetwork is the network mode that a rootless engine gives for
// mode: the default user-mode network for the default bridge (a bridge
// needs the host's network namespace), which only a privileged engine
// has; none, host, pasta, slirp4netns (with podman's options:
// port_handler=slirp4netns, the only one) and container:REF as they are.
func rootlessNetwork(mode string) (string, error) {
	if name, opts, ok := strings.Cut(mode, ":"); ok && name == network.SlirpMode {
		if err := slirpOptions(opts); err != nil {
			return "", err
		}
		mode = name
	}
	switch {
	case userModeNetwork(mode) && !rootless.Active():
		return "", fmt.Errorf("%w: --network %s is a network of a rootless sdocker: as root, use a bridge network", ErrInvalidInput, mode)
	case !rootless.Active() || !isBridgeMode(mode):
		return mode, nil
	case mode == network.DefaultName:
		return rootlessDefaultNetwork, nil
	}
	return "", fmt.Errorf("%w: --network %s: a rootless sdocker has no bridge networks: use %s (the default), %s, host, none or container:REF", ErrInvalidInput, mode, rootlessDefaultNetwork, otherUserModeNetwork())
}

// rootlessDefaultNetwork is the network of a rootless engine's containers
// without --network: slirp4netns, which configures a namespace in 4 ms
// where this pasta (passt 2023-03-09) takes 19 (see bench/README.md).
const rootlessDefaultNetwork = network.SlirpMode

func otherUserModeNetwork() string {
	if rootlessDefaultNetwork == network.PastaMode {
		return network.SlirpMode
	}
	return network.PastaMode
}

// slirpOptions checks the options of --network slirp4netns:OPTS, podman's
// form: port_handler=slirp4netns is the only one (the ports are published
// by slirp4netns itself).
func slirpOptions(opts string) error {
	for _, o := range strings.Split(opts, ",") {
		if o != "port_handler=slirp4netns" {
			return fmt.Errorf("%w: --network slirp4netns:%s: unsupported option %q (supported: port_handler=slirp4netns)", ErrInvalidInput, opts, o)
		}
	}
	return nil
}

// userModeFile is where a file of the user-mode network of container id
// goes: its pid ("pasta.pid", "slirp4netns.pid") or slirp4netns's API
// socket.
func (e *Engine) userModeFile(id, name string) string {
	return filepath.Join(e.containerDir(id), name)
}

// connectUserMode makes r's network namespace and starts pasta or
// slirp4netns on it, before its init starts; ready waits until it has
// configured it (see launch.Callbacks.BeforePlaced: its start runs beside
// the init's).
func (e *Engine) connectUserMode(r *Record) (atts []network.Attachment, ready func() error, err error) {
	path, err := network.CreateNetns(r.ID)
	if errors.Is(err, os.ErrExist) {
		// What a killed start of it left.
		if err = e.disconnectUserMode(r); err == nil {
			path, err = network.CreateNetns(r.ID)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	var ports []network.PortMapping
	if r.Host.Network == network.SlirpMode {
		var s *network.Slirp
		s, ports, err = network.StartSlirp(path, e.userModeFile(r.ID, "slirp4netns.pid"), e.slirpAPI(r.ID), r.Ports)
		if err == nil {
			ready = s.Wait
		}
	} else {
		var p *network.Pasta
		p, ports, err = network.StartPasta(path, e.userModeFile(r.ID, "pasta.pid"), r.Ports)
		if err == nil {
			ready = p.Wait
		}
	}
	if err != nil {
		return nil, nil, errors.Join(err, e.disconnectUserMode(r))
	}
	return []network.Attachment{{Network: r.Host.Network, Ports: ports}}, ready, nil
}

// slirpAPI is the API socket of container id's slirp4netns. A socket's
// path has at most 107 bytes: a long one is replaced by one in /tmp.
func (e *Engine) slirpAPI(id string) string {
	p := e.userModeFile(id, "slirp4netns.sock")
	if len(p) < 100 {
		return p
	}
	uid := os.Getuid()
	if rootless.Active() {
		uid = rootless.UID()
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sdocker-%d-%.12s.sock", uid, id))
}

// disconnectUserMode ends r's pasta or slirp4netns and removes its network
// namespace. Only one that publishes ports is waited for: they are free
// once this returns.
func (e *Engine) disconnectUserMode(r *Record) error {
	var err error
	if r.Host.Network == network.SlirpMode {
		err = network.StopSlirp(e.userModeFile(r.ID, "slirp4netns.pid"), e.slirpAPI(r.ID), len(r.Ports) > 0)
	} else {
		err = network.StopPasta(e.userModeFile(r.ID, "pasta.pid"), len(r.Ports) > 0)
	}
	return errors.Join(err, network.RemoveNetns(r.ID))
}

// rootlessSpec fits r's spec to the user namespace of a rootless engine:
// a sysfs mount needs a network namespace of the user's own, so on the
// host's network /sys is the host's, bind-mounted read-only.
func rootlessSpec(r *Record) specgen.Opt {
	return func(s *specs.Spec) error {
		if !rootless.Active() || r.Host.Network != "host" {
			return nil
		}
		for i, m := range s.Mounts {
			if m.Type == "sysfs" {
				s.Mounts[i] = specs.Mount{
					Destination: m.Destination, Type: "bind", Source: "/sys",
					Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"},
				}
			}
		}
		return nil
	}
}

// withoutCgroupLimits is spec for the runtime core: without its resources
// when this process may not use cgroups (see cgroups.Disable), so that
// nothing tries to write a limit that no cgroup holds; a rootless engine's
// without device rules (a cgroup v2 device filter needs privilege; the user
// namespace is the bound there: no mknod, the host's nodes as the user
// may use them).
func withoutCgroupLimits(spec *specs.Spec) *specs.Spec {
	if spec.Linux == nil || spec.Linux.Resources == nil || !cgroups.Disabled() && !rootless.Active() {
		return spec
	}
	s, l := *spec, *spec.Linux
	if cgroups.Disabled() {
		l.Resources = nil
	} else {
		res := *l.Resources
		res.Devices = nil
		l.Resources = &res
	}
	s.Linux = &l
	return &s
}
