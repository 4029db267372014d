package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// Archive formats of Save.
const (
	FormatDocker = "docker-archive" // `docker save`: manifest.json, <config>.json, <layer>/layer.tar
	FormatOCI    = "oci-archive"    // an OCI image layout: oci-layout, index.json, blobs/sha256/
)

// saved is one image of an archive.
type saved struct {
	id     string
	raw    []byte   // its config
	layers []string // diffIDs
	names  []string // "name:tag"
}

// Save writes the images refs name (names, digest references, IDs) to w as
// an archive that Load, docker load, podman load and skopeo read. The layers
// are their original tars (see LayerTar), uncompressed: an image saved and
// loaded again has the same ID. A name given keeps that name in the
// archive; an ID gives the image without one.
func (s *Store) Save(w io.Writer, refs []string, format string) error {
	if format != FormatDocker && format != FormatOCI {
		return fmt.Errorf("save: format %q: use %s or %s: %w", format, FormatDocker, FormatOCI, ErrInvalid)
	}
	if len(refs) == 0 {
		return fmt.Errorf("save: no image given: %w", ErrInvalid)
	}
	done, err := s.Hold()
	if err != nil {
		return err
	}
	defer done()
	imgs, err := s.savedImages(refs)
	if err != nil {
		return err
	}
	sizes, err := s.tarSizes(imgs)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if format == FormatOCI {
		err = s.writeOCI(tw, imgs, sizes)
	} else {
		err = s.writeDocker(tw, imgs, sizes)
	}
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return tw.Close()
}

// savedImages resolves refs, an image given twice (by two names) once.
func (s *Store) savedImages(refs []string) ([]*saved, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	var out []*saved
	byID := map[string]*saved{}
	for _, ref := range refs {
		id, byName, err := s.resolve(repos, ref)
		if err != nil {
			return nil, fmt.Errorf("save %s: %w", ref, err)
		}
		img := byID[id]
		if img == nil {
			if img, err = s.savedImage(id); err != nil {
				return nil, err
			}
			if err := s.CheckLayerTars(ref, img.layers); err != nil {
				return nil, fmt.Errorf("save: %w", err)
			}
			byID[id] = img
			out = append(out, img)
		}
		if byName != "" && !strings.Contains(byName, "@") {
			img.names = append(img.names, byName)
		}
	}
	return out, nil
}

func (s *Store) savedImage(id string) (*saved, error) {
	m, raw, err := s.readRaw(id)
	if err != nil {
		return nil, err
	}
	return &saved{id: id, raw: raw, layers: m.Layers}, nil
}

// tarSizes returns the tar size of every layer of imgs.
func (s *Store) tarSizes(imgs []*saved) (map[string]int64, error) {
	sizes := map[string]int64{}
	for _, img := range imgs {
		for _, l := range img.layers {
			if _, ok := sizes[l]; ok {
				continue
			}
			var li layerInfo
			if err := atomicfile.ReadJSON(filepath.Join(s.layerDir(l), "layer.json"), &li); err != nil {
				return nil, fmt.Errorf("layer %s: %w", shortID(l), err)
			}
			if li.TarSize == 0 { // stored before the size was kept
				n, err := s.countLayerTar(l)
				if err != nil {
					return nil, err
				}
				li.TarSize = n
			}
			sizes[l] = li.TarSize
		}
	}
	return sizes, nil
}

func (s *Store) countLayerTar(diffID string) (int64, error) {
	rc, err := s.LayerTar(diffID)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// writeLayer writes layer diffID's tar as the archive entry name.
func (s *Store) writeLayer(tw *tar.Writer, name, diffID string, size int64) error {
	rc, err := s.LayerTar(diffID)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := tw.WriteHeader(fileHeader(name, size)); err != nil {
		return err
	}
	n, err := io.Copy(tw, rc)
	if err == nil && n != size {
		err = fmt.Errorf("layer %s: %d bytes, its record says %d: %w", shortID(diffID), n, size, ErrDamaged)
	}
	return err
}

func fileHeader(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
}

func writeEntry(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(fileHeader(name, int64(len(b)))); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// writeDocker writes a `docker save` archive (manifest.json, no legacy
// repositories file).
func (s *Store) writeDocker(tw *tar.Writer, imgs []*saved, sizes map[string]int64) error {
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	written := map[string]bool{}
	for _, img := range imgs {
		e := entry{Config: hexOf(img.id) + ".json", RepoTags: img.names}
		if err := writeEntry(tw, e.Config, img.raw); err != nil {
			return err
		}
		for _, l := range img.layers {
			name := hexOf(l) + "/layer.tar"
			e.Layers = append(e.Layers, name)
			if written[l] {
				continue
			}
			written[l] = true
			if err := s.writeLayer(tw, name, l, sizes[l]); err != nil {
				return err
			}
		}
		manifest = append(manifest, e)
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	return writeEntry(tw, "manifest.json", b)
}

// writeOCI writes an OCI image layout: a manifest per image (per name: the
// index says which name is which), layers as plain tars.
func (s *Store) writeOCI(tw *tar.Writer, imgs []*saved, sizes map[string]int64) error {
	if err := writeEntry(tw, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	var index v1.IndexManifest
	index.SchemaVersion = 2
	index.MediaType = types.OCIImageIndex
	written := map[string]bool{}
	for _, img := range imgs {
		m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
			Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(img.raw)), Digest: hashOf(img.id)}}
		if err := writeEntry(tw, blobPath(img.id), img.raw); err != nil {
			return err
		}
		for _, l := range img.layers {
			m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: sizes[l], Digest: hashOf(l)})
			if written[l] {
				continue
			}
			written[l] = true
			if err := s.writeLayer(tw, blobPath(l), l, sizes[l]); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return err
		}
		d, _, err := v1.SHA256(strings.NewReader(string(raw)))
		if err != nil {
			return err
		}
		if err := writeEntry(tw, blobPath(d.String()), raw); err != nil {
			return err
		}
		desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: d}
		if len(img.names) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, n := range img.names {
			named := desc
			named.Annotations = map[string]string{annotationRefName: FullName(n), annotationContainerName: FullName(n)}
			index.Manifests = append(index.Manifests, named)
		}
	}
	b, err := json.Marshal(index)
	if err != nil {
		return err
	}
	return writeEntry(tw, "index.json", b)
}

func blobPath(digest string) string { return "blobs/sha256/" + hexOf(digest) }

// hashOf is a digest the store checked already as a v1.Hash.
func hashOf(d string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: hexOf(d)} }

// FullName is a store name with its registry, as Docker writes it in an
// archive: busybox:latest is docker.io/library/busybox:latest.
func FullName(n string) string {
	first, rest, ok := strings.Cut(n, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return n
	}
	if !ok {
		return "docker.io/library/" + n
	}
	return "docker.io/" + first + "/" + rest
}
