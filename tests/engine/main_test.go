// Package engine holds integration tests of the sdocker engine's commands
// (logs, inspect, stats, top, ps --format, ...) against the real kernel:
// they build sdocker, run real detached containers and check what the
// commands print.
//
// They need root; as another user every test skips. Each test has an
// SDOCKER_ROOT of its own; the rootfs is built once.
//
// Environment:
//
//	SDOCKER_TEST_BIN_DIR  prebuilt static sdocker, sdocker-init, cpu-test and memory-test
//	SDOCKER_TEST_ROOTFS   a rootfs made by `sdocker rootfs DIR`
//	SDOCKER_TEST_SLOW     multiply every timeout by this (default 1)
package engine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	skipReason string
	workDir    string
	binDir     string
	sdockerBin string
	rootfsDir  string
	slow       = 1.0
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = fmt.Sprintf("sdocker engine tests need root; running as uid %d: every test is skipped", os.Geteuid())
		fmt.Fprintln(os.Stderr, "SKIP: "+skipReason)
		return m.Run()
	}
	if s := os.Getenv("SDOCKER_TEST_SLOW"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "SDOCKER_TEST_SLOW=%q: want a positive number\n", s)
			return 2
		}
		slow = v
	}
	// This machine's PID 1 never reaps orphans, and a detached container's
	// monitor is one as soon as `sdocker run -d` returns: become their
	// reaper (see reaper in helpers_test.go).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER): %v\n", err)
		return 2
	}
	stop := startReaper()
	code, err := setupAndRun(m)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tests/engine: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	reapAll()
	return code
}

func setupAndRun(m *testing.M) (code int, err error) {
	start := time.Now()
	if workDir, err = os.MkdirTemp("", "sdocker-engine-"); err != nil {
		return 2, err
	}
	defer func() {
		if mounts := mountsUnder(workDir); len(mounts) > 0 {
			err = fmt.Errorf("mounts left under %s (not removed): %q", workDir, mounts)
			if code == 0 {
				code = 1
			}
			return
		}
		if rerr := os.RemoveAll(workDir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	binDir = os.Getenv("SDOCKER_TEST_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(workDir, "bin")
		if err := buildBinaries(binDir); err != nil {
			return 2, err
		}
	}
	sdockerBin = filepath.Join(binDir, "sdocker")
	for _, name := range []string{"sdocker", "cpu-test", "memory-test"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			return 2, fmt.Errorf("binary %s: %w", name, err)
		}
	}
	rootfsDir = os.Getenv("SDOCKER_TEST_ROOTFS")
	if rootfsDir == "" {
		rootfsDir = filepath.Join(workDir, "rootfs")
		cmd := exec.Command(sdockerBin, "rootfs", rootfsDir)
		cmd.Env = sdockerEnv(filepath.Join(workDir, "rootfs-root"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return 2, fmt.Errorf("sdocker rootfs %s: %v\n%s", rootfsDir, err, out)
		}
	}
	if rootfsDir, err = filepath.Abs(rootfsDir); err != nil {
		return 2, err
	}
	fmt.Fprintf(os.Stderr, "tests/engine: binaries in %s, rootfs %s, setup %s\n", binDir, rootfsDir, time.Since(start).Round(time.Millisecond))
	return m.Run(), nil
}

// buildBinaries builds the static programs from the module's source.
func buildBinaries(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the sdocker module (go env GOMOD = %q)", gomod)
	}
	pkgs := []string{"./cmd/sdocker", "./cmd/cpu-test", "./cmd/memory-test"}
	if _, err := os.Stat(filepath.Join(filepath.Dir(gomod), "cmd", "sdocker-init")); err == nil {
		pkgs = append(pkgs, "./cmd/sdocker-init")
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// sdockerEnv is our environment with root as SDOCKER_ROOT.
func sdockerEnv(root string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SDOCKER_ROOT=") {
			env = append(env, kv)
		}
	}
	return append(env, "SDOCKER_ROOT="+root)
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}
