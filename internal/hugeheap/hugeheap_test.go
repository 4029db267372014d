package hugeheap

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// After Enable the heap chunk the test binary allocates from is backed by
// a huge page, unless the machine has THP off.
func TestHeapHasHugePage(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("transparent huge pages are off on this machine (%q, %v)", strings.TrimSpace(string(mode)), err)
	}
	Enable()
	chunk := uintptr(unsafe.Pointer(sink)) &^ (heapChunk - 1)
	kb := anonHugeKB(t, chunk)
	if kb < hugePage>>10 {
		t.Fatalf("heap chunk %#x: AnonHugePages %d kB, want at least %d", chunk, kb, hugePage>>10)
	}
}

// anonHugeKB returns AnonHugePages of the mapping that holds addr.
func anonHugeKB(t *testing.T, addr uintptr) int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uintptr(l) <= addr && addr < uintptr(h)
			continue
		}
		if in && fields[0] == "AnonHugePages:" {
			n, _ := strconv.Atoi(fields[1])
			return n
		}
	}
	t.Fatalf("no mapping holds %#x in /proc/self/smaps", addr)
	return 0
}
