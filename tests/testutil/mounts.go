package testutil

import (
	"sort"

	"golang.org/x/sys/unix"
)

// UnmountAll detaches every mount at or below dir, deepest first.
func UnmountAll(dir string) {
	for i := 0; i < 5; i++ {
		ms := MountsUnder(dir)
		if len(ms) == 0 {
			return
		}
		sort.Slice(ms, func(a, b int) bool { return len(ms[a]) > len(ms[b]) })
		for _, m := range ms {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	}
}
