package launch

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// unshareTime makes the new time namespace of spec, with its
// linux.timeOffsets. unshare makes it the namespace of the init's
// children only, and it takes the offsets until a process enters it: the
// init's execve of the user's program is the first to (the kernel moves an
// exec'ing process into the namespace for its children), so the program and
// its children read the offsets' clocks. timens_offsets is the thread
// group leader's (there is none per thread): the init runs on its main
// thread (sdocker-init locks it in init). It comes before any namespace is
// joined, while /proc/self is the caller's proc.
func unshareTime(spec *specs.Spec) error {
	if !newNamespace(spec, specs.TimeNamespace) {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return fmt.Errorf("unshare time namespace: %w", err)
	}
	if len(spec.Linux.TimeOffsets) == 0 {
		return nil
	}
	var b strings.Builder
	for clock, off := range spec.Linux.TimeOffsets {
		fmt.Fprintf(&b, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
	}
	const p = "/proc/self/timens_offsets"
	if err := os.WriteFile(p, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: write %s: %w", p, err)
	}
	return nil
}
