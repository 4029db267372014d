package engine

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// canary is a host directory that a container's symlinks point at: cp must
// never read its secret nor write anything into it.
type canary struct {
	t      *testing.T
	dir    string
	secret string
}

func newCanary(t *testing.T) *canary {
	c := &canary{t: t, dir: t.TempDir(), secret: "canary-secret-" + filepath.Base(t.TempDir())}
	writeFile(t, filepath.Join(c.dir, "secret"), c.secret+"\n")
	return c
}

// check fails if anything but the secret is in the canary directory, the
// secret changed, or out (something cp produced) holds the secret.
func (c *canary) check(what string, out ...string) {
	c.t.Helper()
	if names := testutil.DirNames(c.dir); !slices.Equal(names, []string{"secret"}) {
		c.t.Errorf("%s: cp wrote outside the container: %s holds %q", what, c.dir, names)
	}
	if got := readFile(c.t, filepath.Join(c.dir, "secret")); got != c.secret+"\n" {
		c.t.Errorf("%s: cp changed %s/secret: %q", what, c.dir, got)
	}
	for _, o := range out {
		if strings.Contains(o, c.secret) {
			c.t.Errorf("%s: cp read the host's canary", what)
		}
	}
}

// readTree is the content of every file under dir, for the canary check.
func readTree(dir string) string {
	var b strings.Builder
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			s, _ := os.ReadFile(p)
			b.Write(s)
		}
		return nil
	})
	return b.String()
}

// TestCpSymlinkAttacks: the CVE-2018-15664 class. A container's symlinks
// that point at a host directory (absolute, relative with ".." enough to
// climb out, a symlinked parent of DST), ".." in the paths given, and tar
// streams with ".." or symlinks followed by files below them: whatever cp
// reads or writes stays in the container's root, running or stopped.
func TestCpSymlinkAttacks(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("cpattack:1")
	e.mustRun(0, "import", rootfsDir, "cpattack:1")
	c := newCanary(t)
	climb := strings.Repeat("../", 20)
	setup := strings.Join([]string{
		"ln -s " + c.dir + " /abs",
		"ln -s " + climb + strings.TrimPrefix(c.dir, "/") + " /rel",
		"ln -s /abs /abs2",
		"mkdir -p /p " + c.dir,
		"echo inside > " + c.dir + "/inside",
		"ln -s " + c.dir + " /p/linkdir",
		"ln -s " + c.dir + "/secret /filelink",
	}, " && ")
	e.runDetached("--name", "victim", "cpattack:1", "sh", "-c", "[ -L /abs ] || { "+setup+"; }; sleep 1000")
	testutil.WaitFor(t, timeout(10*time.Second), "the container's symlinks", func() bool {
		return e.run("exec", "victim", "test", "-L", "/filelink").code == 0
	})
	host := t.TempDir()
	file := filepath.Join(host, "payload")
	writeFile(t, file, "payload\n")

	for _, state := range []string{"running", "stopped"} {
		if state == "stopped" {
			e.mustRun(0, "stop", "-t", "0", "victim")
		}
		out := filepath.Join(host, "out-"+state)
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		var printed []string
		// Reading: each leads into the container's own copy of the
		// canary's path (which has "inside", never "secret").
		for i, src := range []string{"/abs/secret", "/rel/secret", "/abs2/secret", "/../../../.." + c.dir + "/secret", "/p/linkdir/secret", "/abs/.", "/rel/", "/filelink"} {
			for _, follow := range []bool{false, true} {
				args := []string{"cp", "victim:" + src, filepath.Join(out, strings.Repeat("x", i+1))}
				if follow {
					args = slices.Insert(args, 1, "-L")
					args[len(args)-1] += "-L"
				}
				r := e.run(args...)
				printed = append(printed, r.stdout, r.stderr)
			}
			r := e.run("cp", "-L", "victim:"+src, "-")
			printed = append(printed, r.stdout)
		}
		if got := readTree(out); !strings.Contains(got, "inside") {
			t.Errorf("%s: cp of /abs/. did not copy the container's own directory: %q", state, got)
		}
		printed = append(printed, readTree(out))
		c.check(state+": reading", printed...)

		// Writing: through symlinked directories, a symlinked parent of
		// DST, ".." in DST, onto a symlink to a host file.
		for _, dst := range []string{"/abs/", "/rel/w-rel", "/abs2/w-abs2", "/p/linkdir/w-parent", "/../../.." + c.dir + "/w-dotdot", "/filelink", "/abs/secret"} {
			e.run("cp", file, "victim:"+dst)
			e.run("cp", "-a", host, "victim:"+dst)
		}
		// Tar streams: ".." refused; an absolute name, a symlink and a
		// file below it, a hard link to a host path: all inside.
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		ents := []tar.Header{
			{Name: "l", Typeflag: tar.TypeSymlink, Linkname: c.dir},
			{Name: "l/via-symlink", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644},
			{Name: c.dir + "/absolute-name", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644},
			{Name: "hard", Typeflag: tar.TypeLink, Linkname: c.dir + "/secret"},
		}
		for _, h := range ents {
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				tw.Write([]byte("w\n"))
			}
		}
		tw.Close()
		e.cpWith(b.Bytes(), "-", "victim:/")
		if r := e.cpWith(dotdotTar(t, "../../escaped"), "-", "victim:/p"); r.code != 125 || !strings.Contains(r.stderr, "outside the destination") {
			t.Errorf("%s: a tar with ../ entries:\n%s", state, r)
		}
		c.check(state + ": writing")
		if state == "stopped" {
			e.checkNoMounts()
			e.mustRun(0, "start", "victim")
		}
	}
	// What was written went into the container's copy of the canary path.
	got := e.mustRun(0, "exec", "victim", "ls", c.dir).stdout
	for _, n := range []string{"via-symlink", "absolute-name", "w-parent", "w-rel", "payload"} {
		if !strings.Contains(got, n) {
			t.Errorf("the container's %s lacks %s: %q", c.dir, n, got)
		}
	}
	c.check("after the container ran again")
}

func dotdotTar(t *testing.T, name string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	return b.Bytes()
}

// TestCpSymlinkRace: while cp copies a large tree in and out, the container
// swaps a directory on the path with a symlink to a host directory as fast
// as it can. Nothing outside its root is read or written (best effort: the
// swap loop runs for a bounded number of rounds).
func TestCpSymlinkRace(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("cprace:1")
	e.mustRun(0, "import", rootfsDir, "cprace:1")
	c := newCanary(t)
	src := t.TempDir()
	for i := range 200 {
		writeFile(t, filepath.Join(src, "d", "sub"+string(rune('a'+i%20)), "f"+strings.Repeat("x", i%7)+string(rune('a'+i/20))), strings.Repeat("data", 64))
	}
	swap := "mkdir -p /race/d/sub /race/real && echo in > /race/d/sub/f; ln -s " + c.dir + " /race/evil; ln -s " + c.dir + " /race/evil2; " +
		"while :; do mv /race/d /race/real/d; mv /race/evil /race/d; mv /race/d /race/evil; mv /race/real/d /race/d; " +
		"mv /race/d/sub /race/real/sub; mv /race/evil2 /race/d/sub; mv /race/d/sub /race/evil2; mv /race/real/sub /race/d/sub; done"
	e.runDetached("--name", "racer", "cprace:1", "sh", "-c", swap)
	testutil.WaitFor(t, timeout(10*time.Second), "the swap loop", func() bool {
		return e.run("exec", "racer", "test", "-L", "/race/evil2").code == 0
	})
	out := t.TempDir()
	var printed []string
	end := time.Now().Add(timeout(15 * time.Second))
	for i := 0; i < 15 && time.Now().Before(end); i++ {
		e.run("cp", filepath.Join(src, "d"), "racer:/race/d/sub/")
		e.run("cp", filepath.Join(src, "d")+"/.", "racer:/race/d")
		o := filepath.Join(out, "o"+string(rune('a'+i)))
		e.run("cp", "racer:/race/d", o)
		r := e.run("cp", "racer:/race/d/sub/.", "-")
		printed = append(printed, readTree(o), r.stdout)
		c.check("round "+string(rune('a'+i)), printed...)
	}
}
