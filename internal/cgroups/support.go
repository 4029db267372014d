package cgroups

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Unsupported refuses, before anything is made, the settings of r that
// this machine's cgroup mode or kernel cannot honour and that a user asked
// for by name (sdocker run): v2's missing real-time budget and OOM killer
// switch, v1's missing block I/O files. Warnings covers the rest.
func Unsupported(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if Mode() == 2 {
		return unsupportedV2(r)
	}
	mounts, err := v1Mounts()
	if err != nil {
		return err
	}
	return unsupportedV1(mounts, r)
}

func unsupportedV2(r *specs.LinuxResources) error {
	if hasRealtime(r.CPU) {
		return fmt.Errorf("cpu real-time limits (--cpu-rt-period, --cpu-rt-runtime): cgroup v2 has no real-time budget: %w", ErrUnsupported)
	}
	if m := r.Memory; m != nil && m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		return fmt.Errorf("--oom-kill-disable: cgroup v2 cannot disable the OOM killer: %w", ErrUnsupported)
	}
	return nil
}

// unsupportedV1 checks the files in the roots of the hierarchies: a
// kernel without a scheduler or feature has the file nowhere.
func unsupportedV1(mounts map[string]string, r *specs.LinuxResources) error {
	if hasRealtime(r.CPU) && !exists(filepath.Join(mounts["cpu"], "cpu.rt_runtime_us")) {
		return fmt.Errorf("cpu real-time limits: %s has no cpu.rt_runtime_us (the kernel lacks CONFIG_RT_GROUP_SCHED): %w", mounts["cpu"], ErrUnsupported)
	}
	b := r.BlockIO
	if !hasBlockIO(b) {
		return nil
	}
	root := mounts["blkio"]
	if root == "" {
		return fmt.Errorf("blkio limits: cgroup v1 controller blkio is not mounted: %w", ErrUnsupported)
	}
	if b.Weight != nil && *b.Weight != 0 && firstExisting(root, "blkio.weight", "blkio.bfq.weight") == "" {
		return fmt.Errorf("--blkio-weight: the kernel has no proportional I/O scheduler (no blkio.weight or blkio.bfq.weight in %s): %w", root, ErrUnsupported)
	}
	return nil
}
