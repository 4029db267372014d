package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sdocker/sdocker/tests/testutil"
)

// storeState is what the store holds: its directories' entries and names.
func storeState(t *testing.T, s *Store) string {
	t.Helper()
	repos, _ := os.ReadFile(s.path("repositories.json"))
	return fmt.Sprintf("layers %v images %v tmp %v names %s",
		dirNames(t, s.path("layers")), dirNames(t, s.path("images")), dirNames(t, s.path("tmp")), repos)
}

// handArchive writes a docker archive of images, each one layer of ents
// with the tags given; with tamper, the last image's layer does not match
// its diffID.
func handArchive(t *testing.T, tamper bool, images ...[]string) string {
	t.Helper()
	var files []ent
	var man []map[string]any
	for i, tags := range images {
		body := tarBytes(t, ent{name: fmt.Sprintf("f%d", i), body: strings.Repeat("x", i+1)})
		h, _, _ := v1.SHA256(bytes.NewReader(body))
		if tamper && i == len(images)-1 {
			body = tarBytes(t, ent{name: "other", body: "tampered"})
		}
		cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, Config: testConfig,
			RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{h}}})
		ch, _, _ := v1.SHA256(bytes.NewReader(cfg))
		ln := fmt.Sprintf("%d/layer.tar", i)
		files = append(files, ent{name: fmt.Sprintf("%d/", i)}, ent{name: ln, body: string(body)},
			ent{name: ch.Hex + ".json", body: string(cfg)})
		man = append(man, map[string]any{"Config": ch.Hex + ".json", "RepoTags": tags, "Layers": []string{ln}})
	}
	b, _ := json.Marshal(man)
	files = append(files, ent{name: "manifest.json", body: string(b)})
	return writeFile(t, filepath.Join(t.TempDir(), "images.tar"), tarBytes(t, files...))
}

// Names as Docker refuses them, with Docker's words.
func TestInvalidNames(t *testing.T) {
	s := newStore(t)
	for _, c := range []struct{ ref, want string }{
		{"Foo", "invalid reference format: repository name must be lowercase"},
		{"library/Busybox:1", "invalid reference format: repository name must be lowercase"},
		{"a b", "invalid reference format"},
		{strings.Repeat("a", 256), "must not be more than 255 characters"},
	} {
		_, err := s.Get(c.ref)
		if !errors.Is(err, ErrInvalidName) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("get %q: %v; want %q", c.ref, err, c.want)
		}
		if _, err := normalizeName(c.ref); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("name %q: %v; want %q", c.ref, err, c.want)
		}
	}
	// A valid name or ID that is not there is not found, not invalid.
	for _, ref := range []string{"foo", "abc123", "sha256:" + strings.Repeat("a", 64)} {
		if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidName) {
			t.Errorf("get %q: %v", ref, err)
		}
	}
}

// One image's damaged manifest or config leaves the others listed and
// removable; the damaged one is listed as such and goes with rmi -f.
func TestDamagedImageFiles(t *testing.T) {
	requireRoot(t)
	for _, file := range []string{"manifest.json", "config.json"} {
		for _, d := range testutil.Damages {
			t.Run(file+"/"+d.Name, func(t *testing.T) {
				s := newStore(t)
				imgs, err := s.Load(handArchive(t, false, []string{"good:1"}, []string{"bad:1"}), Options{})
				if err != nil || len(imgs) != 2 {
					t.Fatalf("load: %v %v", imgs, err)
				}
				good, bad := imgs[0], imgs[1]
				p := filepath.Join(s.imageDir(bad.ID), file)
				if err := d.Apply(p); err != nil {
					t.Fatal(err)
				}

				list, err := s.List()
				if err != nil || len(list) != 2 {
					t.Fatalf("list: %v %v", list, err)
				}
				for _, img := range list {
					switch img.ID {
					case good.ID:
						if img.Damage != nil || !reflect.DeepEqual(img.Names, []string{"good:1"}) {
							t.Errorf("healthy image listed as %+v", img)
						}
					case bad.ID:
						if !errors.Is(img.Damage, ErrDamaged) || !strings.Contains(img.Damage.Error(), p) ||
							!reflect.DeepEqual(img.Names, []string{"bad:1"}) {
							t.Errorf("damaged image listed as %+v", img)
						}
					}
				}
				if _, err := s.Get("bad:1"); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
					t.Errorf("get damaged: %v", err)
				}
				// Removing the healthy one works and says so.
				res, err := s.Remove("good:1", false, nil)
				if err != nil || res.Warning != nil || !reflect.DeepEqual(res.Deleted, []string{good.ID}) {
					t.Fatalf("rmi of the healthy image: %+v %v", res, err)
				}
				// The damaged one goes with rmi -f, and every layer with it.
				res, err = s.Remove("bad:1", true, nil)
				if err != nil || res.Warning != nil || !reflect.DeepEqual(res.Deleted, []string{bad.ID}) {
					t.Fatalf("rmi -f of the damaged image: %+v %v", res, err)
				}
				if got := storeState(t, s); got != "layers [] images [] tmp [] names {}\n" {
					t.Errorf("store after removing both: %s", got)
				}
			})
		}
	}
}

// A damaged repositories.json: the images are listed without names, and
// what needs names fails with the file named and changes nothing; rmi -f
// by ID still removes an image.
func TestDamagedNames(t *testing.T) {
	requireRoot(t)
	for _, d := range testutil.Damages {
		if d.Do == nil {
			continue // no names at all: a new store
		}
		t.Run(d.Name, func(t *testing.T) {
			s := newStore(t)
			imgs, err := s.Load(handArchive(t, false, []string{"a:1"}, []string{"b:1"}), Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := s.path("repositories.json")
			if err := d.Apply(p); err != nil {
				t.Fatal(err)
			}
			if d.Name == "array" {
				// Valid JSON of the right shape, with a value that is not an ID.
				os.WriteFile(p, []byte(`{"a:1": "../../etc"}`), 0o600)
			}
			before := storeState(t, s)
			list, err := s.List()
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), p) || len(list) != 2 || len(list[0].Names)+len(list[1].Names) != 0 {
				t.Errorf("list: %v %v", list, err)
			}
			src := t.TempDir()
			writeFile(t, filepath.Join(src, "f"), []byte("new"))
			for what, f := range map[string]func() error{
				"get by name":     func() error { _, err := s.Get("a:1"); return err },
				"rmi by name":     func() error { _, err := s.Remove("a:1", false, nil); return err },
				"rmi -f by name":  func() error { _, err := s.Remove("a:1", true, nil); return err },
				"rmi by ID":       func() error { _, err := s.Remove(imgs[0].ID, false, nil); return err },
				"tag":             func() error { return s.Tag(imgs[0].ID, "c:1") },
				"prune":           func() error { _, err := s.Prune(nil); return err },
				"import":          func() error { _, err := s.Import(src, "", Options{}); return err },
				"import and name": func() error { _, err := s.Import(src, "new:1", Options{}); return err },
			} {
				if err := f(); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), p) {
					t.Errorf("%s: %v", what, err)
				}
				if got := storeState(t, s); got != before {
					t.Errorf("%s changed the store:\n%s\nwas\n%s", what, got, before)
				}
			}
			res, err := s.Remove(imgs[0].ID, true, nil)
			if err != nil || !reflect.DeepEqual(res.Deleted, []string{imgs[0].ID}) {
				t.Errorf("rmi -f by ID: %+v %v", res, err)
			}
			if _, err := os.Stat(s.imageDir(imgs[0].ID)); err == nil {
				t.Errorf("image %s still there", imgs[0].ShortID())
			}
		})
	}
}

// A failed import or load leaves nothing new in the store: no layer, no
// image, no name, nothing in tmp/.
func TestFailedImportLeavesNothing(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	if _, err := s.Load(handArchive(t, false, []string{"keep:1"}), Options{}); err != nil {
		t.Fatal(err)
	}
	before := storeState(t, s)
	dir := t.TempDir()
	// The same content as keep:1 under another image ID: its layer is not new.
	shared := handArchive(t, false, []string{"keep:1"}, []string{"new:1"})
	for what, f := range map[string]func() error{
		"import of an empty file": func() error {
			_, err := s.Import(writeFile(t, filepath.Join(dir, "empty.tar"), nil), "x", Options{})
			return err
		},
		"import of an empty tar": func() error {
			_, err := s.Import(writeFile(t, filepath.Join(dir, "none.tar"), tarBytes(t)), "x", Options{})
			return err
		},
		"import of garbage": func() error {
			_, err := s.Import(writeFile(t, filepath.Join(dir, "g.tar"), bytes.Repeat([]byte("garbage"), 999)), "x", Options{})
			return err
		},
		"import under a bad name": func() error {
			_, err := s.Import(dir, "Bad", Options{})
			return err
		},
		"load of an archive whose last image is bad": func() error {
			_, err := s.Load(handArchive(t, true, []string{"one:1"}, []string{"two:1"}), Options{})
			return err
		},
		"load of a truncated archive": func() error {
			b, _ := os.ReadFile(shared)
			_, err := s.Load(writeFile(t, filepath.Join(dir, "cut.tar"), b[:len(b)*3/4]), Options{})
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", what)
		}
		if got := storeState(t, s); got != before {
			t.Errorf("%s left:\n%s\nwas\n%s", what, got, before)
		}
	}
	// An image of the archive is there but damaged: the load fails, and the
	// images it stored, and the names it gave, go again.
	imgs, err := s.Load(shared, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove("new:1", false, nil); err != nil {
		t.Fatal(err)
	}
	before = storeState(t, s)
	if err := (testutil.Damage{Do: func([]byte) []byte { return []byte("{") }}).Apply(filepath.Join(s.imageDir(imgs[0].ID), "config.json")); err != nil {
		t.Fatal(err)
	}
	damaged := storeState(t, s)
	if _, err := s.Load(shared, Options{}); !errors.Is(err, ErrDamaged) {
		t.Errorf("load over a damaged image: %v", err)
	}
	if got := storeState(t, s); got != damaged {
		t.Errorf("failed load left:\n%s\nwas\n%s", got, before)
	}
}
