package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdocker/sdocker/internal/specgen"
)

// resourceFlags are the run and update flags of specgen.MoreLimits, as
// typed.
type resourceFlags struct {
	memoryReservation string
	l                 specgen.MoreLimits
	throttles         [4][]string // --device-read-bps, -write-bps, -read-iops, -write-iops
}

var throttleFlags = [4]string{"device-read-bps", "device-write-bps", "device-read-iops", "device-write-iops"}

// addUpdate adds the flags that `update` takes too, as Docker's does.
func (rf *resourceFlags) addUpdate(f *pflag.FlagSet) {
	f.StringVar(&rf.memoryReservation, "memory-reservation", "", "memory soft limit, e.g. 32m")
	f.StringVar(&rf.l.CpusetMems, "cpuset-mems", "", "memory nodes the container may use, e.g. 0-1")
	f.Int64Var(&rf.l.CPURtPeriod, "cpu-rt-period", 0, "CPU real-time period in microseconds (cgroup v1 only)")
	f.Int64Var(&rf.l.CPURtRuntime, "cpu-rt-runtime", 0, "CPU real-time runtime in microseconds per period (cgroup v1 only)")
	f.Int64Var(&rf.l.BlkioWeight, "blkio-weight", 0, "block I/O weight, 10..1000")
}

// add adds every resource flag of run.
func (rf *resourceFlags) add(f *pflag.FlagSet) {
	rf.addUpdate(f)
	f.BoolVar(&rf.l.OOMKillDisable, "oom-kill-disable", false, "disable the OOM killer (cgroup v1 only)")
	help := [4]string{"bytes per second, e.g. 1mb", "bytes per second, e.g. 1mb", "I/O operations per second", "I/O operations per second"}
	for i, name := range throttleFlags {
		f.StringArrayVar(&rf.throttles[i], name, nil, "limit a block device to DEVICE:RATE, RATE in "+help[i])
	}
	f.StringVar(&rf.l.CgroupParent, "cgroup-parent", "", "the cgroup the container's goes under: an absolute path, or one relative to sdocker's")
}

// apply puts the flags given to c into l.
func (rf *resourceFlags) apply(c *cobra.Command, l *specgen.MoreLimits) error {
	f := c.Flags()
	if f.Changed("memory-reservation") {
		v, err := specgen.ParseBytes(rf.memoryReservation)
		if err != nil || v <= 0 {
			return fmt.Errorf("--memory-reservation %q: must be a positive size, e.g. 32m", rf.memoryReservation)
		}
		l.MemoryReservation = v
	}
	for name, set := range map[string]func(){
		"cpuset-mems":      func() { l.CpusetMems = rf.l.CpusetMems },
		"cpu-rt-period":    func() { l.CPURtPeriod = rf.l.CPURtPeriod },
		"cpu-rt-runtime":   func() { l.CPURtRuntime = rf.l.CPURtRuntime },
		"blkio-weight":     func() { l.BlkioWeight = rf.l.BlkioWeight },
		"oom-kill-disable": func() { l.OOMKillDisable = rf.l.OOMKillDisable },
		"cgroup-parent":    func() { l.CgroupParent = rf.l.CgroupParent },
	} {
		if f.Lookup(name) != nil && f.Changed(name) {
			set()
		}
	}
	lists := [4]*[]specgen.ThrottleDevice{&l.DeviceReadBps, &l.DeviceWriteBps, &l.DeviceReadIOps, &l.DeviceWriteIOps}
	for i, name := range throttleFlags {
		for _, s := range rf.throttles[i] {
			d, err := specgen.ParseThrottleDevice("--"+name, s, i < 2)
			if err != nil {
				return err
			}
			*lists[i] = append(*lists[i], d)
		}
	}
	return nil
}
