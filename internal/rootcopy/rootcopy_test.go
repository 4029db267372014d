package rootcopy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, dir string) *Root {
	t.Helper()
	r, err := OpenRoot(dir, filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestCopyRules: Docker's cp rules for files, directories, "/." and
// missing destinations, between two roots.
func TestCopyRules(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "d", "f"), "f")
	write(t, filepath.Join(src, "d", "sub", "g"), "g")
	write(t, filepath.Join(dst, "file"), "old")
	if err := os.Mkdir(filepath.Join(dst, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	from, to := open(t, src), open(t, dst)
	for _, c := range []struct{ src, dst, want string }{
		{"/d/f", "/new", "new"},           // a file onto a missing path
		{"/d/f", "/file", "file"},         // onto a file: overwritten
		{"/d/f", "/dir", "dir/f"},         // into a directory
		{"/d", "/dir", "dir/d/sub/g"},     // a directory into one
		{"/d", "/made", "made/sub/g"},     // onto a missing path
		{"/d/.", "/dir", "dir/sub/g"},     // its content
		{"/d/.", "/content", "content/f"}, // its content onto a missing path
	} {
		if err := Copy(from, c.src, to, c.dst, Options{}); err != nil {
			t.Errorf("copy %s to %s: %v", c.src, c.dst, err)
			continue
		}
		if _, err := os.Stat(filepath.Join(dst, c.want)); err != nil {
			t.Errorf("copy %s to %s: %v", c.src, c.dst, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "file")); string(b) != "f" {
		t.Errorf("overwritten file: %q", b)
	}
	for _, c := range []struct {
		src, dst string
		notFound bool
	}{
		{"/d", "/file", false},      // a directory onto a file
		{"/d/f", "/missing/", true}, // a file into a missing directory
		{"/d/f", "/no/such", true},  // a missing parent
		{"/nope", "/x", true},       // a missing source
		{"/d/f/.", "/x", false},     // the content of a file
	} {
		err := Copy(from, c.src, to, c.dst, Options{})
		if err == nil || errors.Is(err, ErrNotFound) != c.notFound {
			t.Errorf("copy %s to %s: %v (not found: want %v)", c.src, c.dst, err, c.notFound)
		}
	}
}

// TestRootEscapes: symlinks and ".." in a root lead back inside it, reading
// and writing; a tar entry with ".." is refused.
func TestRootEscapes(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret"), "secret")
	dir := t.TempDir()
	for name, target := range map[string]string{"abs": outside, "rel": "../../../../../../../../.." + outside} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	root := open(t, dir)
	var b bytes.Buffer
	for _, p := range []string{"/abs/secret", "/rel/secret", "/../../../.." + outside + "/secret"} {
		if err := root.WriteArchive(&b, p, true); !errors.Is(err, ErrNotFound) {
			t.Errorf("archive %s: %v, want not found", p, err)
		}
		if err := Copy(open(t, outside), "/secret", root, p, Options{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("copy to %s: %v, want not found", p, err)
		}
	}
	if bytes.Contains(b.Bytes(), []byte("secret")) {
		t.Error("an archive holds what is outside the root")
	}
	var tarb bytes.Buffer
	if err := open(t, outside).WriteArchive(&tarb, "/secret", false); err != nil {
		t.Fatal(err)
	}
	if err := root.Extract(&tarb, "/", Rename{From: "secret", To: "../escaped"}, false); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped")); err == nil {
			t.Error("a renamed entry escaped the root")
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("the outside directory holds %d entries", len(ents))
	}
}

// TestCopyLinksAndTimes: hard links within what is copied stay links, and
// files and directories keep their modification times.
func TestCopyLinksAndTimes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "d", "a"), "a")
	if err := os.Link(filepath.Join(src, "d", "a"), filepath.Join(src, "d", "b")); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, p := range []string{"d/a", "d"} {
		if err := os.Chtimes(filepath.Join(src, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := Copy(open(t, src), "/d", open(t, dst), "/copy", Options{}); err != nil {
		t.Fatal(err)
	}
	a, err1 := os.Stat(filepath.Join(dst, "copy", "a"))
	b, err2 := os.Stat(filepath.Join(dst, "copy", "b"))
	d, err3 := os.Stat(filepath.Join(dst, "copy"))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
		t.Error("a hard link was copied as another file")
	}
	if !a.ModTime().Equal(old) || !d.ModTime().Equal(old) {
		t.Errorf("times: file %s, directory %s, want %s", a.ModTime(), d.ModTime(), old)
	}
}
