package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (chown, mknod of whiteouts, trusted.* xattrs, mount)")
	}
}

func requireOverlay(t *testing.T) {
	t.Helper()
	requireRoot(t)
	b, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(b), "\toverlay\n") {
		// Mounting loads the module on demand; try once.
		dir := t.TempDir()
		for _, d := range []string{"l", "u", "w", "m"} {
			os.Mkdir(filepath.Join(dir, d), 0o755)
		}
		opts := "lowerdir=" + dir + "/l,upperdir=" + dir + "/u,workdir=" + dir + "/w"
		if err := unix.Mount("overlay", dir+"/m", "overlay", 0, opts); err != nil {
			t.Skipf("skipped: overlayfs not available: %v", err)
		}
		unix.Unmount(dir+"/m", unix.MNT_DETACH)
	}
}

// ent describes one tar entry; typ 0 means a regular file (a directory if
// name ends with "/").
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	major, minor     int64
	mtime            time.Time
	pax              map[string]string
}

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

func tarBytes(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{
			Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Devmajor: e.major, Devminor: e.minor,
			ModTime: e.mtime, PAXRecords: e.pax, Format: tar.FormatPAX,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			if strings.HasSuffix(e.name, "/") {
				h.Typeflag = tar.TypeDir
			}
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, p string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "image"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// layer makes a go-containerregistry layer of tar entries.
func layer(t *testing.T, ents ...ent) v1.Layer {
	t.Helper()
	b := tarBytes(t, ents...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var testConfig = v1.Config{
	Env:        []string{"PATH=/usr/bin:/bin", "FOO=bar"},
	Entrypoint: []string{"/entry"},
	Cmd:        []string{"-c", "echo hi"},
	WorkingDir: "/data",
	User:       "1000:1000",
	Labels:     map[string]string{"a": "b"},
}

func buildImage(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, testConfig); err != nil {
		t.Fatal(err)
	}
	return img
}

// dockerArchive writes img as a docker-archive (go-containerregistry's
// tarball.Write: gzip'd layers) tagged ref.
func dockerArchive(t *testing.T, path, ref string, img v1.Image) string {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// The three layers of the whiteout/opaque test image.
func whiteoutLayers(t *testing.T) []v1.Layer {
	return []v1.Layer{
		layer(t,
			ent{name: "etc/"}, ent{name: "etc/a", body: "A"}, ent{name: "etc/b", body: "B"},
			ent{name: "data/"}, ent{name: "data/old1", body: "1"},
			ent{name: "data/sub/"}, ent{name: "data/sub/old2", body: "2"},
			ent{name: "keep", body: "k"}),
		layer(t,
			ent{name: "etc/"}, ent{name: "etc/.wh.a"},
			ent{name: "data/"}, ent{name: "data/.wh..wh..opq"}, ent{name: "data/new", body: "n"}),
		layer(t,
			ent{name: "etc/c", body: "C"}, ent{name: "link", typ: tar.TypeSymlink, link: "etc/b"}),
	}
}

// checkWhiteoutView checks a merged rootfs of whiteoutLayers.
func checkWhiteoutView(t *testing.T, rootfs string) {
	t.Helper()
	want := map[string]string{"etc/b": "B", "etc/c": "C", "data/new": "n", "keep": "k", "link": "B"}
	for p, body := range want {
		if b, err := os.ReadFile(filepath.Join(rootfs, p)); err != nil || string(b) != body {
			t.Errorf("%s: got %q, %v; want %q", p, b, err, body)
		}
	}
	for _, p := range []string{"etc/a", "data/old1", "data/sub"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); !os.IsNotExist(err) {
			t.Errorf("%s: should be hidden in the merged view (err %v)", p, err)
		}
	}
}

func prepare(t *testing.T, s *Store, id, dir string) string {
	t.Helper()
	rootfs, err := s.PrepareRootfs(id, dir)
	t.Cleanup(func() {
		if err := ReleaseRootfs(dir); err != nil {
			t.Errorf("release: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("PrepareRootfs: %v", err)
	}
	return rootfs
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
