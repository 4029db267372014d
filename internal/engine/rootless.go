package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// mode: pasta for the default bridge (a bridge needs the host's network
// namespace), which only a privileged engine has; none, host, pasta and
// container:REF as they are.
func rootlessNetwork(mode string) (string, error) {
	switch {
	case mode == network.PastaMode && !rootless.Active():
		return "", fmt.Errorf("%w: --network pasta is the network of a rootless sdocker: as root, use a bridge network", ErrInvalidInput)
	case !rootless.Active() || !isBridgeMode(mode):
		return mode, nil
	case mode == network.DefaultName:
		return network.PastaMode, nil
	}
	return "", fmt.Errorf("%w: --network %s: a rootless sdocker has no bridge networks: use pasta (the default), host, none or container:REF", ErrInvalidInput, mode)
}

// pastaPidFile is where the pasta of container id writes its pid.
func (e *Engine) pastaPidFile(id string) string {
	return filepath.Join(e.containerDir(id), "pasta.pid")
}

// connectPasta makes r's network namespace and starts pasta on it, before
// its init starts; ready waits until pasta has configured it (see
// launch.Callbacks.BeforePlaced: pasta's start runs beside the init's).
func (e *Engine) connectPasta(r *Record) (atts []network.Attachment, ready func() error, err error) {
	path, err := network.CreateNetns(r.ID)
	if errors.Is(err, os.ErrExist) {
		// What a killed start of it left.
		if err = e.disconnectPasta(r); err == nil {
			path, err = network.CreateNetns(r.ID)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	p, ports, err := network.StartPasta(path, e.pastaPidFile(r.ID), r.Ports)
	if err != nil {
		return nil, nil, errors.Join(err, e.disconnectPasta(r))
	}
	return []network.Attachment{{Network: network.PastaMode, Ports: ports}}, p.Wait, nil
}

// disconnectPasta ends r's pasta and removes its network namespace. Only
// a pasta that publishes ports is waited for: they are free once this
// returns.
func (e *Engine) disconnectPasta(r *Record) error {
	return errors.Join(network.StopPasta(e.pastaPidFile(r.ID), len(r.Ports) > 0), network.RemoveNetns(r.ID))
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
