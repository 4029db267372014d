package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/sdocker/sdocker/internal/image"
)

// SizeRw is how many bytes the container wrote over its image: the file
// content in its overlay's upper directory (each hard-linked file once).
// A container on a rootfs directory has no upper directory: 0.
func (e *Engine) SizeRw(r *Record) (int64, error) {
	return dirSize(e.Overlay(r).Upper)
}

// VolumeSize is the bytes of file content in volume name.
func (e *Engine) VolumeSize(name string) (int64, error) {
	return dirSize(e.volumeData(name))
}

// dirSize is the bytes of file content under dir (each hard-linked file
// once); a missing dir holds none.
func dirSize(dir string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}

// ImageSize is the size of the container's image (0 for a rootfs
// directory or an image no longer in the store): the "virtual" size of
// ps --size, with SizeRw.
func (e *Engine) ImageSize(r *Record) int64 {
	if img := e.lookupImage(r.ImageID); img != nil {
		return img.Size
	}
	return 0
}

// ImageID is the id of the image ref names in the store, "" if none.
func (e *Engine) ImageID(ref string) string {
	if img := e.lookupImage(ref); img != nil {
		return img.ID
	}
	return ""
}

// lookupImage is the store's image ref, nil if there is none (or no store).
func (e *Engine) lookupImage(ref string) *image.Image {
	if ref == "" {
		return nil
	}
	store, err := e.Images()
	if err != nil {
		return nil
	}
	img, err := store.Get(ref)
	if err != nil {
		return nil
	}
	return img
}
