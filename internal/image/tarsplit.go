package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// A layer keeps, beside its files, layers/<hex>/tar-split.json.gz: the
// headers and padding of the tar it was unpacked from, and its files'
// checksums. With the files it gives back the very same tar (the same
// diffID), which push and save need: the image's config names its layers
// by those digests.
const tarSplitFile = "tar-split.json.gz"

// splitRecorder passes a layer tar through and records its tar-split.
type splitRecorder struct {
	io.ReadCloser
	gz   *gzip.Writer
	done <-chan error
	err  error
	over bool
}

func newSplitRecorder(r io.Reader, w io.Writer) (*splitRecorder, error) {
	gz := gzip.NewWriter(w)
	rc, done, err := asm.NewInputTarStreamWithDone(r, &jsonPacker{enc: json.NewEncoder(gz)}, nil)
	if err != nil {
		return nil, fmt.Errorf("record layer tar: %w", err)
	}
	return &splitRecorder{ReadCloser: rc, gz: gz, done: done}, nil
}

// finish waits for the record, once the stream is read to its end (or
// stops it): nil if it is complete.
func (s *splitRecorder) finish() error {
	if s.over {
		return s.err
	}
	s.over = true
	s.Close()
	s.err = <-s.done
	if cerr := s.gz.Close(); s.err == nil {
		s.err = cerr
	}
	if s.err != nil {
		s.err = fmt.Errorf("record layer tar: %w: %w", s.err, ErrInvalid)
	}
	return s.err
}

// jsonPacker writes tar-split's JSON lines as its own packer does, but
// takes a path given twice (a directory written again, a file replaced in
// the same layer), which real layers have: such a layer is unpacked as any
// other; only giving back a file replaced in the same layer fails (its
// first content is gone), when it is read.
type jsonPacker struct {
	enc *json.Encoder
	pos int
}

func (p *jsonPacker) AddEntry(e storage.Entry) (int, error) {
	if e.Name != "" && !utf8.ValidString(e.Name) {
		e.NameRaw, e.Name = []byte(e.Name), ""
	}
	e.Position = p.pos
	if err := p.enc.Encode(e); err != nil {
		return -1, err
	}
	p.pos++
	return e.Position, nil
}

// jsonUnpacker reads what jsonPacker wrote.
type jsonUnpacker struct{ dec *json.Decoder }

func (u *jsonUnpacker) Next() (*storage.Entry, error) {
	var e storage.Entry
	if err := u.dec.Decode(&e); err != nil {
		return nil, err
	}
	return &e, nil
}

// LayerTar returns the tar of the layer diffID exactly as it was stored
// (checked against diffID as it is read: the last Read fails if the files
// changed). The caller holds Hold.
func (s *Store) LayerTar(diffID string) (io.ReadCloser, error) {
	dir := s.layerDir(diffID)
	f, err := os.Open(filepath.Join(dir, tarSplitFile))
	if errors.Is(err, os.ErrNotExist) {
		if !s.hasLayer(diffID) {
			return nil, fmt.Errorf("layer %s: %w", shortID(diffID), ErrNotFound)
		}
		return nil, noTarRecord(diffID)
	}
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %s: %w", shortID(diffID), tarSplitFile, err)
	}
	root, err := os.OpenRoot(filepath.Join(dir, "diff"))
	if err != nil {
		f.Close()
		return nil, err
	}
	out := asm.NewOutputTarStream(rootGetter{root}, &jsonUnpacker{dec: json.NewDecoder(zr)})
	return &layerTar{r: out, h: sha256.New(), want: diffID, closers: []io.Closer{out, root, f}}, nil
}

// ErrNoTarRecord is matched by the error of LayerTar, Save and
// CheckLayerTars for a layer an older sdocker stored without the record of
// its tar's headers: its tar cannot be given back as it was.
var ErrNoTarRecord = errors.New("stored by an older sdocker without the record of its tar that save and push need")

func noTarRecord(diffID string) error {
	return fmt.Errorf("layer %s was %w", shortID(diffID), ErrNoTarRecord)
}

// CheckLayerTars checks that LayerTar can give back each of the layers
// (diffIDs) of the image ref names, and names the image and the fix when a
// layer has no tar record.
func (s *Store) CheckLayerTars(ref string, diffIDs []string) error {
	for _, d := range diffIDs {
		if !s.hasTarRecord(d) {
			if !s.hasLayer(d) {
				return fmt.Errorf("image %s: layer %s: %w", ref, shortID(d), ErrNotFound)
			}
			return fmt.Errorf("image %s: %w: pull, load or import the image again (that adds the record)", ref, noTarRecord(d))
		}
	}
	return nil
}

func (s *Store) hasTarRecord(diffID string) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(diffID), tarSplitFile))
	return err == nil
}

// addTarRecord gives the layer diffID, which an older sdocker stored
// without it, the tar record of the same layer just unpacked in tmp (the
// same tar: the same files, which LayerTar checks as it reads them).
func (s *Store) addTarRecord(tmp, diffID string) error {
	if s.hasTarRecord(diffID) {
		return nil
	}
	dst := filepath.Join(s.layerDir(diffID), tarSplitFile)
	if err := os.Rename(filepath.Join(tmp, tarSplitFile), dst); err != nil {
		return fmt.Errorf("layer %s: add its tar record %s: %w", shortID(diffID), dst, err)
	}
	return nil
}

// rootGetter reads a layer's files, never outside its directory.
type rootGetter struct{ root *os.Root }

func (g rootGetter) Get(name string) (io.ReadCloser, error) {
	parts, err := splitName(name)
	if err != nil || len(parts) == 0 {
		return nil, fmt.Errorf("layer file %q: %w", name, ErrInvalid)
	}
	return g.root.Open(strings.Join(parts, "/"))
}

// layerTar checks a rebuilt tar against its diffID.
type layerTar struct {
	r       io.Reader
	h       hash.Hash
	want    string
	closers []io.Closer
}

func (l *layerTar) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.h.Write(p[:n])
	if err == io.EOF {
		if got := "sha256:" + hex.EncodeToString(l.h.Sum(nil)); got != l.want {
			return n, fmt.Errorf("layer %s: its files changed (the tar has digest %s): %w", shortID(l.want), got, ErrDamaged)
		}
	}
	return n, err
}

func (l *layerTar) Close() error {
	for _, c := range l.closers {
		c.Close()
	}
	return nil
}
