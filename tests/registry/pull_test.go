// Package registry tests sdocker's registry client against registries the
// tests start on 127.0.0.1: go-containerregistry's in-process registry
// behind httptest servers that add authentication, TLS from a test-made CA,
// tampered blobs and connections dropped half-way.
package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/registry"
)

func pull(t *testing.T, s *image.Store, ref string, o registry.Options) (*registry.Result, error) {
	t.Helper()
	if o.Keychain == nil {
		o.Keychain = anonymous
	}
	return registry.Pull(context.Background(), s, ref, o)
}

// readFile reads a file of a pulled image's layers.
func readFile(t *testing.T, s *image.Store, img *image.Image, p string) string {
	t.Helper()
	for i := len(img.Layers) - 1; i >= 0; i-- {
		b, err := os.ReadFile(filepath.Join(s.Dir(), "layers", img.Layers[i][len("sha256:"):], "diff", p))
		if err == nil {
			return string(b)
		}
	}
	t.Fatalf("%s: not in image %s", p, img.ID)
	return ""
}

func TestPullSchema2AndOCI(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	for _, tc := range []struct {
		name string
		comp compression.Compression
		oci  bool
	}{{"docker-gzip", compression.GZip, false}, {"oci-gzip", compression.GZip, true}, {"oci-zstd", compression.ZStd, true}} {
		t.Run(tc.name, func(t *testing.T) {
			img := imageOf(t, "amd64", tc.oci,
				layerOf(t, map[string]string{"etc/a": "one " + tc.name}, tc.comp, tc.oci),
				layerOf(t, map[string]string{"etc/b": "two " + tc.name}, tc.comp, tc.oci))
			dig := srv.push(t, "app/"+tc.name+":1", img, nil)
			s := newStore(t)
			res, err := pull(t, s, srv.host+"/app/"+tc.name+":1", registry.Options{Config: cfg, Platform: amd64})
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != dig || res.Downloaded != 2 {
				t.Errorf("digest %s downloaded %d, want %s and 2", res.Digest, res.Downloaded, dig)
			}
			want := srv.host + "/app/" + tc.name + ":1"
			if len(res.Image.Names) != 1 || res.Image.Names[0] != want {
				t.Errorf("names %v, want [%s]", res.Image.Names, want)
			}
			if got := readFile(t, s, res.Image, "etc/b"); got != "two "+tc.name {
				t.Errorf("etc/b = %q", got)
			}
			// The image is found by its name and by the digest it was pulled by.
			for _, ref := range []string{want, srv.host + "/app/" + tc.name + "@" + dig} {
				if got, err := s.Get(ref); err != nil || got.ID != res.Image.ID {
					t.Errorf("Get(%s) = %v, %v", ref, got, err)
				}
			}
		})
	}
}

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

func TestPullIndexPlatform(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	imgAMD := imageOf(t, "amd64", true, layerOf(t, map[string]string{"arch": "amd64"}, compression.GZip, true))
	imgARM := imageOf(t, "arm64", true, layerOf(t, map[string]string{"arch": "arm64"}, compression.GZip, true))
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: imgARM, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: imgAMD, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	dig := srv.push(t, "multi:1", idx, nil)
	ref := srv.host + "/multi:1"

	for _, tc := range []struct {
		platform v1.Platform
		want     string
	}{{amd64, "amd64"}, {v1.Platform{OS: "linux", Architecture: "arm64"}, "arm64"}, {v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "arm64"}} {
		s := newStore(t)
		res, err := pull(t, s, ref, registry.Options{Config: cfg, Platform: tc.platform})
		if err != nil {
			t.Fatalf("%v: %v", tc.platform, err)
		}
		if got := readFile(t, s, res.Image, "arch"); got != tc.want || res.Image.Architecture != tc.want {
			t.Errorf("%v: pulled %s (arch %s), want %s", tc.platform, got, res.Image.Architecture, tc.want)
		}
		if res.Digest != dig {
			t.Errorf("digest %s, want the index's %s", res.Digest, dig)
		}
	}

	// No image for the platform: a clear error, nothing stored.
	s := newStore(t)
	_, err := pull(t, s, ref, registry.Options{Config: cfg, Platform: v1.Platform{OS: "linux", Architecture: "s390x"}})
	if err == nil || !contains(err, "no image for linux/s390x") || !contains(err, "linux/arm64/v8, linux/amd64") {
		t.Errorf("pull for s390x: %v", err)
	}
	assertStoreClean(t, s)

	// A single-platform image of another architecture is refused too.
	srv.push(t, "armonly:1", imgARM, nil)
	_, err = pull(t, s, srv.host+"/armonly:1", registry.Options{Config: cfg, Platform: amd64})
	if err == nil || !contains(err, "the image is for linux/arm64, not linux/amd64") {
		t.Errorf("pull of an arm64 image for amd64: %v", err)
	}
	assertStoreClean(t, s)
}

func TestPullSkipsPresentLayers(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	ls := uniqueLayers(t, 5, "x")
	srv.push(t, "a:1", imageOf(t, "amd64", false, ls[:4]...), nil)
	srv.push(t, "b:1", imageOf(t, "amd64", false, ls...), nil)
	s := newStore(t)
	if _, err := pull(t, s, srv.host+"/a:1", registry.Options{Config: cfg, Platform: amd64, Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := pull(t, s, srv.host+"/b:1", registry.Options{Config: cfg, Platform: amd64, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 1 {
		t.Errorf("second pull downloaded %d layers, want 1", res.Downloaded)
	}
	for i, l := range ls {
		if n := srv.fetchCount(digestOf(t, l)); n != 1 {
			t.Errorf("layer %d fetched %d times, want 1", i, n)
		}
	}
	// Pulling again fetches nothing.
	if res, err = pull(t, s, srv.host+"/b:1", registry.Options{Config: cfg, Platform: amd64}); err != nil || res.Downloaded != 0 {
		t.Errorf("third pull: downloaded %v, %v", res, err)
	}
}

func TestPullTamperedBlobRefused(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	ls := uniqueLayers(t, 3, "t")
	srv.push(t, "t:1", imageOf(t, "amd64", false, ls...), nil)
	srv.setTamper(digestOf(t, ls[1]))
	// One layer at a time, and all at once (the others are stopped).
	for _, jobs := range []int{1, 3} {
		s := newStore(t)
		_, err := pull(t, s, srv.host+"/t:1", registry.Options{Config: cfg, Platform: amd64, Jobs: jobs})
		if !errors.Is(err, image.ErrInvalid) {
			t.Fatalf("pull of a tampered blob, %d jobs: %v", jobs, err)
		}
		assertStoreClean(t, s)
	}
}

func TestPullResumesAfterDroppedConnection(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	ls := uniqueLayers(t, 4, "r")
	srv.push(t, "r:1", imageOf(t, "amd64", false, ls...), nil)
	srv.setDrop(digestOf(t, ls[2]))
	s := newStore(t)
	// One layer at a time, in order: the first two are complete when the
	// third one's connection drops.
	_, err := pull(t, s, srv.host+"/r:1", registry.Options{Config: cfg, Platform: amd64, Jobs: 1})
	if err == nil {
		t.Fatal("pull with a dropped connection succeeded")
	}
	if imgs, _ := s.List(); len(imgs) != 0 {
		t.Errorf("a failed pull left images %v", imgs)
	}
	if n := layerCount(t, s); n != 2 {
		t.Errorf("%d layers kept after the failure, want the 2 complete ones", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ has %d entries after the failure", len(ents))
	}
	res, err := pull(t, s, srv.host+"/r:1", registry.Options{Config: cfg, Platform: amd64, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 2 {
		t.Errorf("resumed pull downloaded %d layers, want 2", res.Downloaded)
	}
	for i, want := range []int{1, 1, 2, 1} {
		if n := srv.fetchCount(digestOf(t, ls[i])); n != want {
			t.Errorf("layer %d fetched %d times, want %d", i, n, want)
		}
	}
}

func TestPullByDigest(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	img := imageOf(t, "amd64", false, uniqueLayers(t, 1, "d")...)
	dig := srv.push(t, "d:1", img, nil)
	other := srv.push(t, "d:2", imageOf(t, "amd64", false, uniqueLayers(t, 1, "e")...), nil)
	s := newStore(t)
	res, err := pull(t, s, srv.host+"/d@"+dig, registry.Options{Config: cfg, Platform: amd64})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Image.Names) != 0 || len(res.Image.Digests) != 1 || res.Image.Digests[0] != srv.host+"/d@"+dig {
		t.Errorf("names %v digests %v", res.Image.Names, res.Image.Digests)
	}
	// A digest the repository does not have.
	s2 := newStore(t)
	missing := "sha256:" + fmtHex(0xab)
	if _, err := pull(t, s2, srv.host+"/d@"+missing, registry.Options{Config: cfg, Platform: amd64}); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("pull of a missing digest: %v", err)
	}
	// A registry that answers with another manifest than the one asked for.
	srv.setTamperManifest(dig, other)
	if _, err := pull(t, s2, srv.host+"/d@"+dig, registry.Options{Config: cfg, Platform: amd64}); err == nil || !contains(err, "digest") {
		t.Errorf("pull with a manifest of another digest: %v", err)
	}
	assertStoreClean(t, s2)
}

func TestPullBadInput(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host, "127.0.0.1:1")
	s := newStore(t)
	for _, tc := range []struct{ ref, want string }{
		{srv.host + "/Upper:1", "must be lowercase"},
		{srv.host + "/nosuch:1", "not found"},
		{"127.0.0.1:1/x:1", "connection refused"},
		{srv.host + "/x:bad tag", "invalid reference format"},
		{"", "invalid reference format"},
	} {
		if _, err := pull(t, s, tc.ref, registry.Options{Config: cfg}); err == nil || !contains(err, tc.want) {
			t.Errorf("pull %q: %v, want an error with %q", tc.ref, err, tc.want)
		}
	}
	assertStoreClean(t, s)
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

func fmtHex(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }
