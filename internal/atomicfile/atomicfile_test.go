package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer than the first"} {
		for _, sync := range []bool{false, true} {
			if err := Write(p, []byte(content), 0o640, sync); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != content {
				t.Fatalf("read back %q, %v; want %q", b, err, content)
			}
		}
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", st.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// A directory that cannot take the file: an error, nothing left.
	if err := Write(filepath.Join(dir, "no", "such"), []byte("x"), 0o600, false); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// TestWriteFull: on a full file system the old file stays whole, nothing
// else is left, and the error names the file and says ENOSPC.
func TestWriteFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skip("cannot mount a tmpfs: ", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	p := filepath.Join(dir, "record.json")
	old := []byte(strings.Repeat("o", 8<<10))
	if err := Write(p, old, 0o600, false); err != nil {
		t.Fatal(err)
	}
	// Fill what is left.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = filler.Write(make([]byte, 4096))
	}
	filler.Close()
	for _, sync := range []bool{false, true} {
		err = Write(p, []byte(strings.Repeat("n", 16<<10)), 0o600, sync)
		if !errors.Is(err, unix.ENOSPC) || err.Error() != "write "+p+": no space left on device" {
			t.Errorf("write on a full disk: %v; want write %s: ENOSPC", err, p)
		}
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, old) {
			t.Errorf("the old file is not whole after a failed write: %d bytes, %v", len(b), err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("files left: %v", ents)
	}
}
