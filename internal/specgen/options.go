package specgen

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
)

// WithRootfs sets the root file system, an absolute path.
func WithRootfs(path string) Opt {
	return func(s *specs.Spec) error {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("rootfs %q: not an absolute path", path)
		}
		s.Root.Path = path
		return nil
	}
}

// WithReadonlyRootfs mounts the root file system read-only (--read-only).
func WithReadonlyRootfs(readonly bool) Opt {
	return func(s *specs.Spec) error {
		s.Root.Readonly = readonly
		return nil
	}
}

// WithHostname names the container NAME@<short id> (NAME at most 51
// characters, so that the whole is at most 64; "" is DefaultHostname) and
// sets HOSTNAME to it.
func WithHostname(name, id string) Opt {
	return func(s *specs.Spec) error {
		if name == "" {
			name = DefaultHostname
		}
		if len(name) > 64-13 {
			return fmt.Errorf("hostname %q: at most 51 characters (the container's hostname is NAME@<12-character id>, at most 64)", name)
		}
		s.Hostname = name + "@" + ids.ShortID(id)
		s.Process.Env = SetEnv(s.Process.Env, "HOSTNAME="+s.Hostname)
		return nil
	}
}

// WithTerminal gives the process a terminal and TERM=xterm (-t).
func WithTerminal(tty bool) Opt {
	return func(s *specs.Spec) error {
		s.Process.Terminal = tty
		if tty {
			s.Process.Env = SetEnv(s.Process.Env, "TERM=xterm")
		}
		return nil
	}
}

// WithNetwork chooses the container's network: "" or "none" is a network
// namespace of its own (with lo only), "host" the host's.
func WithNetwork(mode string) Opt {
	return func(s *specs.Spec) error {
		switch mode {
		case "", "none":
			setNamespace(s, specs.LinuxNamespace{Type: specs.NetworkNamespace})
		case "host":
			removeNamespace(s, specs.NetworkNamespace)
		default:
			return fmt.Errorf("network %q: not supported (use none or host)", mode)
		}
		return nil
	}
}

// setNamespace puts ns in place of the namespace of its type, or last.
func setNamespace(s *specs.Spec, ns specs.LinuxNamespace) {
	for i, n := range s.Linux.Namespaces {
		if n.Type == ns.Type {
			s.Linux.Namespaces[i] = ns
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, ns)
}

// removeNamespace makes the container share the namespace of type t with
// the host.
func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
}

// WithPrivileged gives the container every capability of the bounding set
// of this process and no masked or read-only paths (--privileged).
func WithPrivileged(privileged bool) Opt {
	return func(s *specs.Spec) error {
		if !privileged {
			return nil
		}
		setCapabilities(s, launch.BoundingCapabilities())
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		return nil
	}
}

// WithCapabilities drops the capabilities of drop from the container's set,
// then adds those of add (--cap-drop, --cap-add): names with or without
// CAP_, in any case, or ALL (for add: the bounding set of this process).
func WithCapabilities(add, drop []string) Opt {
	return func(s *specs.Spec) error {
		set := setOf(s.Process.Capabilities.Bounding)
		for _, c := range drop {
			n, err := capabilityName("--cap-drop", c)
			if err != nil {
				return err
			}
			if n == "ALL" {
				clear(set)
			}
			delete(set, n)
		}
		for _, c := range add {
			n, err := capabilityName("--cap-add", c)
			if err != nil {
				return err
			}
			if n == "ALL" {
				for _, a := range launch.BoundingCapabilities() {
					set[a] = true
				}
				continue
			}
			set[n] = true
		}
		setCapabilities(s, inKernelOrder(set))
		return nil
	}
}

// capabilityName is c as CAP_NAME (or ALL); flag names the option in the
// error of an unknown one.
func capabilityName(flag, c string) (string, error) {
	c = strings.ToUpper(c)
	if c == "ALL" {
		return c, nil
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	if !launch.ValidCapability(c) {
		return "", fmt.Errorf("%s: unknown capability %q", flag, c)
	}
	return c, nil
}

// setCapabilities gives the process caps as its bounding, effective and
// permitted sets.
func setCapabilities(s *specs.Spec, caps []string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

func setOf(names []string) map[string]bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return set
}

// inKernelOrder lists the capabilities of set in the kernel's order.
func inKernelOrder(set map[string]bool) []string {
	var caps []string
	for _, c := range launch.CapabilityNames() {
		if set[c] {
			caps = append(caps, c)
		}
	}
	return caps
}

// CgroupsPath is the cgroup of container id under parent: /parent/id.
func CgroupsPath(parent, id string) string { return filepath.Join("/", parent, id) }

// WithCgroupsPath puts the container's cgroup at CgroupsPath(parent, id).
func WithCgroupsPath(parent, id string) Opt {
	return func(s *specs.Spec) error {
		s.Linux.CgroupsPath = CgroupsPath(parent, id)
		return nil
	}
}

// WithResources sets the memory, CPU and pids limits of r (nil: none),
// keeping the device rules the spec has and adding those of r.
func WithResources(r *specs.LinuxResources) Opt {
	return func(s *specs.Spec) error {
		var out specs.LinuxResources
		if r != nil {
			out = *r
		}
		var devices []specs.LinuxDeviceCgroup
		if s.Linux.Resources != nil {
			devices = s.Linux.Resources.Devices
		}
		out.Devices = append(slices.Clone(devices), out.Devices...)
		s.Linux.Resources = &out
		return nil
	}
}

// WithArgs sets the command and its arguments.
func WithArgs(args ...string) Opt {
	return func(s *specs.Spec) error {
		s.Process.Args = args
		return nil
	}
}

// WithEnv sets each KEY=VALUE of env, in order, in place of a variable of
// the same name. A bare KEY has no value here and is left out: a caller
// that takes values from somewhere else (Docker's -e KEY takes the
// caller's own) gives them first.
func WithEnv(env []string) Opt {
	return func(s *specs.Spec) error {
		for _, kv := range env {
			k, _, hasValue := strings.Cut(kv, "=")
			if k == "" {
				return fmt.Errorf("environment variable %q: empty name", kv)
			}
			if hasValue {
				s.Process.Env = SetEnv(s.Process.Env, kv)
			}
		}
		return nil
	}
}

// WithWorkdir sets the working directory, an absolute path; "" leaves it.
func WithWorkdir(dir string) Opt {
	return func(s *specs.Spec) error {
		if dir == "" {
			return nil
		}
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("working directory %q: not an absolute path", dir)
		}
		s.Process.Cwd = dir
		return nil
	}
}

// WithMounts adds mounts after those the spec has: a later mount covers an
// earlier one at the same place.
func WithMounts(mounts ...specs.Mount) Opt {
	return func(s *specs.Spec) error {
		s.Mounts = append(s.Mounts, mounts...)
		return nil
	}
}

// Bind is the mount of host directory source at destination (a volume),
// read-only when readonly.
func Bind(source, destination string, readonly bool) specs.Mount {
	opts := []string{"rbind", "rprivate"}
	if readonly {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: destination, Type: "bind", Source: source, Options: opts}
}
