package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// What busybox's echo and cat (static) need from execve on; the other calls
// they make fail with the default errno, which they shrug off.
var (
	echoCalls = []string{"execve", "brk", "arch_prctl", "set_tid_address", "mprotect", "write", "exit_group"}
	catCalls  = append([]string{"openat", "read", "sendfile", "close", "mmap", "munmap"}, echoCalls...)
)

// dropPrivilegeCalls are the calls that follow the filter without
// no_new_privs: the README's list.
var dropPrivilegeCalls = []string{"prctl", "setgroups", "setresgid", "setresuid", "getresuid", "getresgid",
	"setfsuid", "setfsgid", "getgroups", "capset"}

// allowOnly is a profile that allows names and refuses everything else
// with EPERM.
func allowOnly(names ...string) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, Architectures: seccompArches,
		Syscalls: []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}
}

func without(names []string, drop ...string) []string {
	var out []string
	for _, n := range names {
		if !contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}

// TestSeccompLast: from the filter on, the runtime makes no system call of
// its own but execve (with no_new_privs) or the README's list (without):
// a profile that allows only what the program needs runs it.
func TestSeccompLast(t *testing.T) {
	for _, c := range []struct {
		name    string
		nnp     bool
		calls   []string
		flags   []specs.LinuxSeccompFlag
		user    *specs.User
		args    []string
		want    string // in the output; "" : the container must fail
		wantErr string // in the runtime's stderr when it fails
	}{
		{name: "no_new_privs, the program's calls and execve", nnp: true, calls: echoCalls, want: "ok"},
		{name: "no_new_privs, TSYNC asked for", nnp: true, calls: echoCalls, want: "ok",
			flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}},
		{name: "no_new_privs, a user with groups", nnp: true, calls: catCalls, want: "Groups:\t5 6 \n",
			user: &specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{6, 5}}, args: []string{"cat", "/proc/self/status"}},
		{name: "no_new_privs, without execve", nnp: true, calls: without(echoCalls, "execve")},
		{name: "without no_new_privs, the README's list", calls: append(echoCalls, dropPrivilegeCalls...), want: "ok"},
		{name: "without no_new_privs, a user with groups", calls: append(catCalls, dropPrivilegeCalls...),
			user: &specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{6, 5}}, args: []string{"cat", "/proc/self/status"},
			want: "Groups:\t5 6 \n"},
		{name: "without no_new_privs, TSYNC asked for", calls: append(echoCalls, dropPrivilegeCalls...), want: "ok",
			flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}},
		{name: "without no_new_privs, without capset", calls: without(append(echoCalls, dropPrivilegeCalls...), "capset"),
			wantErr: "set capabilities: operation not permitted"},
		{name: "without no_new_privs, without getgroups", calls: without(append(echoCalls, dropPrivilegeCalls...), "getgroups"),
			wantErr: "read back the process's credentials"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBundle(t)
			b.spec.Process.Args = []string{"echo", "ok"}
			if c.args != nil {
				b.spec.Process.Args = c.args
			}
			if c.user != nil {
				b.spec.Process.User = *c.user
			}
			b.spec.Process.NoNewPrivileges = c.nnp
			b.spec.Linux.Seccomp = allowOnly(c.calls...)
			b.spec.Linux.Seccomp.Flags = c.flags
			r := b.run()
			if isRunc {
				// runc 1.1 makes calls of its own after the filter
				// (fstatfs, close, ...).
				t.Logf("runc: %v", r)
				return
			}
			if c.want == "" {
				if r.code == 0 {
					t.Fatalf("the container ran with a profile that refuses a call it needs: %v", r)
				}
				if !strings.Contains(r.stderr, c.wantErr) {
					t.Errorf("want %q in the error: %v", c.wantErr, r)
				}
				return
			}
			if r.code != 0 || !strings.Contains(r.stdout, c.want) {
				t.Fatalf("want exit 0 and %q in the output: %v", c.want, r)
			}
		})
	}
}

// vintageProfiles are default profiles from before close_range, as Docker
// and containerd wrote them into config.json (internal/seccomp/testdata),
// and today's.
var vintageProfiles = []string{"docker-19.03", "docker-20.10.0", "containerd-1.4", "docker-default"}

func vintageProfile(t *testing.T, name string) *specs.LinuxSeccomp {
	t.Helper()
	dir := "../../internal/seccomp/testdata"
	if d := os.Getenv("SDOCKER_TEST_SECCOMP_DIR"); d != "" {
		dir = d // the cgroup-v2 VM's payload
	}
	data, err := os.ReadFile(filepath.Join(dir, name+"-amd64.json"))
	if err != nil {
		t.Fatalf("profile %s: %v", name, err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("profile %s: %v", name, err)
	}
	return &p
}

// TestSeccompVintageProfiles: each profile runs a simple command, with and
// without no_new_privs, and an exec into a container under it.
func TestSeccompVintageProfiles(t *testing.T) {
	for _, name := range vintageProfiles {
		for _, nnp := range []bool{true, false} {
			t.Run(name+map[bool]string{true: " no_new_privs", false: ""}[nnp], func(t *testing.T) {
				b := newBundle(t)
				b.spec.Process.NoNewPrivileges = nnp
				b.spec.Linux.Seccomp = vintageProfile(t, name)
				b.sh("echo hello; ls / >/dev/null && echo ls-ok")
				out := lines(b.mustRun())
				if !contains(out, "hello") || !contains(out, "ls-ok") {
					t.Errorf("want hello and ls-ok: %q", out)
				}
			})
		}
	}
	t.Run("startContainer hook without no_new_privs", func(t *testing.T) {
		// The hook runs as the process's user, under the filter (runc's
		// order): the wait for start and the hook come after it.
		b := newBundle(t)
		out := b.outDir()
		b.spec.Process.NoNewPrivileges = false
		b.spec.Linux.Seccomp = vintageProfile(t, "docker-19.03")
		b.spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Env: []string{"PATH=/bin"},
			Args: []string{"sh", "-c", "echo hook-ran > /out/hook"}}}}
		b.sh("echo program-ran")
		b.createStart()
		b.waitOutput("program-ran")
		if data, err := os.ReadFile(out + "/hook"); err != nil || string(data) != "hook-ran\n" {
			t.Errorf("the startContainer hook did not run: %q %v", data, err)
		}
	})
	t.Run("exec", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Linux.Seccomp = vintageProfile(t, "docker-19.03")
		b.long().createStart()
		if out := b.mustExec("sh", "-c", "echo exec-ok"); !strings.Contains(out, "exec-ok") {
			t.Errorf("exec under the profile: %q", out)
		}
	})
}

// TestSeccompFileLimit: the Go init raises its own soft RLIMIT_NOFILE; the
// program gets the one the runtime was started with back even when the
// profile refuses prlimit64 (it is put back before the filter).
func TestSeccompFileLimit(t *testing.T) {
	b := newBundle(t)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Max < 1024 {
		t.Skipf("hard RLIMIT_NOFILE %d: too low for the test", old.Max)
	}
	// The runtime inherits 512:hard; Go raises its soft limit, and
	// restores 512 in the processes it starts.
	lim := unix.Rlimit{Cur: 512, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
	var rlimits []specs.POSIXRlimit
	for _, rl := range b.spec.Process.Rlimits {
		if rl.Type != "RLIMIT_NOFILE" {
			rlimits = append(rlimits, rl)
		}
	}
	b.spec.Process.Rlimits = rlimits
	p := vintageProfile(t, "docker-19.03")
	for i := range p.Syscalls {
		p.Syscalls[i].Names = without(p.Syscalls[i].Names, "prlimit64", "setrlimit", "getrlimit", "ugetrlimit")
	}
	b.spec.Linux.Seccomp = p
	b.spec.Process.Args = []string{"cat", "/proc/self/limits"}
	out := b.mustRun()
	if isRunc {
		t.Logf("runc (the program gets the raised soft limit):\n%s", out)
		return
	}
	if !regexp.MustCompile(`Max open files\s+512\s`).MatchString(out) {
		t.Errorf("want the soft limit 512 the runtime was started with:\n%s", out)
	}
}

// TestSeccompStrace: under strace -f, the thread that installs the filter
// makes, from seccomp(2) to execve, no system call but the README's list
// without no_new_privs and none with it, and gets no signal. (strace slows
// every call down: the Go runtime has every chance to step in.)
func TestSeccompStrace(t *testing.T) {
	requireRoot(t)
	if isRunc {
		t.Skip("runc makes calls of its own after its filter")
	}
	strace := tool(t, "strace")
	for _, nnp := range []bool{true, false} {
		t.Run(map[bool]string{true: "no_new_privs", false: "without no_new_privs"}[nnp], func(t *testing.T) {
			b := newBundle(t)
			b.spec.Process.Args = []string{"echo", "ok"}
			b.spec.Process.NoNewPrivileges = nnp
			// Today's profile, which allows what the init could call.
			b.spec.Linux.Seccomp = vintageProfile(t, "docker-default")
			b.save()
			trace := filepath.Join(t.TempDir(), "trace")
			cmd := exec.Command(strace, "-f", "-qq", "-o", trace, runtimeBin, "--root", stateRoot, "run", "--bundle", b.dir, b.id)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok") {
				t.Fatalf("run under strace: %v\n%s", err, out)
			}
			calls, err := callsAfterFilter(trace)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("after the filter, before execve: %q", calls)
			allowed := map[string]bool{}
			if !nnp {
				for _, c := range dropPrivilegeCalls {
					allowed[c] = true
				}
			}
			var wrong []string
			for _, c := range calls {
				if !allowed[c] && !contains(wrong, c) {
					wrong = append(wrong, c)
				}
			}
			if wrong != nil {
				t.Errorf("after the filter the init made %q", wrong)
			}
		})
	}
}

// callsAfterFilter reads an strace -f log: the system calls (and "signal
// SIG..." for a signal) of the thread that installed a seccomp filter, from
// there to its execve.
func callsAfterFilter(trace string) ([]string, error) {
	data, err := os.ReadFile(trace)
	if err != nil {
		return nil, err
	}
	tid := ""
	var calls []string
	call := regexp.MustCompile(`^(\d+)\s+(?:(\w+)\(|--- (SIG\w+))`)
	for _, line := range strings.Split(string(data), "\n") {
		m := call.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch {
		case tid == "" && m[2] == "seccomp" && strings.Contains(line, "SECCOMP_SET_MODE_FILTER"):
			tid = m[1]
		case tid == "" || m[1] != tid:
		case m[2] == "execve":
			return calls, nil
		case m[3] != "":
			calls = append(calls, "signal "+m[3])
		default:
			calls = append(calls, m[2])
		}
	}
	if tid == "" {
		return nil, fmt.Errorf("no seccomp(SECCOMP_SET_MODE_FILTER) in the trace")
	}
	return nil, fmt.Errorf("thread %s never called execve after its filter", tid)
}
