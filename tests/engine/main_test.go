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
//	SDOCKER_TEST_BIN_DIR  prebuilt static sdocker, sdocker-monitor, sdocker-init, cpu-test and memory-test
//	SDOCKER_TEST_ROOTFS   a rootfs made by `sdocker rootfs DIR`
//	SDOCKER_TEST_SLOW     multiply every timeout by this (default 1)
package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

var (
	skipReason string
	workDir    string
	binDir     string
	sdockerBin string
	rootfsDir  string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if skipReason = testutil.RootSkipReason("sdocker engine tests need root"); skipReason != "" {
		return m.Run()
	}
	// This machine's PID 1 never reaps orphans, and a detached container's
	// monitor is one as soon as `sdocker run -d` returns: become their
	// reaper (see reaper in helpers_test.go).
	if err := testutil.StartSuite(1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	stop := startReaper()
	code, err := setupAndRun(m)
	stop()
	code = testutil.Finish("tests/engine", code, err)
	testutil.ReapAll()
	return code
}

func setupAndRun(m *testing.M) (code int, err error) {
	start := time.Now()
	if workDir, err = os.MkdirTemp("", "sdocker-engine-"); err != nil {
		return 2, err
	}
	defer func() { err = errors.Join(err, testutil.RemoveWorkDir(workDir)) }()
	pkgs := []string{"./cmd/sdocker", "./cmd/sdocker-monitor", "./cmd/sdocker-tini", "./cmd/cpu-test", "./cmd/memory-test"}
	if testutil.HasPackage("./cmd/sdocker-init") {
		pkgs = append(pkgs, "./cmd/sdocker-init")
	}
	if binDir, rootfsDir, err = testutil.PrepareSdocker(workDir, pkgs...); err != nil {
		return 2, err
	}
	sdockerBin = filepath.Join(binDir, "sdocker")
	// Detached containers must be watched by the small monitor, not by
	// sdocker's in-process fallback.
	if _, err := os.Stat(filepath.Join(binDir, "sdocker-monitor")); err != nil {
		return 2, fmt.Errorf("binary sdocker-monitor: %w", err)
	}
	fmt.Fprintf(os.Stderr, "tests/engine: binaries in %s, rootfs %s, setup %s\n", binDir, rootfsDir, time.Since(start).Round(time.Millisecond))
	return m.Run(), nil
}
