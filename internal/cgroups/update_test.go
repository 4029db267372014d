package cgroups

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestUpdated: an update's record keeps the container's device rules,
// takes the new limits, and leaves the update's own resources as they were.
func TestUpdated(t *testing.T) {
	old := &specs.LinuxResources{
		Devices: containerRules(),
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](32 * mib)},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](10)},
	}
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](64 * mib)},
	}
	got := Updated(old, r)
	want := &specs.LinuxResources{Devices: containerRules(), Memory: r.Memory}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Updated = %+v, want %+v", got, want)
	}
	if len(r.Devices) != 1 || !r.Devices[0].Allow {
		t.Errorf("Updated changed the update's own device rules: %+v", r.Devices)
	}
	if got := Updated(nil, r); got.Devices != nil || got.Memory != r.Memory {
		t.Errorf("Updated(nil, r) = %+v, want r's limits and no device rules", got)
	}
	if got := Updated(old, nil); !reflect.DeepEqual(got, &specs.LinuxResources{Devices: containerRules()}) {
		t.Errorf("Updated(old, nil) = %+v, want old's device rules only", got)
	}
}
