package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A container writes to its rootfs: the image's layer dirs and a second
// container of the same image do not change.
func TestRootfsIsolation(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "etc/conf"), []byte("original"))
	writeFile(t, filepath.Join(src, "bin/sh"), []byte("sh"))
	img, err := s.Import(src, "iso", Options{})
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := filepath.Join(t.TempDir(), "c1"), filepath.Join(t.TempDir(), "c2")
	r1 := prepare(t, s, img.ID, c1)
	r2 := prepare(t, s, "iso", c2)
	if r1 != filepath.Join(c1, "rootfs") {
		t.Errorf("rootfs %s", r1)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mi), layerPath(s, img.Layers[0], "")) {
		t.Errorf("mountinfo does not show the layer path (short options expected)")
	}

	writeFile(t, filepath.Join(r1, "new"), []byte("from c1"))
	writeFile(t, filepath.Join(r1, "etc/conf"), []byte("changed"))
	if err := os.Remove(filepath.Join(r1, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(r1, "etc/conf")); string(b) != "changed" {
		t.Errorf("c1 etc/conf %q", b)
	}
	for _, root := range []string{layerPath(s, img.Layers[0], ""), r2} {
		if _, err := os.Stat(filepath.Join(root, "new")); err == nil {
			t.Errorf("%s/new: written by c1", root)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/conf")); string(b) != "original" {
			t.Errorf("%s/etc/conf = %q", root, b)
		}
		if _, err := os.Stat(filepath.Join(root, "bin/sh")); err != nil {
			t.Errorf("%s/bin/sh: %v", root, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(c1, "upper", "new")); string(b) != "from c1" {
		t.Errorf("c1 upper/new %q", b)
	}

	// Prepare again: the mounted rootfs as is. Release: idempotent.
	if again, err := s.PrepareRootfs(img.ID, c1); err != nil || again != r1 {
		t.Errorf("prepare again: %s %v", again, err)
	}
	for range 3 {
		if err := ReleaseRootfs(c1); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := isMountPoint(r1); m {
		t.Error("still mounted")
	}
	if _, err := os.Stat(filepath.Join(r1, "new")); err == nil {
		t.Error("rootfs content after release")
	}
	if err := ReleaseRootfs(filepath.Join(t.TempDir(), "never")); err != nil {
		t.Errorf("release of a never-prepared dir: %v", err)
	}
	if _, err := s.PrepareRootfs("missing", c1); !errors.Is(err, ErrNotFound) {
		t.Errorf("prepare missing image: %v", err)
	}
}

// 45 layers under a long store path: the mount options would pass the page
// size limit, so the /proc/self/fd form is used; the order of layers holds.
func TestManyLayers(t *testing.T) {
	requireOverlay(t)
	long := filepath.Join(t.TempDir(), strings.Repeat("l", 120), "image")
	s, err := Open(long)
	if err != nil {
		t.Fatal(err)
	}
	const n = 45
	var layers []v1.Layer
	for i := range n {
		layers = append(layers, layer(t, ent{name: fmt.Sprintf("f%d", i), body: "x"}, ent{name: "top", body: fmt.Sprint(i)}))
	}
	archive := dockerArchive(t, filepath.Join(t.TempDir(), "many.tar"), "many:1", buildImage(t, layers...))
	imgs, err := s.Load(archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lower []string
	for _, l := range imgs[0].Layers {
		lower = append(lower, layerPath(s, l, ""))
	}
	if plain := overlayOptions(lower, "u", "w"); len(plain) < os.Getpagesize() {
		t.Fatalf("test does not exceed the page size: %d", len(plain))
	}
	c := filepath.Join(t.TempDir(), "c")
	rootfs := prepare(t, s, "many:1", c)
	for i := range n {
		if _, err := os.Stat(filepath.Join(rootfs, fmt.Sprintf("f%d", i))); err != nil {
			t.Errorf("f%d: %v", i, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "top")); string(b) != fmt.Sprint(n-1) {
		t.Errorf("top = %q, want the top layer's %d", b, n-1)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mi), "lowerdir=/proc/self/fd/") {
		t.Error("mountinfo does not show the /proc/self/fd form")
	}
}
