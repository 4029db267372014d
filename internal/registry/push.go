package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sdocker/sdocker/internal/image"
)

// PushResult says what Push did.
type PushResult struct {
	Ref    Ref
	Digest string // the manifest's
	Size   int64  // the manifest's bytes
}

// Push uploads the image ref names (NAME:TAG, the tag required) from the
// store to its registry: a Docker schema2 manifest, the config exactly as
// stored (the registry's image has the same ID) and each layer's original
// tar, gzip'd; the blobs the registry has already are not sent again.
func Push(ctx context.Context, store *image.Store, ref string, o Options) (*PushResult, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	if err := checkTagged(ref); err != nil {
		return nil, err
	}
	r, err := o.Config.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	done, err := store.Hold()
	if err != nil {
		return nil, err
	}
	defer done()
	raw, layers, err := store.RawConfig(r.Local)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", ref, err)
	}
	img, err := partial.UncompressedToImage(&storeImage{store: store, raw: raw, layers: layers})
	if err != nil {
		return nil, err
	}
	ropts := append(o.remoteOptions(ctx), remote.WithJobs(o.Jobs))
	shown := make(chan struct{})
	if o.Progress != nil {
		progress := make(chan v1.Update, 16) // remote.Write closes it
		ropts = append(ropts, remote.WithProgress(progress))
		go func() { showPush(progress, o.Progress, o.Terminal); close(shown) }()
	} else {
		close(shown)
	}
	err = remote.Write(r.Remote, img, ropts...)
	<-shown
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", r.Name(), describe(err))
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	m, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	return &PushResult{Ref: r, Digest: d.String(), Size: int64(len(m))}, nil
}

// checkTagged refuses a reference without a tag: push sends one tag, the
// one given.
func checkTagged(ref string) error {
	if strings.Contains(ref, "@") {
		return fmt.Errorf("push %s: push a NAME:TAG, not a digest", ref)
	}
	if i := strings.LastIndexByte(ref, ':'); i < 0 || i < strings.LastIndexByte(ref, '/') {
		return fmt.Errorf("push %s: give the tag to push (NAME:TAG)", ref)
	}
	return nil
}

// showPush draws the upload's progress: one bar on a terminal, a line at the
// end elsewhere.
func showPush(updates <-chan v1.Update, w io.Writer, term bool) {
	var last v1.Update
	failed := false
	for u := range updates {
		if u.Error != nil {
			failed = failed || !errors.Is(u.Error, io.EOF)
			continue
		}
		last = u
		if term {
			fmt.Fprintf(w, "\rPushing %s\x1b[K", image.ProgressBar(u.Complete, u.Total))
		}
	}
	switch {
	case term:
		fmt.Fprintln(w)
	case !failed:
		fmt.Fprintf(w, "Pushed %s\n", image.HumanBytes(last.Complete))
	}
}

// storeImage is an image of the store as go-containerregistry sees it.
type storeImage struct {
	store  *image.Store
	raw    []byte
	layers []string
}

func (s *storeImage) RawConfigFile() ([]byte, error)      { return s.raw, nil }
func (s *storeImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (s *storeImage) LayerByDiffID(h v1.Hash) (partial.UncompressedLayer, error) {
	for _, l := range s.layers {
		if l == h.String() {
			return &storeLayer{store: s.store, diffID: h}, nil
		}
	}
	return nil, fmt.Errorf("layer %s: not in the image", h)
}

// storeLayer is a layer of the store: its original tar.
type storeLayer struct {
	store  *image.Store
	diffID v1.Hash
}

func (l *storeLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l *storeLayer) Uncompressed() (io.ReadCloser, error) {
	return l.store.LayerTar(l.diffID.String())
}
