package specgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MoreLimits are the memory reservation, OOM killer, NUMA node, real-time
// and block I/O options of `sdocker run`, as typed; part of Limits. A zero
// value means "not given".
type MoreLimits struct {
	MemoryReservation int64 // bytes (--memory-reservation)
	OOMKillDisable    bool
	CpusetMems        string
	CPURtPeriod       int64 // microseconds
	CPURtRuntime      int64 // microseconds
	BlkioWeight       int64 // 10..1000
	// The per-device throttles (--device-read-bps, ...): bytes or I/O
	// operations per second.
	DeviceReadBps, DeviceWriteBps   []ThrottleDevice `json:",omitempty"`
	DeviceReadIOps, DeviceWriteIOps []ThrottleDevice `json:",omitempty"`
	// CgroupParent is not a limit but where the container's cgroup goes
	// (--cgroup-parent, see ParseCgroupParent); "" is sdocker's own.
	CgroupParent string `json:",omitempty"`
}

// ThrottleDevice is a DEVICE:RATE as given: a block device's path and a
// rate per second.
type ThrottleDevice struct {
	Path string
	Rate uint64
}

// ParseThrottleDevice reads the DEVICE:RATE of option flag; a bps rate
// takes a unit (ParseBytes), an iops rate is a number. Whether the device
// exists is checked by Resources.
func ParseThrottleDevice(flag, s string, bps bool) (ThrottleDevice, error) {
	path, rate, ok := strings.Cut(s, ":")
	if !ok || !filepath.IsAbs(path) || rate == "" {
		return ThrottleDevice{}, fmt.Errorf("%s %q: use DEVICE:RATE, DEVICE an absolute path", flag, s)
	}
	var v int64
	var err error
	if bps {
		v, err = ParseBytes(rate)
	} else {
		v, err = strconv.ParseInt(rate, 10, 64)
	}
	if err != nil || v <= 0 {
		return ThrottleDevice{}, fmt.Errorf("%s %q: the rate must be a positive number", flag, s)
	}
	return ThrottleDevice{Path: filepath.Clean(path), Rate: uint64(v)}, nil
}

// apply validates m and adds it to r, mem and cpu.
func (m MoreLimits) apply(r *specs.LinuxResources, mem *specs.LinuxMemory, cpu *specs.LinuxCPU) error {
	if m.MemoryReservation != 0 {
		if m.MemoryReservation < 0 {
			return fmt.Errorf("memory reservation %d: must be a positive number of bytes", m.MemoryReservation)
		}
		if mem.Limit != nil && *mem.Limit > 0 && m.MemoryReservation > *mem.Limit {
			return fmt.Errorf("memory reservation %d: must be at most the memory limit %d", m.MemoryReservation, *mem.Limit)
		}
		v := m.MemoryReservation
		mem.Reservation = &v
	}
	if m.OOMKillDisable {
		t := true
		mem.DisableOOMKiller = &t
	}
	if m.CpusetMems != "" {
		if err := validateMems(m.CpusetMems); err != nil {
			return err
		}
		cpu.Mems = m.CpusetMems
	}
	if err := m.applyRealtime(cpu); err != nil {
		return err
	}
	return m.applyBlockIO(r)
}

// applyRealtime checks the real-time period and runtime as Docker does.
func (m MoreLimits) applyRealtime(cpu *specs.LinuxCPU) error {
	if m.CPURtPeriod < 0 || m.CPURtPeriod > 1000000 {
		return fmt.Errorf("cpu real-time period %d: must be between 1 and 1000000 microseconds", m.CPURtPeriod)
	}
	if m.CPURtRuntime < -1 {
		return fmt.Errorf("cpu real-time runtime %d: must be positive, or -1 for no limit", m.CPURtRuntime)
	}
	if m.CPURtPeriod != 0 && m.CPURtRuntime > m.CPURtPeriod {
		return fmt.Errorf("cpu real-time runtime %d: cannot be higher than the real-time period %d", m.CPURtRuntime, m.CPURtPeriod)
	}
	if m.CPURtPeriod != 0 {
		p := uint64(m.CPURtPeriod)
		cpu.RealtimePeriod = &p
	}
	if m.CPURtRuntime != 0 {
		v := m.CPURtRuntime
		cpu.RealtimeRuntime = &v
	}
	return nil
}

// applyBlockIO checks the weight and looks up the throttled devices.
func (m MoreLimits) applyBlockIO(r *specs.LinuxResources) error {
	var b specs.LinuxBlockIO
	if m.BlkioWeight != 0 {
		if m.BlkioWeight < 10 || m.BlkioWeight > 1000 {
			return fmt.Errorf("blkio weight %d: must be between 10 and 1000", m.BlkioWeight)
		}
		w := uint16(m.BlkioWeight)
		b.Weight = &w
	}
	for _, f := range []struct {
		flag string
		in   []ThrottleDevice
		out  *[]specs.LinuxThrottleDevice
	}{
		{"--device-read-bps", m.DeviceReadBps, &b.ThrottleReadBpsDevice},
		{"--device-write-bps", m.DeviceWriteBps, &b.ThrottleWriteBpsDevice},
		{"--device-read-iops", m.DeviceReadIOps, &b.ThrottleReadIOPSDevice},
		{"--device-write-iops", m.DeviceWriteIOps, &b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range f.in {
			t, err := throttleDevice(f.flag, d)
			if err != nil {
				return err
			}
			*f.out = append(*f.out, t)
		}
	}
	if b.Weight != nil || len(b.ThrottleReadBpsDevice)+len(b.ThrottleWriteBpsDevice)+
		len(b.ThrottleReadIOPSDevice)+len(b.ThrottleWriteIOPSDevice) > 0 {
		r.BlockIO = &b
	}
	return nil
}

// throttleDevice looks up the major and minor number of d's block device.
func throttleDevice(flag string, d ThrottleDevice) (specs.LinuxThrottleDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(d.Path, &st); err != nil {
		return specs.LinuxThrottleDevice{}, fmt.Errorf("%s: stat %s: %w", flag, d.Path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return specs.LinuxThrottleDevice{}, fmt.Errorf("%s: %s is not a block device", flag, d.Path)
	}
	t := specs.LinuxThrottleDevice{Rate: d.Rate}
	t.Major, t.Minor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	return t, nil
}

// validateMems checks a list of memory nodes such as "0-1" against the
// machine's (a machine without NUMA has node 0 only).
func validateMems(list string) error {
	online := "0"
	if b, err := os.ReadFile("/sys/devices/system/node/online"); err == nil {
		online = strings.TrimSpace(string(b))
	}
	have, err := parseCPUList(online)
	if err != nil {
		return fmt.Errorf("parse online memory nodes: %w", err)
	}
	want, err := parseCPUList(list)
	if err != nil {
		return fmt.Errorf("cpuset mems %q: %w", list, err)
	}
	for n := range want {
		if !have[n] {
			return fmt.Errorf("cpuset mems %q: memory node %d is not available (online: %s)", list, n, online)
		}
	}
	return nil
}

// ParseCgroupParent checks a --cgroup-parent: an absolute cgroup path, or a
// relative one below parent (sdocker's own); it returns the cgroup that
// containers go under, without the leading "/".
func ParseCgroupParent(p, parent string) (string, error) {
	switch {
	case p == "":
		return parent, nil
	case strings.Trim(p, "/") == "" && p != "": // the root
		return "", nil
	}
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("--cgroup-parent %q: must be a clean path of names (no \"\", \".\" or \"..\")", p)
		}
	}
	if strings.HasPrefix(p, "/") {
		return strings.Trim(p, "/"), nil
	}
	return parent + "/" + strings.TrimSuffix(p, "/"), nil
}

// WithCgroupParent puts the container's cgroup under the --cgroup-parent p
// (ParseCgroupParent, relative ones below def): /PARENT/id.
func WithCgroupParent(p, def, id string) Opt {
	return func(s *specs.Spec) error {
		parent, err := ParseCgroupParent(p, def)
		if err != nil {
			return err
		}
		return WithCgroupsPath(parent, id)(s)
	}
}
