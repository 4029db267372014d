package specgen

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
)

// ParseIDMap reads an --uidmap or --gidmap (flag names it) in podman's
// syntax, CONTAINER_ID:HOST_ID:SIZE.
func ParseIDMap(flag, s string) (specs.LinuxIDMapping, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return specs.LinuxIDMapping{}, fmt.Errorf("--%s %q: want CONTAINER_ID:HOST_ID:SIZE", flag, s)
	}
	var n [3]uint32
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil || !ids.IsNumber(p) {
			return specs.LinuxIDMapping{}, fmt.Errorf("--%s %q: %q is not a number from 0 to %d", flag, s, p, uint32(1<<32-1))
		}
		n[i] = uint32(v)
	}
	return specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]}, nil
}

// KeepIDMappings maps the container's ids so that id is own, the user's
// own id as the engine sees it (the id itself; 0 in a rootless engine's
// namespace, where the user is root), and the others, 0 up, come from
// the subordinate range sub (podman's --userns keep-id); sub must hold
// more than id ids.
func KeepIDMappings(id, own uint32, sub ids.Range) ([]specs.LinuxIDMapping, error) {
	if sub.Size <= id {
		return nil, fmt.Errorf("a subordinate range of %d ids cannot hold the ids below %d", sub.Size, id)
	}
	var m []specs.LinuxIDMapping
	if id > 0 {
		m = append(m, specs.LinuxIDMapping{ContainerID: 0, HostID: sub.Start, Size: id})
	}
	m = append(m, specs.LinuxIDMapping{ContainerID: id, HostID: own, Size: 1})
	if rest := sub.Size - id; rest > 0 {
		m = append(m, specs.LinuxIDMapping{ContainerID: id + 1, HostID: sub.Start + id, Size: rest})
	}
	return m, nil
}

// WithUserNamespace gives the container a user namespace of its own with
// the mappings given (no user namespace when both are empty).
func WithUserNamespace(uids, gids []specs.LinuxIDMapping) Opt {
	return func(s *specs.Spec) error {
		if len(uids) == 0 && len(gids) == 0 {
			return nil
		}
		for _, m := range []struct {
			flag string
			m    []specs.LinuxIDMapping
		}{{"uidmap", uids}, {"gidmap", gids}} {
			if err := ids.CheckMappings("--"+m.flag, m.m); err != nil {
				return err
			}
			if _, ok := ids.ToHost(m.m, 0); !ok {
				return fmt.Errorf("--%s: the container's root (0) is not mapped", m.flag)
			}
		}
		setNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = uids, gids
		return nil
	}
}
