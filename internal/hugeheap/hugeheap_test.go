package hugeheap

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// After Enable the heap chunk the test binary allocates from is marked for
// huge pages (VmFlags "hg", which is ours to get right) and is backed by one
// unless the kernel had no free 2 MiB page at that moment (it then falls
// back to small pages and counts thp_fault_fallback, which a fragmented
// machine does now and then).
func TestHeapHasHugePage(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("transparent huge pages are off on this machine (%q, %v)", strings.TrimSpace(string(mode)), err)
	}
	Enable()
	chunk := uintptr(unsafe.Pointer(sink)) &^ (heapChunk - 1)
	kb, flags := smapsOf(t, chunk)
	if !slices.Contains(flags, "hg") {
		t.Fatalf("heap chunk %#x: VmFlags %v lack hg (MADV_HUGEPAGE)", chunk, flags)
	}
	if kb < hugePage>>10 {
		fallback, _ := os.ReadFile("/proc/vmstat")
		t.Logf("heap chunk %#x: AnonHugePages %d kB: the kernel fell back to small pages (%s)",
			chunk, kb, vmstatLine(string(fallback), "thp_fault_fallback"))
	}
}

func vmstatLine(vmstat, key string) string {
	for _, l := range strings.Split(vmstat, "\n") {
		if strings.HasPrefix(l, key+" ") {
			return l
		}
	}
	return key + " unknown"
}

// smapsOf returns AnonHugePages and VmFlags of the mapping that holds addr.
func smapsOf(t *testing.T, addr uintptr) (int, []string) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, kb := false, 0
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
			kb, _ = strconv.Atoi(fields[1])
		}
		if in && fields[0] == "VmFlags:" {
			return kb, fields[1:]
		}
	}
	t.Fatalf("no mapping holds %#x in /proc/self/smaps", addr)
	return 0, nil
}
