// Package oci holds the acceptance tests of sdocker-runc as an OCI runtime:
// real containers on the real kernel, driven only through the runtime's
// command line (runc's syntax), checked from inside the container (what it
// prints) and from the host (cgroup files, /proc, the files it leaves).
//
// The same suite runs against any runtime with runc's command line:
//
//	go test ./tests/oci                     # sdocker-runc, built from ./cmd/sdocker-runc
//	OCI_RUNTIME=runc go test ./tests/oci    # the reference: runc
//
// OCI_RUNTIME is a path or a name looked up in $PATH. The binary under test
// is always a private copy in the suite's work directory: the CVE-2019-5736
// test tries to overwrite it from inside a container, and a vulnerable
// runtime must not destroy the machine's own runc.
//
// Where runc's behaviour legitimately differs (wording of errors, the
// features it reports, refusals particular to sdocker-runc, features runc
// 1.1 lacks), the assertion says so and depends on isRunc.
//
// The tests need root (namespaces, cgroups, mounts). As another user every
// test skips with a message. SDOCKER_TEST_SLOW multiplies the time every
// condition polled from the host is given (default 1).
package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

var (
	// skipReason is set when the suite cannot run here (not root).
	skipReason string
	// workDir holds everything the suite makes: the runtime binary, the
	// rootfs template, the state root.
	workDir string
	// binDir holds the runtime under test (a private copy) and, for
	// sdocker-runc, the sdocker-init beside it, as `make install` puts them.
	binDir string
	// runtimeBin is the runtime under test.
	runtimeBin string
	// binSHA is the sha256 of each file in binDir when the suite started.
	binSHA map[string]string
	// runtimeName is "sdocker-runc" or "runc" (or the base name of OCI_RUNTIME).
	runtimeName string
	// isRunc: the runtime under test is runc (legitimate differences).
	isRunc bool
	// runcVersion is runc's [major, minor] when isRunc.
	runcVersion [2]int
	// stateRoot is the --root of every runtime command.
	stateRoot string
	// rootfsTemplate is the busybox rootfs every bundle copies.
	rootfsTemplate string
	// baseSpecJSON is the config.json `RUNTIME spec` writes.
	baseSpecJSON []byte
	// cgroupParent is the cgroup (under every v1 hierarchy) the tests'
	// containers go in: cgroupsPath = cgroupParent/ID.
	cgroupParent = fmt.Sprintf("/ocitest-%d", os.Getpid())
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if skipReason = testutil.RootSkipReason("OCI runtime tests need root (namespaces, cgroups, mounts)"); skipReason != "" {
		return m.Run()
	}
	// This machine's PID 1 never reaps orphans: the init of a container
	// made by `create` outlives the runtime process that started it and
	// comes to us. Each test reaps the pids it knows (never wait4(-1)
	// while exec.Cmd's may be waiting).
	if err := testutil.StartSuite(1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	code, err := setupAndRun(m)
	code = testutil.Finish("oci", code, err)
	testutil.ReapAll()
	return code
}

func setupAndRun(m *testing.M) (code int, err error) {
	start := time.Now()
	collectStale()
	workDir, err = os.MkdirTemp("", fmt.Sprintf("sdocker-oci-%d-", os.Getpid()))
	if err != nil {
		return 2, err
	}
	if err := os.Chmod(workDir, 0o755); err != nil {
		return 2, err
	}
	defer func() {
		testutil.RemoveCgroupTree(cgroupParent)
		err = errors.Join(err, testutil.RemoveWorkDir(workDir))
	}()
	binDir = filepath.Join(workDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return 2, err
	}
	if env := os.Getenv("OCI_RUNTIME"); env != "" {
		src, err := exec.LookPath(env)
		if err != nil {
			return 2, fmt.Errorf("OCI_RUNTIME=%s: %w", env, err)
		}
		runtimeName = filepath.Base(src)
		runtimeBin = filepath.Join(binDir, runtimeName)
		if err := copyFile(src, runtimeBin, 0o755); err != nil {
			return 2, fmt.Errorf("copy OCI_RUNTIME %s: %w", src, err)
		}
		// sdocker-runc's init binary, when it is installed beside it.
		if helper := filepath.Join(filepath.Dir(src), "sdocker-init"); fileExists(helper) {
			if err := copyFile(helper, filepath.Join(binDir, "sdocker-init"), 0o755); err != nil {
				return 2, err
			}
		}
	} else {
		runtimeName = "sdocker-runc"
		runtimeBin = filepath.Join(binDir, runtimeName)
		if err := buildRuntime(binDir); err != nil {
			return 2, err
		}
	}
	if binSHA, err = dirSHA256(binDir); err != nil {
		return 2, err
	}
	out, err := exec.Command(runtimeBin, "--version").CombinedOutput()
	if err != nil {
		return 2, fmt.Errorf("%s --version: %w\n%s", runtimeBin, err, out)
	}
	if v := regexp.MustCompile(`(?m)^runc version (\d+)\.(\d+)`).FindSubmatch(out); v != nil {
		isRunc = true
		runcVersion[0], _ = strconv.Atoi(string(v[1]))
		runcVersion[1], _ = strconv.Atoi(string(v[2]))
	}
	stateRoot = filepath.Join(workDir, "state")
	rootfsTemplate = filepath.Join(workDir, "rootfs")
	if err := makeRootfs(rootfsTemplate); err != nil {
		return 2, err
	}
	specDir := filepath.Join(workDir, "spec")
	if err := os.Mkdir(specDir, 0o755); err != nil {
		return 2, err
	}
	if out, err := exec.Command(runtimeBin, "spec", "--bundle", specDir).CombinedOutput(); err != nil {
		return 2, fmt.Errorf("%s spec --bundle %s: %w\n%s", runtimeName, specDir, err, out)
	}
	if baseSpecJSON, err = os.ReadFile(filepath.Join(specDir, "config.json")); err != nil {
		return 2, err
	}
	var probe specs.Spec
	if err := json.Unmarshal(baseSpecJSON, &probe); err != nil {
		return 2, fmt.Errorf("`%s spec` wrote an invalid config.json: %w", runtimeName, err)
	}
	stopReaper := startReaper()
	defer stopReaper()
	var bins []string
	for name := range binSHA {
		bins = append(bins, name)
	}
	fmt.Fprintf(os.Stderr, "oci: runtime %s (%s), isRunc=%v, binaries %v, work dir %s, setup %s\n",
		runtimeName, strings.SplitN(string(out), "\n", 2)[0], isRunc, bins, workDir, time.Since(start).Round(time.Millisecond))
	return m.Run(), nil
}

// collectStale removes what an earlier run of this suite left when it was
// killed before its cleanup (a test timeout, ^C): the processes and
// cgroups under /ocitest-PID and the work directory sdocker-oci-PID-*, for
// a PID that is no longer this suite.
func collectStale() {
	running := func(pid int) bool {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return err == nil && strings.HasSuffix(strings.TrimSpace(string(comm)), ".test")
	}
	re := regexp.MustCompile(`^ocitest-(\d+)$`)
	for _, d := range testutil.CgroupDirs("/ocitest-*") {
		m := re.FindStringSubmatch(filepath.Base(d))
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || running(pid) {
			continue
		}
		testutil.RemoveCgroups(d)
		fmt.Fprintf(os.Stderr, "oci: removed cgroup %s left by an interrupted run\n", d)
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "sdocker-oci-*-*"))
	for _, d := range dirs {
		f := strings.SplitN(strings.TrimPrefix(filepath.Base(d), "sdocker-oci-"), "-", 2)
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid == os.Getpid() || running(pid) || len(testutil.MountsUnder(d)) > 0 {
			continue
		}
		os.RemoveAll(d)
	}
}

// buildRuntime builds ./cmd/sdocker-runc and, where the module has it,
// ./cmd/sdocker-init, static, into dir.
func buildRuntime(dir string) error {
	pkgs := []string{"./cmd/sdocker-runc"}
	if testutil.HasPackage("./cmd/sdocker-init") {
		pkgs = append(pkgs, "./cmd/sdocker-init")
	}
	return testutil.BuildBinaries(dir, pkgs...)
}

// makeRootfs makes a minimal busybox rootfs in dir: /bin/busybox (static)
// and a symlink per applet, the usual directories, /etc/passwd and group.
func makeRootfs(dir string) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox (busybox-static) is needed for the rootfs: %w", err)
	}
	return testutil.MakeBusyboxRootfs(bb, dir, map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":    "root:x:0:\ntty:x:5:\nnobody:x:65534:\n",
		"etc/hostname": "template\n",
	})
}

// copyTree copies a tree of directories, regular files and symlinks.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			if err := os.MkdirAll(target, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(target, fi.Mode()&(os.ModePerm|os.ModeSticky))
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case fi.Mode().IsRegular():
			return copyFile(p, target, fi.Mode().Perm())
		}
		return fmt.Errorf("copy %s: unexpected file type %v", p, fi.Mode())
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dirSHA256 returns the sha256 of every file in dir.
func dirSHA256(dir string) (map[string]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		sum, err := fileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = sum
	}
	return out, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// runcBefore reports whether the runtime is a runc older than major.minor.
func runcBefore(major, minor int) bool {
	return isRunc && (runcVersion[0] < major || runcVersion[0] == major && runcVersion[1] < minor)
}
