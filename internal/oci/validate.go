package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
)

// Validate refuses a config this runtime cannot honour, naming the field.
// Fields the spec lets a runtime ignore are let through.
func Validate(spec *specs.Spec) error {
	bad := func(field, why string) error { return fmt.Errorf("%w: %s: %s", ErrInvalid, field, why) }
	if !strings.HasPrefix(spec.Version, "1.") {
		return bad("ociVersion", fmt.Sprintf("%q is not a 1.x version", spec.Version))
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return bad("root.path", "required")
	}
	if spec.Linux == nil {
		return bad("linux", "required on Linux")
	}
	l := spec.Linux
	switch {
	case l.MountLabel != "":
		return bad("linux.mountLabel", "SELinux is not supported")
	case l.IntelRdt != nil:
		return bad("linux.intelRdt", "not supported")
	case l.TimeOffsets != nil:
		if err := checkTimeOffsets(l); err != nil {
			return bad("linux.timeOffsets", err.Error())
		}
	case l.MemoryPolicy != nil:
		return bad("linux.memoryPolicy", "not supported")
	case len(l.NetDevices) > 0:
		return bad("linux.netDevices", "not supported")
	}
	if err := launch.CheckUserNamespace(spec); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if l.Resources != nil {
		r := l.Resources
		switch {
		case len(r.HugepageLimits) > 0:
			return bad("linux.resources.hugepageLimits", "not supported")
		case len(r.Rdma) > 0:
			return bad("linux.resources.rdma", "not supported")
		case len(r.Unified) > 0:
			return bad("linux.resources.unified", "not supported")
		}
	}
	if l.Personality != nil {
		switch l.Personality.Domain {
		case specs.PerLinux, specs.PerLinux32:
		default:
			return bad("linux.personality.domain", fmt.Sprintf("unknown domain %q", l.Personality.Domain))
		}
	}
	for i, d := range l.Devices {
		for _, id := range []struct {
			name string
			v    *uint32
		}{{"uid", d.UID}, {"gid", d.GID}} {
			if id.v != nil {
				if err := ids.Check(fmt.Sprintf("linux.devices[%d].%s", i, id.name), uint64(*id.v)); err != nil {
					return fmt.Errorf("%w: %w", ErrInvalid, err)
				}
			}
		}
	}
	for i, m := range spec.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return bad(fmt.Sprintf("mounts[%d].destination", i), fmt.Sprintf("%q is not absolute", m.Destination))
		}
		if err := validateIDMappedMount(fmt.Sprintf("mounts[%d]", i), m, l); err != nil {
			return err
		}
	}
	if spec.Process != nil {
		return validateProcess(spec.Process)
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	bad := func(field, why string) error { return fmt.Errorf("%w: process.%s: %s", ErrInvalid, field, why) }
	switch {
	case len(p.Args) == 0 && p.CommandLine == "":
		return bad("args", "required")
	case p.CommandLine != "":
		return bad("commandLine", "Windows only")
	case p.Cwd != "" && !filepath.IsAbs(p.Cwd):
		return bad("cwd", fmt.Sprintf("%q is not absolute", p.Cwd))
	case p.SelinuxLabel != "":
		return bad("selinuxLabel", "SELinux is not supported")
	case p.ApparmorProfile != "" && !apparmorEnabled():
		return bad("apparmorProfile", "AppArmor is not enabled on this machine")
	case p.ApparmorProfile != "":
		return bad("apparmorProfile", "AppArmor profiles are not supported")
	case p.Scheduler != nil:
		return bad("scheduler", "not supported")
	case p.IOPriority != nil:
		return bad("ioPriority", "not supported")
	case p.ExecCPUAffinity != nil:
		return bad("execCPUAffinity", "not supported")
	case p.User.Username != "":
		return bad("user.username", "Windows only")
	}
	if err := ids.CheckUser(p.User); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// validateIDMappedMount checks the id mappings of mount m (field names
// it): a bind mount, both maps or the idmap option with the container's,
// which then needs a user namespace of its own.
func validateIDMappedMount(field string, m specs.Mount, l *specs.Linux) error {
	bad := func(f, why string) error { return fmt.Errorf("%w: %s.%s: %s", ErrInvalid, field, f, why) }
	idmap := slices.Contains(m.Options, "idmap") || slices.Contains(m.Options, "ridmap")
	if len(m.UIDMappings) == 0 && len(m.GIDMappings) == 0 && !idmap {
		return nil
	}
	if (len(m.UIDMappings) == 0) != (len(m.GIDMappings) == 0) {
		return bad("uidMappings", "an id-mapped mount needs both uidMappings and gidMappings")
	}
	if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
		return bad("options", "id-mapped mounts are bind mounts only (bind or rbind)")
	}
	if len(m.UIDMappings) == 0 && len(l.UIDMappings) == 0 {
		return bad("options", "idmap without mappings of its own needs linux.uidMappings")
	}
	for _, mm := range []struct {
		f string
		m []specs.LinuxIDMapping
	}{{"uidMappings", m.UIDMappings}, {"gidMappings", m.GIDMappings}} {
		if err := ids.CheckMappings(field+"."+mm.f, mm.m); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}

// checkTimeOffsets refuses offsets without a new time namespace to take
// them, of a clock the kernel has none for, or of a nanosecond part of a
// second or more.
func checkTimeOffsets(l *specs.Linux) error {
	newTime := false
	for _, ns := range l.Namespaces {
		newTime = newTime || ns.Type == specs.TimeNamespace && ns.Path == ""
	}
	if !newTime {
		return fmt.Errorf("given without a new time namespace in linux.namespaces")
	}
	for clock, off := range l.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			return fmt.Errorf("unknown clock %q (monotonic, boottime)", clock)
		}
		if off.Nanosecs >= 1e9 {
			return fmt.Errorf("%s: nanosecs %d is not below a second", clock, off.Nanosecs)
		}
	}
	return nil
}
