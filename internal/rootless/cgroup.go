package rootless

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
)

// CgroupParent finds the cgroup v2 subtree delegated to the user, the
// parent of the containers' cgroups: the topmost ancestor of this
// process's cgroup (this process not directly in it) whose directory,
// cgroup.procs and cgroup.subtree_control the user owns, as systemd's
// user@UID.service is. Without one it says why, for the warning that limits
// are not applied.
func CgroupParent() (parent, why string) {
	if cgroups.Mode() != 2 {
		return "", "cgroup v1 gives an unprivileged user no cgroups of its own (cgroup v2 with a delegated subtree does)"
	}
	own, err := ownCgroup()
	if err != nil {
		return "", err.Error()
	}
	top := ""
	for d := own; d != "/"; d = filepath.Dir(d) {
		if !delegated(filepath.Join("/sys/fs/cgroup", d)) {
			break
		}
		top = d
	}
	if top == "" || top == own {
		return "", fmt.Sprintf("no cgroup v2 subtree is delegated to user %d (sdocker runs in %s)", UID(), own)
	}
	return strings.TrimPrefix(top, "/") + "/sdocker", ""
}

// ownCgroup reads this process's cgroup v2 path from /proc/self/cgroup.
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(p, "/") {
			return filepath.Clean(p), nil
		}
	}
	return "", fmt.Errorf("read /proc/self/cgroup: no cgroup v2 entry")
}

// delegated reports whether the user owns cgroup dir and the files that
// delegation hands over. In the namespace the user is uid 0.
func delegated(dir string) bool {
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || int(st.Uid) != os.Geteuid() {
			return false
		}
	}
	return true
}
