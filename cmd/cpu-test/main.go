// Command cpu-test burns one CPU forever: a single goroutine spinning in a
// busy loop. Under a CFS quota of 20% of one CPU, the cgroup's CPU usage
// settles at about 20% of one CPU.
//
// It is built static (CGO_ENABLED=0) and installed in sdocker's rootfs as
// /usr/bin/cpu-test.
package main

import "os"

const usage = `usage: cpu-test

Burn one CPU forever (a busy loop in one goroutine) until killed.
Prints one line at start. Options: -h, --help  show this help.
`

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-h", "-help", "--help":
			os.Stdout.WriteString(usage)
			os.Exit(0)
		default:
			os.Stderr.WriteString("cpu-test: unexpected argument " + os.Args[1] + "\n" + usage)
			os.Exit(2)
		}
	}
	os.Stdout.WriteString("[+] cpu-test: burning one cpu\n")
	burn()
}

// burn spins forever. It allocates nothing, so the garbage collector never
// runs and all the work happens on this one goroutine.
func burn() {
	var n uint64
	for {
		n++
	}
}
