package specgen

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithHostNamespace makes the container share the host's namespace of type
// t (--ipc, --pid, --uts, --cgroupns host). With the host's IPC namespace
// the container's /dev/shm is the host's, as in Docker; with its UTS
// namespace the hostname is hostname, the host's (never set by the
// container's init, which only names a UTS namespace of its own).
func WithHostNamespace(t specs.LinuxNamespaceType, hostname string) Opt {
	return func(s *specs.Spec) error {
		removeNamespace(s, t)
		switch t {
		case specs.IPCNamespace:
			return WithShm(Bind("/dev/shm", "/dev/shm", false))(s)
		case specs.UTSNamespace:
			return WithSharedHostname(hostname)(s)
		}
		return nil
	}
}

// WithSharedHostname is the hostname of a UTS namespace the container
// shares (the host's, another container's): its HOSTNAME, its
// /etc/hostname, and what its init sets in a namespace it joins.
func WithSharedHostname(hostname string) Opt {
	return func(s *specs.Spec) error {
		s.Hostname = hostname
		s.Process.Env = SetEnv(s.Process.Env, "HOSTNAME="+hostname)
		return nil
	}
}

// WithNamespacePath makes the container join the namespace of type t at
// path (an absolute path: /proc/PID/ns/TYPE of another container).
func WithNamespacePath(t specs.LinuxNamespaceType, path string) Opt {
	return func(s *specs.Spec) error {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("%s namespace %q: not an absolute path", t, path)
		}
		setNamespace(s, specs.LinuxNamespace{Type: t, Path: path})
		return nil
	}
}

// WithShm puts m in place of the container's /dev/shm; a zero m (no
// destination) removes it (--ipc none).
func WithShm(m specs.Mount) Opt {
	return func(s *specs.Spec) error {
		i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
		switch {
		case i < 0 && m.Destination != "":
			s.Mounts = append(s.Mounts, m)
		case i >= 0 && m.Destination == "":
			s.Mounts = slices.Delete(s.Mounts, i, i+1)
		case i >= 0:
			s.Mounts[i] = m
		}
		return nil
	}
}

// WithShmSize sets the size of the container's /dev/shm tmpfs, in bytes
// (--shm-size; 0 leaves the default 64 MiB). A /dev/shm that is not the
// container's own tmpfs (another's, the host's, or none) is refused.
func WithShmSize(size int64) Opt {
	return func(s *specs.Spec) error {
		if size == 0 {
			return nil
		}
		if size < 0 {
			return fmt.Errorf("--shm-size %d: must be positive", size)
		}
		i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
		if i < 0 || s.Mounts[i].Type != "tmpfs" {
			return fmt.Errorf("--shm-size: the container has no /dev/shm of its own (its IPC namespace is the host's, another container's, or none)")
		}
		m := &s.Mounts[i]
		m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
		m.Options = append(m.Options, "size="+strconv.FormatInt(size, 10))
		return nil
	}
}
