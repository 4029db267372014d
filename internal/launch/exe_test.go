package launch

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSealedExeCannotBeWritten(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: open_tree of the binary")
	}
	f, err := sealedExe()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Fd() < 1000 {
		t.Errorf("descriptor %d, want one >= 1000", f.Fd())
	}
	checkUnwritable(t, f)
	mem, err := sealedCopy("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	checkUnwritable(t, mem)
}

func checkUnwritable(t *testing.T, f *os.File) {
	t.Helper()
	if _, err := f.WriteAt([]byte{0}, 0); err == nil {
		t.Fatal("writing the sealed copy succeeded")
	}
	// Reopened through /proc, as CVE-2019-5736 does, it still refuses writes.
	if w, err := os.OpenFile(fdPath(int(f.Fd())), os.O_WRONLY, 0); err == nil {
		_, err = w.Write([]byte("#!/bin/sh\n"))
		w.Close()
		if err == nil {
			t.Fatal("writing the sealed copy reopened through /proc succeeded")
		}
	}
	if err := unix.Ftruncate(int(f.Fd()), 0); err == nil {
		t.Fatal("truncating the sealed copy succeeded")
	}
	self, _ := os.Stat("/proc/self/exe")
	st, _ := f.Stat()
	if st.Size() != self.Size() {
		t.Errorf("copy is %d bytes, binary %d", st.Size(), self.Size())
	}
}

// BenchmarkSealedExe is what the CVE-2019-5736 protection costs per container
// start and per exec: a read-only detached bind mount of the init binary.
func BenchmarkSealedExe(b *testing.B) {
	for i := 0; i < b.N; i++ {
		f, err := sealedExe()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkSealedCopy is the fallback: a sealed memfd copy of the binary.
func BenchmarkSealedCopy(b *testing.B) {
	for i := 0; i < b.N; i++ {
		f, err := sealedCopy("/proc/self/exe")
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
