package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup v1: one hierarchy per controller (or per group of controllers,
// e.g. "cpu,cpuacct"), each mounted somewhere under /sys/fs/cgroup.

var (
	// v1Required are joined by every container; New fails without them.
	v1Required = []string{"memory", "cpu", "cpuacct", "pids"}
	// v1Optional are joined when mounted: freezer for Freeze/Thaw, blkio for
	// I/O stats and weight, devices for the device rules (Create and Set
	// fail if rules are given without it). cpuset is joined only when cpus
	// or mems are set.
	v1Optional = []string{"freezer", "blkio", "devices"}
)

// freezeTimeout bounds how long Freeze and Thaw wait for the kernel.
const freezeTimeout = 5 * time.Second

var (
	v1MountsOnce sync.Once
	v1MountsMap  map[string]string
	v1MountsErr  error
)

// v1Mounts maps controller names to mount points, read once from
// /proc/self/mountinfo.
func v1Mounts() (map[string]string, error) {
	v1MountsOnce.Do(func() {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			v1MountsErr = fmt.Errorf("open /proc/self/mountinfo: %w", errnoOf(err))
			return
		}
		defer f.Close()
		v1MountsMap, v1MountsErr = parseMountinfo(f)
		if v1MountsErr != nil {
			v1MountsErr = fmt.Errorf("read /proc/self/mountinfo: %w", v1MountsErr)
		}
	})
	return v1MountsMap, v1MountsErr
}

type v1 struct {
	path   string            // e.g. /sdocker/<id>
	mounts map[string]string // controller -> mount point
	// made holds the container's directories that were made for it; the
	// others existed and were joined.
	made map[string]bool
}

func (m *v1) Version() int { return 1 }

func (m *v1) dir(ctrl string) string { return filepath.Join(m.mounts[ctrl], m.path) }

// controllers lists the mounted controllers the container uses, with
// cpuset if asked.
func (m *v1) controllers(cpuset bool) []string {
	cs := append([]string(nil), v1Required...)
	for _, c := range v1Optional {
		if m.mounts[c] != "" {
			cs = append(cs, c)
		}
	}
	if cpuset && m.mounts["cpuset"] != "" {
		cs = append(cs, "cpuset")
	}
	return cs
}

// dirs returns the container's directories for ctrls, once each:
// controllers mounted together ("cpu,cpuacct") share one.
func (m *v1) dirs(ctrls []string) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, c := range ctrls {
		if d := m.dir(c); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func (m *v1) hasCpuset() bool { return m.mounts["cpuset"] != "" && exists(m.dir("cpuset")) }

func (m *v1) Paths() map[string]string {
	p := map[string]string{}
	for _, c := range m.controllers(m.hasCpuset()) {
		p[c] = m.dir(c)
	}
	return p
}

// mkdir makes the container's directory in ctrl's hierarchy, and the
// missing parents; in cpuset each level gets its parent's cpus and mems, as
// the kernel refuses tasks in a cpuset without them. leafMade says whether
// the container's own directory was made: one that exists is joined.
func (m *v1) mkdir(ctrl string) (leafMade bool, err error) {
	cur := m.mounts[ctrl]
	parts := strings.Split(strings.TrimPrefix(m.path, "/"), "/")
	for i, part := range parts {
		parent := cur
		cur = filepath.Join(cur, part)
		err := unix.Mkdir(cur, 0o755)
		if err != nil && err != unix.EEXIST {
			return false, fmt.Errorf("create %s: %w", cur, err)
		}
		leafMade = err == nil && i == len(parts)-1
		if ctrl == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if err := inherit(parent, cur, f); err != nil {
					return leafMade, err
				}
			}
		}
	}
	return leafMade, nil
}

// inherit copies file from parent to dir if dir's is empty.
func inherit(parent, dir, file string) error {
	cur, err := readFile(dir, file)
	if err != nil || cur != "" {
		return err
	}
	val, err := readFile(parent, file)
	if err != nil {
		return err
	}
	return writeFile(dir, file, val)
}

func (m *v1) Create(r *specs.LinuxResources) error {
	if err := validate(r); err != nil {
		return err
	}
	if needCpuset(r) && m.mounts["cpuset"] == "" {
		return errors.New("cgroup v1 controller cpuset is not mounted")
	}
	var made []string
	undo := func() {
		for _, d := range made {
			_ = unix.Rmdir(d)
			delete(m.made, d)
		}
	}
	seen := map[string]bool{}
	for _, c := range m.controllers(needCpuset(r)) {
		d := m.dir(c)
		if seen[d] {
			continue
		}
		seen[d] = true
		leafMade, err := m.mkdir(c)
		if leafMade {
			made = append(made, d)
			m.made[d] = true
		}
		if err != nil {
			undo()
			return err
		}
	}
	if err := m.set(r); err != nil {
		undo()
		return err
	}
	return nil
}

func (m *v1) Set(r *specs.LinuxResources) error {
	if err := validate(r); err != nil {
		return err
	}
	return m.set(r)
}

func (m *v1) set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if p, ok, err := devicePolicyOf(r); err != nil {
		return err
	} else if ok {
		if m.mounts["devices"] == "" {
			return errors.New("cgroup v1 controller devices is not mounted")
		}
		if err := setDevicesV1(m.dir("devices"), p); err != nil {
			return err
		}
	}
	if needCpuset(r) {
		if err := m.setCpuset(r.CPU); err != nil {
			return err
		}
	}
	if r.Memory != nil {
		if err := m.setMemory(r.Memory); err != nil {
			return err
		}
	}
	if r.CPU != nil {
		if err := m.setCPU(r.CPU); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := writeFile(m.dir("pids"), "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if hasRealtime(r.CPU) {
		if err := setRealtimeV1(m.mounts["cpu"], m.path, r.CPU); err != nil {
			return err
		}
	}
	if hasBlockIO(r.BlockIO) {
		if m.mounts["blkio"] == "" {
			return fmt.Errorf("blkio limits: cgroup v1 controller blkio is not mounted: %w", ErrUnsupported)
		}
		return setBlockIOV1(m.dir("blkio"), r.BlockIO)
	}
	return nil
}

// setCpuset writes cpus and mems. A container made without a cpuset gets
// one now, and its processes are moved into it.
func (m *v1) setCpuset(c *specs.LinuxCPU) error {
	if m.mounts["cpuset"] == "" {
		return errors.New("cgroup v1 controller cpuset is not mounted")
	}
	d := m.dir("cpuset")
	fresh := !exists(d)
	own := m.ownDir()
	if fresh && own == "" {
		return fmt.Errorf("add cpuset %s: the container joined existing cgroups, whose processes are not all its own", d)
	}
	if fresh {
		made, err := m.mkdir("cpuset")
		if made {
			m.made[d] = true
		}
		if err != nil {
			m.undoMkdir(d)
			return err
		}
	}
	err := func() error {
		if c.Cpus != "" {
			if err := writeFile(d, "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := writeFile(d, "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
		if !fresh {
			return nil
		}
		pids, err := readProcs(own)
		if err != nil {
			return err
		}
		for _, pid := range pids {
			if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
		return nil
	}()
	if err != nil && fresh {
		m.undoMkdir(d)
	}
	return err
}

// undoMkdir removes d again if it was made for the container.
func (m *v1) undoMkdir(d string) {
	if m.made[d] {
		_ = unix.Rmdir(d)
		delete(m.made, d)
	}
}

// setMemory writes the memory limits. The kernel wants memory <= memsw at
// all times, so the order of the two writes depends on the current limit
// (as in runc).
func (m *v1) setMemory(mem *specs.LinuxMemory) error {
	d := m.dir("memory")
	limit, swap := i64(mem.Limit), i64(mem.Swap)
	hasMemsw := exists(filepath.Join(d, "memory.memsw.limit_in_bytes"))
	if !hasMemsw {
		swap = 0 // no swap accounting: nothing to write (Warnings says so)
	} else if limit == -1 && swap == 0 {
		swap = -1 // unlimited memory means unlimited memory+swap too
	}
	writeLimit := func() error {
		if limit == 0 {
			return nil
		}
		err := writeFile(d, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
		if errors.Is(err, unix.EBUSY) {
			if usage, uerr := readUint(d, "memory.usage_in_bytes"); uerr == nil {
				err = fmt.Errorf("%w (current usage %d bytes cannot be reclaimed below it)", err, usage)
			}
		}
		return err
	}
	writeSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(d, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	first, second := writeLimit, writeSwap
	if limit != 0 && swap != 0 {
		cur, err := readUint(d, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		if swap == -1 || cur < uint64(swap) { // raising: memsw first
			first, second = writeSwap, writeLimit
		}
	}
	if err := first(); err != nil {
		return err
	}
	if err := second(); err != nil {
		return err
	}
	if s := mem.Swappiness; s != nil && *s != unset {
		if err := writeFile(d, "memory.swappiness", strconv.FormatUint(*s, 10)); err != nil {
			return err
		}
	}
	if v := i64(mem.Reservation); v != 0 {
		if err := writeFile(d, "memory.soft_limit_in_bytes", strconv.FormatInt(v, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil {
		v := "0"
		if *mem.DisableOOMKiller {
			v = "1"
		}
		if err := writeFile(d, "memory.oom_control", v); err != nil {
			return err
		}
	}
	return nil
}

// setCPU writes shares, period and quota (period first, as runc does).
func (m *v1) setCPU(c *specs.LinuxCPU) error {
	d := m.dir("cpu")
	if s := u64(c.Shares); s != 0 {
		if err := writeFile(d, "cpu.shares", strconv.FormatUint(s, 10)); err != nil {
			return err
		}
	}
	period, quota := u64(c.Period), i64(c.Quota)
	retryPeriod := false
	if period != 0 {
		if err := writeFile(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10)); err != nil {
			// A shorter period is refused while old quota/new period exceeds
			// the parent's bandwidth; try again once the quota is written.
			if !errors.Is(err, unix.EINVAL) || quota == 0 {
				return err
			}
			retryPeriod = true
		}
	}
	if quota != 0 {
		if err := writeFile(d, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
		if retryPeriod {
			return writeFile(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10))
		}
	}
	return nil
}

func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

func (m *v1) Apply(pid int) error {
	for _, d := range m.dirs(m.controllers(m.hasCpuset())) {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1) FD() (int, error) { return -1, nil }

func (m *v1) PidsDir() string { return m.dir("pids") }

func (m *v1) Stats() (*Stats, error) {
	var s Stats
	var err error
	if s.CPUUsageNanos, err = readUint(m.dir("cpuacct"), "cpuacct.usage"); err != nil {
		return nil, err
	}
	if s.MemoryUsage, err = readUint(m.dir("memory"), "memory.usage_in_bytes"); err != nil {
		return nil, err
	}
	if s.MemoryLimit, err = readLimit(m.dir("memory"), "memory.limit_in_bytes"); err != nil {
		return nil, err
	}
	if s.Pids, err = readUint(m.dir("pids"), "pids.current"); err != nil {
		return nil, err
	}
	if s.PidsLimit, err = readLimit(m.dir("pids"), "pids.max"); err != nil {
		return nil, err
	}
	if m.mounts["blkio"] != "" { // best effort: the files vary with the kernel
		for _, f := range []string{"blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"} {
			if c, err := readFile(m.dir("blkio"), f); err == nil {
				s.IOReadBytes, s.IOWriteBytes = parseBlkioBytes(c)
				break
			}
		}
	}
	return &s, nil
}

func (m *v1) OOMKills() (uint64, error) {
	c, err := readFile(m.dir("memory"), "memory.oom_control")
	if err != nil {
		return 0, err
	}
	n, _, err := keyedValue(c, "oom_kill") // absent before Linux 4.13
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(m.dir("memory"), "memory.oom_control"), err)
	}
	return n, nil
}

func (m *v1) Freeze() error { return m.setFreezer("FROZEN") }
func (m *v1) Thaw() error   { return m.setFreezer("THAWED") }

// setFreezer writes state and waits until the kernel reports it (FREEZING
// lasts until every task has stopped). A freeze that times out is undone.
func (m *v1) setFreezer(state string) error {
	if m.mounts["freezer"] == "" {
		return errors.New("cgroup v1 controller freezer is not mounted")
	}
	d := m.dir("freezer")
	done, err := waitFor(freezeTimeout, func() (bool, error) {
		if err := writeFile(d, "freezer.state", state); err != nil {
			return false, err
		}
		cur, err := readFile(d, "freezer.state")
		return cur == state, err
	})
	if err == nil && !done {
		if state == "FROZEN" {
			_ = writeFile(d, "freezer.state", "THAWED")
		}
		err = fmt.Errorf("set %s to %s: timed out after %s", filepath.Join(d, "freezer.state"), state, freezeTimeout)
	}
	return err
}

// Pids lists the processes in a hierarchy made for the container, all of
// them its own, if there is one.
func (m *v1) Pids() ([]int, error) {
	if d := m.ownDir(); d != "" {
		return treeProcs(d)
	}
	return treeProcs(m.dir("pids"))
}

// ownDir is the container's directory in one of the hierarchies that hold
// every process of the container, where it was made for it (so holds no
// other process); "" when there is none.
func (m *v1) ownDir() string {
	for _, c := range v1Required {
		if d := m.dir(c); m.made[d] {
			return d
		}
	}
	return ""
}

// Destroy kills and removes in the hierarchies where the container's
// directory was made for it. Every process of the container is in each of
// v1Required (they are joined together), so one made there reaches all.
func (m *v1) Destroy() error {
	var dirs []string
	for _, d := range m.dirs(m.controllers(true)) { // cpuset too: Set may have made one
		if m.made[d] {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	err := destroy(dirs, func() error {
		for _, d := range dirs {
			if err := killTree(d); err != nil {
				return err
			}
		}
		if d := m.dir("freezer"); m.mounts["freezer"] != "" && m.made[d] { // a frozen task dies only once thawed
			err := writeFile(d, "freezer.state", "THAWED")
			if err != nil && !gone(err) {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, d := range dirs {
			delete(m.made, d)
		}
	}
	return err
}

func (m *v1) Ownership() *Ownership {
	o := &Ownership{Made: []string{}}
	for _, d := range m.dirs(m.controllers(true)) {
		if m.made[d] {
			o.Made = append(o.Made, d)
		}
	}
	slices.Sort(o.Made)
	return o
}

func (m *v1) Joined() bool { return m.ownDir() == "" }
