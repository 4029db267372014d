package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Change is one line of `diff`: Kind "A" (added), "C" (changed) or "D"
// (deleted), and the path in the container ("/etc/app.conf").
type Change struct {
	Kind string
	Path string
}

// Changes lists what an overlayfs upper directory changes over its lower
// layers (top first), sorted by path as Docker lists them: a whiteout is
// a deleted path, a path the layers have is changed, any other is added.
// An empty regular file at one of mountPoints (relative to the root) is a
// mount point, not a change.
func Changes(upper string, lower, mountPoints []string) ([]Change, error) {
	var changes []Change
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() && fi.Size() == 0 && slices.Contains(mountPoints, filepath.ToSlash(rel)) {
			return nil
		}
		kind := "A"
		switch {
		case isWhiteout(fi):
			kind = "D"
		case inLayers(lower, rel):
			kind = "C"
		}
		changes = append(changes, Change{Kind: kind, Path: "/" + filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", upper, err)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, nil
}

// inLayers reports whether the layers (top first, overlayfs format) hold
// rel: the first layer that has it, or a whiteout of it or of a parent,
// or an opaque parent, decides.
func inLayers(layers []string, rel string) bool {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for _, l := range layers {
		p, hides := l, false
		for i, part := range parts {
			p = filepath.Join(p, part)
			fi, err := os.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				break // not in this layer
			}
			if err != nil || isWhiteout(fi) {
				return false
			}
			if i == len(parts)-1 {
				return true
			}
			hides = hides || opaque(p)
		}
		if hides {
			return false // an opaque parent hides the layers below
		}
	}
	return false
}

// opaque reports whether dir is an opaque overlayfs directory.
func opaque(dir string) bool {
	buf := make([]byte, 1)
	n, err := unix.Lgetxattr(dir, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}
