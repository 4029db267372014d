package testutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The cgroups as the host sees them: a cgroup is named by its path in a
// hierarchy ("/sdocker/ID"), and exists as one directory per hierarchy.

// CgroupV2 reports whether /sys/fs/cgroup is the one cgroup2 hierarchy
// (not a v1 or hybrid machine).
func CgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// CgroupHierarchies lists the mount points of the cgroup hierarchies:
// every v1 one under /sys/fs/cgroup (controllers, name=systemd) and the
// unified cgroup2 of a hybrid machine, or /sys/fs/cgroup itself on a
// cgroup v2 machine.
func CgroupHierarchies() []string {
	if CgroupV2() {
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
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			out = append(out, p)
		}
	}
	return out
}

// CgroupDirs lists the directories of the cgroups whose path matches
// pattern (filepath.Match syntax: "/sdocker/ID", "/sdocker/ABC*"), in
// every hierarchy, sorted.
func CgroupDirs(pattern string) []string {
	var out []string
	for _, h := range CgroupHierarchies() {
		m, _ := filepath.Glob(filepath.Join(h, pattern))
		for _, p := range m {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// CgroupDirProcs lists the processes of the cgroup directory dir (its
// cgroup.procs), none when it cannot be read.
func CgroupDirProcs(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// CgroupProcs lists the processes of the cgroups whose path matches
// pattern (CgroupDirs), in any hierarchy: sorted, each once.
func CgroupProcs(pattern string) []int {
	var out []int
	for _, d := range CgroupDirs(pattern) {
		out = append(out, CgroupDirProcs(d)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RemoveCgroupTree removes the cgroups whose path matches pattern and
// every cgroup below them, in every hierarchy (RemoveCgroups). It returns
// what could not be removed.
func RemoveCgroupTree(pattern string) []string {
	return RemoveCgroups(CgroupDirs(pattern)...)
}

// RemoveCgroups removes the cgroup directories dirs and the ones below
// them, deepest first. A process still in one is killed (and the cgroup
// thawed, so that it dies); as a process just killed may hold its
// cgroup a moment, a removal is tried again for Timeout(5 s) in all. It
// returns what could not be removed, with why.
func RemoveCgroups(dirs ...string) []string {
	var all []string
	for _, d := range dirs {
		// A directory that cannot be walked is reported below, when its
		// removal fails.
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() && !slices.Contains(all, p) {
				all = append(all, p)
			}
			return nil
		})
	}
	// A cgroup's path is longer than its parent's.
	sort.SliceStable(all, func(a, b int) bool { return len(all[a]) > len(all[b]) })
	deadline := time.Now().Add(Timeout(5 * time.Second))
	var left []string
	for _, d := range all {
		if err := removeCgroup(d, deadline); err != nil {
			left = append(left, fmt.Sprintf("%s (%v)", d, err))
		}
	}
	return left
}

// removeCgroup kills what is in cgroup directory d and removes it, trying
// again until deadline.
func removeCgroup(d string, deadline time.Time) error {
	for {
		for _, pid := range CgroupDirProcs(d) {
			unix.Kill(pid, unix.SIGKILL)
		}
		thaw(d)
		err := unix.Rmdir(d)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// thaw thaws cgroup directory d (v1 freezer.state, v2 cgroup.freeze), if
// it has a freezer.
func thaw(d string) {
	for name, v := range map[string]string{"freezer.state": "THAWED", "cgroup.freeze": "0"} {
		if f, err := os.OpenFile(filepath.Join(d, name), os.O_WRONLY, 0); err == nil {
			// Best effort: a cgroup that stays frozen is reported when its
			// removal fails.
			_, _ = f.WriteString(v)
			f.Close()
		}
	}
}
