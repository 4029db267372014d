package hostrootfs

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// snapshot describes every entry of a tree: type, mode, size, mtime and
// symlink target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		s := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			s += " -> " + target
		case fi.Mode().IsRegular():
			s += fmt.Sprintf(" %d %d", fi.Size(), fi.ModTime().UnixNano())
		}
		m[r] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuild(t *testing.T) {
	w := testWorkloads(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	if IsBuilt(dir) {
		t.Fatal("IsBuilt before Build")
	}
	opts := Options{Workloads: w}
	extra, err := lookProgram("find")
	if err == nil {
		opts.ExtraPrograms = []string{extra}
	}
	if err := Build(dir, opts); err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		if _, err := statIn(dir, extra); err != nil {
			t.Errorf("extra program: %v", err)
		}
	}
	if !IsBuilt(dir) {
		t.Fatal("IsBuilt after Build = false")
	}
	first := snapshot(t, dir)
	var size int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	t.Logf("rootfs: %d entries, %.1f MB", len(first), float64(size)/1e6)

	// Every program, with its interpreter and libraries, is in the tree
	// at its host path.
	r := hostResolver(t)
	for _, name := range append(requiredPrograms, optionalPrograms...) {
		p, err := lookProgram(name)
		if err != nil {
			continue
		}
		inTree := filepath.Join(dir, p)
		if _, err := os.Stat(inTree); err != nil {
			t.Errorf("program %s: %v", name, err)
			continue
		}
		real, _ := filepath.EvalSymlinks(p)
		if ok, _ := isELF(real); !ok {
			continue
		}
		interp, libs, err := r.closure(real)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(libs, interp) {
			if f == "" {
				continue
			}
			// Resolve in the tree only: absolute links are taken inside.
			if _, err := statIn(dir, f); err != nil {
				t.Errorf("%s needs %s: %v", name, f, err)
			}
		}
	}
	for _, n := range WorkloadNames {
		if err := checkStatic(filepath.Join(dir, "usr/bin", n)); err != nil {
			t.Errorf("workload %s: %v", n, err)
		}
	}

	// Config files and modes.
	for path, want := range map[string]string{
		"root/.bashrc":       "export PS1=\"\\h:\\w $ \"\n",
		"etc/nsswitch.conf":  "passwd: files\n",
		"etc/passwd":         "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":          "tty:x:5:\n",
		"etc/hosts":          "localhost",
		".sdocker-rootfs":    "sdocker",
		"usr/lib/terminfo/x": "",
	} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if fi.IsDir() {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, path))
		if !strings.Contains(string(b), want) || (path == "root/.bashrc" && string(b) != want) {
			t.Errorf("%s = %q, want %q in it", path, b, want)
		}
	}
	for path, want := range map[string]fs.FileMode{
		"root":    fs.ModeDir | 0o700,
		"tmp":     fs.ModeDir | fs.ModeSticky | 0o777,
		"var/tmp": fs.ModeDir | fs.ModeSticky | 0o777,
		"proc":    fs.ModeDir | 0o555,
		"sys":     fs.ModeDir | 0o555,
		"dev":     fs.ModeDir | 0o755,
		"run":     fs.ModeDir | 0o755,
		"home":    fs.ModeDir | 0o755,
	} {
		fi, err := os.Lstat(filepath.Join(dir, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	for _, top := range topLevelLinks {
		host, err := os.Readlink(top)
		if err != nil {
			continue
		}
		if got, err := os.Readlink(filepath.Join(dir, top)); err != nil || got != host {
			t.Errorf("%s: link %q, %v; host has %q", top, got, err, host)
		}
	}

	// A second build changes nothing.
	if err := Build(dir, opts); err != nil {
		t.Fatalf("second build: %v", err)
	}
	if second := snapshot(t, dir); !reflect.DeepEqual(first, second) {
		for k, v := range second {
			if first[k] != v {
				t.Errorf("second build changed %s: %q -> %q", k, first[k], v)
			}
		}
		for k := range first {
			if _, ok := second[k]; !ok {
				t.Errorf("second build removed %s", k)
			}
		}
	}

	// Damaged files are repaired in place.
	bash, _ := lookProgram("bash")
	bashReal, _ := filepath.EvalSymlinks(bash)
	if err := os.WriteFile(filepath.Join(dir, bashReal), []byte("broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Build(dir, opts); err != nil {
		t.Fatalf("third build: %v", err)
	}
	if third := snapshot(t, dir); third[bashReal[1:]] != first[bashReal[1:]] || third["etc/passwd"][:10] != first["etc/passwd"][:10] || third["tmp"] != first["tmp"] {
		t.Errorf("third build did not repair: bash %q, passwd %q, tmp %q", third[bashReal[1:]], third["etc/passwd"], third["tmp"])
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); !strings.HasPrefix(string(b), "root:") {
		t.Errorf("etc/passwd not restored: %q", b)
	}
	// No temporary files are left behind.
	for k := range snapshot(t, dir) {
		if strings.Contains(k, ".sdocker-tmp-") {
			t.Errorf("temporary file left: %s", k)
		}
	}

	t.Run("chroot", func(t *testing.T) { testChroot(t, dir) })
}

// statIn stats path inside the tree dir, resolving symlinks (absolute ones
// too) within the tree.
func statIn(dir, path string) (fs.FileInfo, error) {
	cur := "/"
	rest := strings.Split(path, "/")
	for n := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(dir, next))
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if n++; n > 40 {
				return nil, syscall.ELOOP
			}
			target, _ := os.Readlink(filepath.Join(dir, next))
			if filepath.IsAbs(target) {
				cur = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		cur = next
	}
	return os.Stat(filepath.Join(dir, cur))
}

// testChroot runs programs of the built tree inside it with chroot(2).
// Nothing is mounted, so /proc and /dev are empty: ps and top are only
// checked for their libraries.
func testChroot(t *testing.T, dir string) {
	requireRoot(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chroot %s: %s: %v\n%s", dir, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("/bin/bash", "-c", `set -e
l=$(ls /); case "$l" in *usr*) ;; *) exit 3;; esac
echo ok
id -un
whoami
id -gn nobody
sh -c 'echo sh-$((1+1))'
cpu-test --help | head -n 1
memory-test 2
test -d /root && [ -k /tmp ] && echo dirs
printf '%s\n' "$(stat -c %a /root)"
`)
	want := "ok\nroot\nroot\nnogroup\nsh-2\nusage: cpu-test\n[+] malloc size: 1048576\n[+] malloc size: 2097152\ndirs\n700\n"
	if out != want {
		t.Errorf("chroot shell output:\n%s\nwant:\n%s", out, want)
	}
	if out := run("/bin/bash", "-ic", `echo "$PS1"`); !strings.Contains(out, `\h:\w $`) {
		t.Errorf("interactive bash PS1: %q", out)
	}

	// Every dynamic program of the tree loads: ld.so --list fails on a
	// missing library.
	entries, err := os.ReadDir(filepath.Join(dir, "usr/bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := "/usr/bin/" + e.Name()
		f, err := elf.Open(filepath.Join(dir, p))
		if err != nil {
			continue // a script or a symlink
		}
		interp := ""
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				prog.ReadAt(b, 0)
				interp = strings.TrimRight(string(b), "\x00")
			}
		}
		f.Close()
		if interp == "" {
			continue
		}
		if out := run(interp, "--list", p); strings.Contains(out, "not found") {
			t.Errorf("%s: %s", p, out)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	if err := Build("", Options{Workloads: map[string]string{}}); err == nil {
		t.Error("Build(\"\") succeeded")
	}
	if err := Build("/", Options{Workloads: map[string]string{}}); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("Build(/) = %v", err)
	}
	if err := Build("/usr/..//", Options{Workloads: map[string]string{}}); err == nil {
		t.Error("Build(/usr/..//) succeeded")
	}
	d := t.TempDir()
	if err := os.Symlink("/", filepath.Join(d, "root-link")); err != nil {
		t.Fatal(err)
	}
	if err := Build(filepath.Join(d, "root-link"), Options{Workloads: map[string]string{}}); err == nil {
		t.Error("Build(link to /) succeeded")
	}

	// A dynamic binary is not a workload, and nothing is installed then.
	ls, err := lookProgram("ls")
	if err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(d, "dyn")
	err = Build(dir, Options{Workloads: map[string]string{"cpu-test": ls}})
	if err == nil || !strings.Contains(err.Error(), "static") {
		t.Errorf("Build with dynamic workload = %v", err)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Error("Build with a bad workload created the directory")
	}
	if err := Build(dir, Options{Workloads: map[string]string{"../x": "/bin/true"}}); err == nil {
		t.Error("Build accepted workload name ../x")
	}
	if err := Build(dir, Options{Workloads: map[string]string{}, ExtraPrograms: []string{"no-such-program-xyz"}}); err == nil ||
		!strings.Contains(err.Error(), "no-such-program-xyz") {
		t.Errorf("Build with a missing extra program = %v", err)
	}
}

// TestBuildStaysInside plants symlinks in the tree that lead out of it:
// Build must fail rather than write through them.
func TestBuildStaysInside(t *testing.T) {
	w := testWorkloads(t)
	d := t.TempDir()
	outside := filepath.Join(d, "outside")
	dir := filepath.Join(d, "rootfs")
	for _, p := range []string{outside, dir} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../outside", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "root")); err != nil {
		t.Fatal(err)
	}
	err := Build(dir, Options{Workloads: w})
	if err == nil {
		t.Error("Build wrote through symlinks leading out of the tree")
	} else {
		t.Logf("Build: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Build wrote outside the tree: %v", entries)
	}

	// Below Build's own checks, the os.Root refuses to follow symlinks
	// out of the tree, relative or absolute.
	if err := os.Symlink(outside, filepath.Join(dir, "abs")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	in := &installer{root: root, dir: dir, done: map[string]bool{}}
	for _, p := range []string{"/etc/x/passwd", "/etc/passwd", "/abs/passwd", "/root/.bashrc"} {
		if err := in.writeFile(p, []byte("x"), 0o644); err == nil {
			t.Errorf("writeFile(%s) through a symlink out of the tree succeeded", p)
		}
	}
	// ".." cannot climb above the tree's root either.
	if err := in.writeFile("/../outside/f", []byte("x"), 0o644); err != nil {
		t.Error(err)
	} else if _, err := os.Stat(filepath.Join(dir, "outside/f")); err != nil {
		t.Errorf("/../outside/f not written inside the tree: %v", err)
	}
	if err := in.symlink("target", "/etc/link"); err == nil {
		t.Error("symlink(/etc/link) through a symlink out of the tree succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("installer wrote outside the tree: %v", entries)
	}
}

func TestFindWorkloads(t *testing.T) {
	w := testWorkloads(t)
	t.Setenv("PATH", filepath.Dir(w["cpu-test"]))
	got, err := FindWorkloads()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("FindWorkloads = %v, want %v", got, w)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := FindWorkloads(); err == nil || !strings.Contains(err.Error(), "go build") {
		t.Errorf("FindWorkloads with nothing to find = %v, want an error saying how to build", err)
	}

	// A dynamic program with a workload's name is refused.
	bin := t.TempDir()
	ls, err := lookProgram("ls")
	if err != nil {
		t.Skip(err)
	}
	for _, n := range WorkloadNames {
		if err := os.Symlink(ls, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	if _, err := FindWorkloads(); err == nil || !strings.Contains(err.Error(), "static") {
		t.Errorf("FindWorkloads with dynamic binaries = %v", err)
	}
}

func TestIsBuilt(t *testing.T) {
	d := t.TempDir()
	if IsBuilt(d) || IsBuilt("") {
		t.Error("IsBuilt of an empty dir")
	}
	if err := os.Mkdir(filepath.Join(d, MarkerFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if IsBuilt(d) {
		t.Error("IsBuilt with a directory as marker")
	}
}
