package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup v2: one unified hierarchy at /sys/fs/cgroup. A controller works in
// a cgroup only if every ancestor lists it in cgroup.subtree_control.

// v2Controllers are enabled on the way down to the container's cgroup
// (those that the parent offers).
var v2Controllers = []string{"cpuset", "cpu", "io", "memory", "pids"}

type v2 struct {
	path string // e.g. /sdocker/<id>
	dir  string // mountRoot + path
	// made: dir was made for the container (else it existed and was joined).
	made bool
}

func (m *v2) Version() int { return 2 }

func (m *v2) Paths() map[string]string { return map[string]string{"": m.dir} }

func (m *v2) Create(r *specs.LinuxResources) error {
	if err := m.validate(r); err != nil {
		return err
	}
	cur := mountRoot
	parts := strings.Split(strings.TrimPrefix(m.path, "/"), "/")
	made := false
	for i, part := range parts {
		if err := enableControllers(cur); err != nil {
			return err
		}
		cur = filepath.Join(cur, part)
		err := unix.Mkdir(cur, 0o755)
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("create %s: %w", cur, err)
		}
		made = err == nil && i == len(parts)-1
	}
	m.made = m.made || made
	if err := m.set(r); err != nil {
		if made {
			_ = unix.Rmdir(m.dir)
			m.made = false
		}
		return err
	}
	return nil
}

// enableControllers turns on, for the children of dir, those of
// v2Controllers that dir has.
func enableControllers(dir string) error {
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	enabled, err := readFile(dir, "cgroup.subtree_control")
	if err != nil {
		return err
	}
	var add []string
	for _, c := range v2Controllers {
		if slices.Contains(strings.Fields(avail), c) && !slices.Contains(strings.Fields(enabled), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeFile(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

// validate adds to the common checks those of v2: swap needs a memory
// limit to be converted, and there is no real-time budget.
func (m *v2) validate(r *specs.LinuxResources) error {
	if err := validate(r); err != nil {
		return err
	}
	if r != nil && r.Memory != nil {
		if _, err := swapToV2(i64(r.Memory.Swap), i64(r.Memory.Limit)); err != nil {
			return err
		}
	}
	if r != nil && hasRealtime(r.CPU) {
		return unsupportedV2(&specs.LinuxResources{CPU: r.CPU})
	}
	return nil
}

func (m *v2) Set(r *specs.LinuxResources) error {
	if err := m.validate(r); err != nil {
		return err
	}
	return m.set(r)
}

func (m *v2) set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	d := m.dir
	if p, ok, err := devicePolicyOf(r); err != nil {
		return err
	} else if ok {
		if err := setDevicesV2(d, p); err != nil {
			return err
		}
	}
	if c := r.CPU; c != nil {
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
		if err := writeFile(d, "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if hasBlockIO(r.BlockIO) {
		return setBlockIOV2(d, r.BlockIO)
	}
	return nil
}

// v2Num formats a limit: 0 (unset) is "", -1 is "max".
func v2Num(v int64) string {
	switch v {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// setMemory writes memory.swap.max, memory.max and memory.low. Swappiness
// and disableOOMKiller have no v2 file (Warnings says so).
func (m *v2) setMemory(mem *specs.LinuxMemory) error {
	limit, swap := i64(mem.Limit), i64(mem.Swap)
	sw, err := swapToV2(swap, limit)
	if err != nil {
		return err
	}
	s := v2Num(sw)
	if sw == 0 && swap > 0 {
		s = "0" // memory+swap equal to memory: no swap at all
	}
	if s != "" {
		err := writeFile(m.dir, "memory.swap.max", s)
		// Without swap accounting there is no file, and no swap to limit.
		if err != nil && !(errors.Is(err, fs.ErrNotExist) && (s == "max" || s == "0")) {
			return err
		}
	}
	if s := v2Num(limit); s != "" {
		if err := writeFile(m.dir, "memory.max", s); err != nil {
			return err
		}
	}
	if s := v2Num(i64(mem.Reservation)); s != "" {
		if err := writeFile(m.dir, "memory.low", s); err != nil {
			return err
		}
	}
	return nil
}

// setCPU writes cpu.weight (from shares) and cpu.max ("QUOTA PERIOD").
func (m *v2) setCPU(c *specs.LinuxCPU) error {
	if w := sharesToWeight(u64(c.Shares)); w != 0 {
		if err := writeFile(m.dir, "cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	quota, period := i64(c.Quota), u64(c.Period)
	if quota == 0 && period == 0 {
		return nil
	}
	var q string
	switch {
	case quota > 0:
		q = strconv.FormatInt(quota, 10)
	case quota == -1:
		q = "max"
	default: // only the period changes: keep the current quota
		cur, err := readFile(m.dir, "cpu.max")
		if err != nil {
			return err
		}
		q, _, _ = strings.Cut(cur, " ")
	}
	if period != 0 {
		q += " " + strconv.FormatUint(period, 10)
	}
	return writeFile(m.dir, "cpu.max", q)
}

func (m *v2) Apply(pid int) error { return writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid)) }

func (m *v2) PidsDir() string { return m.dir }

// FD opens the cgroup directory for SysProcAttr.UseCgroupFD; the caller
// closes it.
func (m *v2) FD() (int, error) {
	fd, err := unix.Open(m.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", m.dir, err)
	}
	return fd, nil
}

func (m *v2) Stats() (*Stats, error) {
	var s Stats
	c, err := readFile(m.dir, "cpu.stat")
	if err != nil {
		return nil, err
	}
	usec, _, err := keyedValue(c, "usage_usec")
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(m.dir, "cpu.stat"), err)
	}
	s.CPUUsageNanos = usec * 1000
	if s.MemoryUsage, err = readUint(m.dir, "memory.current"); err != nil {
		return nil, err
	}
	if s.MemoryLimit, err = readLimit(m.dir, "memory.max"); err != nil {
		return nil, err
	}
	if s.Pids, err = readUint(m.dir, "pids.current"); err != nil {
		return nil, err
	}
	if s.PidsLimit, err = readLimit(m.dir, "pids.max"); err != nil {
		return nil, err
	}
	if c, err := readFile(m.dir, "io.stat"); err == nil { // best effort
		s.IOReadBytes, s.IOWriteBytes = parseIOStat(c)
	}
	return &s, nil
}

func (m *v2) OOMKills() (uint64, error) {
	c, err := readFile(m.dir, "memory.events")
	if err != nil {
		return 0, err
	}
	n, _, err := keyedValue(c, "oom_kill")
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(m.dir, "memory.events"), err)
	}
	return n, nil
}

func (m *v2) Freeze() error { return m.setFrozen(true) }
func (m *v2) Thaw() error   { return m.setFrozen(false) }

// setFrozen writes cgroup.freeze and waits until cgroup.events reports the
// new state. A freeze that times out is undone.
func (m *v2) setFrozen(frozen bool) error {
	want := uint64(0)
	if frozen {
		want = 1
	}
	if err := writeFile(m.dir, "cgroup.freeze", strconv.FormatUint(want, 10)); err != nil {
		return err
	}
	done, err := waitFor(freezeTimeout, func() (bool, error) {
		ev, err := readFile(m.dir, "cgroup.events")
		if err != nil {
			return false, err
		}
		v, _, err := keyedValue(ev, "frozen")
		return v == want, err
	})
	if err == nil && !done {
		if frozen {
			_ = writeFile(m.dir, "cgroup.freeze", "0")
		}
		err = fmt.Errorf("wait for %s to say frozen %d: timed out after %s", filepath.Join(m.dir, "cgroup.events"), want, freezeTimeout)
	}
	return err
}

func (m *v2) Pids() ([]int, error) { return treeProcs(m.dir) }

// Destroy kills the cgroup's processes (cgroup.kill, Linux 5.14+, else
// SIGKILL one by one) and removes the cgroup and any it contains, if the
// cgroup was made for the container.
func (m *v2) Destroy() error {
	if !m.made {
		return nil
	}
	err := destroy([]string{m.dir}, func() error {
		err := writeFile(m.dir, "cgroup.kill", "1")
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return killTree(m.dir) // no cgroup.kill, or no cgroup left
	})
	if err == nil {
		m.made = false
	}
	return err
}

func (m *v2) Ownership() *Ownership {
	o := &Ownership{Made: []string{}}
	if m.made {
		o.Made = append(o.Made, m.dir)
	}
	return o
}

func (m *v2) Joined() bool { return !m.made }
