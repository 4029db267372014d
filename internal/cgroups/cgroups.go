// Package cgroups places containers in control groups and applies their
// resource limits, on cgroup v1 (one hierarchy per controller) and v2 (the
// unified hierarchy) behind one Manager interface.
//
// A container's cgroup is named by an OCI cgroupsPath such as
// "/sdocker/<id>", relative to the root of each hierarchy. Parents such as
// "/sdocker" are created on demand and shared; only the container's own
// directory (the leaf) is ever removed, and only where the container made
// it: a leaf that exists already (in some v1 hierarchies or all) is joined,
// as runc does, and neither its processes nor the directory are ever
// touched by Destroy (see Ownership).
package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager owns the cgroups of one container.
type Manager interface {
	// Version is 1 or 2.
	Version() int
	// Create makes the container's cgroup directories, joins those that
	// exist already, and writes the limits in r (nil means none) into both.
	// On error nothing it made is left behind.
	Create(r *specs.LinuxResources) error
	// Apply moves pid into every cgroup of the container.
	Apply(pid int) error
	// PidsDir is the container's cgroup directory of the pids controller.
	PidsDir() string
	// Set changes the limits of an existing container.
	Set(r *specs.LinuxResources) error
	// FD opens the container's cgroup directory for clone3's CLONE_INTO_CGROUP
	// (v2 only); it returns -1 and no error on v1.
	FD() (int, error)
	// Stats reads usage counters.
	Stats() (*Stats, error)
	// OOMKills is how many processes of the container the kernel OOM-killed.
	OOMKills() (uint64, error)
	// Freeze stops every process of the container; Thaw resumes them.
	Freeze() error
	Thaw() error
	// Pids lists the processes in the container's cgroup (host pids), and
	// in the cgroups below it.
	Pids() ([]int, error)
	// Destroy kills what is left in the directories that the Manager made
	// and removes them (with the cgroups the container made below them);
	// it leaves the cgroups it joined alone. It is idempotent.
	Destroy() error
	// Ownership is what the Manager made, to keep with the container's
	// state for Open.
	Ownership() *Ownership
	// Joined reports whether the cgroup that Pids reads existed before the
	// container (v1: in every hierarchy that holds all of its processes):
	// it may then hold processes that are not the container's, which only
	// the caller can tell apart.
	Joined() bool
	// Paths maps a controller name ("memory", "cpu", ..., or "" on v2) to the
	// container's directory in it.
	Paths() map[string]string
}

// Stats holds the counters that `sdocker stats` shows.
type Stats struct {
	CPUUsageNanos uint64 // total CPU time of the cgroup
	MemoryUsage   uint64 // bytes
	MemoryLimit   uint64 // bytes; 0 when unlimited
	Pids          uint64
	PidsLimit     uint64 // 0 when unlimited
	IOReadBytes   uint64
	IOWriteBytes  uint64
}

// ErrInvalid is wrapped by every error about a bad cgroup path or resource
// value, so callers can tell bad input from a failing kernel (errors.Is).
var ErrInvalid = errors.New("invalid argument")

// mountRoot is where the cgroup file system(s) live.
const mountRoot = "/sys/fs/cgroup"

var (
	modeOnce sync.Once
	mode     int
)

// Mode reports the cgroup mode of this machine, detected once: 2 when
// /sys/fs/cgroup is the unified (cgroup2) hierarchy, otherwise 1 (legacy or
// hybrid; a hybrid's cgroup2 mount at /sys/fs/cgroup/unified is not used).
func Mode() int {
	modeOnce.Do(func() {
		mode = 1
		var st unix.Statfs_t
		if err := unix.Statfs(mountRoot, &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mode = 2
		}
	})
	return mode
}

// Ownership says which of a container's cgroup directories were made for
// it, as opposed to those that existed and were joined: only the former
// are the container's to kill in and remove. It is kept with the
// container's state, so that the Manager of a later command (Open) knows
// it too.
type Ownership struct {
	// Made are the container's directories that Create (or Set, for a v1
	// cpuset) created: absolute paths, one per v1 hierarchy or the v2 one.
	Made []string `json:"made"`
}

// New returns the Manager for the cgroup at path (e.g. "/sdocker/<id>") in
// this machine's cgroup mode. It touches nothing; Create makes the cgroup.
// It owns nothing that Create does not make.
func New(path string) (Manager, error) {
	return Open(path, &Ownership{})
}

// Open returns the Manager of a container's existing cgroup at path, with
// the Ownership that the container's state kept. A nil o is a state from
// before ownership was kept, when Create never joined a cgroup: every
// directory is the container's. Directories in o that are not the
// container's are ignored.
func Open(path string, o *Ownership) (Manager, error) {
	if err := validatePath(path); err != nil {
		return nil, err
	}
	if disabled {
		return none{}, nil
	}
	if Mode() == 2 {
		m := &v2{path: path, dir: filepath.Join(mountRoot, path)}
		m.made = o == nil || slices.Contains(o.Made, m.dir)
		return m, nil
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	for _, c := range v1Required {
		if mounts[c] == "" {
			return nil, fmt.Errorf("cgroup v1 controller %s is not mounted", c)
		}
	}
	m := &v1{path: path, mounts: mounts, made: map[string]bool{}}
	for _, d := range m.dirs(m.controllers(true)) {
		if o == nil || slices.Contains(o.Made, d) {
			m.made[d] = true
		}
	}
	return m, nil
}

// ToMake lists the directories of the cgroup at path that do not exist
// yet: those that Create would make. Written down before Create runs, it
// tells whoever cleans up after a crash what was the container's.
func ToMake(path string) (*Ownership, error) {
	m, err := New(path)
	if err != nil {
		return nil, err
	}
	o := &Ownership{}
	for _, d := range m.Paths() {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			o.Made = append(o.Made, d)
		}
	}
	slices.Sort(o.Made)
	o.Made = slices.Compact(o.Made)
	return o, nil
}

// Covers reports whether o owns every directory that other owns.
func (o *Ownership) Covers(other *Ownership) bool {
	if o == nil {
		return true // everything is owned
	}
	for _, d := range other.Made {
		if !slices.Contains(o.Made, d) {
			return false
		}
	}
	return true
}

// validatePath accepts clean absolute paths below the root, e.g. "/a/b".
func validatePath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("cgroup path %q: must be absolute: %w", path, ErrInvalid)
	case path == "/":
		return fmt.Errorf("cgroup path %q: must not be the root: %w", path, ErrInvalid)
	case filepath.Clean(path) != path:
		return fmt.Errorf("cgroup path %q: must be clean (no \"..\", \".\", \"//\" or trailing \"/\"): %w", path, ErrInvalid)
	}
	return nil
}

// unset is how the OCI spec's uint64 fields spell -1 ("leave the default").
const unset = math.MaxUint64

// validate refuses values that no kernel accepts, before anything is made.
func validate(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, ErrInvalid)...)
	}
	if m := r.Memory; m != nil {
		for _, f := range []struct {
			name string
			v    *int64
		}{{"memory limit", m.Limit}, {"memory+swap limit", m.Swap}, {"memory reservation", m.Reservation}} {
			if f.v != nil && *f.v < -1 {
				return bad("%s %d: must be -1 (unlimited), 0 (unset) or positive", f.name, *f.v)
			}
		}
		if l, s := i64(m.Limit), i64(m.Swap); l > 0 && s > 0 && s < l {
			return bad("memory+swap limit %d is lower than the memory limit %d", s, l)
		}
		if s := m.Swappiness; s != nil && *s != unset && *s > 100 {
			return bad("memory swappiness %d: valid range is 0-100", *s)
		}
	}
	if c := r.CPU; c != nil {
		if s := u64(c.Shares); s != 0 && (s < 2 || s > 262144) {
			return bad("cpu shares %d: valid range is 2-262144", s)
		}
		if q := i64(c.Quota); q < -1 || (q > 0 && q < 1000) {
			return bad("cpu quota %d: must be -1 (unlimited) or at least 1000 (microseconds)", q)
		}
		if p := u64(c.Period); p != 0 && (p < 1000 || p > 1000000) {
			return bad("cpu period %d: valid range is 1000-1000000 (microseconds)", p)
		}
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 && (*b.Weight < 10 || *b.Weight > 1000) {
		return bad("blkio weight %d: valid range is 10-1000", *b.Weight)
	}
	if _, _, err := devicePolicyOf(r); err != nil {
		return err
	}
	return nil
}

// Warnings lists what in r this machine's cgroup mode cannot honour and will
// silently ignore, for the CLI to print. Invalid values are not warnings:
// Create and Set refuse them.
func Warnings(r *specs.LinuxResources) []string {
	if disabled {
		if hasLimits(r) {
			return []string{"resource limits are not applied: " + disabledWhy}
		}
		return nil
	}
	swapAccounting := true
	if Mode() == 1 {
		if mounts, err := v1Mounts(); err == nil && mounts["memory"] != "" {
			swapAccounting = exists(filepath.Join(mounts["memory"], "memory.memsw.limit_in_bytes"))
		}
	}
	return warnings(Mode(), swapAccounting, r)
}

func warnings(mode int, swapAccounting bool, r *specs.LinuxResources) []string {
	if r == nil {
		return nil
	}
	var w []string
	ignored := func(what, why string) { w = append(w, fmt.Sprintf("%s %s; ignored", what, why)) }
	if m := r.Memory; m != nil {
		if mode == 2 && m.Swappiness != nil && *m.Swappiness != unset {
			ignored("memory swappiness", "is not supported on cgroup v2")
		}
		if mode == 2 && m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			ignored("disabling the oom killer", "is not supported on cgroup v2")
		}
		if mode == 1 && m.DisableOOMKiller != nil && *m.DisableOOMKiller && i64(m.Limit) <= 0 {
			w = append(w, "disabling the oom killer without a memory limit may leave the host out of memory")
		}
		if mode == 1 && !swapAccounting && i64(m.Swap) != 0 {
			ignored("memory+swap limit", "is not supported: the kernel has no swap accounting")
		}
		if i64(m.Kernel) != 0 || i64(m.KernelTCP) != 0 { //nolint:staticcheck // SA1019: a spec may still set it, and is refused
			ignored("kernel memory limits", "are deprecated and not supported")
		}
	}
	if c := r.CPU; c != nil {
		if u64(c.Burst) != 0 {
			ignored("cpu burst", "is not supported")
		}
		if i64(c.Idle) != 0 {
			ignored("cpu idle", "is not supported")
		}
	}
	if b := r.BlockIO; b != nil && (b.LeafWeight != nil || len(b.WeightDevice) > 0) {
		ignored("blkio per-device weights and leaf weights", "are not supported")
	}
	if len(r.HugepageLimits) > 0 {
		ignored("hugepage limits", "are not supported")
	}
	if r.Network != nil {
		ignored("network class and priorities", "are not supported")
	}
	if len(r.Rdma) > 0 {
		ignored("rdma limits", "are not supported")
	}
	if len(r.Unified) > 0 {
		ignored("unified cgroup settings", "are not supported")
	}
	return w
}

// needCpuset reports whether r asks for the cpuset controller.
func needCpuset(r *specs.LinuxResources) bool {
	return r != nil && r.CPU != nil && (r.CPU.Cpus != "" || r.CPU.Mems != "")
}

// sharesToWeight converts v1 cpu.shares [2, 262144] to v2 cpu.weight
// [1, 10000] as runc does; 0 stays 0 (unset).
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-2)*9999)/262142
}

// blkioToIOWeight converts a v1 blkio weight [10, 1000] to a v2 io.weight
// [1, 10000] as runc does; 0 stays 0 (unset).
func blkioToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

// swapToV2 converts the OCI memory.swap (memory+swap total, v1's memsw) to
// the value of v2's memory.swap.max (swap alone), as runc does. -1 means
// "max", 0 means "leave alone".
func swapToV2(swap, memory int64) (int64, error) {
	switch {
	case memory == -1 && swap == 0:
		return -1, nil // unlimited memory implies unlimited swap
	case swap == -1 || swap == 0:
		return swap, nil
	case memory == 0 || memory == -1:
		return 0, fmt.Errorf("memory+swap limit %d needs a memory limit: %w", swap, ErrInvalid)
	case swap < memory:
		return 0, fmt.Errorf("memory+swap limit %d is lower than the memory limit %d: %w", swap, memory, ErrInvalid)
	}
	return swap - memory, nil
}

func i64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func u64(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}
