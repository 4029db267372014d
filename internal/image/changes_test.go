package image

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("whiteouts are character devices: mknod needs root")
	}
	dir := t.TempDir()
	upper, top, bottom := filepath.Join(dir, "upper"), filepath.Join(dir, "top"), filepath.Join(dir, "bottom")
	write := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	whiteout := func(p string) {
		t.Helper()
		if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The image: bottom has etc/a, etc/b, gone/x, opq/old; top deletes
	// gone and hides bottom's opq.
	for _, p := range []string{"etc/a", "etc/b", "gone/x", "opq/old"} {
		write(filepath.Join(bottom, p))
	}
	write(filepath.Join(top, "opq", "new"))
	if err := unix.Lsetxattr(filepath.Join(top, "opq"), opaqueXattr, []byte("y"), 0); err != nil {
		t.Skipf("trusted xattrs: %v", err)
	}
	whiteout(filepath.Join(top, "gone"))
	// The container: changes etc/a, deletes etc/b, adds etc/c, re-makes
	// gone/x (added: the image deleted it), writes opq/old (added: hidden
	// below) and opq/new (changed); an empty etc/hosts is a mount point.
	for _, p := range []string{"etc/a", "etc/c", "gone/x", "opq/old", "opq/new"} {
		write(filepath.Join(upper, p))
	}
	whiteout(filepath.Join(upper, "etc", "b"))
	if err := os.WriteFile(filepath.Join(upper, "etc", "hosts"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Changes(upper, []string{top, bottom}, []string{"etc/hosts"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{"C", "/etc"}, {"C", "/etc/a"}, {"D", "/etc/b"}, {"A", "/etc/c"}, {"A", "/gone"}, {"A", "/gone/x"},
		{"C", "/opq"}, {"C", "/opq/new"}, {"A", "/opq/old"}}
	if len(got) != len(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d: %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := Changes(filepath.Join(dir, "nope"), nil, nil); err == nil {
		t.Error("changes of a missing upper directory")
	}
}
