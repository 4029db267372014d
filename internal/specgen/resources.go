package specgen

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits are the resource options of `sdocker run`, as typed. A zero value
// means "not given".
type Limits struct {
	Memory     int64   // bytes (--memory-limit, --memory)
	MemorySwap int64   // memory+swap bytes, -1 unlimited (--memory-swap)
	Swappiness int64   // 0..100, -1 when not given
	CPUPeriod  int64   // microseconds
	CPUQuota   int64   // microseconds, -1 unlimited
	CPUs       float64 // --cpus
	CPUShares  int64
	PidsLimit  int64 // -1 unlimited
	CpusetCpus string
	MoreLimits
}

// MinMemory is the lowest memory limit, Docker's: a container's runtime
// and program do not start below it.
const MinMemory = 6 << 20

// Resources validates l and converts it to OCI resources; nil when l asks for nothing.
func (l Limits) Resources() (*specs.LinuxResources, error) {
	return l.resources(runtime.NumCPU())
}

// resources is Resources on a machine with ncpu CPUs.
func (l Limits) resources(ncpu int) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	var mem specs.LinuxMemory
	var cpu specs.LinuxCPU
	if l.Memory < 0 {
		return nil, fmt.Errorf("memory limit %d: must be a positive number of bytes", l.Memory)
	}
	if l.Memory > 0 {
		if l.Memory < MinMemory {
			return nil, fmt.Errorf("memory limit %d: the minimum is 6 MiB (%d bytes)", l.Memory, MinMemory)
		}
		mem.Limit = &l.Memory
	}
	if l.MemorySwap != 0 {
		if l.Memory == 0 {
			return nil, fmt.Errorf("--memory-swap needs a memory limit (--memory) as well")
		}
		if l.MemorySwap != -1 && l.MemorySwap < l.Memory {
			return nil, fmt.Errorf("--memory-swap %d: must be at least the memory limit %d, or -1", l.MemorySwap, l.Memory)
		}
		mem.Swap = &l.MemorySwap
	}
	if l.Swappiness != -1 {
		if l.Swappiness < 0 || l.Swappiness > 100 {
			return nil, fmt.Errorf("memory swappiness %d: must be between 0 and 100", l.Swappiness)
		}
		s := uint64(l.Swappiness)
		mem.Swappiness = &s
	}
	if l.CPUPeriod != 0 {
		if l.CPUPeriod < 1000 || l.CPUPeriod > 1000000 {
			return nil, fmt.Errorf("cpu period %d: must be between 1000 and 1000000 microseconds", l.CPUPeriod)
		}
		p := uint64(l.CPUPeriod)
		cpu.Period = &p
	}
	if l.CPUQuota != 0 {
		if l.CPUQuota != -1 && l.CPUQuota < 1000 {
			return nil, fmt.Errorf("cpu quota %d: must be at least 1000 microseconds, or -1 for no limit", l.CPUQuota)
		}
		cpu.Quota = &l.CPUQuota
	}
	if l.CPUs != 0 {
		quota, err := cpusQuota(l.CPUs, ncpu)
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"--cpu-period", l.CPUPeriod != 0}, {"--cpu-quota", l.CPUQuota != 0}} {
			if f.set {
				return nil, fmt.Errorf("conflicting options: --cpus and %s cannot both be set", f.name)
			}
		}
		period := uint64(cpusPeriod)
		cpu.Period, cpu.Quota = &period, &quota
	}
	if l.CPUShares != 0 {
		if l.CPUShares < 2 || l.CPUShares > 262144 {
			return nil, fmt.Errorf("cpu shares %d: must be between 2 and 262144", l.CPUShares)
		}
		s := uint64(l.CPUShares)
		cpu.Shares = &s
	}
	if l.CpusetCpus != "" {
		if err := validateCpuset(l.CpusetCpus); err != nil {
			return nil, err
		}
		cpu.Cpus = l.CpusetCpus
	}
	if l.PidsLimit != 0 {
		if l.PidsLimit < -1 {
			return nil, fmt.Errorf("pids limit %d: must be positive, or -1 for no limit", l.PidsLimit)
		}
		r.Pids = &specs.LinuxPids{Limit: &l.PidsLimit}
	}
	if err := l.apply(r, &mem, &cpu); err != nil {
		return nil, err
	}
	if mem != (specs.LinuxMemory{}) {
		r.Memory = &mem
	}
	if cpu != (specs.LinuxCPU{}) {
		r.CPU = &cpu
	}
	if r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil {
		return nil, nil
	}
	return r, nil
}

// cpusPeriod is the CFS period of a --cpus limit (microseconds).
const cpusPeriod = 100000

// cpusQuota is the CFS quota per cpusPeriod of --cpus n on a machine with
// ncpu CPUs; Docker's range and message.
func cpusQuota(n float64, ncpu int) (int64, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("--cpus %v: not a number of CPUs", n)
	}
	if n < 0.01 || n > float64(ncpu) {
		return 0, fmt.Errorf("--cpus %v: range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, ncpu, ncpu)
	}
	return int64(math.Round(n * cpusPeriod)), nil
}

// ParseBytes reads a size as Docker does: a number with an optional unit
// b, k, m, g or t (powers of 1024), optionally followed by "b" or "ib".
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "-1" {
		return -1, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: use a number of bytes, optionally with a unit b, k, m, g, t", s)
	}
	return int64(v * float64(mult)), nil
}

// validateCpuset checks a list such as "0-2,4" against the online CPUs.
func validateCpuset(list string) error {
	online, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return fmt.Errorf("read online cpus: %w", err)
	}
	have, err := parseCPUList(strings.TrimSpace(string(online)))
	if err != nil {
		return fmt.Errorf("parse online cpus: %w", err)
	}
	want, err := parseCPUList(list)
	if err != nil {
		return fmt.Errorf("cpuset %q: %w", list, err)
	}
	for c := range want {
		if !have[c] {
			return fmt.Errorf("cpuset %q: cpu %d is not available (online: %s)", list, c, strings.TrimSpace(string(online)))
		}
	}
	return nil
}

func parseCPUList(list string) (map[int]bool, error) {
	cpus := map[int]bool{}
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid cpu %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid cpu range %q", part)
			}
		}
		if b-a > 4096 {
			return nil, fmt.Errorf("cpu range %q too large", part)
		}
		for c := a; c <= b; c++ {
			cpus[c] = true
		}
	}
	return cpus, nil
}
