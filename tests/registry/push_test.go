package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/registry"
)

// TestCLIPushProgress: not on a terminal, push shows plain lines, each
// layer's own (as pull does): Waiting, Preparing (compressing), Pushing
// with its size, Pushed; or
// Layer already exists when the registry has it. Its compressed copies
// leave nothing in the store's tmp/.
func TestCLIPushProgress(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	srv.push(t, "src:1", imageOf(t, "amd64", false, uniqueLayers(t, 3, "p")...), nil)
	c.mustRun(0, "pull", srv.host+"/src:1")
	var info []struct {
		Id     string
		RootFS struct{ Layers []string }
	}
	inspectJSON(t, c.mustRun(0, "image", "inspect", srv.host+"/src:1").stdout, &info)
	ref := srv.host + "/team/copy:1"
	c.mustRun(0, "tag", srv.host+"/src:1", ref)

	before := srv.uploads()
	r := c.mustRun(0, "push", ref)
	if strings.Contains(r.stderr, "\x1b[") || !strings.HasPrefix(r.stdout, "1: digest: sha256:") {
		t.Errorf("push output: %s", r)
	}
	for _, l := range info[0].RootFS.Layers {
		id := strings.TrimPrefix(l, "sha256:")[:12]
		var states []string
		for _, line := range lines(r.stderr) {
			if s, ok := strings.CutPrefix(line, id+": "); ok {
				states = append(states, s)
			}
		}
		if len(states) != 4 || states[0] != "Waiting" || states[1] != "Preparing" || !strings.HasPrefix(states[2], "Pushing ") || states[3] != "Pushed" {
			t.Errorf("layer %s: states %q, want Waiting, Preparing, Pushing SIZE, Pushed\n%s", id, states, r)
		}
	}
	if n := srv.uploads() - before; n != 3 {
		t.Errorf("the push uploaded %d blobs, want the 3 layers (the registry has the config, src:1's)", n)
	}
	if names, _ := os.ReadDir(filepath.Join(c.root, "image", "tmp")); len(names) != 0 {
		t.Errorf("push left tmp/%v", names)
	}
	// Pushed again: every layer is there.
	r = c.mustRun(0, "push", ref)
	if strings.Count(r.stderr, ": Layer already exists") != 3 || strings.Contains(r.stderr, "Pushing") {
		t.Errorf("second push: %s", r)
	}
	// What was pushed comes back as the same image.
	c2 := newCLI(t, srv.host)
	c2.mustRun(0, "pull", ref)
	var back []struct{ Id string }
	inspectJSON(t, c2.mustRun(0, "image", "inspect", ref).stdout, &back)
	if back[0].Id != info[0].Id {
		t.Errorf("pulled back image %s, pushed %s", back[0].Id, info[0].Id)
	}
}

// TestPushLayerWithoutTarRecord: a layer an older sdocker stored has no
// record of its tar: push and save refuse the image before sending or
// writing anything, with its name and the fix; pulling it again adds the
// record, and then both work.
func TestPushLayerWithoutTarRecord(t *testing.T) {
	srv := newServer(t, serverOpts{})
	cfg := config(t, "", srv.host)
	ls := uniqueLayers(t, 2, "legacy")
	srv.push(t, "old:1", imageOf(t, "amd64", false, ls...), nil)
	srv.push(t, "other:1", imageOf(t, "amd64", false, ls[1], layerOf(t, map[string]string{"o": "o"}, compression.GZip, false)), nil)
	s := newStore(t)
	o := registry.Options{Config: cfg, Platform: amd64, Keychain: anonymous}
	res, err := pull(t, s, srv.host+"/old:1", o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pull(t, s, srv.host+"/other:1", o); err != nil {
		t.Fatal(err)
	}
	// The layer both images share loses its record, as an older sdocker
	// stored it.
	shared := res.Image.Layers[1]
	if err := os.Remove(filepath.Join(s.Dir(), "layers", strings.TrimPrefix(shared, "sha256:"), "tar-split.json.gz")); err != nil {
		t.Fatal(err)
	}
	ref := srv.host + "/old:1"
	if err := s.Tag(ref, srv.host+"/copy:1"); err != nil {
		t.Fatal(err)
	}
	before := srv.uploads()
	_, err = registry.Push(context.Background(), s, srv.host+"/copy:1", o)
	if !errors.Is(err, image.ErrNoTarRecord) || !strings.Contains(err.Error(), "image "+srv.host+"/copy:1") ||
		!strings.Contains(err.Error(), "pull, load or import the image again") || strings.Contains(err.Error(), "\n") {
		t.Errorf("push of an image with a layer without its tar record: %v", err)
	}
	if n := srv.uploads() - before; n != 0 {
		t.Errorf("the refused push uploaded %d blobs", n)
	}
	var buf bytes.Buffer
	if err := s.Save(&buf, []string{ref}, image.FormatDocker); !errors.Is(err, image.ErrNoTarRecord) ||
		!strings.Contains(err.Error(), "image "+ref) || buf.Len() != 0 {
		t.Errorf("save of that image: %v (%d bytes written)", err, buf.Len())
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("the refused push and save left tmp/%v", ents)
	}

	// Pulled again: the layer is fetched, its record added (the other
	// image, which shares it, keeps it in use meanwhile).
	if res, err := pull(t, s, ref, o); err != nil || res.Downloaded != 1 {
		t.Fatalf("pull again: %+v, %v", res, err)
	}
	if _, err := registry.Push(context.Background(), s, srv.host+"/copy:1", o); err != nil {
		t.Errorf("push after the pull again: %v", err)
	}
	if err := s.Save(&buf, []string{ref}, image.FormatDocker); err != nil {
		t.Errorf("save after the pull again: %v", err)
	}
}

func inspectJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
}
