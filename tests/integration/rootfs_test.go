package integration

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rootfsPrograms are the host programs the issue wants in a rootfs.
var rootfsPrograms = []string{"bash", "sh", "ls", "ps", "top", "cat", "echo", "sleep", "hostname", "id", "mount", "env"}

// requireHostPrograms skips t on a machine that has not the programs a
// rootfs is built from (the busybox cgroup2 VM).
func requireHostPrograms(t *testing.T) {
	t.Helper()
	for _, p := range rootfsPrograms {
		found := false
		for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
			if _, err := exec.LookPath(filepath.Join(d, p)); err == nil {
				found = true
				break
			}
		}
		if !found || (inVM && p == "bash") {
			t.Skipf("this machine has no host %s to build a rootfs from (e.g. the busybox cgroup2 VM): "+
				"the rootfs here is prebuilt (SDOCKER_TEST_ROOTFS)", p)
		}
	}
}

// treeState describes every file of a tree: type, mode, size, mtime, link.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		out[strings.TrimPrefix(p, dir)] = fmt.Sprintf("mode=%o size=%d mtime=%d.%09d ino=%d link=%q",
			st.Mode, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ino, link)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRootfsBuild builds a rootfs with `sdocker rootfs DIR`, checks its
// programs, files and workloads, from the host and from a container on it,
// and that building again changes nothing.
func TestRootfsBuild(t *testing.T) {
	e := newEnv(t)
	requireHostPrograms(t)
	dir := filepath.Join(e.root, "my-rootfs")
	r := e.mustRun(0, "rootfs", dir)
	if r.stdout != "" {
		t.Errorf("sdocker rootfs prints on stdout: %q", r.stdout)
	}

	for file, want := range map[string]string{
		"root/.bashrc": `export PS1="\h:\w $ "` + "\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(b) != want {
			t.Errorf("/%s = %q (%v), want %q", file, b, err, want)
		}
	}
	for file, line := range map[string]string{"etc/passwd": "root:x:0:0:", "etc/group": "root:x:0:"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || !strings.Contains(string(b), line) {
			t.Errorf("/%s = %q (%v), want a line starting %q", file, b, err, line)
		}
	}
	for _, w := range []string{"usr/bin/cpu-test", "usr/bin/memory-test"} {
		f, err := elf.Open(filepath.Join(dir, w))
		if err != nil {
			t.Errorf("/%s: %v", w, err)
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("/%s is not static", w)
			}
		}
		f.Close()
	}

	script := `for p in ` + strings.Join(rootfsPrograms, " ") + `; do
		[ -x /usr/bin/$p ] || [ -x /bin/$p ] || [ -x /usr/sbin/$p ] || [ -x /sbin/$p ] || echo "missing $p"
	done
	bash -c 'echo bash-ok'
	ls / >/dev/null && echo ls-ok
	echo "id=$(id -un):$(id -gn)"
	env | grep -q '^PATH=' && echo env-ok
	ps -e >/dev/null && echo ps-ok
	top -b -n 1 >/dev/null && echo top-ok
	mount | grep -q ' /proc ' && echo mount-ok
	cpu-test --help >/dev/null && echo cpu-test-ok
	memory-test 2`
	r = e.mustRun(0, "run", dir, "sh", "-c", script)
	want := "bash-ok\nls-ok\nid=root:root\nenv-ok\nps-ok\ntop-ok\nmount-ok\ncpu-test-ok\n" +
		"[+] malloc size: 1048576\n[+] malloc size: 2097152\n"
	if r.stdout != want {
		t.Errorf("in a container on the new rootfs:\n%s\nwant stdout:\n%s", r, want)
	}

	before := treeState(t, dir)
	e.mustRun(0, "rootfs", dir)
	after := treeState(t, dir)
	for p, s := range before {
		if after[p] != s {
			t.Errorf("second build changed %s: %s -> %s", p, s, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("second build added %s", p)
		}
	}
}

// TestDefaultRootfsAndBash runs sdocker without ROOTFS (the default
// rootfs under $SDOCKER_ROOT, built on first use) and without CMD (bash).
func TestDefaultRootfsAndBash(t *testing.T) {
	e := newEnv(t)
	requireHostPrograms(t)
	start := time.Now()
	r := e.runWith(runOpts{stdin: "echo \"bash=$BASH_VERSION\"; hostname\n", timeout: timeout(5 * time.Minute)}, "run", "-i")
	if r.code != 0 {
		t.Fatalf("sdocker run -i (default rootfs, bash): %s", r)
	}
	t.Logf("first run with the default rootfs: %s", time.Since(start).Round(time.Millisecond))
	lines := nonEmptyLines(r.stdout)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "bash=") || lines[0] == "bash=" || lines[1] != "sdocker@"+r.shortID() {
		t.Errorf("stdout %q: want bash's version and the hostname sdocker@%s", r.stdout, r.shortID())
	}
	for _, f := range []string{"rootfs/usr/bin/bash", "rootfs/usr/bin/cpu-test", "rootfs/root/.bashrc"} {
		if _, err := os.Stat(filepath.Join(e.root, f)); err != nil {
			t.Errorf("default rootfs: %v", err)
		}
	}
	// Second use: the rootfs is not rebuilt.
	before := treeState(t, filepath.Join(e.root, "rootfs"))
	r = e.mustRun(0, "run")
	if r.stdout != "" {
		t.Errorf("bash with stdin /dev/null printed %q", r.stdout)
	}
	after := treeState(t, filepath.Join(e.root, "rootfs"))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the default rootfs changed on its second use")
	}
	assertNoCgroups(t, r.shortID())
}
