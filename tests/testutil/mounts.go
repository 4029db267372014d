package testutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

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

// CgroupHierarchies lists the mounted hierarchies under /sys/fs/cgroup
// (v1 controllers, name=systemd, the unified cgroup2), or /sys/fs/cgroup
// itself on a cgroup2-only host.
func CgroupHierarchies() []string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{"/sys/fs/cgroup"}
	}
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			continue // cpu,cpuacct style symlinks
		}
		if unix.Statfs(p, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			out = append(out, p)
		}
	}
	return out
}

// RemoveCgroupTree removes the (empty) cgroup directory parent in every
// hierarchy, children first; it returns what could not be removed.
func RemoveCgroupTree(parent string) []string {
	var left []string
	for _, h := range CgroupHierarchies() {
		base := filepath.Join(h, parent)
		var dirs []string
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(a, b int) bool { return len(dirs[a]) > len(dirs[b]) })
		for _, d := range dirs {
			var err error
			for i := 0; i < 50; i++ { // a just-killed task may linger a moment
				if err = unix.Rmdir(d); err == nil || err == unix.ENOENT {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				left = append(left, fmt.Sprintf("%s (%v)", d, err))
			}
		}
	}
	return left
}
