package oci

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var seccompArches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}

// dockerProfile is Docker's default profile (default action errno, an
// allow list), in the OCI form, from internal/seccomp/testdata.
func dockerProfile(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	path := "../../internal/seccomp/testdata/docker-default-amd64.json"
	if p := os.Getenv("SDOCKER_TEST_SECCOMP_PROFILE"); p != "" {
		path = p // (the cgroup2 VM has no source tree)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the Docker profile: %v", err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestSeccomp(t *testing.T) {
	t.Run("allow by default, mkdir errno EPERM", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, Architectures: seccompArches,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}},
		}
		b.sh("echo before; mkdir /tmp/d 2>&1; ls /tmp; touch /tmp/f && echo touch-ok")
		out := b.mustRun()
		if !strings.Contains(out, "Operation not permitted") || strings.Contains(out, "\nd\n") {
			t.Errorf("mkdir was not refused with EPERM: %q", out)
		}
		if !contains(lines(out), "touch-ok") || !contains(lines(out), "before") {
			t.Errorf("the other system calls were not allowed: %q", out)
		}
	})
	t.Run("errnoRet", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, Architectures: seccompArches,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(13))}},
		}
		b.sh("mkdir /tmp/d 2>&1; true")
		if out := b.mustRun(); !strings.Contains(out, "Permission denied") {
			t.Errorf("mkdir did not fail with errnoRet 13 (EACCES): %q", out)
		}
	})
	t.Run("argument conditions", func(t *testing.T) {
		b := newBundle(t)
		// kill(pid, SIGUSR1) is refused; kill with another signal is not.
		b.spec.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, Architectures: seccompArches,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: 10, Op: specs.OpEqualTo}}}},
		}
		b.sh("trap 'echo got-usr1' USR1; trap 'echo got-usr2' USR2; kill -USR2 $$; kill -USR1 $$ 2>/dev/null || echo usr1-refused; sleep 0.2")
		out := lines(b.mustRun())
		if !contains(out, "got-usr2") || !contains(out, "usr1-refused") || contains(out, "got-usr1") {
			t.Errorf("want got-usr2 and usr1-refused, not got-usr1: %q", out)
		}
	})
	t.Run("default errno with an allow list", func(t *testing.T) {
		// Docker's profile as it is: busybox sh runs; unshare, which it
		// does not list, is refused even with CAP_SYS_ADMIN.
		script := "echo hello; ls / >/dev/null && echo ls-ok; unshare -n true 2>/dev/null && echo unshare-allowed || echo unshare-refused"
		withCaps := func(b *bundle) {
			caps := append(append([]string{}, b.spec.Process.Capabilities.Bounding...), "CAP_SYS_ADMIN")
			b.spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		}
		control := newBundle(t)
		withCaps(control)
		control.sh(script)
		if out := lines(control.mustRun()); !contains(out, "unshare-allowed") {
			t.Fatalf("without seccomp unshare -n is refused too: the test cannot tell: %q", out)
		}
		b := newBundle(t)
		withCaps(b)
		b.spec.Linux.Seccomp = dockerProfile(t)
		b.sh(script)
		out := lines(b.mustRun())
		for _, want := range []string{"hello", "ls-ok", "unshare-refused"} {
			if !contains(out, want) {
				t.Errorf("Docker profile: want %q in %q", want, out)
			}
		}
	})
	t.Run("allow list without mkdir", func(t *testing.T) {
		b := newBundle(t)
		p := dockerProfile(t)
		for i, s := range p.Syscalls {
			var names []string
			for _, n := range s.Names {
				if n != "mkdir" && n != "mkdirat" {
					names = append(names, n)
				}
			}
			p.Syscalls[i].Names = names
		}
		b.spec.Linux.Seccomp = p
		b.sh("mkdir /tmp/d 2>&1; touch /tmp/f && echo touch-ok")
		out := b.mustRun()
		if !strings.Contains(out, "Operation not permitted") || !contains(lines(out), "touch-ok") {
			t.Errorf("mkdir, not listed, should fail with the default errno (EPERM): %q", out)
		}
	})
}
