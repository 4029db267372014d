package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImagePrune: an image untagged by `rmi -f` while a container uses it
// stays until `image prune`, which removes it (and its layer) only once no
// container uses it.
func TestImagePrune(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("prune:v1")
	id := strings.TrimSpace(e.mustRun(0, "import", rootfsDir, "prune:v1").stdout)
	ctr := e.runDetached("prune:v1", "sleep", "100")
	e.mustRun(0, "rmi", "-f", "prune:v1")

	if out := e.mustRun(0, "image", "prune").stdout; strings.Contains(out, id) {
		t.Fatalf("image prune deleted an image a container uses: %q", out)
	}
	if out := e.mustRun(0, "images", "-q").stdout; !strings.Contains(out, id[7:19]) {
		t.Fatalf("the untagged image in use is gone from images: %q", out)
	}
	e.rmf(ctr)
	if out := e.mustRun(0, "image", "prune").stdout; !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("image prune after the container went: %q, want it to delete %s", out, id)
	}
	layers, _ := os.ReadDir(filepath.Join(e.root, "image", "layers"))
	if len(layers) != 0 {
		t.Errorf("%d layers left after prune, want 0", len(layers))
	}
}
