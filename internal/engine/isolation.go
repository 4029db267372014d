package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/seccomp"
	"github.com/sdocker/sdocker/internal/specgen"
)

// IsolationOptions are run's security, device and namespace options.
type IsolationOptions struct {
	SecurityOpts      []string // --security-opt
	Devices           []string // --device HOST[:CONTAINER][:PERMISSIONS]
	DeviceCgroupRules []string // --device-cgroup-rule
	Sysctls           []string // --sysctl KEY=VALUE
	// IPC, PID and UTS are "" (the container's own), host, or
	// container:NAME_OR_ID; IPC also private, shareable (its own, which
	// others may join: see shmPath) or none (its own, without /dev/shm).
	// CgroupNS is private ("") or host.
	IPC, PID, UTS, CgroupNS string
	ShmSize                 string // --shm-size with a unit, e.g. 64m
	// Userns is --userns: "" or host, auto[:size=N], keep-id; UIDMap and
	// GIDMap are --uidmap and --gidmap (CONTAINER_ID:HOST_ID:SIZE).
	Userns         string
	UIDMap, GIDMap []string
}

// NamespaceModes are the modes of the namespaces a container may share,
// as the record keeps them ("container:ID" for another container's).
type NamespaceModes struct {
	IPC string `json:"ipc,omitempty"` // also shareable: see shmPath
	// ShmSize is the size of a shareable IPC namespace's /dev/shm (0: 64 MiB).
	ShmSize int64  `json:"shmSize,omitempty"`
	PID     string `json:"pid,omitempty"`
	UTS     string `json:"uts,omitempty"`
}

// isolationSpec checks o for a container named self and is the spec
// option of what it asks, with the modes the record keeps.
func (e *Engine) isolationSpec(o IsolationOptions, self, id string) (specgen.Opt, NamespaceModes, error) {
	var modes NamespaceModes
	sec, err := specgen.ParseSecurityOpts(o.SecurityOpts, os.ReadFile)
	if err != nil {
		return nil, modes, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	devOpt, err := hostDevices(o.Devices)
	if err != nil {
		return nil, modes, err
	}
	var rules []specs.LinuxDeviceCgroup
	for _, r := range o.DeviceCgroupRules {
		rule, err := specgen.ParseDeviceCgroupRule(r)
		if err != nil {
			return nil, modes, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		rules = append(rules, rule)
	}
	var shm int64
	if o.ShmSize != "" {
		if shm, err = specgen.ParseBytes(o.ShmSize); err != nil || shm <= 0 {
			return nil, modes, fmt.Errorf("%w: --shm-size %q: a positive size with a unit, e.g. 64m", ErrInvalidInput, o.ShmSize)
		}
	}
	nsOpts, modes, err := e.namespaceSpec(o, self, id)
	if err != nil {
		return nil, modes, err
	}
	if modes.IPC == "shareable" {
		modes.ShmSize, shm = shm, 0 // the size of the tmpfs mounted at start
	}
	kernel := kernelRelease()
	opts := append(nsOpts,
		specgen.WithShmSize(shm),
		devOpt,
		specgen.WithDeviceCgroupRules(rules...),
		specgen.WithSysctls(o.Sysctls),
		specgen.WithSecurity(sec, runtime.GOARCH, kernel),
		checkSeccomp,
	)
	return func(s *specs.Spec) error { return specgen.Apply(s, opts...) }, modes, nil
}

// checkSeccomp compiles the spec's seccomp filter, so that a profile the
// kernel cannot take is refused before anything is made.
func checkSeccomp(s *specs.Spec) error {
	if s.Linux.Seccomp == nil {
		return nil
	}
	if _, err := seccomp.Compile(s.Linux.Seccomp); err != nil {
		return fmt.Errorf("--security-opt seccomp: %w", err)
	}
	return nil
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// hostDevices reads each --device's host path: a character or block
// device, which the container gets at its path with its permissions.
func hostDevices(devices []string) (specgen.Opt, error) {
	var out []specs.LinuxDevice
	var access []string
	for _, d := range devices {
		req, err := specgen.ParseDevice(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(req.Host, &st); err != nil {
			return nil, fmt.Errorf("%w: --device %s: %w", ErrInvalidInput, req.Host, err)
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return nil, fmt.Errorf("%w: --device %s: not a character or block device", ErrInvalidInput, req.Host)
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{
			Path: req.Container, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		access = append(access, req.Access)
	}
	return specgen.WithDevices(out, access), nil
}

// namespaceSpec reads the namespace modes of o.
func (e *Engine) namespaceSpec(o IsolationOptions, self, id string) ([]specgen.Opt, NamespaceModes, error) {
	var modes NamespaceModes
	var opts []specgen.Opt
	for _, n := range []struct {
		flag, mode string
		t          specs.LinuxNamespaceType
		keep       *string
		own        []string
	}{
		{"--ipc", o.IPC, specs.IPCNamespace, &modes.IPC, []string{"", "private", "none"}},
		{"--pid", o.PID, specs.PIDNamespace, &modes.PID, []string{"", "private"}},
		{"--uts", o.UTS, specs.UTSNamespace, &modes.UTS, []string{"", "private"}},
		{"--cgroupns", o.CgroupNS, specs.CgroupNamespace, nil, []string{"", "private"}},
	} {
		switch {
		case n.mode == "none" && n.t == specs.IPCNamespace:
			opts = append(opts, specgen.WithShm(specs.Mount{}))
		case n.mode == "shareable" && n.t == specs.IPCNamespace:
			modes.IPC = "shareable"
			opts = append(opts, specgen.WithShm(specgen.Bind(e.shmPath(id), "/dev/shm", false)))
		case containsString(n.own, n.mode):
		case n.mode == "host":
			host, err := os.Hostname()
			if err != nil {
				return nil, modes, fmt.Errorf("read the host's name: %w", err)
			}
			opts = append(opts, specgen.WithHostNamespace(n.t, host))
			if n.keep != nil {
				*n.keep = "host"
			}
		case n.keep != nil && strings.HasPrefix(n.mode, containerModePrefix):
			ref := strings.TrimPrefix(n.mode, containerModePrefix)
			other, err := e.namespaceOwner(n.flag, n.t, ref, self)
			if err != nil {
				return nil, modes, err
			}
			if n.t == specs.IPCNamespace && other.Host.Namespaces.IPC != "shareable" {
				return nil, modes, fmt.Errorf("%w: --ipc container:%s: its IPC namespace is not shareable: run it with --ipc shareable", ErrInvalidInput, ref)
			}
			*n.keep = containerModePrefix + other.ID
			if n.t == specs.IPCNamespace {
				opts = append(opts, specgen.WithShm(specgen.Bind(e.shmPath(other.ID), "/dev/shm", false)))
			}
			// A namespace of the container's own until it starts (see
			// joinNamespacesOf), so that the options after see one; the
			// hostname is the other's.
			if n.t == specs.UTSNamespace {
				spec, err := e.readSpec(other.ID)
				if err != nil {
					return nil, modes, fmt.Errorf("%w: --uts container:%s: %w", ErrInvalidInput, ref, err)
				}
				opts = append(opts, specgen.WithSharedHostname(spec.Hostname))
			}
		default:
			return nil, modes, fmt.Errorf("%w: %s %q: use %s", ErrInvalidInput, n.flag, n.mode, namespaceUsage(n.flag))
		}
	}
	return opts, modes, nil
}

func containsString(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func namespaceUsage(flag string) string {
	switch flag {
	case "--ipc":
		return "private, shareable, none, host or container:NAME"
	case "--cgroupns":
		return "private or host"
	}
	return "host or container:NAME"
}

// namespaceOwner finds the running container REF whose namespace of
// type ns a container named self joins (flag container:REF).
func (e *Engine) namespaceOwner(flag string, ns specs.LinuxNamespaceType, ref, self string) (*Record, error) {
	if ref == "" || self != "" && ref == self {
		return nil, fmt.Errorf("%w: %s container:%s: a container cannot join its own %s namespace", ErrInvalidInput, flag, ref, ns)
	}
	other, err := e.Find(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %s container:%s: %w", ErrInvalidInput, flag, ref, err)
	}
	if !live(other) {
		return nil, fmt.Errorf("%w: %s container:%s: container %s is %s, not running", ErrInvalidInput, flag, ref, ids.ShortID(other.ID), other.Status)
	}
	return other, nil
}

// joinNamespacesOf points r's spec at the IPC, PID and UTS namespaces of
// the containers its modes name, which must run (the hostname and the
// /dev/shm of a shareable IPC namespace came along at create); the
// /dev/shm of r's own shareable IPC namespace is mounted.
func (e *Engine) joinNamespacesOf(r *Record) error {
	if r.Host.Namespaces.IPC == "shareable" {
		if err := mountShm(e.shmPath(r.ID), r.Host.Namespaces.ShmSize); err != nil {
			return err
		}
	}
	for _, n := range []struct {
		mode string
		t    specs.LinuxNamespaceType
		file string
	}{
		{r.Host.Namespaces.IPC, specs.IPCNamespace, "ipc"},
		{r.Host.Namespaces.PID, specs.PIDNamespace, "pid"},
		{r.Host.Namespaces.UTS, specs.UTSNamespace, "uts"},
	} {
		id, ok := strings.CutPrefix(n.mode, containerModePrefix)
		if !ok {
			continue
		}
		other, err := e.loadRecord(id)
		if err == nil && !live(other) {
			err = fmt.Errorf("it is %s, not running (start it first)", other.Status)
		}
		if err != nil {
			return fmt.Errorf("%w: cannot join the %s namespace of container %s: %w", ErrWrongState, n.file, ids.ShortID(id), err)
		}
		proc := "/proc/" + strconv.Itoa(other.Pid)
		if err := specgen.Apply(r.Spec, specgen.WithNamespacePath(n.t, proc+"/ns/"+n.file)); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
	}
	return nil
}

// shmPath is where the /dev/shm of container id's shareable IPC namespace
// is mounted: a tmpfs of the host's mount namespace, which the containers
// that join that IPC namespace bind too (the container's own /dev/shm is
// a mount of its mount namespace, which the kernel binds nowhere else).
// It is mounted when the container starts, and unmounted when it stops
// (releaseShmOf; the containers that joined it keep their mounts of it).
func (e *Engine) shmPath(id string) string { return filepath.Join(e.containerDir(id), "shm") }

// mountShm mounts the tmpfs of a shareable /dev/shm at dir unless it is
// there (size 0: 64 MiB).
func mountShm(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) == nil && unix.Stat(filepath.Dir(dir), &parent) == nil && st.Dev != parent.Dev {
		return nil // mounted by an earlier start
	}
	if size == 0 {
		size = 64 << 20
	}
	opts := "mode=1777,size=" + strconv.FormatInt(size, 10)
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// releaseShmOf unmounts the shareable /dev/shm of r, if it has one.
func (e *Engine) releaseShmOf(r *Record) error {
	if r.Host.Namespaces.IPC != "shareable" {
		return nil
	}
	return releaseShm(e.containerDir(r.ID))
}

// releaseShm unmounts the shareable /dev/shm of the container directory
// dir, if it has one.
func releaseShm(dir string) error {
	p := filepath.Join(dir, "shm")
	err := unix.Unmount(p, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not mounted
	}
	return fmt.Errorf("unmount %s: %w", p, err)
}
