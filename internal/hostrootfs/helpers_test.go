package hostrootfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// workDir holds what the tests build once (the static workloads); TestMain
// removes it.
var workDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "rootfs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var (
	workloadsOnce sync.Once
	workloads     map[string]string
	workloadsErr  error
)

// testWorkloads builds cpu-test and memory-test (CGO_ENABLED=0) once and
// returns name -> path.
func testWorkloads(t *testing.T) map[string]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH; cannot build the workloads")
	}
	workloadsOnce.Do(func() {
		out := filepath.Join(workDir, "bin")
		cmd := exec.Command(goTool, "build", "-o", out+"/", "./cmd/cpu-test", "./cmd/memory-test")
		cmd.Dir = filepath.Join("..", "..") // the module root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			workloadsErr = fmt.Errorf("go build workloads: %w\n%s", err, b)
			return
		}
		workloads = map[string]string{}
		for _, n := range WorkloadNames {
			workloads[n] = filepath.Join(out, n)
		}
	})
	if workloadsErr != nil {
		t.Fatal(workloadsErr)
	}
	return workloads
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (chroot)")
	}
}
