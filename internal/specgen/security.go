package specgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Security are the --security-opt options, read by ParseSecurityOpts.
type Security struct {
	// SeccompProfile is the JSON of a seccomp=FILE profile; nil with
	// Unconfined (seccomp=unconfined) or without a seccomp= option.
	SeccompProfile  []byte
	SeccompFile     string
	NoNewPrivileges bool
}

// ParseSecurityOpts reads --security-opt values: seccomp=unconfined or
// seccomp=FILE (read by readFile), no-new-privileges[:true|false] (or
// =), label=disable and apparmor=unconfined. No SELinux label and no
// AppArmor profile is ever applied, so those two say what is done
// anyway; any other label= or apparmor= value is refused.
func ParseSecurityOpts(opts []string, readFile func(string) ([]byte, error)) (Security, error) {
	var sec Security
	for _, o := range opts {
		key, val, hasVal := strings.Cut(o, "=")
		if !hasVal && strings.HasPrefix(o, "no-new-privileges:") {
			key, val, hasVal = "no-new-privileges", strings.TrimPrefix(o, "no-new-privileges:"), true
		}
		switch {
		case key == "no-new-privileges":
			v := true
			if hasVal {
				var err error
				if v, err = strconv.ParseBool(val); err != nil {
					return sec, fmt.Errorf("--security-opt %q: no-new-privileges takes true or false", o)
				}
			}
			sec.NoNewPrivileges = v
		case key == "seccomp" && val == "unconfined":
			sec.SeccompProfile, sec.SeccompFile = nil, ""
		case key == "seccomp" && val != "":
			b, err := readFile(val)
			if err != nil {
				return sec, fmt.Errorf("--security-opt %q: %w", o, err)
			}
			sec.SeccompProfile, sec.SeccompFile = b, val
		case key == "label" && val == "disable":
		case key == "apparmor" && val == "unconfined":
		case key == "label" || key == "apparmor":
			return sec, fmt.Errorf("--security-opt %q: there is no SELinux or AppArmor here: only label=disable and apparmor=unconfined are accepted", o)
		default:
			return sec, fmt.Errorf("--security-opt %q: use seccomp=unconfined|FILE, no-new-privileges[:true|false], label=disable or apparmor=unconfined", o)
		}
	}
	return sec, nil
}

// WithSecurity sets no_new_privs and the seccomp filter of sec (none
// without a profile). It comes after the options that set the
// capabilities: a profile's entries can depend on them.
func WithSecurity(sec Security, arch, kernel string) Opt {
	return func(s *specs.Spec) error {
		if sec.NoNewPrivileges {
			s.Process.NoNewPrivileges = true
		}
		s.Linux.Seccomp = nil
		if sec.SeccompProfile == nil {
			return nil
		}
		p, err := SeccompProfile(sec.SeccompProfile, s.Process.Capabilities.Bounding, arch, kernel)
		if err != nil {
			return fmt.Errorf("--security-opt seccomp=%s: %w", sec.SeccompFile, err)
		}
		s.Linux.Seccomp = p
		return nil
	}
}

// dockerProfile is a seccomp profile as Docker writes it: the OCI
// linux.seccomp fields, an archMap in place of (or beside) architectures,
// and entries kept only for some capabilities, architectures or kernels.
type dockerProfile struct {
	specs.LinuxSeccomp
	ArchMap []struct {
		Arch    specs.Arch   `json:"architecture"`
		SubArch []specs.Arch `json:"subArchitectures"`
	} `json:"archMap"`
	Syscalls []dockerSyscall `json:"syscalls"`
}

type dockerSyscall struct {
	specs.LinuxSyscall
	Name     string       `json:"name"` // an old profile's one name
	Comment  string       `json:"comment"`
	Includes seccompWhere `json:"includes"`
	Excludes seccompWhere `json:"excludes"`
}

type seccompWhere struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// SeccompProfile reads a profile in Docker's form (or the OCI's): for a
// process with capabilities caps, on architecture arch (Go's name) and
// kernel release kernel (uname -r). Unknown fields are refused: a filter
// that silently lost a rule would allow what it should not.
func SeccompProfile(data []byte, caps []string, arch, kernel string) (*specs.LinuxSeccomp, error) {
	var p dockerProfile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read the profile: %w", err)
	}
	out := p.LinuxSeccomp
	if out.DefaultAction == "" {
		return nil, fmt.Errorf("the profile has no defaultAction")
	}
	if len(out.Architectures) == 0 {
		for _, m := range p.ArchMap {
			if m.Arch == goArchToSeccomp[arch] {
				out.Architectures = append(append(out.Architectures, m.Arch), m.SubArch...)
			}
		}
	}
	out.Syscalls = nil
	for _, sc := range p.Syscalls {
		if !applies(sc.Includes, sc.Excludes, caps, arch, kernel) {
			continue
		}
		c := sc.LinuxSyscall
		if sc.Name != "" {
			c.Names = append([]string{sc.Name}, c.Names...)
		}
		out.Syscalls = append(out.Syscalls, c)
	}
	return &out, nil
}

var goArchToSeccomp = map[string]specs.Arch{
	"amd64": specs.ArchX86_64, "386": specs.ArchX86, "arm64": specs.ArchAARCH64, "arm": specs.ArchARM,
	"ppc64le": specs.ArchPPC64LE, "s390x": specs.ArchS390X, "riscv64": specs.ArchRISCV64,
	"mips64le": specs.ArchMIPSEL64, "loong64": "SCMP_ARCH_LOONGARCH64",
}

// applies is Docker's rule: every capability of in.Caps held, the
// architecture among in.Arches, the kernel at least in.MinKernel, and
// nothing of ex.
func applies(in, ex seccompWhere, caps []string, arch, kernel string) bool {
	for _, c := range in.Caps {
		if !slices.Contains(caps, c) {
			return false
		}
	}
	if len(in.Arches) > 0 && !slices.Contains(in.Arches, arch) {
		return false
	}
	if in.MinKernel != "" && kernelBefore(kernel, in.MinKernel) {
		return false
	}
	for _, c := range ex.Caps {
		if slices.Contains(caps, c) {
			return false
		}
	}
	if slices.Contains(ex.Arches, arch) {
		return false
	}
	return ex.MinKernel == "" || kernelBefore(kernel, ex.MinKernel)
}

// kernelBefore compares the major.minor of two kernel releases.
func kernelBefore(release, min string) bool {
	a, b := majorMinor(release), majorMinor(min)
	return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
}

func majorMinor(release string) [2]int {
	var v [2]int
	for i, f := range strings.SplitN(release, ".", 3) {
		if i == 2 {
			break
		}
		n := 0
		for _, c := range f {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		v[i] = n
	}
	return v
}
