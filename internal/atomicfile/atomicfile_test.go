package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
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
