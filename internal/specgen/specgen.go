// Package specgen turns the options of `sdocker run` into an OCI runtime
// spec, with Docker's defaults: capabilities, masked and read-only paths,
// the standard mounts and namespaces.
package specgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/runtime"
)

// Options describe one container to run.
type Options struct {
	ID     string   // full container id
	Rootfs string   // absolute path of the root file system
	Args   []string // the command and its arguments
	Env    []string // KEY=VALUE, added to the defaults
	Cwd    string   // working directory, default /
	// Hostname is the name part; the container's hostname is Hostname@<short id>.
	Hostname string
	Tty      bool
	// Network is "" or "none" (a new network namespace with lo up) or "host".
	Network    string
	CapAdd     []string // capability names, with or without CAP_, or ALL
	CapDrop    []string
	Privileged bool
	ReadOnly   bool
	// CgroupParent is the cgroup the container's own cgroup goes under.
	CgroupParent string
	Resources    *specs.LinuxResources
}

// DefaultCapabilities are Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

var DefaultMaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

var DefaultReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// DefaultPath is the PATH a container gets unless its environment sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Generate builds the spec for o.
func Generate(o Options) (*specs.Spec, error) {
	if !filepath.IsAbs(o.Rootfs) {
		return nil, fmt.Errorf("rootfs %q: not an absolute path", o.Rootfs)
	}
	if len(o.Args) == 0 {
		return nil, fmt.Errorf("no command given")
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory %q: not an absolute path", cwd)
	}
	name := o.Hostname
	if name == "" {
		name = "sdocker"
	}
	hostname := name + "@" + ids.ShortID(o.ID)
	if len(name) > 64-13 {
		return nil, fmt.Errorf("hostname %q: at most 51 characters (the container's hostname is NAME@<12-character id>, at most 64)", name)
	}
	caps, err := capabilities(o)
	if err != nil {
		return nil, err
	}
	env, err := environment(o, hostname)
	if err != nil {
		return nil, err
	}
	namespaces := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.CgroupNamespace},
	}
	switch o.Network {
	case "", "none":
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	case "host":
	default:
		return nil, fmt.Errorf("network %q: not supported (use none or host)", o.Network)
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: o.Rootfs, Readonly: o.ReadOnly},
		Process: &specs.Process{
			Terminal: o.Tty,
			Args:     o.Args,
			Env:      env,
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Hostname: hostname,
		Mounts:   DefaultMounts(),
		Linux: &specs.Linux{
			Namespaces:  namespaces,
			CgroupsPath: filepath.Join("/", o.CgroupParent, o.ID),
			Resources:   withDeviceRules(o.Resources),
		},
	}
	if !o.Privileged {
		spec.Linux.MaskedPaths = DefaultMaskedPaths
		spec.Linux.ReadonlyPaths = DefaultReadonlyPaths
	}
	return spec, nil
}

// DefaultMounts are the file systems every container gets.
func DefaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

func environment(o Options, hostname string) ([]string, error) {
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname, "HOME=/root"}
	if o.Tty {
		env = append(env, "TERM=xterm")
	}
	for _, kv := range o.Env {
		k, _, hasValue := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("environment variable %q: empty name", kv)
		}
		if !hasValue {
			v, ok := os.LookupEnv(k)
			if !ok {
				continue
			}
			kv = k + "=" + v
		}
		env = SetEnv(env, kv)
	}
	return env, nil
}

// SetEnv replaces or appends the KEY=VALUE pair kv.
func SetEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// capabilities applies --privileged, --cap-add and --cap-drop to Docker's
// default set.
func capabilities(o Options) ([]string, error) {
	set := map[string]bool{}
	base := DefaultCapabilities
	if o.Privileged {
		base = runtime.BoundingCapabilities()
	}
	for _, c := range base {
		set[c] = true
	}
	norm := func(flag, c string) (string, error) {
		c = strings.ToUpper(c)
		if c == "ALL" {
			return c, nil
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !runtime.ValidCapability(c) {
			return "", fmt.Errorf("%s: unknown capability %q", flag, c)
		}
		return c, nil
	}
	for _, c := range o.CapDrop {
		n, err := norm("--cap-drop", c)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			set = map[string]bool{}
		}
		delete(set, n)
	}
	for _, c := range o.CapAdd {
		n, err := norm("--cap-add", c)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			for _, a := range runtime.BoundingCapabilities() {
				set[a] = true
			}
			continue
		}
		set[n] = true
	}
	var caps []string
	for _, c := range runtime.CapabilityNames() {
		if set[c] {
			caps = append(caps, c)
		}
	}
	return caps, nil
}

// withDeviceRules gives a container access to its default devices only.
func withDeviceRules(r *specs.LinuxResources) *specs.LinuxResources {
	out := specs.LinuxResources{}
	if r != nil {
		out = *r
	}
	out.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	AddDefaultDevices(&out)
	return &out
}
