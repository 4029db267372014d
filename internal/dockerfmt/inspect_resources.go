package dockerfmt

import (
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/specgen"
)

// ResourceHostConfig are the fields of HostConfig of the memory
// reservation, OOM killer, NUMA, real-time, block I/O and cgroup parent
// options of run.
type ResourceHostConfig struct {
	CgroupParent         string               `json:"CgroupParent"`
	MemoryReservation    int64                `json:"MemoryReservation"`
	OomKillDisable       *bool                `json:"OomKillDisable"`
	CpusetMems           string               `json:"CpusetMems"`
	CPURealtimePeriod    int64                `json:"CpuRealtimePeriod"`
	CPURealtimeRuntime   int64                `json:"CpuRealtimeRuntime"`
	BlkioWeight          uint16               `json:"BlkioWeight"`
	BlkioDeviceReadBps   []ThrottleDeviceJSON `json:"BlkioDeviceReadBps"`
	BlkioDeviceWriteBps  []ThrottleDeviceJSON `json:"BlkioDeviceWriteBps"`
	BlkioDeviceReadIOps  []ThrottleDeviceJSON `json:"BlkioDeviceReadIOps"`
	BlkioDeviceWriteIOps []ThrottleDeviceJSON `json:"BlkioDeviceWriteIOps"`
}

// ThrottleDeviceJSON is Docker's spelling of a device's rate limit.
type ThrottleDeviceJSON struct {
	Path string `json:"Path"`
	Rate uint64 `json:"Rate"`
}

// inspectResources fills the resource part of c's HostConfig.
func inspectResources(c *ContainerJSON, r *engine.Record) {
	h, l := &c.HostConfig.ResourceHostConfig, r.Limits.MoreLimits
	h.CgroupParent = l.CgroupParent
	h.MemoryReservation, h.CpusetMems = l.MemoryReservation, l.CpusetMems
	oom := l.OOMKillDisable
	h.OomKillDisable = &oom
	h.CPURealtimePeriod, h.CPURealtimeRuntime = l.CPURtPeriod, l.CPURtRuntime
	h.BlkioWeight = uint16(l.BlkioWeight)
	h.BlkioDeviceReadBps, h.BlkioDeviceWriteBps = throttleJSON(l.DeviceReadBps), throttleJSON(l.DeviceWriteBps)
	h.BlkioDeviceReadIOps, h.BlkioDeviceWriteIOps = throttleJSON(l.DeviceReadIOps), throttleJSON(l.DeviceWriteIOps)
}

// throttleJSON is never nil: Docker shows an empty list, not null.
func throttleJSON(devs []specgen.ThrottleDevice) []ThrottleDeviceJSON {
	out := []ThrottleDeviceJSON{}
	for _, d := range devs {
		out = append(out, ThrottleDeviceJSON(d))
	}
	return out
}
