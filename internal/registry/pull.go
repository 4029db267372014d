package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sdocker/sdocker/internal/image"
)

// DefaultJobs is how many layers download at once unless told.
const DefaultJobs = 3

// Options tune Pull.
type Options struct {
	Platform v1.Platform // the zero value: DefaultPlatform
	Jobs     int         // layers downloaded at once (< 1: the config's, or DefaultJobs)
	// Progress receives a line per layer: redrawn bars if Terminal, else
	// plain lines. Nil shows nothing.
	Progress io.Writer
	Terminal bool
	Config   *Config        // nil: LoadConfig("")
	Keychain authn.Keychain // nil: Docker's config.json
}

// Result says what Pull did.
type Result struct {
	Image      *image.Image
	Ref        Ref
	Digest     string // the manifest (or index) digest pulled
	Downloaded int    // layers fetched; the others were in the store
}

// Pull fetches the image ref names (see Config.ParseRef) into the store:
// the manifest for the platform (from an index if the reference names
// one), the config, and the layers the store does not have, several at
// once, each streamed into the store and checked against its digests. The
// image gets the name of ref and a digest reference.
//
// A failed pull leaves no image and no name. The layers it completed stay
// in the store, unlisted, so that pulling again fetches only the others
// (the next GC, at rmi or prune, removes them if no pull does); after a
// blob that does not match its digest, or on a full disk, they are removed
// at once.
func Pull(ctx context.Context, store *image.Store, ref string, o Options) (*Result, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	r, err := o.Config.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	res, err := pull(ctx, store, r, o)
	if err != nil {
		if dropAfter(err) {
			err = errors.Join(err, store.DropUnused())
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("pull %s: interrupted (pulling again resumes): %w", ref, ctx.Err())
		}
		return nil, err
	}
	return res, nil
}

func (o *Options) fill() error {
	if o.Platform.OS == "" {
		o.Platform = DefaultPlatform()
	}
	if o.Config == nil {
		c, err := LoadConfig("")
		if err != nil {
			return err
		}
		o.Config = c
	}
	if o.Jobs < 1 {
		o.Jobs = o.Config.MaxConcurrentDownloads
	}
	if o.Jobs < 1 {
		o.Jobs = DefaultJobs
	}
	if o.Keychain == nil {
		k, err := loadKeychain()
		if err != nil {
			return err
		}
		o.Keychain = k
	}
	return nil
}

// remoteOptions are the options of every request.
func (o *Options) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(newTransport(o.Config)),
		remote.WithAuthFromKeychain(o.Keychain),
		remote.WithUserAgent("sdocker"),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3}),
	}
}

func pull(ctx context.Context, store *image.Store, r Ref, o Options) (*Result, error) {
	ropts := o.remoteOptions(ctx)
	desc, src, err := getManifest(r.Remote, o.Config, ropts)
	if err != nil {
		return nil, err
	}
	img, err := resolveImage(desc, src, o.Platform, ropts)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: image config: %w", r.Name(), describe(err))
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("pull %s: image config: %w: %w", r.Name(), err, image.ErrInvalid)
	}
	if !desc.MediaType.IsIndex() && !matchesPlatform(cf, o.Platform) {
		return nil, fmt.Errorf("pull %s: the image is for %s/%s, not %s", r.Name(), cf.OS, cf.Architecture, platformString(o.Platform))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull %s: layers: %w", r.Name(), describe(err))
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("pull %s: the manifest has %d layers, the config %d: %w", r.Name(), len(layers), len(cf.RootFS.DiffIDs), image.ErrInvalid)
	}
	done, err := store.Hold()
	if err != nil {
		return nil, err
	}
	defer done()
	n, err := fetchLayers(ctx, store, layers, cf.RootFS.DiffIDs, o)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	refs := []string{r.LocalRepo + "@" + desc.Digest.String()}
	if r.Local != "" {
		refs = append(refs, r.Local)
	}
	added, err := store.AddImage(raw, refs)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	return &Result{Image: added, Ref: r, Digest: desc.Digest.String(), Downloaded: n}, nil
}

// getManifest fetches what ref names from the registry's mirrors in turn,
// then from the registry itself; it returns the descriptor and the
// reference it was found at (on a mirror or not).
func getManifest(ref name.Reference, cfg *Config, ropts []remote.Option) (*remote.Descriptor, name.Reference, error) {
	for _, m := range cfg.mirrorsOf(ref.Context().RegistryStr()) {
		mref, err := onRegistry(ref, m, cfg)
		if err != nil {
			continue
		}
		if d, err := remote.Get(mref, ropts...); err == nil {
			return d, mref, nil
		}
	}
	d, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, nil, fmt.Errorf("pull %s: %w", displayName(ref), describe(err))
	}
	return d, ref, nil
}

// onRegistry is ref with its repository on another registry (a mirror).
func onRegistry(ref name.Reference, registry string, cfg *Config) (name.Reference, error) {
	opts := []name.Option{name.WeakValidation}
	if cfg.Insecure(registry) {
		opts = append(opts, name.Insecure)
	}
	s := registry + "/" + ref.Context().RepositoryStr()
	if d, ok := ref.(name.Digest); ok {
		return name.NewDigest(s+"@"+d.DigestStr(), opts...)
	}
	return name.NewTag(s+":"+ref.Identifier(), opts...)
}

// resolveImage is the image desc describes, for the platform if desc is an
// index (ref is where desc was found).
func resolveImage(desc *remote.Descriptor, ref name.Reference, p v1.Platform, ropts []remote.Option) (v1.Image, error) {
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, describe(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("image index: %w: %w", err, image.ErrInvalid)
		}
		d, err := choosePlatform(im.Manifests, p)
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(ref.Context().Digest(d.Digest.String()), ropts...)
		if err != nil {
			return nil, describe(err)
		}
		return img, nil
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, describe(err)
		}
		return img, nil
	case desc.MediaType == types.DockerManifestSchema1 || desc.MediaType == types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("docker schema 1 manifests are not supported (push the image again with a current client): %w", image.ErrInvalid)
	}
	return nil, fmt.Errorf("unsupported manifest type %q: %w", desc.MediaType, image.ErrInvalid)
}

// fetchLayers puts the layers the store lacks into it, o.Jobs at once, and
// returns how many it fetched. The first failure stops the others.
func fetchLayers(ctx context.Context, store *image.Store, layers []v1.Layer, diffIDs []v1.Hash, o Options) (int, error) {
	b := newBoard(o.Progress, o.Terminal)
	type job struct {
		layer  v1.Layer
		diffID string
		line   int
	}
	var jobs []job
	seen := map[string]bool{}
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return 0, describe(err)
		}
		size, _ := l.Size()
		diffID := diffIDs[i].String()
		switch {
		case store.HasLayer(diffID):
			b.add(d.String(), size, statusPresent)
		case !seen[diffID]:
			seen[diffID] = true
			jobs = append(jobs, job{l, diffID, b.add(d.String(), size, statusWaiting)})
		}
	}
	b.start()
	defer b.finish()
	err := eachJob(ctx, o.Jobs, jobs, func(ctx context.Context, j job) error {
		return fetchLayer(ctx, store, j.layer, j.diffID, b, j.line)
	})
	if err != nil {
		return 0, err
	}
	return len(jobs), nil
}

// eachJob calls do for each job, n at once. The first failure stops the
// others (their ctx is done) and is returned.
func eachJob[J any](ctx context.Context, n int, jobs []J, do func(context.Context, J) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan J)
	var wg sync.WaitGroup
	for range min(n, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if err := do(ctx, j); err != nil {
					cancel(err)
				}
			}
		}()
	}
send:
	for _, j := range jobs {
		select {
		case work <- j:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// fetchLayer streams one layer blob into the store; it stops when ctx is
// done (another layer failed).
func fetchLayer(ctx context.Context, store *image.Store, l v1.Layer, diffID string, b *board, line int) error {
	d, err := l.Digest()
	if err != nil {
		return describe(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, describe(err))
	}
	defer rc.Close()
	b.set(line, statusDownloading)
	src := &errReader{r: rc, ctx: ctx}
	if err := store.PutLayer(b.reader(line, src), d.String(), diffID); err != nil {
		switch {
		case interrupted(src.err):
			return fmt.Errorf("layer %s: download stopped: %w", shortHex(d.String()), src.err)
		case src.err != nil && !errors.Is(err, image.ErrInvalid):
			// The registry's stream itself failed its check.
			err = fmt.Errorf("%w: %w", err, image.ErrInvalid)
		}
		return fmt.Errorf("layer %s: %w", shortHex(d.String()), err)
	}
	b.set(line, statusComplete)
	return nil
}

// dropAfter tells a failed pull whose completed layers go at once: after
// content that is wrong, or when the disk is full (they would only take
// space); after an interruption they stay for the next pull.
func dropAfter(err error) bool {
	return errors.Is(err, image.ErrInvalid) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// errReader keeps the first error of r but EOF, and stops when ctx is done.
type errReader struct {
	r   io.Reader
	ctx context.Context
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		if e.err == nil {
			e.err = err
		}
		return 0, err
	}
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// interrupted tells a download that stopped (the connection dropped or
// timed out, the pull was cancelled) from content that is wrong: the
// layers a stopped pull completed stay for the next one.
func interrupted(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET)
}

// Sentinel errors of Pull (match with errors.Is).
var (
	ErrUnauthorized = errors.New("unauthorized: log in with 'sdocker login REGISTRY', or check the user and password")
	ErrNotFound     = errors.New("not found: no such repository, tag or digest")
)

// describe turns a registry's answer into an error a person can act on.
func describe(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		return fmt.Errorf("the registry's host %s cannot be resolved: %w", de.Name, de)
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	err = oneLine{err}
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w (%w)", ErrUnauthorized, err)
	case http.StatusNotFound:
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}

// oneLine is an error with its message on one line: a registry's answer,
// which the message quotes, may have several.
type oneLine struct{ err error }

func (e oneLine) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e oneLine) Unwrap() error { return e.err }
