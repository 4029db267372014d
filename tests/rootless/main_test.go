// Package rootless holds integration tests of sdocker run by an
// unprivileged user: every test makes a user of its own with subordinate
// ranges in /etc/subuid and /etc/subgid, runs sdocker as that user, and
// removes the user, its ranges, processes, cgroups and state afterwards.
//
// They need root (to make the users), newuidmap and newgidmap (Debian's
// uidmap), nsenter and, for the network tests, slirp4netns and pasta
// (Debian's passt); as another user, or without them, every test skips.
// The image is a static busybox (/bin/busybox, Debian's busybox-static).
//
// Environment:
//
//	SDOCKER_TEST_BIN_DIR  prebuilt static sdocker, sdocker-monitor and sdocker-init
//	SDOCKER_TEST_SLOW     multiply every timeout by this (default 1)
package rootless

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sdocker/sdocker/tests/testutil"
)

var (
	skipReason string
	workDir    string
	sdockerBin string
	// imageTar is the test rootfs as a tar file that every user imports.
	imageTar string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if skipReason = testutil.RootSkipReason("rootless tests need root (to make their users)"); skipReason != "" {
		return m.Run()
	}
	for _, tool := range []string{"newuidmap", "newgidmap", "nsenter", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipReason = fmt.Sprintf("rootless tests need %s (newuidmap and newgidmap: the uidmap package)", tool)
			return m.Run()
		}
	}
	if err := testutil.StartSuite(1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	code, err := setupAndRun(m)
	code = testutil.Finish("tests/rootless", code, err)
	testutil.ReapAll()
	return code
}

func setupAndRun(m *testing.M) (code int, err error) {
	if workDir, err = os.MkdirTemp("", "sdocker-rootless-"); err != nil {
		return 2, err
	}
	defer func() { err = errors.Join(err, testutil.RemoveWorkDir(workDir)) }()
	// The test users run the binaries and read the image from here.
	if err := os.Chmod(workDir, 0o755); err != nil {
		return 2, err
	}
	// The binaries, where the test users reach them.
	binDir := filepath.Join(workDir, "bin")
	if given := os.Getenv("SDOCKER_TEST_BIN_DIR"); given != "" {
		err = copyBinaries(given, binDir, "sdocker", "sdocker-monitor", "sdocker-init")
	} else {
		err = testutil.BuildBinaries(binDir, "./cmd/sdocker", "./cmd/sdocker-monitor", "./cmd/sdocker-init")
	}
	if err == nil {
		err = os.Chmod(binDir, 0o755)
	}
	if err != nil {
		return 2, err
	}
	sdockerBin = filepath.Join(binDir, "sdocker")
	// The image: a static busybox (nc serves the published port).
	rootfsDir := filepath.Join(workDir, "rootfs")
	err = testutil.MakeBusyboxRootfs("/bin/busybox", rootfsDir, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	})
	if err != nil {
		return 2, err
	}
	imageTar = filepath.Join(workDir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfsDir, "-cf", imageTar, ".").CombinedOutput(); err != nil {
		return 2, fmt.Errorf("tar %s: %w: %s", rootfsDir, err, out)
	}
	if err := os.Chmod(imageTar, 0o644); err != nil {
		return 2, err
	}
	return m.Run(), nil
}

// copyBinaries copies the binaries names from dir src to dir dst.
func copyBinaries(src, dst string, names ...string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o755); err != nil {
			return err
		}
	}
	return nil
}
