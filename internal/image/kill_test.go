package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperLoad is the child of TestKilledLoad.
func TestHelperLoad(t *testing.T) {
	dir, archive := os.Getenv("SDOCKER_IMAGE_TEST_STORE"), os.Getenv("SDOCKER_IMAGE_TEST_ARCHIVE")
	if dir == "" {
		t.Skip("helper process for TestKilledLoad")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(archive, Options{}); err != nil {
		t.Fatal(err)
	}
}

// A load killed (SIGKILL) while unpacking leaves no layer that looks
// complete and no image; loading again works, and the next GC removes the
// leftovers.
func TestKilledLoad(t *testing.T) {
	requireRoot(t)
	var files []ent
	for i := range 1500 {
		files = append(files, ent{name: fmt.Sprintf("d%d/f%d", i%30, i), body: strings.Repeat("z", 16<<10)})
	}
	archive := dockerArchive(t, filepath.Join(t.TempDir(), "big.tar"), "big:1", buildImage(t, layer(t, files...)))
	s := newStore(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoad$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SDOCKER_IMAGE_TEST_STORE="+s.Dir(), "SDOCKER_IMAGE_TEST_ARCHIVE="+archive)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(s.path("tmp"), "layer-*", "diff", "d*", "f*"))
		if len(m) > 50 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child never started unpacking")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	if err := cmd.Wait(); err == nil {
		t.Skip("the load finished before it could be killed")
	}
	if n := dirNames(t, s.path("layers")); len(n) != 0 {
		t.Errorf("killed load left layers %v", n)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("killed load left images %v %v", list, err)
	}
	if len(dirNames(t, s.path("tmp"))) == 0 {
		t.Error("expected the killed load's work in tmp/")
	}
	imgs, err := s.Load(archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(layerPath(s, imgs[0].Layers[0], "d*/f*")); len(m) != 1500 {
		t.Errorf("reloaded layer has %d files", len(m))
	}
	if _, err := s.Prune(nil); err != nil {
		t.Fatal(err)
	}
	if n := dirNames(t, s.path("tmp")); len(n) != 0 {
		t.Errorf("tmp after GC: %v", n)
	}
	if _, err := s.Get("big:1"); err != nil {
		t.Errorf("image lost by GC: %v", err)
	}
}
