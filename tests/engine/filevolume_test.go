package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunFileVolumes: -v with a file source is a file bind mount, both
// ways: over a file of the image, over a missing path (made an empty file,
// with its parents, in the container's layer only), :ro honoured, a
// symlink as the source (the file it names is mounted). A file on a
// directory of the image, and a directory on a file, are refused clearly
// and leave nothing; a missing source is still made a directory.
func TestRunFileVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("filevol:1")
	e.mustRun(0, "import", rootfsDir, "filevol:1")
	dir := t.TempDir()
	conf := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(conf, []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostFile := func() string {
		t.Helper()
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// Over a file of the image, read-write.
	out := e.runOut(0, "-v", conf+":/etc/nsswitch.conf", "filevol:1", "sh", "-c",
		"cat /etc/nsswitch.conf; echo added >> /etc/nsswitch.conf")
	if out != "from host\n" || hostFile() != "from host\nadded\n" {
		t.Errorf("file over a file of the image: saw %q, the host file is %q", out, hostFile())
	}

	// Over a missing path, read-only: a file mount point and its parent
	// directory are made in the container's layer, never in the image.
	out = e.runOut(0, "-v", conf+":/new/dir/app.conf:ro", "filevol:1", "sh", "-c",
		"cat /new/dir/app.conf; test -d /new/dir && echo dir; echo x > /new/dir/app.conf 2>/dev/null || echo ro-refused")
	if out != "from host\nadded\ndir\nro-refused\n" || hostFile() != "from host\nadded\n" {
		t.Errorf("read-only file over a missing path: saw %q, the host file is %q", out, hostFile())
	}
	if _, err := os.Lstat(filepath.Join(rootfsDir, "new")); err == nil {
		t.Errorf("the mount point was made in the image's source directory %s", rootfsDir)
	}

	// A symlink as the source: what it names is mounted, a regular file.
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink("app.conf", link); err != nil {
		t.Fatal(err)
	}
	out = e.runOut(0, "-v", link+":/etc/app.conf:ro", "filevol:1", "sh", "-c",
		"test -f /etc/app.conf && test ! -L /etc/app.conf && cat /etc/app.conf")
	if out != "from host\nadded\n" {
		t.Errorf("a symlink as the source: %q", out)
	}

	// A file on a directory, a directory on a file: refused, clearly.
	for _, c := range []struct{ volume, want string }{
		{conf + ":/etc", "the source is a file and the destination is a directory"},
		{dir + ":/etc/passwd", "the source is a directory and the destination is not"},
	} {
		for _, detach := range []bool{false, true} {
			args := []string{"run", "--rm", "-v", c.volume, "filevol:1", "true"}
			if detach {
				args = []string{"run", "-d", "-v", c.volume, "filevol:1", "true"}
			}
			if r := e.run(args...); r.code != 125 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("want exit 125 and %q:\n%s", c.want, r)
			}
		}
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("refused runs left containers: %q", r.stdout)
	}

	// A missing source is made a directory, as Docker does for -v.
	missing := filepath.Join(dir, "missing", "src")
	e.runOut(0, "-v", missing+":/m", "filevol:1", "touch", "/m/f")
	if st, err := os.Stat(filepath.Join(missing, "f")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("missing source: %v", err)
	}
}
