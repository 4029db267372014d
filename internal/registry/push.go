package registry

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

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
//
// The config goes first. Then each layer is compressed once, o.Jobs at
// once, into an unlinked file of the store's tmp/ (nothing of it stays,
// whatever happens): its digest is known before the registry is asked
// whether it has the blob, and the upload reads the file. The manifest
// goes last.
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
	res, err := push(ctx, store, r, o)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("push %s: interrupted: %w", r.Name(), ctx.Err())
		}
		return nil, fmt.Errorf("push %s: %w", r.Name(), describe(err))
	}
	return res, nil
}

func push(ctx context.Context, store *image.Store, r Ref, o Options) (*PushResult, error) {
	done, err := store.Hold()
	if err != nil {
		return nil, err
	}
	defer done()
	raw, diffIDs, err := store.RawConfig(r.Local)
	if err != nil {
		return nil, err
	}
	if err := store.CheckLayerTars(r.Local, diffIDs); err != nil {
		return nil, err
	}
	p, err := remote.NewPusher(append(o.remoteOptions(ctx), remote.WithJobs(o.Jobs))...)
	if err != nil {
		return nil, err
	}
	b := newBoard(o.Progress, o.Terminal)
	img := &pushImage{raw: raw}
	var jobs []*pushLayer
	byDiffID := map[string]*pushLayer{}
	for _, d := range diffIDs {
		l := byDiffID[d]
		if l == nil {
			h, err := v1.NewHash(d)
			if err != nil {
				return nil, err
			}
			l = &pushLayer{store: store, diffID: h, board: b}
			byDiffID[d] = l
			jobs = append(jobs, l)
		}
		img.layers = append(img.layers, l)
	}
	defer func() {
		for _, l := range jobs {
			l.close()
		}
	}()
	v, err := partial.CompressedToImage(img)
	if err != nil {
		return nil, err
	}
	// The config first: a registry that refuses the push says so before
	// any layer is compressed.
	cl, err := partial.ConfigLayer(v)
	if err != nil {
		return nil, err
	}
	if err := p.Upload(ctx, r.Remote.Context(), cl); err != nil {
		return nil, err
	}
	for _, l := range jobs {
		l.line = b.add(l.diffID.String(), 0, statusWaiting)
	}
	b.start()
	tmp := filepath.Join(store.Dir(), "tmp")
	err = eachJob(ctx, o.Jobs, jobs, func(ctx context.Context, l *pushLayer) error {
		return l.push(ctx, p, r.Remote.Context(), tmp)
	})
	b.finish()
	if err != nil {
		return nil, err
	}
	if err := p.Push(ctx, r.Remote, v); err != nil {
		return nil, err
	}
	m, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(m)
	return &PushResult{Ref: r, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(m))}, nil
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

// pushImage is an image of the store with its layers compressed: a Docker
// schema2 manifest of its config, as stored, and of its layers.
type pushImage struct {
	raw    []byte
	layers []*pushLayer
}

func (i *pushImage) RawConfigFile() ([]byte, error)      { return i.raw, nil }
func (i *pushImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (i *pushImage) RawManifest() ([]byte, error) {
	sum := sha256.Sum256(i.raw)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config: v1.Descriptor{
			MediaType: types.DockerConfigJSON, Size: int64(len(i.raw)),
			Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		},
		Layers: []v1.Descriptor{},
	}
	for _, l := range i.layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: l.size, Digest: l.digest})
	}
	return json.Marshal(m)
}

func (i *pushImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.layers {
		if l.digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("blob %s: not a layer of the image", h)
}

// pushLayer is a layer of the store, gzip'd once into an unlinked file.
type pushLayer struct {
	store  *image.Store
	diffID v1.Hash
	board  *board
	line   int

	f      *os.File // the compressed layer; nil once closed
	digest v1.Hash
	size   int64
	sent   atomic.Bool // the registry lacked the blob: it was read for the upload
}

// push compresses the layer into a file of dir and uploads it unless the
// registry has it. The file is closed after: the manifest needs only the
// digest and the size.
func (l *pushLayer) push(ctx context.Context, p *remote.Pusher, repo name.Repository, dir string) error {
	l.board.set(l.line, statusPreparing)
	if err := l.compress(ctx, dir); err != nil {
		return err
	}
	if err := p.Upload(ctx, repo, l); err != nil {
		return fmt.Errorf("layer %s: %w", shortHex(l.diffID.String()), err)
	}
	if l.sent.Load() {
		l.board.set(l.line, statusPushed)
	} else {
		l.board.set(l.line, statusExists)
	}
	l.close()
	return nil
}

// compress writes the layer's tar, gzip'd, to an unlinked file of dir.
func (l *pushLayer) compress(ctx context.Context, dir string) error {
	rc, err := l.store.LayerTar(l.diffID.String())
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(dir, "push-")
	if err != nil {
		return err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return err
	}
	l.f = f
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, &errReader{r: rc, ctx: ctx}); err != nil {
		return fmt.Errorf("compress layer %s: %w", shortHex(l.diffID.String()), err)
	}
	if err := errors.Join(zw.Close(), bw.Flush()); err != nil {
		return fmt.Errorf("compress layer %s: write %s: %w", shortHex(l.diffID.String()), dir, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	l.size = size
	return nil
}

func (l *pushLayer) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func (l *pushLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *pushLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *pushLayer) Size() (int64, error)                { return l.size, nil }
func (l *pushLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }

// Compressed is read for the upload (again from the start on a retry).
func (l *pushLayer) Compressed() (io.ReadCloser, error) {
	if l.f == nil {
		return nil, fmt.Errorf("layer %s: its compressed file is closed", shortHex(l.diffID.String()))
	}
	l.sent.Store(true)
	l.board.begin(l.line, statusPushing, l.size)
	return io.NopCloser(l.board.reader(l.line, io.NewSectionReader(l.f, 0, l.size))), nil
}

func (l *pushLayer) Uncompressed() (io.ReadCloser, error) {
	return l.store.LayerTar(l.diffID.String())
}
