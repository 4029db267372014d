package specgen

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/launch"
)

const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var defaultEnv = []string{"PATH=" + DefaultPath, "HOSTNAME=" + DefaultHostname, "HOME=/root"}

// build is New with a rootfs and a command, then opts.
func build(t *testing.T, opts ...Opt) (*specs.Spec, error) {
	t.Helper()
	return New(append([]Opt{WithRootfs("/rootfs"), WithArgs("true")}, opts...)...)
}

func namespaces(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		out = append(out, n.Type)
	}
	return out
}

// TestNew: without options a spec is Docker's defaults; a root file system
// and a command are required.
func TestNew(t *testing.T) {
	s, err := build(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != specs.Version || s.Root.Path != "/rootfs" || s.Root.Readonly || !slices.Equal(s.Process.Args, []string{"true"}) {
		t.Errorf("version %q, root %+v, args %q", s.Version, s.Root, s.Process.Args)
	}
	if !slices.Equal(s.Process.Env, defaultEnv) || s.Process.Cwd != "/" || s.Process.Terminal || s.Hostname != DefaultHostname {
		t.Errorf("process: env %q, cwd %q, terminal %v; hostname %q", s.Process.Env, s.Process.Cwd, s.Process.Terminal, s.Hostname)
	}
	caps := s.Process.Capabilities
	if !sameSet(caps.Bounding, DefaultCapabilities) || !slices.Equal(caps.Effective, caps.Bounding) || !slices.Equal(caps.Permitted, caps.Bounding) {
		t.Errorf("capabilities %+v, want %q in each set", caps, DefaultCapabilities)
	}
	if !isKernelOrder(caps.Bounding) {
		t.Errorf("capabilities %q: not in the kernel's order", caps.Bounding)
	}
	want := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace, specs.NetworkNamespace}
	if got := namespaces(s); !slices.Equal(got, want) {
		t.Errorf("namespaces %q, want %q", got, want)
	}
	if !slices.Equal(s.Linux.MaskedPaths, DefaultMaskedPaths) || !slices.Equal(s.Linux.ReadonlyPaths, DefaultReadonlyPaths) {
		t.Errorf("masked %q, read-only %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.EqualFunc(s.Mounts, DefaultMounts(), equalMount) {
		t.Errorf("mounts %+v", s.Mounts)
	}
	r := s.Linux.Resources
	if r == nil || !slices.EqualFunc(r.Devices, DefaultDeviceRules(), equalRule) || r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("resources %+v, want the default device rules only", r)
	}
	if d := r.Devices[0]; d.Allow || d.Access != "rwm" || d.Type != "" {
		t.Errorf("first device rule %+v, want all denied", d)
	}
	if _, err := New(WithArgs("true")); err == nil || !strings.Contains(err.Error(), "no root file system") {
		t.Errorf("no rootfs: %v", err)
	}
	if _, err := New(WithRootfs("/rootfs")); err == nil || !strings.Contains(err.Error(), "no command given") {
		t.Errorf("no command: %v", err)
	}
	if _, err := New(WithRootfs("/rootfs"), WithArgs()); err == nil {
		t.Error("an empty command: no error")
	}
}

func equalRule(a, b specs.LinuxDeviceCgroup) bool {
	return a.Allow == b.Allow && a.Type == b.Type && a.Access == b.Access &&
		(a.Major == nil) == (b.Major == nil) && (a.Major == nil || *a.Major == *b.Major) &&
		(a.Minor == nil) == (b.Minor == nil) && (a.Minor == nil || *a.Minor == *b.Minor)
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && len(setOf(a)) == len(setOf(b)) && !slices.ContainsFunc(a, func(c string) bool { return !slices.Contains(b, c) })
}

func isKernelOrder(caps []string) bool {
	names := launch.CapabilityNames()
	return slices.IsSortedFunc(caps, func(a, b string) int { return slices.Index(names, a) - slices.Index(names, b) })
}

// TestOptions: each option alone, over the defaults: what it changes, and
// the input it refuses.
func TestOptions(t *testing.T) {
	limit := int64(64 << 20)
	shares := uint64(512)
	all := launch.BoundingCapabilities()
	for _, c := range []struct {
		name  string
		opts  []Opt
		check func(*specs.Spec) bool // nil: want an error
		err   string                 // in the error
	}{
		{"rootfs", []Opt{WithRootfs("/var/lib/x")}, func(s *specs.Spec) bool { return s.Root.Path == "/var/lib/x" }, ""},
		{"rootfs relative", []Opt{WithRootfs("rootfs")}, nil, `rootfs "rootfs": not an absolute path`},
		{"rootfs empty", []Opt{WithRootfs("")}, nil, `rootfs "": not an absolute path`},
		{"read-only rootfs", []Opt{WithReadonlyRootfs(true)}, func(s *specs.Spec) bool { return s.Root.Readonly }, ""},
		{"writable rootfs", []Opt{WithReadonlyRootfs(false)}, func(s *specs.Spec) bool { return !s.Root.Readonly }, ""},

		{"hostname default", []Opt{WithHostname("", testID)}, func(s *specs.Spec) bool {
			return s.Hostname == "sdocker@0123456789ab" && s.Process.Env[1] == "HOSTNAME=sdocker@0123456789ab" && len(s.Process.Env) == 3
		}, ""},
		{"hostname", []Opt{WithHostname("web", testID)}, func(s *specs.Spec) bool {
			return s.Hostname == "web@0123456789ab" && slices.Contains(s.Process.Env, "HOSTNAME=web@0123456789ab")
		}, ""},
		{"hostname of 51", []Opt{WithHostname(strings.Repeat("h", 51), testID)}, func(s *specs.Spec) bool { return len(s.Hostname) == 64 }, ""},
		{"hostname of 52", []Opt{WithHostname(strings.Repeat("h", 52), testID)}, nil, "at most 51 characters"},

		{"terminal", []Opt{WithTerminal(true)}, func(s *specs.Spec) bool {
			return s.Process.Terminal && slices.Equal(s.Process.Env, append(slices.Clone(defaultEnv), "TERM=xterm"))
		}, ""},
		{"no terminal", []Opt{WithTerminal(false)}, func(s *specs.Spec) bool {
			return !s.Process.Terminal && slices.Equal(s.Process.Env, defaultEnv)
		}, ""},

		{"network none", []Opt{WithNetwork("none")}, func(s *specs.Spec) bool { return countNS(s, specs.NetworkNamespace) == 1 }, ""},
		{"network default", []Opt{WithNetwork("")}, func(s *specs.Spec) bool { return countNS(s, specs.NetworkNamespace) == 1 }, ""},
		{"network host", []Opt{WithNetwork("host")}, func(s *specs.Spec) bool {
			return countNS(s, specs.NetworkNamespace) == 0 && len(s.Linux.Namespaces) == 5
		}, ""},
		{"network host, then none", []Opt{WithNetwork("host"), WithNetwork("none")}, func(s *specs.Spec) bool {
			return countNS(s, specs.NetworkNamespace) == 1 && len(s.Linux.Namespaces) == 6
		}, ""},
		{"network bridge", []Opt{WithNetwork("bridge")}, nil, `network "bridge": not supported (use none or host)`},
		{"network namespace path", []Opt{WithNetworkNamespacePath("/run/sdocker/netns/x")}, func(s *specs.Spec) bool {
			ns, ok := namespaceOf(s, specs.NetworkNamespace)
			return ok && ns.Path == "/run/sdocker/netns/x" && countNS(s, specs.NetworkNamespace) == 1
		}, ""},
		{"network namespace path after host", []Opt{WithNetwork("host"), WithNetworkNamespacePath("/proc/1/ns/net")}, func(s *specs.Spec) bool {
			ns, ok := namespaceOf(s, specs.NetworkNamespace)
			return ok && ns.Path == "/proc/1/ns/net"
		}, ""},
		{"network namespace path relative", []Opt{WithNetworkNamespacePath("netns/x")}, nil, `network namespace "netns/x": not an absolute path`},

		{"privileged", []Opt{WithPrivileged(true)}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Capabilities.Bounding, all) && slices.Equal(s.Process.Capabilities.Effective, all) &&
				s.Linux.MaskedPaths == nil && s.Linux.ReadonlyPaths == nil
		}, ""},
		{"not privileged", []Opt{WithPrivileged(false)}, func(s *specs.Spec) bool {
			return sameSet(s.Process.Capabilities.Bounding, DefaultCapabilities) && len(s.Linux.MaskedPaths) == len(DefaultMaskedPaths)
		}, ""},

		{"cap-add", []Opt{WithCapabilities([]string{"net_admin", "CAP_SYS_ADMIN", "Sys_Time"}, nil)}, func(s *specs.Spec) bool {
			return sameSet(s.Process.Capabilities.Bounding, append(slices.Clone(DefaultCapabilities), "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_TIME")) &&
				isKernelOrder(s.Process.Capabilities.Bounding) && slices.Equal(s.Process.Capabilities.Permitted, s.Process.Capabilities.Bounding)
		}, ""},
		{"cap-drop", []Opt{WithCapabilities(nil, []string{"chown", "CAP_KILL", "net_admin"})}, func(s *specs.Spec) bool {
			want := slices.DeleteFunc(slices.Clone(DefaultCapabilities), func(c string) bool { return c == "CAP_CHOWN" || c == "CAP_KILL" })
			return sameSet(s.Process.Capabilities.Bounding, want)
		}, ""},
		{"cap-drop ALL, cap-add one", []Opt{WithCapabilities([]string{"kill"}, []string{"all"})}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_KILL"})
		}, ""},
		{"cap-drop ALL", []Opt{WithCapabilities(nil, []string{"ALL"})}, func(s *specs.Spec) bool {
			return len(s.Process.Capabilities.Bounding) == 0 && len(s.Process.Capabilities.Effective) == 0
		}, ""},
		{"cap-add ALL", []Opt{WithCapabilities([]string{"ALL"}, nil)}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Capabilities.Bounding, all)
		}, ""},
		{"cap-add and cap-drop of one: added", []Opt{WithCapabilities([]string{"chown"}, []string{"chown"})}, func(s *specs.Spec) bool {
			return slices.Contains(s.Process.Capabilities.Bounding, "CAP_CHOWN")
		}, ""},
		{"privileged, then cap-drop", []Opt{WithPrivileged(true), WithCapabilities(nil, []string{"sys_admin"})}, func(s *specs.Spec) bool {
			return len(s.Process.Capabilities.Bounding) == len(all)-1 && !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		}, ""},
		{"cap-add unknown", []Opt{WithCapabilities([]string{"nosuch"}, nil)}, nil, `--cap-add: unknown capability "CAP_NOSUCH"`},
		{"cap-drop unknown", []Opt{WithCapabilities(nil, []string{"CAP_nosuch"})}, nil, `--cap-drop: unknown capability "CAP_NOSUCH"`},

		{"cgroups path", []Opt{WithCgroupsPath("sdocker", testID)}, func(s *specs.Spec) bool { return s.Linux.CgroupsPath == "/sdocker/"+testID }, ""},
		{"cgroups path, nested parent", []Opt{WithCgroupsPath("/a/b/", testID)}, func(s *specs.Spec) bool { return s.Linux.CgroupsPath == "/a/b/"+testID }, ""},
		{"cgroups path, no parent", []Opt{WithCgroupsPath("", testID)}, func(s *specs.Spec) bool { return s.Linux.CgroupsPath == "/"+testID }, ""},

		{"resources", []Opt{WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, CPU: &specs.LinuxCPU{Shares: &shares}})}, func(s *specs.Spec) bool {
			r := s.Linux.Resources
			return *r.Memory.Limit == limit && *r.CPU.Shares == shares && slices.EqualFunc(r.Devices, DefaultDeviceRules(), equalRule)
		}, ""},
		{"no resources", []Opt{WithResources(nil)}, func(s *specs.Spec) bool {
			r := s.Linux.Resources
			return r.Memory == nil && r.CPU == nil && slices.EqualFunc(r.Devices, DefaultDeviceRules(), equalRule)
		}, ""},
		{"resources with a device rule", []Opt{WithResources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "r"}}})}, func(s *specs.Spec) bool {
			d := s.Linux.Resources.Devices
			return len(d) == len(DefaultDeviceRules())+1 && equalRule(d[len(d)-1], specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "r"})
		}, ""},

		{"args", []Opt{WithArgs("sh", "-c", "exit 3")}, func(s *specs.Spec) bool { return slices.Equal(s.Process.Args, []string{"sh", "-c", "exit 3"}) }, ""},

		{"env", []Opt{WithEnv([]string{"FOO=bar", "EMPTY=", "PATH=/bin", "A=b=c"})}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Env, []string{"PATH=/bin", "HOSTNAME=sdocker", "HOME=/root", "FOO=bar", "EMPTY=", "A=b=c"})
		}, ""},
		{"env, the later value", []Opt{WithEnv([]string{"A=1", "B=2", "A=3"})}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Env[3:], []string{"A=3", "B=2"})
		}, ""},
		{"env, a bare name is left out", []Opt{WithEnv([]string{"BARE", "HOME"})}, func(s *specs.Spec) bool { return slices.Equal(s.Process.Env, defaultEnv) }, ""},
		{"env, no name", []Opt{WithEnv([]string{"=x"})}, nil, `environment variable "=x": empty name`},
		{"env, empty", []Opt{WithEnv([]string{""})}, nil, `environment variable "": empty name`},

		{"workdir", []Opt{WithWorkdir("/etc")}, func(s *specs.Spec) bool { return s.Process.Cwd == "/etc" }, ""},
		{"workdir not given", []Opt{WithWorkdir("")}, func(s *specs.Spec) bool { return s.Process.Cwd == "/" }, ""},
		{"workdir relative", []Opt{WithWorkdir("etc")}, nil, `working directory "etc": not an absolute path`},

		{"mounts", []Opt{WithMounts(Bind("/srv/a", "/a", false), Bind("/srv/b", "/b", true))}, func(s *specs.Spec) bool {
			n := len(DefaultMounts())
			return len(s.Mounts) == n+2 && slices.EqualFunc(s.Mounts[:n], DefaultMounts(), equalMount) &&
				equalMount(s.Mounts[n], specs.Mount{Destination: "/a", Type: "bind", Source: "/srv/a", Options: []string{"rbind", "rprivate"}}) &&
				equalMount(s.Mounts[n+1], specs.Mount{Destination: "/b", Type: "bind", Source: "/srv/b", Options: []string{"rbind", "rprivate", "ro"}})
		}, ""},
	} {
		s, err := build(t, c.opts...)
		if c.check == nil {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one with %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !c.check(s) {
			t.Errorf("%s: not as wanted: %+v\nprocess %+v\nlinux %+v", c.name, s, s.Process, s.Linux)
		}
	}
}

func countNS(s *specs.Spec, t specs.LinuxNamespaceType) int {
	n := 0
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			n++
		}
	}
	return n
}

func equalMount(a, b specs.Mount) bool {
	return a.Destination == b.Destination && a.Type == b.Type && a.Source == b.Source && slices.Equal(a.Options, b.Options)
}

// TestSpecsShareNothing: what an option changes in one spec is not in the
// defaults of the next.
func TestSpecsShareNothing(t *testing.T) {
	a, err := build(t, WithPrivileged(true), WithEnv([]string{"PATH=/x"}), WithMounts(Bind("/s", "/d", true)),
		WithResources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "r"}}}))
	if err != nil {
		t.Fatal(err)
	}
	a.Process.Capabilities.Bounding[0] = "CHANGED"
	a.Linux.Resources.Devices[0].Access = "CHANGED"
	b, err := build(t)
	if err != nil {
		t.Fatal(err)
	}
	a.Linux.MaskedPaths = append(a.Linux.MaskedPaths, "/changed")
	b.Linux.MaskedPaths[0] = "/changed"
	b.Process.Capabilities.Bounding[0] = "CHANGED"
	c, err := build(t)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Process.Env, defaultEnv) || len(c.Mounts) != len(DefaultMounts()) ||
		c.Process.Capabilities.Bounding[0] == "CHANGED" || c.Linux.MaskedPaths[0] == "/changed" ||
		!slices.EqualFunc(c.Linux.Resources.Devices, DefaultDeviceRules(), equalRule) {
		t.Errorf("a later spec has what earlier ones changed: %+v %+v", c.Process, c.Linux)
	}
	if DefaultMaskedPaths[0] == "/changed" || DefaultCapabilities[0] == "CHANGED" {
		t.Error("the package defaults were changed")
	}
}

// TestApplyStops: Apply stops at the first option that fails.
func TestApplyStops(t *testing.T) {
	s := defaultSpec()
	err := Apply(s, WithWorkdir("/a"), WithWorkdir("rel"), WithWorkdir("/b"))
	if err == nil || s.Process.Cwd != "/a" {
		t.Errorf("error %v, cwd %q; want an error and /a", err, s.Process.Cwd)
	}
}

func namespaceOf(s *specs.Spec, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return n, true
		}
	}
	return specs.LinuxNamespace{}, false
}
