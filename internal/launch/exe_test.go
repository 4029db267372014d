package launch

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSealedExeCannotBeWritten(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: open_tree of the binary")
	}
	f, err := sealedExe(40)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Fd() < 40 {
		t.Errorf("descriptor %d, want one >= 40", f.Fd())
	}
	checkUnwritable(t, f)
	mem, err := sealedCopy("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	checkUnwritable(t, mem)
}

// TestExeFloorSurvivesTheFork starts /bin/true through /proc/self/fd/N,
// N = exeFloor of descriptors laid out so that the fork moves its error pipe
// and all but one of them through temporary copies above the highest: N is
// hit by none of them (a lower N, the highest + 1, is the pipe's copy, which
// is not executable).
func TestExeFloorSurvivesTheFork(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	high, err := unix.FcntlInt(null.Fd(), unix.F_DUPFD_CLOEXEC, 30)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(high)
	// fds[i] < i for every i > 0: each of those is copied above high first.
	fds := []uintptr{uintptr(high), 0, 0, 0, 0, 0, 0, 0}
	floor := exeFloor(fds)
	exe, err := os.Open("/bin/true")
	if err != nil {
		t.Skip("no /bin/true")
	}
	defer exe.Close()
	n, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, floor)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(n)
	pid, err := syscall.ForkExec(fdPath(n), []string{"true"}, &syscall.ProcAttr{Files: fds})
	if err != nil {
		t.Fatalf("start %s with descriptors %v: %v", fdPath(n), fds, err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("true through %s: status %v, %v", fdPath(n), ws, err)
	}
}

// TestSealedExeKeepsTheFdTable checks that the init binary's descriptor
// fits in the process's fd table: growing the table of a multi-threaded
// process waits for an RCU grace period on every container start.
func TestSealedExeKeepsTheFdTable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: open_tree of the binary")
	}
	before := fdTableSize(t)
	f, err := sealedExe(exeFloor([]uintptr{0, 1, 2, 3, 4, 5, 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after := fdTableSize(t); after != before {
		t.Errorf("fd table grew from %d to %d entries for descriptor %d", before, after, f.Fd())
	}
}

// fdTableSize is FDSize of /proc/self/status: the entries of the fd table.
func fdTableSize(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "FDSize: %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no FDSize in /proc/self/status")
	return 0
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
		f, err := sealedExe(exeFloor([]uintptr{0, 1, 2, 3, 4, 5}))
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
