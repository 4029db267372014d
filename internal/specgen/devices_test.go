package specgen

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/launch"
)

// TestAddDefaultDevices: the default rules come after the spec's own (the
// last matching rule wins), which stay as they were.
func TestAddDefaultDevices(t *testing.T) {
	major := int64(8)
	own := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "b", Major: &major, Access: "r"},
	}
	r := &specs.LinuxResources{Devices: append([]specs.LinuxDeviceCgroup(nil), own...)}
	AddDefaultDevices(r)
	want := append(append([]specs.LinuxDeviceCgroup(nil), own...), launch.DefaultDeviceRules()...)
	if !reflect.DeepEqual(r.Devices, want) {
		t.Errorf("AddDefaultDevices = %+v, want %+v", r.Devices, want)
	}

	var none specs.LinuxResources
	AddDefaultDevices(&none)
	if !reflect.DeepEqual(none.Devices, launch.DefaultDeviceRules()) {
		t.Errorf("AddDefaultDevices of no rules = %+v", none.Devices)
	}
}

// TestNewDevices: a spec sdocker builds denies every device but the
// default ones, and its resources keep their limits.
func TestNewDevices(t *testing.T) {
	limit := int64(64 << 20)
	spec, err := New(WithRootfs("/rootfs"), WithArgs("true"),
		WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
	if err != nil {
		t.Fatal(err)
	}
	res := spec.Linux.Resources
	want := append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, launch.DefaultDeviceRules()...)
	if !reflect.DeepEqual(res.Devices, want) {
		t.Errorf("devices = %+v, want deny-all then the defaults", res.Devices)
	}
	if res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit != limit {
		t.Errorf("memory = %+v, want the limit %d", res.Memory, limit)
	}
}
