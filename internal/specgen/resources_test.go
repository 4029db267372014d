package specgen

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
)

// TestResourcesRefusals: every numeric run flag out of its range gets an
// error that names it, as Docker refuses them.
func TestResourcesRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limits
		want string // in the error
	}{
		{"memory negative", Limits{Memory: -5}, "memory limit -5"},
		{"memory below 6 MiB", Limits{Memory: MinMemory - 1}, "minimum is 6 MiB"},
		{"memory 4 MiB", Limits{Memory: 4 << 20}, "minimum is 6 MiB"},
		{"swap without memory", Limits{MemorySwap: 64 << 20}, "needs a memory limit"},
		{"swap below memory", Limits{Memory: 64 << 20, MemorySwap: 32 << 20}, "at least the memory limit"},
		{"swappiness 101", Limits{Swappiness: 101}, "swappiness 101"},
		{"swappiness -5", Limits{Swappiness: -5}, "swappiness -5"},
		{"cpu period 999", Limits{CPUPeriod: 999}, "cpu period 999"},
		{"cpu period 1000001", Limits{CPUPeriod: 1000001}, "cpu period 1000001"},
		{"cpu period negative", Limits{CPUPeriod: -1}, "cpu period -1"},
		{"cpu quota 999", Limits{CPUQuota: 999}, "cpu quota 999"},
		{"cpu quota -5", Limits{CPUQuota: -5}, "cpu quota -5"},
		{"cpus 1000", Limits{CPUs: 1000}, "--cpus 1000: range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"},
		{"cpus above the machine", Limits{CPUs: 4.5}, "range of CPUs is from 0.01 to 4.00"},
		{"cpus 0.005", Limits{CPUs: 0.005}, "range of CPUs is from 0.01 to 4.00"},
		{"cpus negative", Limits{CPUs: -1}, "--cpus -1: range of CPUs"},
		{"cpus NaN", Limits{CPUs: math.NaN()}, "--cpus NaN: not a number of CPUs"},
		{"cpus Inf", Limits{CPUs: math.Inf(1)}, "--cpus +Inf: not a number of CPUs"},
		{"cpus -Inf", Limits{CPUs: math.Inf(-1)}, "--cpus -Inf: not a number of CPUs"},
		{"cpus and quota", Limits{CPUs: 1, CPUQuota: 50000}, "conflicting options: --cpus and --cpu-quota cannot both be set"},
		{"cpus and period", Limits{CPUs: 1, CPUPeriod: 50000}, "conflicting options: --cpus and --cpu-period cannot both be set"},
		{"cpu shares negative", Limits{CPUShares: -1}, "cpu shares -1"},
		{"cpu shares 1", Limits{CPUShares: 1}, "cpu shares 1"},
		{"cpu shares 262145", Limits{CPUShares: 262145}, "cpu shares 262145"},
		{"pids -2", Limits{PidsLimit: -2}, "pids limit -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.l.Swappiness == 0 {
				tc.l.Swappiness = -1 // not given
			}
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

// TestResourcesAccepted: the edges of every range are accepted and become
// the cgroup values.
func TestResourcesAccepted(t *testing.T) {
	l := Limits{Memory: MinMemory, MemorySwap: -1, Swappiness: 100, CPUs: 4, CPUShares: 2, PidsLimit: 1}
	r, err := l.resources(4)
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 6<<20 || *r.Memory.Swap != -1 || *r.Memory.Swappiness != 100 {
		t.Errorf("memory = %+v", r.Memory)
	}
	if *r.CPU.Quota != 400000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 2 {
		t.Errorf("cpu = quota %d period %d shares %d, want 400000 100000 2", *r.CPU.Quota, *r.CPU.Period, *r.CPU.Shares)
	}
	if *r.Pids.Limit != 1 {
		t.Errorf("pids = %d", *r.Pids.Limit)
	}
	for _, tc := range []struct {
		cpus  float64
		quota int64
	}{{0.01, 1000}, {0.29, 29000}, {1.5, 150000}, {3.999, 399900}} {
		r, err := Limits{CPUs: tc.cpus, Swappiness: -1}.resources(4)
		if err != nil || *r.CPU.Quota != tc.quota || *r.CPU.Period != 100000 {
			t.Errorf("--cpus %v: %+v, %v; want quota %d per 100000", tc.cpus, r, err, tc.quota)
		}
	}
	r, err = Limits{CPUQuota: -1, CPUPeriod: 1000000, CPUShares: 262144, PidsLimit: -1, Swappiness: 0}.resources(1)
	if err != nil || *r.CPU.Quota != -1 || *r.CPU.Period != 1000000 || *r.CPU.Shares != 262144 || *r.Pids.Limit != -1 || *r.Memory.Swappiness != 0 {
		t.Errorf("unlimited quota, longest period, most shares, no pids limit, swappiness 0: %+v, %v", r, err)
	}
	if r, err := (Limits{Swappiness: -1}).resources(4); r != nil || err != nil {
		t.Errorf("no limits = %+v, %v; want nil", r, err)
	}
}

// TestParseBytes: sizes as Docker's --memory takes them, units in powers
// of 1024 with an optional b or ib, and -1 for unlimited; anything else is
// refused with a message that says what a size is.
func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1, "1b": 1, "1024": 1024, "1k": 1 << 10, "1K": 1 << 10, "1kb": 1 << 10, "1KiB": 1 << 10,
		"64m": 64 << 20, " 64M ": 64 << 20, "64mb": 64 << 20, "1.5k": 1536, "0.5g": 512 << 20,
		"2g": 2 << 30, "2GiB": 2 << 30, "1t": 1 << 40, "1048576t": 1 << 60, "-1": -1,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "b", "abc", "1x", "1p", "-2", "-1k", "1 k", "NaN", "Inf", "1e300", "8388608t"} {
		got, err := ParseBytes(in)
		if err == nil || !strings.Contains(err.Error(), "invalid size") || !strings.Contains(err.Error(), "unit b, k, m, g, t") {
			t.Errorf("ParseBytes(%q) = %d, %v; want it refused", in, got, err)
		}
	}
}

// TestParseCPUList: the kernel's CPU list syntax, single CPUs and ranges.
func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"0": {0}, "3": {3}, "0-2": {0, 1, 2}, "0-2,4": {0, 1, 2, 4}, "1,1": {1}, "5-5": {5},
	} {
		got, err := parseCPUList(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		for _, c := range want {
			if !got[c] {
				t.Errorf("parseCPUList(%q) = %v; want %v", in, got, want)
			}
		}
	}
	for in, msg := range map[string]string{
		"": "invalid cpu", "a": "invalid cpu", "-1": "invalid cpu", "0,": "invalid cpu", " 1": "invalid cpu",
		"3-1": "invalid cpu range", "1-": "invalid cpu range", "1-a": "invalid cpu range",
		"0-5000": "too large",
	} {
		if got, err := parseCPUList(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("parseCPUList(%q) = %v, %v; want an error with %q", in, got, err, msg)
		}
	}
}

// TestCpusetCpus: --cpuset-cpus is checked against this machine's online
// CPUs (CPU 0 is always online) and passed on as typed.
func TestCpusetCpus(t *testing.T) {
	r, err := Limits{CpusetCpus: "0", Swappiness: -1}.resources(1)
	if err != nil || r == nil || r.CPU == nil || r.CPU.Cpus != "0" || r.CPU.Quota != nil {
		t.Fatalf("--cpuset-cpus 0: %+v, %v; want cpus 0 only", r, err)
	}
	for list, msg := range map[string]string{
		"99999":  `cpuset "99999": cpu 99999 is not available (online: `,
		"0,x":    `cpuset "0,x": invalid cpu "x"`,
		"0-9999": `cpuset "0-9999": cpu range "0-9999" too large`,
	} {
		if r, err := (Limits{CpusetCpus: list, Swappiness: -1}).resources(1); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("--cpuset-cpus %s: %+v, %v; want an error with %q", list, r, err, msg)
		}
	}
}

// TestResourcesThisMachine: Resources bounds --cpus by this machine's CPUs.
func TestResourcesThisMachine(t *testing.T) {
	n := runtime.NumCPU()
	if r, err := (Limits{CPUs: float64(n), Swappiness: -1}).Resources(); err != nil || *r.CPU.Quota != int64(n)*100000 {
		t.Errorf("--cpus %d: %+v, %v; want a quota of %d00000", n, r, err, n)
	}
	want := fmt.Sprintf("as there are only %d CPUs available", n)
	if _, err := (Limits{CPUs: float64(n) + 1, Swappiness: -1}).Resources(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("--cpus %d: %v; want an error with %q", n+1, err, want)
	}
}
