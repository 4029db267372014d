package cgroups

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SetFrozen freezes the container's processes (or, frozen false, thaws
// them), then records it with record. Should record fail, the processes
// are thawed (or frozen) again: the container stays as its record says.
func SetFrozen(cg Manager, frozen bool, record func() error) error {
	set, undo := cg.Freeze, cg.Thaw
	if !frozen {
		set, undo = cg.Thaw, cg.Freeze
	}
	if err := set(); err != nil {
		return err
	}
	if err := record(); err != nil {
		return errors.Join(err, undo())
	}
	return nil
}

// Update writes the limits in r into the container's cgroups. Its device
// rules are left as they are: an update never changes which devices a
// container may use, as runc's does not (see Updated). It returns what of
// the cgroups is now the container's, to record with it: Set may make a
// v1 cpuset directory.
func Update(cg Manager, r *specs.LinuxResources) (*Ownership, error) {
	if err := cg.Set(withoutDevices(r)); err != nil {
		return nil, err
	}
	return cg.Ownership(), nil
}

// Updated is what a container's spec records of its resources after
// Update(r): r's limits, the device rules of old (nil: none).
func Updated(old, r *specs.LinuxResources) *specs.LinuxResources {
	n := withoutDevices(r)
	if old != nil {
		n.Devices = old.Devices
	}
	return n
}

// withoutDevices is a copy of r (nil: no limits) without device rules.
func withoutDevices(r *specs.LinuxResources) *specs.LinuxResources {
	n := specs.LinuxResources{}
	if r != nil {
		n = *r
	}
	n.Devices = nil
	return &n
}
