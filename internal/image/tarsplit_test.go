package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayerTarRebuildsTheSameTar checks a layer's tar comes back byte for
// byte (the same diffID): files, directories, whiteouts, an opaque
// directory, links, PAX records, and a directory import.
func TestLayerTarRebuildsTheSameTar(t *testing.T) {
	s := newStore(t)
	tars := [][]byte{
		tarBytes(t, ent{name: "etc/"}, ent{name: "etc/a", body: "A"}, ent{name: "etc/.wh.b"},
			ent{name: "data/"}, ent{name: "data/.wh..wh..opq"}, ent{name: "data/new", body: string(bytes.Repeat([]byte("n"), 70000))},
			ent{name: "link", typ: tar.TypeSymlink, link: "etc/a"}, ent{name: "hard", typ: tar.TypeLink, link: "etc/a"},
			ent{name: "empty", body: ""}, ent{name: "pax", body: "p", pax: map[string]string{"comment": "x"}}),
		tarBytes(t, ent{name: "./"}, ent{name: "./only", body: "o", mode: 0o755}),
	}
	for i, tb := range tars {
		sum := sha256.Sum256(tb)
		want := "sha256:" + hex.EncodeToString(sum[:])
		f := writeFile(t, filepath.Join(t.TempDir(), "l.tar"), tb)
		img, err := s.Import(f, "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if img.Layers[0] != want {
			t.Fatalf("tar %d: diffID %s, want %s", i, img.Layers[0], want)
		}
		rc, err := s.LayerTar(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, tb) {
			t.Errorf("tar %d: rebuilt %d bytes (%v), want the %d bytes stored", i, len(got), err, len(tb))
		}
	}

	// A layer whose files changed is refused as it is read.
	diffID := "sha256:" + hex.EncodeToString(func() []byte { s := sha256.Sum256(tars[0]); return s[:] }())
	if err := os.WriteFile(layerPath(s, diffID, "etc/a"), []byte("Z"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := s.LayerTar(diffID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil {
		t.Error("a layer whose files changed was read back without an error")
	}
	if _, err := s.LayerTar("sha256:" + hex.EncodeToString(make([]byte, 32))); !errors.Is(err, ErrNotFound) {
		t.Errorf("LayerTar of a missing layer: %v", err)
	}
}

// TestLayerTarDuplicatePaths: a layer that names a path twice loads; a
// directory given twice comes back whole, a file replaced in the same
// layer cannot (its first content is gone) and says so.
func TestLayerTarDuplicatePaths(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		tar      []byte
		readable bool
	}{
		{tarBytes(t, ent{name: "etc/"}, ent{name: "etc/a", body: "A"}, ent{name: "etc/"}), true},
		{tarBytes(t, ent{name: "f", body: "one"}, ent{name: "f", body: "two"}), false},
	} {
		img, err := s.Import(writeFile(t, filepath.Join(t.TempDir(), "l.tar"), tc.tar), "", Options{})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		rc, err := s.LayerTar(img.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if tc.readable && (err != nil || !bytes.Equal(got, tc.tar)) {
			t.Errorf("rebuilt: %v", err)
		}
		if !tc.readable && err == nil {
			t.Error("a file replaced in its own layer was given back without an error")
		}
	}
}

// TestLayerWithoutTarRecord: a layer stored by an older sdocker (no tar
// record) is refused by save with the image's name and the fix, and is
// not whole for a pull or a load (HasLayer); importing the same tar again
// adds the record, and the image saves.
func TestLayerWithoutTarRecord(t *testing.T) {
	s := newStore(t)
	tb := tarBytes(t, ent{name: "etc/"}, ent{name: "etc/a", body: "A"})
	f := writeFile(t, filepath.Join(t.TempDir(), "l.tar"), tb)
	img, err := s.Import(f, "old:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := img.Layers[0]
	if err := os.Remove(filepath.Join(s.layerDir(d), tarSplitFile)); err != nil {
		t.Fatal(err)
	}
	if s.HasLayer(d) {
		t.Error("a layer without its tar record counts as whole")
	}
	var buf bytes.Buffer
	err = s.Save(&buf, []string{"old:1"}, FormatDocker)
	if !errors.Is(err, ErrNoTarRecord) || !strings.Contains(err.Error(), "image old:1: layer "+shortID(d)) ||
		!strings.Contains(err.Error(), "import the image again") || buf.Len() != 0 {
		t.Errorf("save: %v (%d bytes written)", err, buf.Len())
	}
	if _, err := s.Import(f, "old:1", Options{}); err != nil {
		t.Fatal(err)
	}
	if !s.HasLayer(d) {
		t.Error("importing the tar again did not add the record")
	}
	if err := s.Save(&buf, []string{"old:1"}, FormatDocker); err != nil {
		t.Errorf("save after the import again: %v", err)
	}
	if ents, _ := os.ReadDir(s.path("tmp")); len(ents) != 0 {
		t.Errorf("tmp/ left: %v", ents)
	}
}
