package oci

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A profile that refuses execve itself (kills, traps or fails it, as the
// default of an allowlist without it, as its own rule, or as a rule on its
// arguments that the init's execve matches), with and without
// noNewPrivileges, is refused by run and create in one line that names
// the field and the call, in seconds, and leaves nothing behind: before,
// SCMP_ACT_KILL ended the init's one thread and the start hung, and
// SCMP_ACT_TRAP printed the Go runtime's stack trace.
func TestSeccompProfileBlocksExecve(t *testing.T) {
	archs := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	// What sh -c true needs, and the calls the init makes after the
	// filter without no_new_privs: not execve.
	allow := []string{"read", "write", "exit_group", "exit", "brk", "mmap", "munmap", "arch_prctl", "set_tid_address",
		"rt_sigaction", "rt_sigprocmask", "getuid", "geteuid", "getpid", "getppid", "prctl", "setgroups", "setresgid",
		"setresuid", "getresuid", "getresgid", "setfsuid", "setfsgid", "getgroups", "capset"}
	for _, act := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillThread, specs.ActKillProcess, specs.ActTrap, specs.ActErrno} {
		for _, nnp := range []bool{true, false} {
			for _, form := range []string{"rule", "default", "rule on its arguments"} {
				t.Run(fmt.Sprintf("%s nnp=%v %s", act, nnp, form), func(t *testing.T) {
					if isRunc {
						t.Skip("runc hangs (SCMP_ACT_KILL) or fails at exec")
					}
					b := newBundle(t)
					b.spec.Process.NoNewPrivileges = nnp
					p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: archs,
						Syscalls: []specs.LinuxSyscall{{Names: []string{"execve"}, Action: act}}}
					switch form {
					case "default":
						p = &specs.LinuxSeccomp{DefaultAction: act, Architectures: archs,
							Syscalls: []specs.LinuxSyscall{{Names: allow, Action: specs.ActAllow}}}
					case "rule on its arguments":
						// The path is never NULL: known only from the
						// arguments the init passes.
						p.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpNotEqual}}
					}
					b.spec.Linux.Seccomp = p
					for _, cmd := range []string{"run", "create"} {
						b.save()
						r := b.withFiles(runOpts{}, cmd, "--bundle", b.dir, b.id)
						if r.code == -1 {
							t.Fatalf("%s hung: %v", cmd, r)
						}
						want := "linux.seccomp: the profile's action for execve is "
						if form == "rule on its arguments" {
							want = "linux.seccomp: the profile's action for the execve of /bin/sh is "
						}
						checkRefusal(t, r, want, "")
						b.checkNothingLeft()
					}
				})
			}
		}
	}
}

// Without noNewPrivileges the calls that make the process's user follow the
// filter: one the profile kills or traps is refused up front, naming it;
// with noNewPrivileges they come before the filter and the container runs.
func TestSeccompProfileKillsACallAfterTheFilter(t *testing.T) {
	if isRunc {
		t.Skip("runc makes other calls after its filter")
	}
	for _, nnp := range []bool{false, true} {
		t.Run(fmt.Sprintf("nnp=%v", nnp), func(t *testing.T) {
			b := newBundle(t)
			b.sh("echo ran")
			b.spec.Process.NoNewPrivileges = nnp
			b.spec.Process.User = specs.User{UID: 1000, GID: 1000}
			b.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"setresuid"}, Action: specs.ActKill}}}
			r := b.run()
			if nnp {
				if r.code != 0 || strings.TrimSpace(r.stdout) != "ran" {
					t.Errorf("with noNewPrivileges the container should run: %v", r)
				}
				return
			}
			checkRefusal(t, r, "linux.seccomp: the profile's action for setresuid is SCMP_ACT_KILL_THREAD", "")
			b.checkNothingLeft()
		})
	}
}
