// Package integration holds the acceptance tests of the sdocker command line
// against the real kernel: every test runs the sdocker binary (built once
// here, or prebuilt), starts real containers and checks them from the host
// side (cgroup files, /proc, mountinfo). No mocks.
//
// They need root. As another user every test skips with a message. They
// adapt to the machine's cgroup mode: v1 (or hybrid) and v2, the latter in
// the VM of scripts/cgroup2-vm-test.sh (which sets SDOCKER_TEST_BIN_DIR and
// SDOCKER_TEST_ROOTFS, as the VM has no Go toolchain and no glibc programs).
//
// Environment:
//
//	SDOCKER_TEST_BIN_DIR  prebuilt static sdocker, cpu-test and memory-test
//	SDOCKER_TEST_ROOTFS   a rootfs made by `sdocker rootfs DIR`
//	SDOCKER_TEST_SLOW     multiply every timeout by this (default 1, 5 in the VM)
package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

var (
	// skipReason is set when the suite cannot run here (not root).
	skipReason string
	// workDir holds everything the suite makes (binaries, rootfs, roots).
	workDir string
	// binDir holds sdocker, cpu-test and memory-test.
	binDir     string
	sdockerBin string
	// rootfsDir is the rootfs the tests run their containers on.
	rootfsDir string
	// cgroupMode is 2 when /sys/fs/cgroup is cgroup2, else 1 (v1 or hybrid).
	cgroupMode int
	// inVM is true inside the cgroup2-vm of scripts/cgroup2-vm-test.sh.
	inVM bool
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if skipReason = testutil.RootSkipReason("sdocker integration tests need root (namespaces, cgroups, mounts)"); skipReason != "" {
		return m.Run()
	}
	inVM = os.Getenv("CGROUP2_VM") != ""
	cgroupMode = 1
	if testutil.CgroupV2() {
		cgroupMode = 2
	}
	// Emulated CPUs are much slower: every timeout is 5 times as long in
	// the VM. This machine's PID 1 may never reap orphans: a container
	// whose sdocker process was killed comes to us instead, and we reap it.
	slow := 1.0
	if inVM {
		slow = 5
	}
	if err := testutil.StartSuite(slow); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	code, err := setupAndRun(m)
	code = testutil.Finish("integration", code, err)
	testutil.ReapAll()
	return code
}

func setupAndRun(m *testing.M) (code int, err error) {
	start := time.Now()
	workDir, err = os.MkdirTemp("", "sdocker-it-")
	if err != nil {
		return 2, err
	}
	// Others (uid 65534 in the non-root test) must reach the binaries.
	if err := os.Chmod(workDir, 0o755); err != nil {
		return 2, err
	}
	defer func() { err = errors.Join(err, testutil.RemoveWorkDir(workDir)) }()

	if binDir, rootfsDir, err = testutil.PrepareSdocker(workDir,
		"./cmd/sdocker", "./cmd/sdocker-init", "./cmd/cpu-test", "./cmd/memory-test"); err != nil {
		return 2, err
	}
	sdockerBin = filepath.Join(binDir, "sdocker")
	fmt.Fprintf(os.Stderr, "integration: cgroup v%d, vm=%v, binaries in %s, rootfs %s, setup %s\n",
		cgroupMode, inVM, binDir, rootfsDir, time.Since(start).Round(time.Millisecond))
	return m.Run(), nil
}

// reapPid reaps pid if it is a child of ours (an orphaned container init
// re-parented to this subreaper), waiting up to timeout for it to end. It
// reports whether pid is gone (reaped or not our child and not running).
func reapPid(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case got == pid:
			return true
		case err == unix.ECHILD:
			// Not ours (yet?): gone if /proc says so.
			if !testutil.ProcessRunning(pid) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type mountInfo struct {
	dev                                         string // major:minor
	root, point, fstype, source, options, super string
}

// hostMounts parses /proc/self/mountinfo of the test process.
func hostMounts() []mountInfo {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountinfo(string(b))
}

func parseMountinfo(s string) []mountInfo {
	var out []mountInfo
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		out = append(out, mountInfo{
			dev:  f[2],
			root: testutil.UnescapeMount(f[3]), point: testutil.UnescapeMount(f[4]), options: f[5],
			fstype: f[sep+1], source: f[sep+2], super: f[sep+3],
		})
	}
	return out
}

// requireRoot skips t when the suite cannot run.
func requireRoot(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// timeout scales d for slow machines (testutil.Timeout).
func timeout(d time.Duration) time.Duration { return testutil.Timeout(d) }
