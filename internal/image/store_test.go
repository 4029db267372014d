package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

func layerPath(s *Store, diffID, p string) string {
	return filepath.Join(s.layerDir(diffID), "diff", p)
}

func TestImportDir(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "bin/tool"), []byte("#!/bin/sh\n"))
	os.Chmod(filepath.Join(src, "bin/tool"), 0o755)
	os.Chown(filepath.Join(src, "bin/tool"), 10, 20)
	os.Symlink("bin/tool", filepath.Join(src, "tool"))

	img, err := s.Import(src, "local/dir:v1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(img.Names, []string{"local/dir:v1"}) || len(img.Layers) != 1 || img.Size != 10 {
		t.Fatalf("image %+v", img)
	}
	if img.OS != "linux" || img.Architecture != runtime.GOARCH || img.Created.IsZero() || len(img.ShortID()) != 12 {
		t.Errorf("image %+v", img)
	}
	var st unix.Stat_t
	if err := unix.Lstat(layerPath(s, img.Layers[0], "bin/tool"), &st); err != nil || st.Uid != 10 || st.Gid != 20 || st.Mode&0o777 != 0o755 {
		t.Errorf("bin/tool: %+v %v", st, err)
	}
	if l, _ := os.Readlink(layerPath(s, img.Layers[0], "tool")); l != "bin/tool" {
		t.Errorf("tool -> %q", l)
	}
	// The same tree again: the same layer (same diffID), a new image.
	img2, err := s.Import(src, "local/dir:v2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if img2.Layers[0] != img.Layers[0] {
		t.Errorf("same tree, different diffID: %s %s", img.Layers[0], img2.Layers[0])
	}
	if n := dirNames(t, s.path("layers")); len(n) != 1 {
		t.Errorf("layers: %v", n)
	}
	if n := dirNames(t, s.path("tmp")); len(n) != 0 {
		t.Errorf("tmp leftovers: %v", n)
	}
}

func TestImportTarAndGzip(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	b := tarBytes(t,
		ent{name: "./"},
		ent{name: "etc/"},
		ent{name: "etc/hostname", body: "box\n", mode: 0o600, uid: 1000, gid: 1000},
		ent{name: "usr/bin/x", body: "bin", mode: 0o755, pax: map[string]string{"SCHILY.xattr.user.a": "b"}},
		ent{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666},
	)
	dir := t.TempDir()
	plain := writeFile(t, filepath.Join(dir, "rootfs.tar"), b)
	gz := writeFile(t, filepath.Join(dir, "rootfs.tar.gz"), gzipBytes(t, b))

	img, err := s.Import(plain, "plain", Options{})
	if err != nil {
		t.Fatal(err)
	}
	img2, err := s.Import(gz, "gz:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Layers[0] != img2.Layers[0] {
		t.Errorf("plain and gzip'd tar of the same layer: %s vs %s", img.Layers[0], img2.Layers[0])
	}
	if !reflect.DeepEqual(img.Names, []string{"plain:latest"}) || !reflect.DeepEqual(img2.Names, []string{"gz:1"}) {
		t.Errorf("names %v %v", img.Names, img2.Names)
	}
	var st unix.Stat_t
	if err := unix.Lstat(layerPath(s, img.Layers[0], "etc/hostname"), &st); err != nil || st.Uid != 1000 || st.Mode&0o777 != 0o600 {
		t.Errorf("etc/hostname %+v %v", st, err)
	}
	if err := unix.Lstat(layerPath(s, img.Layers[0], "dev/null"), &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null %+v %v", st, err)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(layerPath(s, img.Layers[0], "usr/bin/x"), "user.a", buf); err != nil || string(buf[:n]) != "b" {
		t.Errorf("xattr: %v", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}

	// Not a tar, a compression we do not take, a bad name.
	junk := writeFile(t, filepath.Join(dir, "junk"), bytes.Repeat([]byte("junk"), 300))
	zst := writeFile(t, filepath.Join(dir, "x.zst"), append([]byte{0x28, 0xb5, 0x2f, 0xfd}, make([]byte, 600)...))
	for _, c := range []struct{ src, name string }{{junk, ""}, {zst, ""}, {plain, "UPPER/case"}, {plain, "a b"}} {
		if _, err := s.Import(c.src, c.name, Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("import %s %q: %v, want ErrInvalid", c.src, c.name, err)
		}
	}
	if _, err := s.Import(filepath.Join(dir, "missing"), "", Options{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("import missing: %v", err)
	}
	if n := dirNames(t, s.path("tmp")); len(n) != 0 {
		t.Errorf("tmp leftovers: %v", n)
	}
}

// A malicious rootfs tarball fails the import and leaves nothing: no layer,
// no temp dir, nothing next to the store.
func TestImportMaliciousTar(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	sentinel := filepath.Join(filepath.Dir(s.Dir()), "sentinel")
	os.Mkdir(sentinel, 0o755)
	b := tarBytes(t, ent{name: "ok", body: "fine"}, ent{name: "link", typ: tar.TypeSymlink, link: sentinel},
		ent{name: "link/evil", body: "x"})
	src := writeFile(t, filepath.Join(t.TempDir(), "evil.tar"), b)
	_, err := s.Import(src, "evil", Options{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"link/evil"`) {
		t.Fatalf("import: %v", err)
	}
	if n := dirNames(t, sentinel); len(n) != 0 {
		t.Errorf("sentinel: %v", n)
	}
	for _, d := range []string{"layers", "images", "tmp"} {
		if n := dirNames(t, s.path(d)); len(n) != 0 {
			t.Errorf("%s: %v", d, n)
		}
	}
	if _, err := s.Get("evil"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get: %v", err)
	}
}

func checkConfig(t *testing.T, img *Image) {
	t.Helper()
	c := img.Config
	if !reflect.DeepEqual(c.Env, testConfig.Env) || !reflect.DeepEqual(c.Cmd, testConfig.Cmd) ||
		!reflect.DeepEqual(c.Entrypoint, testConfig.Entrypoint) || c.WorkingDir != "/data" || c.User != "1000:1000" ||
		c.Labels["a"] != "b" {
		t.Errorf("config %+v", c)
	}
}

func TestLoadDockerArchive(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	img := buildImage(t, whiteoutLayers(t)...)
	archive := dockerArchive(t, filepath.Join(t.TempDir(), "app.tar"), "example.com/app:1.0", img)
	imgs, err := s.Load(archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !reflect.DeepEqual(imgs[0].Names, []string{"example.com/app:1.0"}) || len(imgs[0].Layers) != 3 {
		t.Fatalf("loaded %+v", imgs)
	}
	want, _ := img.ConfigName()
	if imgs[0].ID != want.String() {
		t.Errorf("id %s, want the config digest %s", imgs[0].ID, want)
	}
	checkConfig(t, imgs[0])
	// Layer dirs in overlay format.
	var st unix.Stat_t
	if err := unix.Lstat(layerPath(s, imgs[0].Layers[1], "etc/a"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout etc/a: %+v %v", st, err)
	}
	buf := make([]byte, 2)
	if n, err := unix.Lgetxattr(layerPath(s, imgs[0].Layers[1], "data"), opaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque data: %v", err)
	}
	rootfs := prepare(t, s, "example.com/app:1.0", filepath.Join(t.TempDir(), "c1"))
	checkWhiteoutView(t, rootfs)
}

// A docker save archive as docker writes it: uncompressed layer tars, and
// the whole archive gzip'd.
func TestLoadHandWrittenDockerArchive(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	var files []ent
	var diffIDs []v1.Hash
	var layerNames []string
	for i, l := range whiteoutLayers(t) {
		rc, _ := l.Uncompressed()
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		h, _ := l.DiffID()
		diffIDs = append(diffIDs, h)
		n := fmt.Sprintf("%d/layer.tar", i)
		layerNames = append(layerNames, n)
		files = append(files, ent{name: fmt.Sprintf("%d/", i)}, ent{name: n, body: b.String()})
	}
	cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, Config: testConfig,
		RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cfgHash, _, _ := v1.SHA256(bytes.NewReader(cfg))
	man, _ := json.Marshal([]map[string]any{{"Config": cfgHash.Hex + ".json", "RepoTags": []string{"hand/made:2", "docker.io/library/alias:latest"}, "Layers": layerNames}})
	files = append(files, ent{name: cfgHash.Hex + ".json", body: string(cfg)}, ent{name: "manifest.json", body: string(man)})
	archive := writeFile(t, filepath.Join(t.TempDir(), "hand.tar.gz"), gzipBytes(t, tarBytes(t, files...)))

	imgs, err := s.Load(archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != cfgHash.String() || !reflect.DeepEqual(imgs[0].Names, []string{"alias:latest", "hand/made:2"}) {
		t.Fatalf("loaded %+v", imgs[0])
	}
	checkConfig(t, imgs[0])
	checkWhiteoutView(t, prepare(t, s, imgs[0].ID, filepath.Join(t.TempDir(), "c")))
	if n := dirNames(t, s.path("tmp")); len(n) != 0 {
		t.Errorf("tmp leftovers: %v", n)
	}

	// A layer whose content does not match its diffID is refused.
	files[1].body = strings.Replace(files[1].body, "A", "Z", 1)
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.tar"), tarBytes(t, files...))
	if _, err := newStore(t).Load(bad, Options{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "digest") {
		t.Errorf("tampered layer: %v", err)
	}
}

func TestLoadMultiImageDockerArchive(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	a := buildImage(t, layer(t, ent{name: "a", body: "a"}))
	b := buildImage(t, layer(t, ent{name: "b", body: "b"}))
	ta, _ := name.NewTag("one:1")
	tb, _ := name.NewTag("two:2")
	archive := filepath.Join(t.TempDir(), "multi.tar")
	if err := tarball.MultiWriteToFile(archive, map[name.Tag]v1.Image{ta: a, tb: b}); err != nil {
		t.Fatal(err)
	}
	imgs, err := s.Load(archive, Options{})
	if err != nil || len(imgs) != 2 {
		t.Fatalf("load: %v %v", imgs, err)
	}
	for _, n := range []string{"one:1", "two:2"} {
		if _, err := s.Get(n); err != nil {
			t.Errorf("get %s: %v", n, err)
		}
	}
}

// ociArchive writes a layout with layout.Write and its images/indexes, then
// tars it.
func ociArchive(t *testing.T, add func(p layout.Path)) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	add(p)
	var buf bytes.Buffer
	if err := WriteDirTar(&buf, filepath.Join(dir, "layout")); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, "oci.tar"), buf.Bytes())
}

func TestLoadOCIArchive(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	img := buildImage(t, whiteoutLayers(t)...)
	archive := ociArchive(t, func(p layout.Path) {
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "example/oci:2.0"})); err != nil {
			t.Fatal(err)
		}
	})
	imgs, err := s.Load(archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !reflect.DeepEqual(imgs[0].Names, []string{"example/oci:2.0"}) || len(imgs[0].Layers) != 3 {
		t.Fatalf("loaded %+v", imgs)
	}
	checkConfig(t, imgs[0])
	checkWhiteoutView(t, prepare(t, s, "example/oci:2.0", filepath.Join(t.TempDir(), "c")))
}

// An OCI index per platform: only this machine's image is loaded, named by
// the index's annotation.
func TestLoadOCIMultiPlatform(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	native := buildImage(t, layer(t, ent{name: "which", body: "native"}))
	foreign := buildImage(t, layer(t, ent{name: "which", body: "foreign"}))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "fakearch"}}},
		mutate.IndexAddendum{Add: native, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	archive := ociArchive(t, func(p layout.Path) {
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationContainerName: "docker.io/library/multi:3"})); err != nil {
			t.Fatal(err)
		}
	})
	imgs, err := s.Load(archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !reflect.DeepEqual(imgs[0].Names, []string{"multi:3"}) {
		t.Fatalf("loaded %+v", imgs)
	}
	if b, _ := os.ReadFile(layerPath(s, imgs[0].Layers[0], "which")); string(b) != "native" {
		t.Errorf("loaded the %q image", b)
	}
}

// A hostile OCI archive (names escaping the extraction dir, symlinked
// directories) is refused or contained.
func TestLoadMaliciousOCIArchive(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	outside := filepath.Join(filepath.Dir(s.Dir()), "outside")
	os.Mkdir(outside, 0o755)
	for _, ents := range [][]ent{
		{{name: "oci-layout", body: "{}"}, {name: "index.json", body: "{}"}, {name: "../../outside/evil", body: "x"}},
		{{name: "oci-layout", body: "{}"}, {name: "index.json", body: "{}"}, {name: outside + "/evil", body: "x"}},
		{{name: "blobs", typ: tar.TypeSymlink, link: outside}, {name: "blobs/evil", body: "x"}, {name: "oci-layout", body: "{}"}, {name: "index.json", body: "{}"}},
	} {
		archive := writeFile(t, filepath.Join(t.TempDir(), "evil.tar"), tarBytes(t, ents...))
		if _, err := s.Load(archive, Options{}); err == nil {
			t.Errorf("loaded %v", ents)
		}
		if n := dirNames(t, outside); len(n) != 0 {
			t.Fatalf("written outside: %v", n)
		}
	}
	if n := dirNames(t, s.path("tmp")); len(n) != 0 {
		t.Errorf("tmp leftovers: %v", n)
	}
}

// Two images sharing a base layer: it is unpacked once.
func TestSharedLayerUnpackedOnce(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	base := layer(t, ent{name: "base", body: "shared"})
	a := buildImage(t, base, layer(t, ent{name: "a", body: "a"}))
	b := buildImage(t, base, layer(t, ent{name: "b", body: "b"}))
	dir := t.TempDir()
	if _, err := s.Load(dockerArchive(t, filepath.Join(dir, "a.tar"), "a:1", a), Options{}); err != nil {
		t.Fatal(err)
	}
	baseID, _ := base.DiffID()
	var before unix.Stat_t
	if err := unix.Stat(layerPath(s, baseID.String(), "base"), &before); err != nil {
		t.Fatal(err)
	}
	n0 := unpackCount.Load()
	if _, err := s.Load(dockerArchive(t, filepath.Join(dir, "b.tar"), "b:1", b), Options{}); err != nil {
		t.Fatal(err)
	}
	if n := unpackCount.Load() - n0; n != 1 {
		t.Errorf("second image unpacked %d layers, want 1 (the base is shared)", n)
	}
	var after unix.Stat_t
	unix.Stat(layerPath(s, baseID.String(), "base"), &after)
	if after.Ino != before.Ino || after.Ctim != before.Ctim {
		t.Errorf("base layer file was rewritten")
	}
	if n := dirNames(t, s.path("layers")); len(n) != 3 {
		t.Errorf("layers %v, want 3", n)
	}
}

func TestRemoveAndGC(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	base := layer(t, ent{name: "base", body: "shared"})
	la, lb := layer(t, ent{name: "a", body: "a"}), layer(t, ent{name: "b", body: "b"})
	dir := t.TempDir()
	ia, err := s.Load(dockerArchive(t, filepath.Join(dir, "a.tar"), "a:1", buildImage(t, base, la)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := s.Load(dockerArchive(t, filepath.Join(dir, "b.tar"), "b:1", buildImage(t, base, lb)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	idA, idB := ia[0].ID, ib[0].ID
	baseID, _ := base.DiffID()
	bID, _ := lb.DiffID()

	// In use: refused without force.
	used := func(id string) bool { return id == idB }
	if _, err := s.Remove("b:1", false, used); !errors.Is(err, ErrInUse) {
		t.Fatalf("rmi of an image in use: %v", err)
	}
	// A second name is only untagged, in use or not.
	if err := s.Tag("b:1", "b:extra"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Remove("b:extra", false, used)
	if err != nil || !reflect.DeepEqual(res.Untagged, []string{"b:extra"}) || len(res.Deleted) != 0 {
		t.Fatalf("rmi b:extra: %+v %v", res, err)
	}
	// Not in use: deleted, and its own layer with it; the shared base stays.
	res, err = s.Remove("b:1", false, func(string) bool { return false })
	if err != nil || !reflect.DeepEqual(res.Deleted, []string{idB}) {
		t.Fatalf("rmi b:1: %+v %v", res, err)
	}
	if s.hasLayer(bID.String()) || !s.hasLayer(baseID.String()) {
		t.Errorf("after rmi b: layers %v", dirNames(t, s.path("layers")))
	}
	if _, err := s.Get(idB); !errors.Is(err, ErrNotFound) {
		t.Errorf("get removed: %v", err)
	}
	if _, err := s.Remove("b:1", false, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("rmi again: %v", err)
	}
	// Force on an image in use: untagged, kept (dangling) until Prune.
	res, err = s.Remove(ia[0].ShortID(), true, func(string) bool { return true })
	if err != nil || !reflect.DeepEqual(res.Untagged, []string{"a:1"}) || len(res.Deleted) != 0 {
		t.Fatalf("rmi -f in use: %+v %v", res, err)
	}
	if img, err := s.Get(idA); err != nil || len(img.Names) != 0 {
		t.Fatalf("dangling image: %+v %v", img, err)
	}
	if got, _ := s.Prune(func(string) bool { return true }); len(got) != 0 {
		t.Errorf("pruned an image in use: %v", got)
	}
	if got, err := s.Prune(nil); err != nil || !reflect.DeepEqual(got, []string{idA}) {
		t.Errorf("prune: %v %v", got, err)
	}
	for _, d := range []string{"layers", "images", "tmp"} {
		if n := dirNames(t, s.path(d)); len(n) != 0 {
			t.Errorf("%s after removing everything: %v", d, n)
		}
	}
}

func TestTagAndResolve(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"))
	img, err := s.Import(src, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Names) != 0 {
		t.Errorf("names %v", img.Names)
	}
	if err := s.Tag(img.ShortID(), "repo/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("repo/x:latest", "localhost:5000/y:v1"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"repo/x", "repo/x:latest", "localhost:5000/y:v1", img.ID, strings.TrimPrefix(img.ID, "sha256:"), img.ShortID()[:6]} {
		got, err := s.Get(ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("get %q: %v", ref, err)
			continue
		}
		if !reflect.DeepEqual(got.Names, []string{"localhost:5000/y:v1", "repo/x:latest"}) {
			t.Errorf("names %v", got.Names)
		}
	}
	for _, bad := range []string{"", "Bad", "x:", "x::y", "a b", "x@sha256:00", strings.Repeat("a", 64)} {
		if err := s.Tag(img.ID, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("tag %q: %v", bad, err)
		}
	}
	if err := s.Tag("nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag of missing: %v", err)
	}
	// By ID with several names: needs force.
	if _, err := s.Remove(img.ID, false, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("rmi by id with 2 names: %v", err)
	}
	if res, err := s.Remove(img.ID, true, nil); err != nil || len(res.Untagged) != 2 || len(res.Deleted) != 1 {
		t.Errorf("rmi -f by id: %+v %v", res, err)
	}
}

// Two loads of the same archive at once (separate Stores, as two sdocker
// processes) end with one consistent image.
func TestConcurrentLoads(t *testing.T) {
	requireOverlay(t)
	dir := filepath.Join(t.TempDir(), "image")
	img := buildImage(t, whiteoutLayers(t)...)
	archive := dockerArchive(t, filepath.Join(t.TempDir(), "app.tar"), "app:1", img)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(dir)
			if err == nil {
				_, err = s.Load(archive, Options{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, _ := Open(dir)
	list, err := s.List()
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0].Names, []string{"app:1"}) {
		t.Fatalf("list %+v %v", list, err)
	}
	layers := dirNames(t, s.path("layers"))
	if len(layers) != 3 {
		t.Errorf("layers %v", layers)
	}
	for _, l := range list[0].Layers {
		if !s.hasLayer(l) {
			t.Errorf("layer %s incomplete", l)
		}
	}
	if n := dirNames(t, s.path("tmp")); len(n) != 0 {
		t.Errorf("tmp leftovers: %v", n)
	}
	var repos map[string]string
	b, _ := os.ReadFile(s.path("repositories.json"))
	if err := json.Unmarshal(b, &repos); err != nil || len(repos) != 1 {
		t.Errorf("repositories.json %s: %v", b, err)
	}
	checkWhiteoutView(t, prepare(t, s, "app:1", filepath.Join(t.TempDir(), "c")))
}

// Concurrent tags and removals keep repositories.json whole.
func TestConcurrentTags(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"))
	img, err := s.Import(src, "base", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s2, _ := Open(s.Dir())
			if err := s2.Tag(img.ID, fmt.Sprintf("t%d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Get("base")
	if err != nil || len(got.Names) != 21 {
		t.Errorf("names %v %v", got.Names, err)
	}
}

func TestProgress(t *testing.T) {
	requireRoot(t)
	old := progressDelay
	progressDelay = 0
	t.Cleanup(func() { progressDelay = old })
	s := newStore(t)
	b := tarBytes(t, ent{name: "big", body: strings.Repeat("x", 1<<20)})
	src := writeFile(t, filepath.Join(t.TempDir(), "r.tar"), b)

	var out bytes.Buffer
	if _, err := s.Import(src, "p", Options{Progress: &out, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if o := out.String(); !strings.HasPrefix(o, "\r") || !strings.Contains(o, "100%") || !strings.HasSuffix(o, "\n") || strings.Count(o, "\n") != 1 {
		t.Errorf("terminal progress %q", o)
	}
	out.Reset()
	if _, err := s.Import(src, "p", Options{Progress: &out, Terminal: false}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", out.String())
	}

	// A directory: the bar's total is estimated beforehand.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), bytes.Repeat([]byte("y"), 1<<20))
	out.Reset()
	if _, err := s.Import(dir, "d", Options{Progress: &out, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if o := out.String(); !strings.Contains(o, "100%") || !strings.HasSuffix(o, "\n") {
		t.Errorf("dir import progress %q", o)
	}
	t.Logf("progress output: %q", out.String())

	// A load: one bar over the layers.
	archive := dockerArchive(t, filepath.Join(t.TempDir(), "a.tar"), "a:1", buildImage(t, whiteoutLayers(t)...))
	out.Reset()
	if _, err := s.Load(archive, Options{Progress: &out, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if o := out.String(); !strings.Contains(o, "3/3") || !strings.Contains(o, "100%") || !strings.HasSuffix(o, "\n") {
		t.Errorf("load progress %q", o)
	}
	// Quick operations draw nothing.
	progressDelay = old
	out.Reset()
	if _, err := newStore(t).Load(archive, Options{Progress: &out, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("progress for a quick load: %q", out.String())
	}
}

func TestListOrderAndFields(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	dir := t.TempDir()
	for i, tag := range []string{"old:1", "new:1"} {
		cf, _ := buildImage(t, layer(t, ent{name: "f", body: tag})).ConfigFile()
		cf.Created = v1.Time{Time: testTime.AddDate(i, 0, 0)}
		img, err := mutate.ConfigFile(buildImage(t, layer(t, ent{name: "f", body: tag})), cf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(dockerArchive(t, filepath.Join(dir, fmt.Sprint(i)), tag, img), Options{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatal(list, err)
	}
	if !slices.Equal(list[0].Names, []string{"new:1"}) || !list[0].Created.Equal(testTime.AddDate(1, 0, 0)) || list[0].Size != 5 {
		t.Errorf("first %+v", list[0])
	}
}
