package cgroups

import (
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
