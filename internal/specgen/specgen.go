// Package specgen is the one place that builds an OCI runtime spec. A spec
// starts as Docker's defaults (capabilities, masked and read-only paths, the
// standard mounts and namespaces, the default device rules) and each option
// (an Opt) changes one part of it, in the order given: where two options set
// the same thing (an environment variable, the working directory), the later
// one wins.
//
// An option is a function of the spec and of its arguments only, so each has
// a unit test that needs no root. The one exception reads the container's
// root file system: WithUser looks names up in its /etc/passwd and
// /etc/group, so it applies (Apply) once that file system is in place.
//
// A new option is a func returning an Opt, here or in a file of its own, with
// a case in the option tests.
package specgen

import (
	"errors"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Opt changes one part of a spec; an error says which input is wrong.
type Opt func(*specs.Spec) error

// New builds a spec: Docker's defaults, changed by opts in order. The
// result has an absolute root file system path and a command.
func New(opts ...Opt) (*specs.Spec, error) {
	s := defaultSpec()
	if err := Apply(s, opts...); err != nil {
		return nil, err
	}
	if s.Root.Path == "" {
		return nil, errors.New("no root file system given")
	}
	if len(s.Process.Args) == 0 {
		return nil, errors.New("no command given")
	}
	return s, nil
}

// Apply changes s by opts, in order, and stops at the first error.
func Apply(s *specs.Spec, opts ...Opt) error {
	for _, o := range opts {
		if err := o(s); err != nil {
			return err
		}
	}
	return nil
}

// DefaultCapabilities are Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultMaskedPaths are hidden from a container that is not privileged.
var DefaultMaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// DefaultReadonlyPaths are read-only in a container that is not privileged.
var DefaultReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// DefaultPath is the PATH a container gets unless its environment sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultHostname is the name part of a container's hostname when none is
// given (see WithHostname).
const DefaultHostname = "sdocker"

// defaultSpec is what a container gets unless an option says otherwise: no
// root file system or command yet, / as working directory, new namespaces
// (a network namespace with lo only among them), Docker's capabilities,
// masked and read-only paths, and the default devices only.
func defaultSpec() *specs.Spec {
	caps := inKernelOrder(setOf(DefaultCapabilities))
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{},
		Process: &specs.Process{
			Env: []string{"PATH=" + DefaultPath, "HOSTNAME=" + DefaultHostname, "HOME=/root"},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Hostname: DefaultHostname,
		Mounts:   DefaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.CgroupNamespace}, {Type: specs.NetworkNamespace},
			},
			Resources:     &specs.LinuxResources{Devices: DefaultDeviceRules()},
			MaskedPaths:   slices.Clone(DefaultMaskedPaths),
			ReadonlyPaths: slices.Clone(DefaultReadonlyPaths),
		},
	}
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

// DefaultDeviceRules give a container access to its default devices only:
// everything denied, then each default device allowed.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	r := specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	AddDefaultDevices(&r)
	return r.Devices
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
