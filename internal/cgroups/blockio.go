package cgroups

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Block I/O weights and throttles, and v1's real-time CPU budget: the
// settings that depend on what the kernel was built with. A file that is
// not there is refused, never skipped.

// ErrUnsupported is wrapped by the errors about a setting that this
// kernel or cgroup mode cannot honour.
var ErrUnsupported = errors.New("not supported by this kernel")

// hasBlockIO reports whether b asks for a weight or a throttle.
func hasBlockIO(b *specs.LinuxBlockIO) bool {
	return b != nil && (b.Weight != nil && *b.Weight != 0 || len(b.ThrottleReadBpsDevice) > 0 ||
		len(b.ThrottleWriteBpsDevice) > 0 || len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0)
}

// setBlockIOV1 writes b's weight and throttles into the v1 blkio cgroup dir.
func setBlockIOV1(dir string, b *specs.LinuxBlockIO) error {
	if b.Weight != nil && *b.Weight != 0 {
		// blkio.weight is CFQ's, gone with it in 5.0; BFQ's takes the same values.
		f := firstExisting(dir, "blkio.weight", "blkio.bfq.weight")
		if f == "" {
			return fmt.Errorf("blkio weight: %s has neither blkio.weight nor blkio.bfq.weight (no proportional I/O scheduler): %w", dir, ErrUnsupported)
		}
		if err := writeFile(dir, f, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		if len(t.devs) > 0 && !exists(filepath.Join(dir, t.file)) {
			return fmt.Errorf("blkio throttle: %s has no %s: %w", dir, t.file, ErrUnsupported)
		}
		for _, d := range t.devs {
			if err := writeFile(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setBlockIOV2 writes b's weight (io.bfq.weight, else io.weight) and its
// throttles (io.max) into the v2 cgroup dir.
func setBlockIOV2(dir string, b *specs.LinuxBlockIO) error {
	if b.Weight != nil && *b.Weight != 0 {
		// BFQ takes the v1 value; io.weight (iocost) its own range.
		switch firstExisting(dir, "io.bfq.weight", "io.weight") {
		case "io.bfq.weight":
			if err := writeFile(dir, "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
				return err
			}
		case "io.weight":
			if err := writeFile(dir, "io.weight", strconv.FormatUint(blkioToIOWeight(*b.Weight), 10)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("blkio weight: %s has neither io.bfq.weight nor io.weight (no io controller or proportional I/O scheduler): %w", dir, ErrUnsupported)
		}
	}
	lines := ioMaxLines(b)
	if len(lines) > 0 && !exists(filepath.Join(dir, "io.max")) {
		return fmt.Errorf("blkio throttle: %s has no io.max (no io controller): %w", dir, ErrUnsupported)
	}
	for _, l := range lines {
		if err := writeFile(dir, "io.max", l); err != nil {
			return err
		}
	}
	return nil
}

// ioMaxLines are the lines of io.max for b's throttles, one per device:
// "MAJ:MIN rbps=N wbps=N riops=N wiops=N" with the keys given.
func ioMaxLines(b *specs.LinuxBlockIO) []string {
	keys := map[string][]string{}
	var order []string
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
			if _, ok := keys[dev]; !ok {
				order = append(order, dev)
			}
			keys[dev] = append(keys[dev], fmt.Sprintf("%s=%d", t.key, d.Rate))
		}
	}
	var lines []string
	for _, dev := range order {
		lines = append(lines, dev+" "+strings.Join(keys[dev], " "))
	}
	return lines
}

// firstExisting is the first of files that dir has, or "".
func firstExisting(dir string, files ...string) string {
	for _, f := range files {
		if exists(filepath.Join(dir, f)) {
			return f
		}
	}
	return ""
}

// hasRealtime reports whether c asks for a real-time budget.
func hasRealtime(c *specs.LinuxCPU) bool {
	return c != nil && (u64(c.RealtimePeriod) != 0 || i64(c.RealtimeRuntime) != 0)
}

// setRealtimeV1 writes the real-time period and runtime of the v1 cpu
// cgroup at path below root. The kernel gives a cgroup a budget only out
// of its parent's, and new cgroups get none: each ancestor below root is
// first raised to what its children then need (never lowered).
func setRealtimeV1(root, path string, c *specs.LinuxCPU) error {
	if err := unsupportedV1(map[string]string{"cpu": root}, &specs.LinuxResources{CPU: c}); err != nil {
		return err
	}
	dir := filepath.Join(root, path)
	if p := u64(c.RealtimePeriod); p != 0 {
		if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(p, 10)); err != nil {
			return err
		}
	}
	runtime := i64(c.RealtimeRuntime)
	if runtime == 0 {
		return nil
	}
	if runtime > 0 {
		if err := raiseRealtimeParents(root, path, runtime); err != nil {
			return err
		}
	}
	err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(runtime, 10))
	if err != nil {
		return fmt.Errorf("cpu real-time runtime %d: the parent cgroup's budget is too small: %w", runtime, err)
	}
	return nil
}

// raiseRealtimeParents raises the runtime of each ancestor of path (below
// root, top first) to hold its children's share plus the new one of
// runtime µs per the leaf's period.
func raiseRealtimeParents(root, path string, runtime int64) error {
	leaf := filepath.Join(root, path)
	period, err := readUint(leaf, "cpu.rt_period_us")
	if err != nil {
		return err
	}
	share := float64(runtime) / float64(period) // of a CPU, in the leaf
	var dirs []string
	for d := filepath.Dir(leaf); d != root && strings.HasPrefix(d, root+"/"); d = filepath.Dir(d) {
		dirs = append(dirs, d)
	}
	// Bottom-up, what each ancestor needs: the share of its other children,
	// plus what the one on the path needs.
	needs := make([]float64, len(dirs))
	child := leaf
	for i, d := range dirs {
		others, err := childrenShare(d, child)
		if err != nil {
			return err
		}
		share += others
		needs[i] = share
		child = d
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		p, err := readUint(d, "cpu.rt_period_us")
		if err != nil {
			return err
		}
		cur, err := readInt(d, "cpu.rt_runtime_us")
		if err != nil {
			return err
		}
		want := int64(math.Ceil(needs[i] * float64(p)))
		if cur == -1 || cur >= want {
			continue
		}
		if err := writeFile(d, "cpu.rt_runtime_us", strconv.FormatInt(want, 10)); err != nil {
			return fmt.Errorf("cpu real-time runtime %d: raise the budget of parent %s: %w", runtime, d, err)
		}
	}
	return nil
}

// childrenShare is the real-time share (of a CPU) that the cgroups in dir
// other than skip hold.
func childrenShare(dir, skip string) (float64, error) {
	subs, err := subdirs(dir)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, s := range subs {
		if s == skip {
			continue
		}
		rt, err := readInt(s, "cpu.rt_runtime_us")
		if err != nil || rt <= 0 {
			continue // gone meanwhile, or no budget
		}
		p, err := readUint(s, "cpu.rt_period_us")
		if err != nil || p == 0 {
			continue
		}
		sum += float64(rt) / float64(p)
	}
	return sum, nil
}

// readInt reads a file holding one signed number.
func readInt(dir, name string) (int64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}
