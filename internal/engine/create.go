package engine

import (
	"fmt"

	"github.com/sdocker/sdocker/internal/image"
)

// Create makes a container as `run -d` does, without starting it: its
// record says created until `start` starts it. It returns the id.
func (e *Engine) Create(o RunOptions) (string, error) {
	if o.Remove {
		// A created record that nobody watches is what a killed start
		// leaves: collected, and with --rm removed, before it could start.
		return "", fmt.Errorf("%w: --rm cannot be combined with create (use run -d --rm)", ErrInvalidInput)
	}
	o.Detach = true
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
