package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// blockDev is the major and minor number of a disk of this machine (from
// /sys/block), or the test skips.
func blockDev(t *testing.T) (major, minor int64) {
	t.Helper()
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &major, &minor); err == nil {
			return major, minor
		}
	}
	t.Skip("no block device in /sys/block")
	return 0, 0
}

// expectNoLeaf fails if a leaf is left under parent in any hierarchy.
func expectNoLeaf(t *testing.T, parent, after string) {
	t.Helper()
	for _, root := range hierarchies(t) {
		subs, _ := subdirs(filepath.Join(root, parent))
		if len(subs) > 0 {
			t.Errorf("%v left after %s", subs, after)
		}
	}
}

// TestBlockIOThrottle: the four per-device throttles reach
// blkio.throttle.* (v1) or one io.max line (v2), and a weight the kernel
// has no file for is refused, leaving nothing behind.
func TestBlockIOThrottle(t *testing.T) {
	m, parent := newManager(t)
	major, minor := blockDev(t)
	dev := func(rate uint64) []specs.LinuxThrottleDevice {
		d := specs.LinuxThrottleDevice{Rate: rate}
		d.Major, d.Minor = major, minor
		return []specs.LinuxThrottleDevice{d}
	}
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice: dev(1 << 20), ThrottleWriteBpsDevice: dev(2 << 20),
		ThrottleReadIOPSDevice: dev(100), ThrottleWriteIOPSDevice: dev(200),
	}}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	num := fmt.Sprintf("%d:%d", major, minor)
	if Mode() == 2 {
		expectFile(t, m.Paths()[""], "io.max", num+" rbps=1048576 wbps=2097152 riops=100 wiops=200")
	} else {
		expectFiles(t, m, map[string]map[string]string{"blkio": {
			"blkio.throttle.read_bps_device": num + " 1048576", "blkio.throttle.write_bps_device": num + " 2097152",
			"blkio.throttle.read_iops_device": num + " 100", "blkio.throttle.write_iops_device": num + " 200",
		}})
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}

	weight := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](300)}}
	err := m.Create(weight)
	dir := m.Paths()["blkio"]
	files := []string{"blkio.weight", "blkio.bfq.weight"}
	if Mode() == 2 {
		dir, files = m.Paths()[""], []string{"io.weight", "io.bfq.weight"}
	}
	if err != nil {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Create(weight) = %v, want it done or ErrUnsupported", err)
		}
		t.Logf("Create(weight) refused: %v", err)
		expectNoLeaf(t, parent, "a refused weight")
		return
	}
	if firstExisting(dir, files...) == "" {
		t.Errorf("Create(weight) succeeded, but %s has none of %q", dir, files)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

// TestRealtime: on v1 a container gets its real-time period and runtime,
// its parents' budgets raised to hold two of them; v2 has no real-time
// budget and refuses, leaving nothing behind.
func TestRealtime(t *testing.T) {
	m, parent := newManager(t)
	rt := &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: ptr[uint64](500000), RealtimeRuntime: ptr[int64](5000)}}
	err := m.Create(rt)
	if Mode() == 2 {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "--cpu-rt-runtime") {
			t.Fatalf("Create(realtime) on v2 = %v, want ErrUnsupported naming the flags", err)
		}
		expectNoLeaf(t, parent, "a refused real-time limit")
		return
	}
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no real-time group scheduling: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	expectFiles(t, m, map[string]map[string]string{"cpu": {"cpu.rt_period_us": "500000", "cpu.rt_runtime_us": "5000"}})
	parentDir := filepath.Dir(m.Paths()["cpu"])
	expectFile(t, parentDir, "cpu.rt_runtime_us", "10000") // 5000 per 500000 µs, per the parent's 1 s

	m2, err := New(parent + "/" + randHex(32))
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Create(rt); err != nil {
		t.Fatalf("second container: %v", err)
	}
	expectFile(t, parentDir, "cpu.rt_runtime_us", "20000")
	// Update to a budget above the parent's: raised again.
	if err := m2.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](10000)}}); err != nil {
		t.Fatal(err)
	}
	expectFile(t, parentDir, "cpu.rt_runtime_us", "30000")
	for _, c := range []Manager{m, m2} {
		if err := c.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
}
