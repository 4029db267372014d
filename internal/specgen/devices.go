package specgen

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/launch"
)

// AddDefaultDevices appends to r's device cgroup rules those every
// container gets (launch.DefaultDeviceRules): after the spec's own, as
// runc does, so that the last matching rule, which wins, lets the
// container use the devices it always has.
func AddDefaultDevices(r *specs.LinuxResources) {
	r.Devices = append(r.Devices, launch.DefaultDeviceRules()...)
}
