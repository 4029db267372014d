package engine

import (
	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/rootless"
)

// A rootless engine (sdocker of an unprivileged user, in the user's
// namespaces: see package rootless) puts its containers' cgroups in the
// cgroup v2 subtree delegated to the user; without one (or on cgroup v1)
// containers get no cgroups: limits are not applied, with a warning.
func (e *Engine) setupRootless() {
	parent, why := rootless.CgroupParent()
	if parent == "" {
		cgroups.Disable(why)
		return
	}
	e.CgroupParent = parent
}
