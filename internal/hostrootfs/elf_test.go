package hostrootfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func hostResolver(t *testing.T) *resolver {
	t.Helper()
	r, err := newHostResolver()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestClosureBash(t *testing.T) {
	bash, err := lookProgram("bash")
	if err != nil {
		t.Skip(err)
	}
	interp, libs, err := hostResolver(t).closure(bash)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: interp %s, libs %q", bash, interp, libs)
	if interp == "" {
		t.Fatal("no interpreter for bash")
	}
	if _, err := os.Stat(interp); err != nil {
		t.Errorf("interpreter: %v", err)
	}
	hasLibc := false
	for _, l := range libs {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("resolved library: %v", err)
		}
		if filepath.Base(l) == "libc.so.6" {
			hasLibc = true
		}
	}
	if !hasLibc {
		t.Errorf("libc.so.6 not in the closure of bash: %q", libs)
	}
}

func TestClosureAllPrograms(t *testing.T) {
	r := hostResolver(t)
	for _, name := range append(requiredPrograms, optionalPrograms...) {
		p, err := lookProgram(name)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := isELF(real); !ok {
			continue
		}
		if _, _, err := r.closure(real); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClosureStatic(t *testing.T) {
	w := testWorkloads(t)
	for name, p := range w {
		interp, libs, err := hostResolver(t).closure(p)
		if err != nil {
			t.Fatal(err)
		}
		if interp != "" || len(libs) > 0 {
			t.Errorf("%s: static binary resolved to interp %q libs %q", name, interp, libs)
		}
		if err := checkStatic(p); err != nil {
			t.Errorf("checkStatic(%s): %v", name, err)
		}
	}
	ls, err := lookProgram("ls")
	if err != nil {
		t.Skip(err)
	}
	if err := checkStatic(ls); !errors.Is(err, errDynamic) {
		t.Errorf("checkStatic(%s) = %v, want %v", ls, err, errDynamic)
	}
	if err := checkStatic("/etc/passwd"); err == nil {
		t.Error("checkStatic(/etc/passwd): no error")
	}
}

// TestClosureOrigin checks DT_RPATH/DT_RUNPATH with $ORIGIN against the real
// ld.so: a program with DT_RPATH=$ORIGIN/../lib finds libfoo there and
// libfoo's own dependency libbar through the inherited RPATH; the same
// program with DT_RUNPATH finds libfoo but not libbar (RUNPATH is not
// inherited).
func TestClosureOrigin(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler; skipping the $ORIGIN test")
	}
	d := t.TempDir()
	for _, sub := range []string{"src", "lib", "bin", "links"} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := func(name, code string) string {
		p := filepath.Join(d, "src", name)
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	lib := filepath.Join(d, "lib")
	run("-shared", "-fPIC", "-o", filepath.Join(lib, "libbar.so"), src("bar.c", "int bar(void){return 42;}\n"))
	run("-shared", "-fPIC", "-o", filepath.Join(lib, "libfoo.so"), src("foo.c", "int bar(void);\nint foo(void){return bar();}\n"),
		"-L"+lib, "-lbar")
	mainC := src("main.c", "int foo(void);\nint main(void){return foo()==42?0:1;}\n")
	rpathProg := filepath.Join(d, "bin", "rpath-prog")
	runpathProg := filepath.Join(d, "bin", "runpath-prog")
	run("-o", rpathProg, mainC, "-L"+lib, "-lfoo", "-Wl,-rpath-link,"+lib,
		"-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib")
	run("-o", runpathProg, mainC, "-L"+lib, "-lfoo", "-Wl,-rpath-link,"+lib,
		"-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
	// $ORIGIN of an executable is its real directory, not a symlink's.
	link := filepath.Join(d, "links", "prog")
	if err := os.Symlink("../bin/rpath-prog", link); err != nil {
		t.Fatal(err)
	}

	info, err := readELF(rpathProg)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.rpath) != 1 || info.rpath[0] != "$ORIGIN/../lib" || len(info.runpath) != 0 {
		t.Fatalf("rpath-prog: rpath %q runpath %q; the compiler did not make a DT_RPATH", info.rpath, info.runpath)
	}

	r := hostResolver(t)
	for _, p := range []string{rpathProg, link} {
		_, libs, err := r.closure(p)
		if err != nil {
			t.Fatalf("closure(%s): %v", p, err)
		}
		for _, want := range []string{filepath.Join(lib, "libfoo.so"), filepath.Join(lib, "libbar.so")} {
			if !contains(libs, want) {
				t.Errorf("closure(%s) = %q, want %s in it", p, libs, want)
			}
		}
	}
	if out, err := exec.Command(link).CombinedOutput(); err != nil {
		t.Errorf("ld.so disagrees: %s: %v %s", link, err, out)
	}

	_, libs, err := r.closure(runpathProg)
	if err == nil || !strings.Contains(err.Error(), "libbar.so") {
		t.Errorf("closure(runpath-prog) = %q, %v; want an error about libbar.so", libs, err)
	}
	out, err := exec.Command(runpathProg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "libbar.so") {
		t.Errorf("ld.so disagrees: runpath-prog ran: %v %s", err, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestExpandPaths(t *testing.T) {
	got := expandPaths([]string{"$ORIGIN/../lib", "${ORIGIN}", "/opt/$LIB", "", "rel", "/usr/lib/"}, "/x/bin")
	want := []string{"/x/lib", "/x/bin", "/usr/lib"}
	if strings.Join(got, ":") != strings.Join(want, ":") {
		t.Errorf("expandPaths = %q, want %q", got, want)
	}
}
