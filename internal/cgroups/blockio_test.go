package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestIOMaxLines: io.max gets one line per device, with the keys given for
// it in a fixed order, devices in the order they first appear.
func TestIOMaxLines(t *testing.T) {
	d := func(major, minor int64, rate uint64) specs.LinuxThrottleDevice {
		v := specs.LinuxThrottleDevice{Rate: rate}
		v.Major, v.Minor = major, minor
		return v
	}
	b := &specs.LinuxBlockIO{
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{d(8, 0, 30), d(254, 16, 40)},
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{d(254, 16, 1024)},
		ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{d(8, 0, 2048)},
	}
	want := []string{"254:16 rbps=1024 wiops=40", "8:0 wbps=2048 wiops=30"}
	if got := ioMaxLines(b); !slices.Equal(got, want) {
		t.Errorf("ioMaxLines = %q, want %q", got, want)
	}
	if got := ioMaxLines(&specs.LinuxBlockIO{Weight: ptr[uint16](10)}); len(got) != 0 {
		t.Errorf("ioMaxLines(weight only) = %q", got)
	}
	if !hasBlockIO(b) || hasBlockIO(&specs.LinuxBlockIO{Weight: ptr[uint16](0)}) || hasBlockIO(nil) {
		t.Error("hasBlockIO is wrong")
	}
}

// TestUnsupported: the settings a user asks for by name are refused up
// front where the mode or kernel has no file for them, and only there.
func TestUnsupported(t *testing.T) {
	rt := &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}}
	oom := &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: ptr(true)}}
	weight := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](100)}}
	throttle := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1}}}}
	for _, r := range []*specs.LinuxResources{rt, oom} {
		if err := unsupportedV2(r); !errors.Is(err, ErrUnsupported) {
			t.Errorf("v2: unsupported(%+v) = %v, want ErrUnsupported", r, err)
		}
	}
	if err := unsupportedV2(weight); err != nil {
		t.Errorf("v2: a weight is refused up front: %v", err)
	}

	// v1 roots without the files, then with them.
	cpu, blkio := t.TempDir(), t.TempDir()
	mounts := map[string]string{"cpu": cpu, "blkio": blkio}
	for _, r := range []*specs.LinuxResources{rt, weight} {
		if err := unsupportedV1(mounts, r); !errors.Is(err, ErrUnsupported) {
			t.Errorf("v1 without files: %+v = %v, want ErrUnsupported", r, err)
		}
	}
	if err := unsupportedV1(map[string]string{"cpu": cpu}, throttle); !errors.Is(err, ErrUnsupported) {
		t.Errorf("v1 without blkio: throttle = %v, want ErrUnsupported", err)
	}
	for _, f := range []string{filepath.Join(cpu, "cpu.rt_runtime_us"), filepath.Join(blkio, "blkio.bfq.weight")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*specs.LinuxResources{rt, weight, throttle, oom} {
		if err := unsupportedV1(mounts, r); err != nil {
			t.Errorf("v1 with files: %+v = %v", r, err)
		}
	}
}
