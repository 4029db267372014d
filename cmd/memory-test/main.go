// Command memory-test is the seed's memory workload: it allocates memory
// 1 MiB at a time, forever, touching every page so the memory is really
// charged to its cgroup, and prints the running total after each step.
// Under a 10 MiB memory limit with swappiness 0 it is OOM-killed quickly.
//
// Memory comes from anonymous mmap, outside the Go heap, and is never
// unmapped, so the garbage collector cannot free any of it.
//
// It is built static (CGO_ENABLED=0) and installed in sdocker's rootfs as
// /usr/bin/memory-test.
package main

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

const (
	step     = 1 << 20 // bytes added per step
	pageSize = 4096    // a byte is written in every page of this size
	pause    = 10 * time.Millisecond
)

const usage = `usage: memory-test [STEPS]

Allocate 1 MiB more at every step (1 MiB, 2 MiB, ... in total), write a byte
to each 4 KiB page of it, and print "[+] malloc size: N" (N: total bytes
allocated so far), sleeping 10 ms between steps. Memory is never freed.

  STEPS       stop after STEPS steps and exit 0 (default: run forever)
  -h, --help  show this help
`

func main() {
	steps := -1 // forever
	if len(os.Args) > 2 {
		fail("too many arguments")
	}
	if len(os.Args) == 2 {
		switch a := os.Args[1]; a {
		case "-h", "-help", "--help":
			os.Stdout.WriteString(usage)
			os.Exit(0)
		default:
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 {
				fail("invalid step count " + strconv.Quote(a))
			}
			steps = n
		}
	}

	var regions [][]byte // every allocation stays referenced and mapped
	total := 0
	for i := 0; steps < 0 || i < steps; i++ {
		b, err := syscall.Mmap(-1, 0, step, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
		if err != nil {
			os.Stderr.WriteString("memory-test: mmap " + strconv.Itoa(step) + " bytes: " + err.Error() + "\n")
			os.Exit(1)
		}
		for off := 0; off < len(b); off += pageSize {
			b[off] = 1
		}
		regions = append(regions, b)
		total += len(b)
		// os.Stdout is unbuffered: each line is written (flushed) at once.
		os.Stdout.WriteString("[+] malloc size: " + strconv.Itoa(total) + "\n")
		time.Sleep(pause)
	}
	_ = regions
}

func fail(msg string) {
	os.Stderr.WriteString("memory-test: " + msg + "\n" + usage)
	os.Exit(2)
}
