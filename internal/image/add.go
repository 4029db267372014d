package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// An image comes from outside the store (a registry) in three steps:
// Hold, PutLayer for each layer HasLayer does not find, AddImage.

// Hold keeps the store from removing layers no image lists (a GC) until
// done is called: the layers PutLayer adds are safe until AddImage lists
// them.
func (s *Store) Hold() (done func(), err error) {
	return s.lock("gc.lock", unix.LOCK_SH)
}

// HasLayer reports whether the layer with this diffID is in the store
// (added by an import, a load or a pull), whole: see hasWholeLayer.
func (s *Store) HasLayer(diffID string) bool { return s.hasWholeLayer(diffID) }

// PutLayer unpacks the layer blob read from r (gzip, zstd or plain tar, told
// apart by content) into the store. The blob's bytes must have the digest
// blobDigest and its tar the digest diffID (both "sha256:<hex>"): else it is
// refused and nothing of it stays.
// The caller holds Hold.
func (s *Store) PutLayer(r io.Reader, blobDigest, diffID string) error {
	for _, d := range []string{blobDigest, diffID} {
		if !isDigest(d) {
			return fmt.Errorf("layer digest %q: %w", d, ErrInvalid)
		}
	}
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 1<<20)
	tr, err := decompress(br)
	if err != nil {
		return fmt.Errorf("layer %s: %w", shortID(blobDigest), err)
	}
	defer tr.Close()
	check := func() error {
		// What follows the compressed stream is part of the blob too.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return fmt.Errorf("read layer %s: %w", shortID(blobDigest), err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != blobDigest {
			return fmt.Errorf("layer %s: blob has digest %s: %w", blobDigest, got, ErrInvalid)
		}
		return nil
	}
	_, _, err = s.unpack(tr, diffID, check)
	return err
}

// AddImage stores the image whose config is raw, all of whose layers are in
// the store, and gives it refs: names ("name:tag") and digest references
// ("name@sha256:<hex>", the registry's manifest digest). A name another
// image had moves to this one. The caller holds Hold.
func (s *Store) AddImage(raw []byte, refs []string) (*Image, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse image config: %w: %w", err, ErrInvalid)
	}
	pi := pendingImage{raw: raw}
	for _, h := range cf.RootFS.DiffIDs {
		d := h.String()
		if !isDigest(d) || !s.hasLayer(d) {
			return nil, fmt.Errorf("image layer %s: not in the store: %w", d, ErrInvalid)
		}
		pi.diffIDs = append(pi.diffIDs, d)
	}
	for _, r := range refs {
		n, err := normalizeRef(r)
		if err != nil {
			return nil, err
		}
		pi.names = append(pi.names, n)
	}
	imgs, err := s.commit([]pendingImage{pi})
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}

// DropUnused removes the layers no image lists, and what failed work left in
// tmp/, unless another command is adding images (then a later GC does it).
func (s *Store) DropUnused() error { return s.dropUnused() }

// normalizeRef checks a name ("name[:tag]", default tag latest) or a digest
// reference ("name@sha256:<hex>").
func normalizeRef(s string) (string, error) {
	repo, dig, ok := strings.Cut(s, "@")
	if !ok {
		return normalizeName(s)
	}
	if !isDigest(dig) {
		return "", &nameError{s, "digest must be sha256:<64 hex digits>"}
	}
	n, err := normalizeName(repo)
	if err != nil {
		return "", err
	}
	if n != repo+":latest" {
		return "", &nameError{s, "a digest reference has no tag"}
	}
	return repo + "@" + dig, nil
}

// isDigest reports whether d is "sha256:<64 lowercase hex digits>".
func isDigest(d string) bool {
	return strings.HasPrefix(d, "sha256:") && isHex64(d[len("sha256:"):])
}

// RawConfig returns the config of the image ref names exactly as stored
// (its digest is the image ID) and the image's layers (diffIDs).
func (s *Store) RawConfig(ref string) (raw []byte, layers []string, err error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, nil, err
	}
	id, _, err := s.resolve(repos, ref)
	if err != nil {
		return nil, nil, err
	}
	m, raw, err := s.readRaw(id)
	if err != nil {
		return nil, nil, err
	}
	return raw, m.Layers, nil
}
