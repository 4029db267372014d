package launch

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountCgroupFS makes an OCI "cgroup" mount: on cgroup v2 a cgroup2 mount;
// on v1 a tmpfs holding one mount per host hierarchy. In a cgroup
// namespace each shows the container's own cgroup as its root.
func mountCgroupFS(root int, m specs.Mount) error {
	dest := path.Clean(m.Destination)
	flags, _, _ := parseMountOptions(m.Options)
	flags &^= unix.MS_BIND | unix.MS_REC
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		fd, err := mkdirInRoot(root, dest, 0)
		if err != nil {
			return fmt.Errorf("mount cgroup on %s: %w", dest, err)
		}
		defer unix.Close(fd)
		if err := unix.Mount("cgroup", fdPath(fd), "cgroup2", flags, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on %s: %w", dest, err)
		}
		return nil
	}
	hierarchies, err := v1Hierarchies()
	if err != nil {
		return err
	}
	ownCgroup := selfCgroups()
	if err := mountInRoot(root, specs.Mount{
		Destination: dest, Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "nodev", "noexec", "mode=755"},
	}); err != nil {
		return err
	}
	for _, h := range hierarchies {
		sub := path.Join(dest, h.name)
		fd, err := mkdirInRoot(root, sub, 0)
		if err != nil {
			return fmt.Errorf("mount cgroup on %s: %w", sub, err)
		}
		if own := ownCgroup[h.options]; own != "" && own != "/" {
			// Not in a cgroup namespace: show the container's own cgroup,
			// as runc does, by binding it from the host's hierarchy.
			err = unix.Mount(path.Join(h.mountpoint, own), fdPath(fd), "", unix.MS_BIND, "")
			if err == nil { // (reopen: fd is the directory under the new mount)
				err = remount(root, sub, 0, flags|unix.MS_BIND)
			}
		} else {
			err = unix.Mount("cgroup", fdPath(fd), "cgroup", flags, h.options)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("mount cgroup %s on %s: %w", h.options, sub, err)
		}
		// A hierarchy holding several controllers is reachable by each name.
		for _, c := range strings.Split(h.options, ",") {
			if c != h.name && !strings.Contains(c, "=") {
				dir, err := openInRoot(root, dest, 0)
				if err != nil {
					return fmt.Errorf("open %s: %w", dest, err)
				}
				err = unix.Symlinkat(h.name, dir, c)
				unix.Close(dir)
				if err != nil {
					return fmt.Errorf("symlink %s/%s: %w", dest, c, err)
				}
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := remount(root, dest, 0, flags|unix.MS_BIND); err != nil {
			return fmt.Errorf("make %s read-only: %w", dest, err)
		}
	}
	return nil
}

type hierarchy struct {
	name       string // directory name under /sys/fs/cgroup, e.g. "cpu,cpuacct"
	options    string // controllers as mount options, e.g. "cpu,cpuacct" or "name=systemd"
	mountpoint string
}

// selfCgroups maps a v1 hierarchy's controllers ("memory", "name=systemd")
// to this process's cgroup in it.
func selfCgroups() map[string]string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && f[1] != "" {
			out[f[1]] = f[2]
		}
	}
	return out
}

// v1Hierarchies lists the host's cgroup v1 hierarchies from mountinfo.
func v1Hierarchies() ([]hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []hierarchy
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 || tail[0] != "cgroup" {
			continue
		}
		var opts []string
		for _, o := range strings.Split(tail[2], ",") {
			if o != "rw" && o != "ro" && !strings.HasPrefix(o, "clone_children") && o != "noprefix" && !strings.HasPrefix(o, "release_agent") && o != "xattr" && o != "nsdelegate" && o != "cpuset_v2_mode" {
				opts = append(opts, o)
			}
		}
		o := strings.Join(opts, ",")
		if o == "" || seen[o] {
			continue
		}
		seen[o] = true
		out = append(out, hierarchy{name: path.Base(fields[4]), options: o, mountpoint: fields[4]})
	}
	return out, sc.Err()
}
