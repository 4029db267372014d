package specgen

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMoreLimitsRefusals: each of the reservation, real-time, NUMA and
// block I/O options out of its range, or naming a device that is not
// there, gets a one-line error that names it.
func TestMoreLimitsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limits
		want string
	}{
		{"reservation negative", Limits{MoreLimits: MoreLimits{MemoryReservation: -1}}, "memory reservation -1"},
		{"reservation above limit", Limits{Memory: 64 << 20, MoreLimits: MoreLimits{MemoryReservation: 65 << 20}}, "at most the memory limit"},
		{"mems node 4096", Limits{MoreLimits: MoreLimits{CpusetMems: "4096"}}, "memory node 4096 is not available"},
		{"mems garbage", Limits{MoreLimits: MoreLimits{CpusetMems: "x"}}, "cpuset mems \"x\""},
		{"rt period negative", Limits{MoreLimits: MoreLimits{CPURtPeriod: -1}}, "real-time period -1"},
		{"rt period too long", Limits{MoreLimits: MoreLimits{CPURtPeriod: 1000001}}, "real-time period 1000001"},
		{"rt runtime -2", Limits{MoreLimits: MoreLimits{CPURtRuntime: -2}}, "real-time runtime -2"},
		{"rt runtime above period", Limits{MoreLimits: MoreLimits{CPURtPeriod: 1000, CPURtRuntime: 1001}}, "higher than the real-time period"},
		{"blkio weight 9", Limits{MoreLimits: MoreLimits{BlkioWeight: 9}}, "blkio weight 9"},
		{"blkio weight 1001", Limits{MoreLimits: MoreLimits{BlkioWeight: 1001}}, "blkio weight 1001"},
		{"missing device", Limits{MoreLimits: MoreLimits{DeviceReadBps: []ThrottleDevice{{"/dev/sdocker-missing", 1}}}},
			"--device-read-bps: stat /dev/sdocker-missing: no such file or directory"},
		{"character device", Limits{MoreLimits: MoreLimits{DeviceWriteIOps: []ThrottleDevice{{"/dev/null", 1}}}},
			"--device-write-iops: /dev/null is not a block device"},
		{"directory", Limits{MoreLimits: MoreLimits{DeviceWriteBps: []ThrottleDevice{{"/dev", 1}}}}, "/dev is not a block device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.l.Swappiness = -1
			r, err := tc.l.resources(4)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resources(%+v) = %+v, %v; want an error with %q", tc.l, r, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

// TestMoreLimitsResources: accepted options land in the OCI fields that
// the cgroup writers read, the throttled device by its own numbers.
func TestMoreLimitsResources(t *testing.T) {
	dev := blockDevice(t)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	l := Limits{Swappiness: -1, Memory: 64 << 20, MoreLimits: MoreLimits{
		MemoryReservation: 32 << 20, OOMKillDisable: true, CpusetMems: "0",
		CPURtPeriod: 1000000, CPURtRuntime: 950000, BlkioWeight: 10,
		DeviceReadBps: []ThrottleDevice{{dev, 1 << 20}}, DeviceWriteBps: []ThrottleDevice{{dev, 2 << 20}},
		DeviceReadIOps: []ThrottleDevice{{dev, 100}}, DeviceWriteIOps: []ThrottleDevice{{dev, 200}},
	}}
	r, err := l.resources(4)
	if err != nil {
		t.Fatal(err)
	}
	m, c, b := r.Memory, r.CPU, r.BlockIO
	if *m.Reservation != 32<<20 || !*m.DisableOOMKiller || c.Mems != "0" || *c.RealtimePeriod != 1000000 ||
		*c.RealtimeRuntime != 950000 || *b.Weight != 10 {
		t.Errorf("resources = memory %+v cpu %+v blockIO %+v", m, c, b)
	}
	want := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	for name, got := range map[string]string{
		"read bps":   fmt.Sprintf("%d:%d %d", b.ThrottleReadBpsDevice[0].Major, b.ThrottleReadBpsDevice[0].Minor, b.ThrottleReadBpsDevice[0].Rate),
		"write bps":  fmt.Sprintf("%d:%d %d", b.ThrottleWriteBpsDevice[0].Major, b.ThrottleWriteBpsDevice[0].Minor, b.ThrottleWriteBpsDevice[0].Rate),
		"read iops":  fmt.Sprintf("%d:%d %d", b.ThrottleReadIOPSDevice[0].Major, b.ThrottleReadIOPSDevice[0].Minor, b.ThrottleReadIOPSDevice[0].Rate),
		"write iops": fmt.Sprintf("%d:%d %d", b.ThrottleWriteIOPSDevice[0].Major, b.ThrottleWriteIOPSDevice[0].Minor, b.ThrottleWriteIOPSDevice[0].Rate),
	} {
		rate := map[string]string{"read bps": "1048576", "write bps": "2097152", "read iops": "100", "write iops": "200"}[name]
		if got != want+" "+rate {
			t.Errorf("%s = %q, want %q", name, got, want+" "+rate)
		}
	}
	// Only a block I/O option still makes resources.
	if r, err := (Limits{Swappiness: -1, MoreLimits: MoreLimits{BlkioWeight: 500}}).resources(4); err != nil || r == nil || r.BlockIO == nil {
		t.Errorf("blkio weight alone = %+v, %v", r, err)
	}
}

// blockDevice is a block device of this machine, or the test skips.
func blockDevice(t *testing.T) string {
	for _, d := range []string{"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0", "/dev/zram0"} {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return d
		}
	}
	t.Skip("no block device in /dev")
	return ""
}

func TestParseThrottleDevice(t *testing.T) {
	for in, want := range map[string]ThrottleDevice{
		"/dev/sda:1mb":   {"/dev/sda", 1 << 20},
		"/dev/sda:10":    {"/dev/sda", 10},
		"/dev//sda/:2k":  {"/dev/sda", 2048},
		"/dev/sda:1.5kb": {"/dev/sda", 1536},
	} {
		got, err := ParseThrottleDevice("--device-read-bps", in, true)
		if err != nil || got != want {
			t.Errorf("ParseThrottleDevice(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if got, err := ParseThrottleDevice("--device-read-iops", "/dev/sda:1000", false); err != nil || got.Rate != 1000 {
		t.Errorf("iops = %+v, %v", got, err)
	}
	for _, in := range []string{"/dev/sda", "/dev/sda:", "sda:1", ":1", "/dev/sda:0", "/dev/sda:-1", "/dev/sda:x"} {
		if _, err := ParseThrottleDevice("--device-read-bps", in, true); err == nil || !strings.Contains(err.Error(), "--device-read-bps") {
			t.Errorf("ParseThrottleDevice(%q) = %v, want an error naming the flag", in, err)
		}
	}
	if _, err := ParseThrottleDevice("--device-read-iops", "/dev/sda:1k", false); err == nil {
		t.Error("an iops rate with a unit was accepted")
	}
}

func TestParseCgroupParent(t *testing.T) {
	for in, want := range map[string]string{
		"":       "sdocker",
		"web":    "sdocker/web",
		"web/a/": "sdocker/web/a",
		"/web":   "web",
		"/a/b/":  "a/b",
		"/":      "",
		"//":     "",
	} {
		if got, err := ParseCgroupParent(in, "sdocker"); err != nil || got != want {
			t.Errorf("ParseCgroupParent(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "../x", "/a/../b", "a//b", "./a", "/a/./b"} {
		if got, err := ParseCgroupParent(in, "sdocker"); err == nil {
			t.Errorf("ParseCgroupParent(%q) = %q, want an error", in, got)
		}
	}
}
