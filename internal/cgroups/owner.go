package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// v1Delegate are the files of a v1 cgroup that its owner needs to manage
// the cgroups below it.
var v1Delegate = []string{"cgroup.procs", "tasks", "cgroup.clone_children", "notify_on_release"}

// Chown gives the container's cgroup directories, and the files the
// kernel lists for delegation (/sys/kernel/cgroup/delegate on v2:
// cgroup.procs, cgroup.subtree_control, cgroup.threads, ...), to uid and
// gid, the root of the container's user namespace, as runc does: it can
// then make and fill cgroups below its own (a systemd in the container).
func Chown(m Manager, uid, gid int) error {
	files := v1Delegate
	if m.Version() == 2 {
		b, err := os.ReadFile("/sys/kernel/cgroup/delegate")
		if err != nil {
			return fmt.Errorf("read /sys/kernel/cgroup/delegate: %w", err)
		}
		files = strings.Fields(string(b))
	}
	var dirs []string
	for _, d := range m.Paths() {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", d, err)
		}
		for _, f := range files {
			p := filepath.Join(d, f)
			if err := os.Chown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("chown %s: %w", p, err)
			}
		}
	}
	return nil
}
