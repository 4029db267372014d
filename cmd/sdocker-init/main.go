// Command sdocker-init is the first process of every container that sdocker
// and sdocker-runc start, up to its execve of the container's program: a
// small binary, so that it starts fast and copies cheaply (the runtime runs a
// sealed in-memory copy of it). It is not for direct use.
package main

import (
	"fmt"
	"os"
	"runtime"

	_ "github.com/sdocker/sdocker/internal/hugeheap/atinit" // first: see the package
	"github.com/sdocker/sdocker/internal/launch"
)

func init() {
	// Namespaces joined and credentials set belong to the thread that will
	// execve: keep the main goroutine on it.
	runtime.LockOSThread()
}

func main() {
	if launch.IsChild() {
		launch.Main()
	}
	fmt.Fprintln(os.Stderr, "sdocker-init: the container init of sdocker and sdocker-runc; not for direct use")
	os.Exit(2)
}
