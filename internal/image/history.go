package image

import (
	"bytes"
	"fmt"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// HistoryEntry is one step of an image's history, newest last.
type HistoryEntry struct {
	Created    time.Time
	CreatedBy  string
	Comment    string
	Size       int64 // bytes of file content of the layer the step made
	EmptyLayer bool  // the step made no layer
}

// History returns the image ref names and its history from its config; an
// image whose config has none gets one entry per layer.
func (s *Store) History(ref string) (*Image, []HistoryEntry, error) {
	img, err := s.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	raw, _, err := s.RawConfig(img.ID)
	if err != nil {
		return nil, nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("image %s config: %w: %w", img.ShortID(), err, ErrDamaged)
	}
	hist := cf.History
	if len(hist) == 0 {
		for range img.Layers {
			hist = append(hist, v1.History{Created: cf.Created})
		}
	}
	var out []HistoryEntry
	layer := 0
	for _, h := range hist {
		e := HistoryEntry{Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if !h.EmptyLayer && layer < len(img.Layers) {
			var li layerInfo
			if err := atomicfile.ReadJSON(filepath.Join(s.layerDir(img.Layers[layer]), "layer.json"), &li); err == nil {
				e.Size = li.Size
			}
			layer++
		}
		out = append(out, e)
	}
	return img, out, nil
}
