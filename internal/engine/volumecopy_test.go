package engine

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCopyUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("copying owners needs root")
	}
	rootfs, host := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(rootfs, "data/sub"), 0o755))
	must(os.WriteFile(filepath.Join(rootfs, "data/sub/f"), []byte("content"), 0o640))
	must(os.Chown(filepath.Join(rootfs, "data/sub/f"), 1000, 1001))
	must(os.Chown(filepath.Join(rootfs, "data"), 33, 33))
	must(os.Chmod(filepath.Join(rootfs, "data"), os.ModeSetgid|0o770))
	must(os.Symlink("/etc/shadow", filepath.Join(rootfs, "data/out")))
	// Destinations that leave the rootfs stay in it.
	must(os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o600))
	must(os.Symlink(host, filepath.Join(rootfs, "escape")))
	must(os.Symlink("../../../../"+host, filepath.Join(rootfs, "escape2")))

	dst := filepath.Join(t.TempDir(), "_data")
	must(os.Mkdir(dst, 0o755))
	// What a copy cut short left goes.
	must(os.MkdirAll(dst+".new/stale", 0o755))
	must(copyUp(rootfs, "/data", dst))
	if _, err := os.Stat(dst + ".new"); !os.IsNotExist(err) {
		t.Errorf("the copy's temporary directory is left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "stale")); err == nil {
		t.Error("what a copy cut short left came into the volume")
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sub/f")); err != nil || string(b) != "content" {
		t.Errorf("sub/f: %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "out")); err != nil || l != "/etc/shadow" {
		t.Errorf("symlink: %q, %v", l, err)
	}
	owner := func(p string) (uint32, uint32, os.FileMode) {
		st, err := os.Lstat(p)
		must(err)
		s := st.Sys().(*syscall.Stat_t)
		return s.Uid, s.Gid, st.Mode()
	}
	if u, g, m := owner(filepath.Join(dst, "sub/f")); u != 1000 || g != 1001 || m.Perm() != 0o640 {
		t.Errorf("sub/f: %d:%d %v", u, g, m)
	}
	if u, g, m := owner(dst); u != 33 || g != 33 || m&os.ModeSetgid == 0 || m.Perm() != 0o770 {
		t.Errorf("the volume's own directory: %d:%d %v, want the image directory's 33:33 setgid 0770", u, g, m)
	}
	// A volume with content is left as it is.
	must(os.Remove(filepath.Join(dst, "sub/f")))
	must(copyUp(rootfs, "/data", dst))
	if _, err := os.Stat(filepath.Join(dst, "sub/f")); err == nil {
		t.Error("a volume that was not empty was filled again")
	}
	for _, p := range []string{"/escape", "/escape2", "/missing", "/data/sub/f"} {
		d := t.TempDir()
		must(copyUp(rootfs, p, d))
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("copy of %s: got %d entries, want none (nothing of the host, nothing but a directory)", p, len(ents))
		}
	}
}
