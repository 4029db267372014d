package specgen

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Propagations are the bind propagations a mount may ask for.
var Propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// ValidPropagation says whether p is one of Propagations.
func ValidPropagation(p string) bool {
	for _, q := range Propagations {
		if p == q {
			return true
		}
	}
	return false
}

// BindMount is the bind mount of host path source at destination,
// read-only when readonly, with the propagation ("" is rprivate).
func BindMount(source, destination string, readonly bool, propagation string) specs.Mount {
	m := Bind(source, destination, readonly)
	if propagation != "" {
		m.Options[1] = propagation
	}
	return m
}

// Tmpfs is a tmpfs at destination: nosuid, nodev and noexec as Docker's,
// then options (size=, mode=, exec, ...) over them.
func Tmpfs(destination string, readonly bool, options []string) specs.Mount {
	opts := append([]string{"nosuid", "nodev", "noexec"}, options...)
	if readonly {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: destination, Type: "tmpfs", Source: "tmpfs", Options: opts}
}

// ReadOnlyTmpfsMounts are the writable places of a read-only rootfs
// (--read-only-tmpfs, as podman's): /tmp, /var/tmp and /run.
func ReadOnlyTmpfsMounts() []specs.Mount {
	return []specs.Mount{
		Tmpfs("/tmp", false, []string{"exec", "mode=1777"}),
		Tmpfs("/var/tmp", false, []string{"exec", "mode=1777"}),
		Tmpfs("/run", false, []string{"exec", "mode=755"}),
	}
}

// tmpfsFlags are the options of a tmpfs without a value.
var tmpfsFlags = map[string]bool{
	"exec": true, "noexec": true, "suid": true, "nosuid": true, "dev": true, "nodev": true,
	"ro": true, "rw": true, "atime": true, "noatime": true, "relatime": true, "norelatime": true,
	"strictatime": true, "nostrictatime": true, "diratime": true, "nodiratime": true,
	"sync": true, "async": true, "dirsync": true,
}

// ParseTmpfsOptions checks the options of a tmpfs (--tmpfs /path:OPTS):
// the mount flags, size= (bytes, with a k, m, g suffix or a %), mode= (in
// octal), nr_inodes=, uid= and gid=. It returns them, and whether ro is
// the last of ro and rw.
func ParseTmpfsOptions(opts string) (out []string, readonly bool, err error) {
	if opts == "" {
		return nil, false, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, hasValue := strings.Cut(o, "=")
		switch {
		case !hasValue && tmpfsFlags[k]:
			if k == "ro" || k == "rw" {
				readonly = k == "ro"
				continue
			}
		case k == "size" && validTmpfsSize(v):
		case k == "mode" && validMode(v):
		case (k == "nr_inodes" || k == "uid" || k == "gid") && validUint(v):
		default:
			return nil, false, fmt.Errorf("tmpfs option %q: unknown or invalid", o)
		}
		out = append(out, o)
	}
	return out, readonly, nil
}

func validUint(v string) bool {
	_, err := strconv.ParseUint(v, 10, 64)
	return err == nil
}

func validMode(v string) bool {
	m, err := strconv.ParseUint(v, 8, 32)
	return err == nil && m <= 0o7777
}

func validTmpfsSize(v string) bool {
	n := strings.TrimRight(v, "kKmMgG%")
	return len(v)-len(n) <= 1 && validUint(n) && n != ""
}

// CheckDestination refuses a container path that is not absolute or is /.
func CheckDestination(p string) error {
	if !path.IsAbs(p) || path.Clean(p) == "/" {
		return fmt.Errorf("mount destination %q: must be an absolute path other than /", p)
	}
	return nil
}

// WithBindPropagation sets the rootfs propagation that the bind mounts of
// the spec need, as Docker does: rshared if one is shared, else rslave if
// one is a slave. Without it the container's mounts are private, and a
// bind's own propagation would see nothing of the host.
func WithBindPropagation() Opt {
	return func(s *specs.Spec) error {
		for _, m := range s.Mounts {
			if m.Type != "bind" {
				continue
			}
			for _, o := range m.Options {
				switch o {
				case "shared", "rshared":
					s.Linux.RootfsPropagation = "rshared"
				case "slave", "rslave":
					if s.Linux.RootfsPropagation != "rshared" {
						s.Linux.RootfsPropagation = "rslave"
					}
				}
			}
		}
		return nil
	}
}
