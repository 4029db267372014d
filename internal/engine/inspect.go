package engine

import (
	"path/filepath"
	"strings"

	"github.com/sdocker/sdocker/internal/image"
)

// Overlay says where the overlayfs root file system of a container made
// from an image lives.
type Overlay struct {
	Upper, Work, Merged string
	// Lower lists the image's layer directories, top first and joined by
	// ":", as image.Store.PrepareRootfs passes them to overlayfs ("" if
	// the image cannot be read).
	Lower string
}

// Overlay tells where the root file system of r, a container made from an
// image (r.ImageID), is made.
func (e *Engine) Overlay(r *Record) Overlay {
	dir := e.containerDir(r.ID)
	return Overlay{
		Upper:  filepath.Join(dir, "upper"),
		Work:   filepath.Join(dir, "work"),
		Merged: image.RootfsOf(dir),
		Lower:  e.lowerDirs(r.ImageID),
	}
}

// lowerDirs lists the image's layer directories as Overlay.Lower.
func (e *Engine) lowerDirs(imageID string) string {
	img := e.lookupImage(imageID)
	if img == nil {
		return ""
	}
	store, err := e.Images()
	if err != nil {
		return ""
	}
	var dirs []string
	seen := map[string]bool{}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		d := filepath.Join(store.Dir(), "layers", strings.TrimPrefix(img.Layers[i], "sha256:"), "diff")
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, ":")
}
