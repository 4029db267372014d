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
	"bytes"
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
	// slow scales every timeout (emulated CPUs are much slower).
	slow = 1.0
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = fmt.Sprintf("sdocker integration tests need root (namespaces, cgroups, mounts); "+
			"running as uid %d: every test is skipped", os.Geteuid())
		fmt.Fprintln(os.Stderr, "SKIP: "+skipReason)
		return m.Run()
	}
	inVM = os.Getenv("CGROUP2_VM") != ""
	if inVM {
		slow = 5
	}
	if s := os.Getenv("SDOCKER_TEST_SLOW"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "SDOCKER_TEST_SLOW=%q: want a positive number\n", s)
			return 2
		}
		slow = v
	}
	cgroupMode = 1
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		cgroupMode = 2
	}
	// This machine's PID 1 may never reap orphans: a container whose
	// sdocker process was killed comes to us instead, and we reap it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER): %v\n", err)
		return 2
	}
	code, err := setupAndRun(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	reapAll()
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
	fmt.Fprintf(os.Stderr, "integration: cgroup v%d, vm=%v, binaries in %s, rootfs %s, setup %s\n",
		cgroupMode, inVM, binDir, rootfsDir, time.Since(start).Round(time.Millisecond))
	return m.Run(), nil
}

// buildBinaries builds the three static programs from the module's source.
func buildBinaries(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the sdocker module (go env GOMOD = %q)", gomod)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/sdocker", "./cmd/sdocker-init", "./cmd/cpu-test", "./cmd/memory-test")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return os.Chmod(dir, 0o755)
}

// sdockerEnv is the environment of an sdocker command: ours, with root as
// SDOCKER_ROOT.
func sdockerEnv(root string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SDOCKER_ROOT=") {
			env = append(env, kv)
		}
	}
	return append(env, "SDOCKER_ROOT="+root)
}

// reapAll reaps every child left (orphans re-parented to us). Only called
// once no exec.Cmd of ours runs any more.
func reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
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
			if !processRunning(pid) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// mountsUnder lists the mount points of this mount namespace at or below dir.
func mountsUnder(dir string) []string {
	var out []string
	for _, m := range hostMounts() {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			out = append(out, m.point)
		}
	}
	return out
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
			root: unescapeMount(f[3]), point: unescapeMount(f[4]), options: f[5],
			fstype: f[sep+1], source: f[sep+2], super: f[sep+3],
		})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// requireRoot skips t when the suite cannot run.
func requireRoot(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// timeout scales d for slow machines.
func timeout(d time.Duration) time.Duration { return time.Duration(float64(d) * slow) }
