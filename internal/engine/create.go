package engine

import (
	"github.com/sdocker/sdocker/internal/image"
)

// Create makes a container as `run -d` does, without starting it: its
// record says created until `start` starts it (with --rm, it is removed
// when that run ends). It returns the id.
func (e *Engine) Create(o RunOptions) (string, error) {
	o.Detach, o.byCreate = true, true
	r, lock, state, err := e.prepare(o)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	defer state.Close()
	// start mounts it again.
	if r.mountsRootfs() {
		if err := image.ReleaseRootfs(e.containerDir(r.ID)); err != nil {
			return r.ID, err
		}
	}
	return r.ID, nil
}
