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
		return nil, fmt.Errorf("layer %s was stored without its tar record (by an older sdocker): remove the image and load or pull it again: %w", shortID(diffID), ErrInvalid)
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
