// Package hugeheap backs the Go heap of a short-lived process with
// transparent huge pages where the kernel allows it.
//
// A page fault is expensive on virtual machines (15-20 µs each where shadow
// or nested paging is in use), and a Go process touches a few hundred fresh
// heap pages in its first milliseconds: its span allocator spreads even a
// small program's objects over many pages. One 2 MiB huge page replaces
// those faults with one allocation. Only for processes that live a few
// milliseconds (the runtime's CLI and the container init before execve):
// a huge page counts fully in RSS.
//
// The huge page is not free: the kernel zeroes 2 MiB and copies what the
// heap already holds (MADV_COLLAPSE), about 0.25 ms of CPU. A process that
// touches few heap pages gains nothing: sdocker-runc's kill, state and
// delete are faster without it, its create no slower. So a program either
// imports hugeheap/atinit, which calls Enable before most package inits, or
// calls Enable itself where it pays.
package hugeheap

import (
	"syscall"
	"unsafe"
)

const (
	hugePage  = 2 << 20
	heapChunk = 4 << 20 // the Go runtime maps its heap in 4 MiB chunks

	madvHugepage = 14 // MADV_HUGEPAGE
	madvCollapse = 25 // MADV_COLLAPSE, Linux 6.1
)

var sink *[64]byte

// Enable asks for huge pages on the heap chunk the process allocates from and
// collapses each 2 MiB of it that already holds pages (a huge page can only
// be faulted in where no small page is) into one huge page. Errors are
// ignored: without THP, or before Linux 6.1, nothing changes.
func Enable() {
	sink = new([64]byte)
	chunk := uintptr(unsafe.Pointer(sink)) &^ (heapChunk - 1)
	if madvise(chunk, heapChunk, madvHugepage) != nil {
		return
	}
	var resident [heapChunk / 4096]byte
	if mincore(chunk, heapChunk, &resident[0]) != nil {
		return
	}
	for half := uintptr(0); half < heapChunk; half += hugePage {
		for _, r := range resident[half/4096 : (half+hugePage)/4096] {
			if r&1 != 0 {
				_ = madvise(chunk+half, hugePage, madvCollapse)
				break
			}
		}
	}
}

func madvise(addr, length uintptr, advice int) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_MADVISE, addr, length, uintptr(advice))
	if e != 0 {
		return e
	}
	return nil
}

func mincore(addr, length uintptr, vec *byte) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_MINCORE, addr, length, uintptr(unsafe.Pointer(vec)))
	if e != 0 {
		return e
	}
	return nil
}
