package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

var errImportStopped = errors.New("import stopped")

// unpackCount counts layers unpacked by this process (tests use it).
var unpackCount atomic.Int64

// Import makes a one-layer image of src: a directory, or a rootfs tarball
// (plain or gzip, told apart by content). name ("name[:tag]", default tag
// latest) may be empty for an image without a name.
func (s *Store) Import(src, name string, opt Options) (*Image, error) {
	img, err := s.importImage(src, name, opt)
	if err != nil {
		return nil, errors.Join(err, s.dropUnused())
	}
	return img, nil
}

func (s *Store) importImage(src, name string, opt Options) (*Image, error) {
	var names []string
	if name != "" {
		n, err := normalizeName(name)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", src, err)
		}
		names = []string{n}
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", src, err)
	}
	unlock, err := s.lock("gc.lock", unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p := newProgress(opt)
	defer p.finish()

	var diffID string
	if fi.IsDir() {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			bw := bufio.NewWriterSize(pw, 1<<20) // few, large pipe handoffs
			err := WriteDirTar(bw, src)
			if err == nil {
				err = bw.Flush()
			}
			pw.CloseWithError(err)
			done <- err
		}()
		if p != nil {
			p.phase("importing "+filepath.Base(src), dirTarSize(src))
		}
		diffID, _, err = s.unpack(bufio.NewReaderSize(countingReader{pr, p}, 1<<20), "", nil)
		pr.CloseWithError(errImportStopped)
		if werr := <-done; werr != nil && !errors.Is(werr, errImportStopped) {
			err = werr // reading the directory failed: the cause
		}
	} else {
		diffID, err = s.importFile(src, fi.Size(), p)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", src, err)
	}

	now := time.Now().UTC()
	h, err := v1.NewHash(diffID)
	if err != nil {
		return nil, err
	}
	cf := v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: now},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{h}},
		History: []v1.History{{
			Created:   v1.Time{Time: now},
			CreatedBy: "sdocker import",
			Comment:   "imported from " + filepath.Base(src),
		}},
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	imgs, err := s.commit([]pendingImage{{raw: raw, diffIDs: []string{diffID}, names: names}})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", src, err)
	}
	return imgs[0], nil
}

func (s *Store) importFile(src string, size int64, p *progress) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	p.phase("importing "+filepath.Base(src), size)
	r, err := decompress(bufio.NewReaderSize(countingReader{f, p}, 1<<20))
	if err != nil {
		return "", err
	}
	defer r.Close()
	diffID, entries, err := s.unpack(r, "", nil)
	if err == nil && entries == 0 {
		err = fmt.Errorf("not a tar archive, or an empty one: %w", ErrInvalid)
	}
	return diffID, err
}

var (
	gzipMagic  = []byte{0x1f, 0x8b}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	bzip2Magic = []byte{'B', 'Z', 'h'}
)

// zstdMaxWindow bounds the memory a zstd stream may ask for (zstd's own
// command line refuses more by default).
const zstdMaxWindow = 1 << 27

// decompress returns the tar stream of r, told apart by content: gunzipped,
// zstd-decoded or r itself. Close the result when done.
func decompress(r *bufio.Reader) (io.ReadCloser, error) {
	head, _ := r.Peek(6)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w: %w", err, ErrInvalid)
		}
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w: %w", err, ErrInvalid)
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(head, xzMagic), bytes.HasPrefix(head, bzip2Magic):
		return nil, fmt.Errorf("unsupported compression (gzip, zstd or plain tar only): %w", ErrInvalid)
	}
	return io.NopCloser(r), nil
}

// Load loads every image of a `docker save` archive or an OCI image-layout
// archive (a tar of oci-layout, index.json and blobs/), either possibly
// gzip'd as a whole. Names come from the archive (RepoTags; for OCI the
// io.containerd.image.name or org.opencontainers.image.ref.name annotation).
func (s *Store) Load(archive string, opt Options) ([]*Image, error) {
	imgs, err := s.load(archive, opt)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("load %s: %w", archive, err), s.dropUnused())
	}
	return imgs, nil
}

// dropUnused removes what a failed import or load added to the store (the
// layers it unpacked, that no image lists): a GC, unless another import or
// load is at work (its own layers would not be told from ours; the next GC
// does it).
func (s *Store) dropUnused() error {
	unlock, err := s.lock("repositories.lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	return s.gc()
}

func (s *Store) load(archive string, opt Options) ([]*Image, error) {
	unlock, err := s.lock("gc.lock", unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p := newProgress(opt)
	defer p.finish()

	tmp, err := os.MkdirTemp(s.path("tmp"), "load-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // else the next GC removes it

	path, err := s.gunzipArchive(archive, tmp, p)
	if err != nil {
		return nil, err
	}
	names, err := tarNames(path)
	if err != nil {
		return nil, err
	}
	var pending []pendingImage
	switch {
	case names["manifest.json"]:
		pending, err = s.loadDocker(path, p)
	case names["index.json"] && names["oci-layout"]:
		dir := filepath.Join(tmp, "oci")
		if err := extractArchive(path, dir, p); err != nil {
			return nil, err
		}
		pending, err = s.loadOCI(dir, p)
	default:
		err = fmt.Errorf("neither a docker archive (manifest.json) nor an OCI layout (oci-layout, index.json): %w", ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	return s.commit(pending)
}

// gunzipArchive returns archive, or if it is gzip'd, a decompressed copy of
// it in tmp (tar readers need to seek).
func (s *Store) gunzipArchive(archive, tmp string, p *progress) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, gzipMagic) {
		return archive, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	p.phase("decompressing", fi.Size())
	zr, err := gzip.NewReader(countingReader{f, p})
	if err != nil {
		return "", fmt.Errorf("gzip: %w: %w", err, ErrInvalid)
	}
	out := filepath.Join(tmp, "archive.tar")
	w, err := os.Create(out)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(w, zr)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("decompress: %w", err)
	}
	return out, nil
}

// tarNames lists the (cleaned) entry names of a tar file.
func tarNames(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w: %w", err, ErrInvalid)
		}
		names[strings.TrimPrefix(filepath.Clean("/"+hdr.Name), "/")] = true
	}
}

// extractArchive extracts the directories and regular files of the tar at
// path into dir (an OCI layout; links and other types are skipped). The
// archive is untrusted: every write goes through an os.Root of dir.
func extractArchive(path, dir string, p *progress) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	p.phase("reading archive", fi.Size())
	tr := tar.NewReader(countingReader{f, p})
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w: %w", err, ErrInvalid)
		}
		parts, err := splitName(hdr.Name)
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
		if len(parts) == 0 {
			continue
		}
		rel := strings.Join(parts, "/")
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(rel, 0o700)
		case tar.TypeReg:
			if len(parts) > 1 {
				if err = root.MkdirAll(strings.Join(parts[:len(parts)-1], "/"), 0o700); err != nil {
					break
				}
			}
			var w *os.File
			if w, err = root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
				break
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
	}
}

// loadDocker loads a `docker save` archive, parsed by go-containerregistry.
func (s *Store) loadDocker(path string, p *progress) ([]pendingImage, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("read manifest.json: %w: %w", err, ErrInvalid)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("manifest.json lists no image: %w", ErrInvalid)
	}
	var imgs []pendingImage
	for _, d := range m {
		var tag *name.Tag
		if len(m) > 1 {
			// go-containerregistry picks an image of a multi-image
			// archive by one of its tags.
			if len(d.RepoTags) == 0 {
				return nil, fmt.Errorf("image %s without a name in a multi-image archive is not supported: %w", d.Config, ErrInvalid)
			}
			t, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("image name %q: %w: %w", d.RepoTags[0], err, ErrInvalid)
			}
			tag = &t
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w: %w", d.Config, err, ErrInvalid)
		}
		var names []string
		for _, t := range d.RepoTags {
			if n := familiarName(t); n != "" {
				names = append(names, n)
			}
		}
		im, err := s.addImage(img, names, p)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, *im)
	}
	return imgs, nil
}

const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

// loadOCI loads the images an OCI layout directory's index.json lists; an
// index in it contributes its manifest for this platform.
func (s *Store) loadOCI(dir string, p *progress) ([]pendingImage, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read oci layout: %w: %w", err, ErrInvalid)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read index.json: %w: %w", err, ErrInvalid)
	}
	var imgs []pendingImage
	if err := s.loadIndex(idx, nil, 0, p, &imgs); err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("oci layout holds no image for linux/%s: %w", runtime.GOARCH, ErrInvalid)
	}
	return imgs, nil
}

func (s *Store) loadIndex(idx v1.ImageIndex, names []string, depth int, p *progress, out *[]pendingImage) error {
	if depth > 4 {
		return fmt.Errorf("image indexes nested too deep: %w", ErrInvalid)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("read image index: %w: %w", err, ErrInvalid)
	}
	descs := im.Manifests
	if depth > 0 { // a platform index: only the manifest for this machine
		descs = pickPlatform(descs)
	}
	for _, d := range descs {
		dn := names
		if n := refName(d.Annotations); n != "" {
			dn = []string{n}
		}
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("read image %s: %w: %w", d.Digest, err, ErrInvalid)
			}
			im, err := s.addImage(img, dn, p)
			if err != nil {
				return err
			}
			*out = append(*out, *im)
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("read image index %s: %w: %w", d.Digest, err, ErrInvalid)
			}
			if err := s.loadIndex(child, dn, depth+1, p, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// pickPlatform returns the descriptor for linux on this architecture (or the
// only one, if there is one without a platform).
func pickPlatform(descs []v1.Descriptor) []v1.Descriptor {
	for _, d := range descs {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return []v1.Descriptor{d}
		}
	}
	if len(descs) == 1 && descs[0].Platform == nil {
		return descs
	}
	return nil
}

func refName(ann map[string]string) string {
	if n := familiarName(ann[annotationContainerName]); n != "" {
		return n
	}
	return familiarName(ann[annotationRefName])
}

// pendingImage is an image whose layers are in the store, to be committed.
type pendingImage struct {
	raw     []byte // its config
	diffIDs []string
	names   []string
}

// addImage prepares a go-containerregistry image: each layer not in the
// store yet is unpacked (and checked against its diffID).
func (s *Store) addImage(img v1.Image, names []string, p *progress) (*pendingImage, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w: %w", err, ErrInvalid)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse image config: %w: %w", err, ErrInvalid)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read image layers: %w: %w", err, ErrInvalid)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image has %d layers but its config lists %d: %w", len(layers), len(cf.RootFS.DiffIDs), ErrInvalid)
	}
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = cf.RootFS.DiffIDs[i].String()
		if cf.RootFS.DiffIDs[i].Algorithm != "sha256" || !isHex64(cf.RootFS.DiffIDs[i].Hex) {
			return nil, fmt.Errorf("layer diffID %q: %w", diffIDs[i], ErrInvalid)
		}
		if s.hasWholeLayer(diffIDs[i]) {
			continue
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("read layer %s: %w: %w", diffIDs[i], err, ErrInvalid)
		}
		p.phase("unpacking "+shortID(diffIDs[i]), -1)
		p.setStep(i, len(layers))
		_, _, err = s.unpack(countingReader{rc, p}, diffIDs[i], nil)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", shortID(diffIDs[i]), err)
		}
	}
	return &pendingImage{raw: raw, diffIDs: diffIDs, names: names}, nil
}

// hasWholeLayer reports whether the layer diffID is in the store with the
// record of its tar: one without (stored by an older sdocker) is unpacked
// again by a pull or a load, which adds the record.
func (s *Store) hasWholeLayer(diffID string) bool {
	return s.hasLayer(diffID) && s.hasTarRecord(diffID)
}

func (s *Store) hasLayer(diffID string) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(diffID), "layer.json"))
	return err == nil
}

// unpack unpacks the layer tar r into the store, unless a layer with the
// same content is there already, and returns its diffID; want, if set, is
// the diffID r must have, and check, if set, is a last test of the whole
// stream (its compressed form). It is unpacked under tmp/ and renamed into
// layers/ only when complete and checked. The caller holds gc.lock shared.
func (s *Store) unpack(r io.Reader, want string, check func() error) (diffID string, entries int, err error) {
	tmp, err := os.MkdirTemp(s.path("tmp"), "layer-")
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // a no-op once renamed; else the next GC removes it
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return "", 0, err
	}
	if err := os.Chmod(diff, 0o755); err != nil {
		return "", 0, err
	}
	split, err := os.Create(filepath.Join(tmp, tarSplitFile))
	if err != nil {
		return "", 0, err
	}
	defer split.Close()
	h := sha256.New()
	counted := &byteCounter{r: r}
	rec, err := newSplitRecorder(io.TeeReader(counted, h), split)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = rec.finish() }() // stops the record on a failure; success checks it below
	unpackCount.Add(1)
	size, entries, err := unpackLayer(rec, diff)
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(io.Discard, rec); err != nil { // tar padding: part of the digest
		return "", 0, fmt.Errorf("read layer: %w", err)
	}
	if err := rec.finish(); err != nil {
		return "", 0, err
	}
	if err := split.Close(); err != nil {
		return "", 0, err
	}
	diffID = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if want != "" && diffID != want {
		return "", 0, fmt.Errorf("layer %s: content has digest %s: %w", want, diffID, ErrInvalid)
	}
	if check != nil {
		if err := check(); err != nil {
			return "", 0, err
		}
	}
	info, err := json.Marshal(layerInfo{DiffID: diffID, Size: size, TarSize: counted.n})
	if err != nil {
		return "", 0, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), info, 0o600); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp, s.layerDir(diffID)); err != nil {
		if !s.hasLayer(diffID) {
			return "", 0, fmt.Errorf("store layer %s: %w", diffID, err)
		}
		if err := s.addTarRecord(tmp, diffID); err != nil {
			return "", 0, err
		}
	}
	return diffID, entries, nil
}

// commit stores the images (their layers are all present) and gives them
// their names, all or nothing: when it fails, the store has no new image
// and the names it had.
func (s *Store) commit(pending []pendingImage) ([]*Image, error) {
	sizes := make([]int64, len(pending))
	for i, pi := range pending {
		var err error
		if sizes[i], err = s.layersSize(pi.diffIDs); err != nil {
			return nil, err
		}
	}
	unlock, err := s.lock("repositories.lock", unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	before := maps.Clone(repos)
	var created []string
	ids := make([]string, len(pending))
	named, wrote := false, false
	err = func() error {
		for i, pi := range pending {
			sum := sha256.Sum256(pi.raw)
			ids[i] = "sha256:" + hex.EncodeToString(sum[:])
			isNew, err := s.storeImage(ids[i], pi, sizes[i])
			if err != nil {
				return err
			}
			if isNew {
				created = append(created, ids[i])
			}
			for _, n := range pi.names {
				repos[n], named = ids[i], true
			}
		}
		if !named {
			return nil
		}
		err := s.writeRepos(repos)
		wrote = err == nil
		return err
	}()
	var imgs []*Image
	for i := 0; err == nil && i < len(ids); i++ {
		var img *Image
		if img, err = s.readImage(ids[i], repos); err == nil {
			imgs = append(imgs, img)
		}
	}
	if err != nil {
		if wrote {
			err = errors.Join(err, s.writeRepos(before))
		}
		for _, id := range created {
			err = errors.Join(err, s.removeDir(s.imageDir(id)))
		}
		return nil, err
	}
	return imgs, nil
}

// layersSize adds up the sizes of the layers diffIDs (each counted once).
func (s *Store) layersSize(diffIDs []string) (int64, error) {
	var size int64
	seen := map[string]bool{}
	for _, d := range diffIDs {
		if seen[d] {
			continue
		}
		seen[d] = true
		var li layerInfo
		if err := atomicfile.ReadJSON(filepath.Join(s.layerDir(d), "layer.json"), &li); err != nil {
			return 0, fmt.Errorf("layer %s: %w", d, err)
		}
		size += li.Size
	}
	return size, nil
}

// storeImage writes images/<id> for pi unless it is there already, and
// reports whether it did. Called with repositories.lock held.
func (s *Store) storeImage(id string, pi pendingImage, size int64) (bool, error) {
	if _, err := os.Stat(s.imageDir(id)); !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	tmp, err := os.MkdirTemp(s.path("tmp"), "image-")
	if err != nil {
		return false, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // else the next GC removes it
	m, err := json.Marshal(manifest{Layers: pi.diffIDs, Size: size})
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), pi.raw, 0o600); err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), m, 0o600); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, s.imageDir(id)); err != nil {
		return false, fmt.Errorf("store image %s: %w", shortID(id), err)
	}
	return true, nil
}

// byteCounter counts what is read through it.
type byteCounter struct {
	r io.Reader
	n int64
}

func (b *byteCounter) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}
