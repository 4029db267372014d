package specgen

import (
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseSecurityOpts(t *testing.T) {
	files := map[string]string{"/p.json": `{"defaultAction": "SCMP_ACT_ALLOW"}`}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return []byte(b), nil
		}
		return nil, os.ErrNotExist
	}
	for _, c := range []struct {
		opts    []string
		nnp     bool
		profile bool
	}{
		{[]string{"no-new-privileges"}, true, false},
		{[]string{"no-new-privileges:true"}, true, false},
		{[]string{"no-new-privileges=true", "no-new-privileges:false"}, false, false},
		{[]string{"seccomp=/p.json"}, false, true},
		{[]string{"seccomp=/p.json", "seccomp=unconfined"}, false, false},
		{[]string{"label=disable", "apparmor=unconfined"}, false, false},
	} {
		sec, err := ParseSecurityOpts(c.opts, read)
		if err != nil || sec.NoNewPrivileges != c.nnp || (sec.SeccompProfile != nil) != c.profile {
			t.Errorf("%q: %+v, %v", c.opts, sec, err)
		}
	}
	for _, o := range []string{"label=user:x", "label=type:svirt", "apparmor=docker-default", "seccomp=/missing.json", "seccomp=", "no-new-privileges:yes!", "bogus", "systempaths=unconfined"} {
		if _, err := ParseSecurityOpts([]string{o}, read); err == nil || !strings.Contains(err.Error(), "--security-opt") {
			t.Errorf("%q: %v, want an error naming --security-opt", o, err)
		}
	}
}

func TestSeccompProfileDockerForm(t *testing.T) {
	profile := []byte(`{
		"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
		"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
		"syscalls": [
			{"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
			{"names": ["clone3"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.3"}},
			{"name": "write", "action": "SCMP_ACT_ALLOW"}
		]}`)
	names := func(p *specs.LinuxSeccomp) []string {
		var out []string
		for _, s := range p.Syscalls {
			out = append(out, s.Names...)
		}
		return out
	}
	p, err := SeccompProfile(profile, []string{"CAP_CHOWN"}, "amd64", "6.1.0-13-amd64")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"read", "clone", "arch_prctl", "clone3", "write"}; !slices.Equal(names(p), want) {
		t.Errorf("syscalls %q, want %q", names(p), want)
	}
	if want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}; !slices.Equal(p.Architectures, want) {
		t.Errorf("architectures %q, want %q", p.Architectures, want)
	}
	p, err = SeccompProfile(profile, []string{"CAP_SYS_ADMIN"}, "arm64", "5.2.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"read", "mount", "write"}; !slices.Equal(names(p), want) {
		t.Errorf("with CAP_SYS_ADMIN on arm64, kernel 5.2: syscalls %q, want %q", names(p), want)
	}
	for _, bad := range []string{`{}`, `{"defaultAction": "SCMP_ACT_ALLOW", "typo": 1}`, `not json`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"cap": ["X"]}}]}`} {
		if _, err := SeccompProfile([]byte(bad), nil, "amd64", "6.1"); err == nil {
			t.Errorf("profile %s: no error", bad)
		}
	}
}

func TestWithSecurity(t *testing.T) {
	s := defaultSpec()
	err := Apply(s, WithSecurity(Security{NoNewPrivileges: true, SeccompProfile: []byte(`{"defaultAction": "SCMP_ACT_ALLOW"}`)}, "amd64", "6.1"))
	if err != nil || !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow {
		t.Errorf("WithSecurity: %v, %+v", err, s.Linux.Seccomp)
	}
	if err := Apply(s, WithSecurity(Security{}, "amd64", "6.1")); err != nil || s.Linux.Seccomp != nil {
		t.Errorf("seccomp=unconfined kept a filter: %v", err)
	}
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]DeviceRequest{
		"/dev/fuse":                {"/dev/fuse", "/dev/fuse", "rwm"},
		"/dev/fuse:r":              {"/dev/fuse", "/dev/fuse", "r"},
		"/dev/fuse:/dev/f":         {"/dev/fuse", "/dev/f", "rwm"},
		"/dev/fuse:/dev/f/../g:rw": {"/dev/fuse", "/dev/g", "rw"},
	} {
		if got, err := ParseDevice(in); err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"dev/fuse", "/dev/fuse:f", "/dev/fuse:/f:rwx", "/dev/fuse:/f:rr", "/dev/fuse:/f:", "/a:/b:r:x", ""} {
		if _, err := ParseDevice(in); err == nil || !strings.Contains(err.Error(), "--device") {
			t.Errorf("ParseDevice(%q): %v, want an error naming --device", in, err)
		}
	}
}

func TestParseDeviceCgroupRule(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for in, want := range map[string]specs.LinuxDeviceCgroup{
		"c 1:3 rwm":  {Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},
		"b *:* m":    {Allow: true, Type: "b", Access: "m"},
		"c 189:* rw": {Allow: true, Type: "c", Major: n(189), Access: "rw"},
		"a":          {Allow: true, Type: "a", Access: "rwm"},
	} {
		got, err := ParseDeviceCgroupRule(in)
		if err != nil || got.Type != want.Type || got.Access != want.Access || !sameNumber(got.Major, want.Major) || !sameNumber(got.Minor, want.Minor) {
			t.Errorf("ParseDeviceCgroupRule(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "c", "c 1:3", "x 1:3 r", "c 1 r", "c -1:3 r", "c 1:3 rwx", "c 1:3 r extra"} {
		if _, err := ParseDeviceCgroupRule(in); err == nil {
			t.Errorf("ParseDeviceCgroupRule(%q): no error", in)
		}
	}
}

func sameNumber(a, b *int64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func TestWithSysctls(t *testing.T) {
	s := defaultSpec()
	if err := Apply(s, WithSysctls([]string{"net.ipv4.ip_forward=1", "kernel.shmmax=1", "fs/mqueue/msg_max=20", "kernel.sem=1 2 3 4"})); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Sysctl["fs.mqueue.msg_max"] != "20" || s.Linux.Sysctl["kernel.sem"] != "1 2 3 4" || len(s.Linux.Sysctl) != 4 {
		t.Errorf("sysctls %v", s.Linux.Sysctl)
	}
	host := func(t specs.LinuxNamespaceType) Opt { return WithHostNamespace(t, "h") }
	for _, c := range []struct {
		opts []Opt
		kv   string
	}{
		{nil, "kernel.pid_max=1"},
		{nil, "vm.swappiness=1"},
		{nil, "kernel.hostname=x"},
		{nil, "net.ipv4.ip_forward"},
		{[]Opt{WithNetwork("host")}, "net.ipv4.ip_forward=1"},
		{[]Opt{host(specs.IPCNamespace)}, "kernel.shmmax=1"},
		{[]Opt{host(specs.IPCNamespace)}, "fs.mqueue.msg_max=1"},
	} {
		err := Apply(defaultSpec(), append(c.opts, WithSysctls([]string{c.kv}))...)
		if err == nil || !strings.Contains(err.Error(), "--sysctl") {
			t.Errorf("%s: %v, want an error naming --sysctl", c.kv, err)
		}
	}
	// A namespace joined later is checked again (CheckSysctls).
	s = defaultSpec()
	if err := Apply(s, WithSysctls([]string{"net.core.somaxconn=100"}), WithNetwork("host"), CheckSysctls); err == nil {
		t.Error("net.* sysctl in the host's network namespace: no error")
	}
}

func TestNamespaceOptions(t *testing.T) {
	s := defaultSpec()
	err := Apply(s, WithHostNamespace(specs.PIDNamespace, "h"), WithHostNamespace(specs.UTSNamespace, "host1"),
		WithNamespacePath(specs.IPCNamespace, "/proc/7/ns/ipc"))
	if err != nil {
		t.Fatal(err)
	}
	if hasNamespace(s, specs.PIDNamespace) || hasNamespace(s, specs.UTSNamespace) || s.Hostname != "host1" || !slices.Contains(s.Process.Env, "HOSTNAME=host1") {
		t.Errorf("host pid and uts: %+v %q %q", s.Linux.Namespaces, s.Hostname, s.Process.Env)
	}
	if i := slices.IndexFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.IPCNamespace }); i < 0 || s.Linux.Namespaces[i].Path != "/proc/7/ns/ipc" {
		t.Errorf("ipc namespace: %+v", s.Linux.Namespaces)
	}
	if err := Apply(s, WithNamespacePath(specs.IPCNamespace, "proc/7/ns/ipc")); err == nil {
		t.Error("a relative namespace path: no error")
	}
	shm := func(s *specs.Spec) *specs.Mount {
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				return &s.Mounts[i]
			}
		}
		return nil
	}
	s = defaultSpec()
	if err := Apply(s, WithShmSize(2<<20)); err != nil || !slices.Contains(shm(s).Options, "size=2097152") || slices.Contains(shm(s).Options, "size=65536k") {
		t.Errorf("--shm-size 2m: %v %q", err, shm(s).Options)
	}
	s = defaultSpec()
	if err := Apply(s, WithHostNamespace(specs.IPCNamespace, "")); err != nil || shm(s).Type != "bind" || shm(s).Source != "/dev/shm" {
		t.Errorf("--ipc host: /dev/shm %+v, %v", shm(s), err)
	}
	if err := Apply(s, WithShmSize(1<<20)); err == nil {
		t.Error("--shm-size with the host's /dev/shm: no error")
	}
	s = defaultSpec()
	if err := Apply(s, WithShm(specs.Mount{})); err != nil || shm(s) != nil {
		t.Errorf("--ipc none kept /dev/shm: %v", err)
	}
	if err := Apply(s, WithShmSize(1<<20)); err == nil {
		t.Error("--shm-size without /dev/shm: no error")
	}
}
