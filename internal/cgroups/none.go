package cgroups

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrUnavailable is what a Manager says when this process may not use
// cgroups: a rootless engine on cgroup v1, or on v2 without a subtree
// delegated to the user.
var ErrUnavailable = errors.New("cgroups are not available to this user (rootless without a delegated cgroup v2 subtree)")

// disabled makes every Manager a none, for the reason disabledWhy: see
// Disable.
var (
	disabled    bool
	disabledWhy string
)

// Disable makes New and Open return Managers that make and limit nothing,
// for a process that may not write any cgroup (a rootless engine without
// delegation): containers then run in the cgroups of the command that
// started them, and Warnings says, for why, that limits are not applied.
func Disable(why string) { disabled, disabledWhy = true, why }

// hasLimits reports whether r limits anything a cgroup would (device
// rules aside: without a cgroup the user namespace is the bound).
func hasLimits(r *specs.LinuxResources) bool {
	return r != nil && (r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil ||
		len(r.HugepageLimits) > 0 || r.Network != nil || len(r.Rdma) > 0 || len(r.Unified) > 0)
}

// Disabled reports whether Disable was called.
func Disabled() bool { return disabled }

// none is the Manager of a container without cgroups of its own.
type none struct{}

func (none) Version() int                       { return 1 }
func (none) Create(*specs.LinuxResources) error { return nil }
func (none) Apply(int) error                    { return nil }
func (none) PidsDir() string                    { return "" }
func (none) Set(*specs.LinuxResources) error    { return ErrUnavailable }
func (none) FD() (int, error)                   { return -1, nil }
func (none) Stats() (*Stats, error)             { return nil, ErrUnavailable }
func (none) OOMKills() (uint64, error)          { return 0, nil }
func (none) Freeze() error                      { return ErrUnavailable }
func (none) Thaw() error                        { return ErrUnavailable }
func (none) Pids() ([]int, error)               { return nil, ErrUnavailable }
func (none) Destroy() error                     { return nil }
func (none) Ownership() *Ownership              { return &Ownership{} }
func (none) Joined() bool                       { return true }
func (none) Paths() map[string]string           { return map[string]string{} }
