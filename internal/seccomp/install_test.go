//go:build linux && amd64

package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The real-kernel tests run in a child: the test binary re-executes itself
// with these variables set, and TestMain runs childMain instead of the tests.
const (
	envCase = "SDOCKER_SECCOMP_TEST_CASE"
	envSpec = "SDOCKER_SECCOMP_TEST_SPEC"
	envDir  = "SDOCKER_SECCOMP_TEST_DIR"
)

func TestMain(m *testing.M) {
	if c := os.Getenv(envCase); c != "" {
		childMain(c)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// result is what a child reports: syscall name -> errno (0 on success).
type result map[string]int

func errnoOf(err error) int {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	return -1
}

func raw(nr uintptr, args ...uintptr) int {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return int(e)
}

func childMain(name string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(3)
	}
	runtime.LockOSThread()
	// A KILL_PROCESS test must not leave core files behind.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	var s specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(os.Getenv(envSpec)), &s); err != nil {
		fail("spec: %v", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("no_new_privs: %v", err)
	}
	f, err := Compile(&s)
	if err != nil {
		fail("compile: %v", err)
	}

	// A second locked thread, started before Install: filtered only with TSYNC.
	other := make(chan func() int)
	otherRes := make(chan int)
	go func() {
		runtime.LockOSThread()
		for fn := range other {
			otherRes <- fn()
		}
	}()
	onOther := func(fn func() int) int {
		other <- fn
		select {
		case r := <-otherRes:
			return r
		case <-time.After(time.Second):
			return -2 // the thread is gone
		}
	}
	onOther(func() int { return 0 }) // make sure it runs

	if err := f.Install(); err != nil {
		fail("install: %v", err)
	}
	res := result{}
	dir := os.Getenv(envDir)
	switch name {
	case "mkdir":
		res["mkdirat"] = errnoOf(unix.Mkdir(filepath.Join(dir, "a"), 0o755))
		res["mkdir"] = errnoOf(rawPath(unix.SYS_MKDIR, filepath.Join(dir, "b")))
		res["rmdir"] = errnoOf(rawPath(unix.SYS_RMDIR, filepath.Join(dir, "c")))
		res["getpid"] = raw(unix.SYS_GETPID)
		res["other-thread-mkdirat"] = onOther(func() int { return errnoOf(unix.Mkdir(filepath.Join(dir, "d"), 0o755)) })
	case "args":
		res["personality-query"] = raw(unix.SYS_PERSONALITY, 0xffffffff)
		res["personality-0"] = raw(unix.SYS_PERSONALITY, 0)
		res["personality-hi"] = raw(unix.SYS_PERSONALITY, 0x1ffffffff)
		res["getpgid-0"] = raw(unix.SYS_GETPGID, 0)
		res["getpgid-masked"] = raw(unix.SYS_GETPGID, 0x1200000000)
		res["getpgid-masked-miss"] = raw(unix.SYS_GETPGID, 0x1300000000)
		res["getpgid-range"] = raw(unix.SYS_GETPGID, 0x1ffffffff)
		res["getpgid-above"] = raw(unix.SYS_GETPGID, 0x200000000)
		res["getpgid-7"] = raw(unix.SYS_GETPGID, 7)
	case "kill":
		raw(unix.SYS_GETPPID)
		res["survived"] = 1
	case "trace":
		res["getppid"] = raw(unix.SYS_GETPPID)
	case "x32":
		res["getppid"] = raw(unix.SYS_GETPPID)
		res["x32-getppid"] = raw(x32SyscallBit | unix.SYS_GETPPID)
		res["x32-getpid"] = raw(x32SyscallBit | unix.SYS_GETPID)
	case "x32-unlisted":
		// The filter is on this thread only; the x32 call kills it.
		res["main-getpid"] = raw(unix.SYS_GETPID)
		res["x32-on-other"] = onOther(func() int {
			runtime.LockOSThread()
			if err := f.Install(); err != nil {
				return -3
			}
			return raw(x32SyscallBit | unix.SYS_GETPID)
		})
	case "tsync":
		res["getppid"] = raw(unix.SYS_GETPPID)
		res["other-getppid"] = onOther(func() int { return raw(unix.SYS_GETPPID) })
	case "docker":
		res["getpid"] = raw(unix.SYS_GETPID)
		res["mount"] = errnoOf(unix.Mount("none", dir, "tmpfs", 0, ""))
		res["unshare"] = errnoOf(unix.Unshare(unix.CLONE_NEWNS))
		res["clone3"] = raw(unix.SYS_CLONE3)
		res["personality"] = raw(unix.SYS_PERSONALITY, 0xffffffff)
		res["personality-bad"] = raw(unix.SYS_PERSONALITY, 0x400000)
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		res["socket-unix"] = errnoOf(err)
		if err == nil {
			unix.Close(fd)
		}
		_, err = unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
		res["socket-vsock"] = errnoOf(err)
		res["mkdirat"] = errnoOf(unix.Mkdir(filepath.Join(dir, "a"), 0o755))
		// The Go runtime keeps working on this thread: goroutines, timers, GC.
		done := make(chan bool)
		go func() { runtime.GC(); done <- true }()
		<-done
		time.Sleep(10 * time.Millisecond)
	default:
		fail("unknown case %q", name)
	}
	b, _ := json.Marshal(res)
	os.Stdout.Write(append(b, '\n'))
}

func rawPath(nr uintptr, path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(nr, uintptr(unsafe.Pointer(p)), 0o755, 0)
	runtime.KeepAlive(p)
	if e != 0 {
		return e
	}
	return nil
}

// runChild runs one case in a child process and returns its report (nil if
// it did not report) and its exit state.
func runChild(t *testing.T, name string, s *specs.LinuxSeccomp) (result, *os.ProcessState, string) {
	t.Helper()
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCase+"="+name, envSpec+"="+string(js), envDir+"="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("child did not run: %s", stderr.String())
	}
	var res result
	if line := strings.TrimSpace(stdout.String()); line != "" {
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			t.Fatalf("child output %q: %v", line, err)
		}
	}
	return res, cmd.ProcessState, stderr.String()
}

func expect(t *testing.T, res result, want result) {
	t.Helper()
	for k, v := range want {
		if got, ok := res[k]; !ok || got != v {
			t.Errorf("%s: got %d (reported %v), want %d", k, got, ok, v)
		}
	}
}

func mustReport(t *testing.T, name string, s *specs.LinuxSeccomp) result {
	t.Helper()
	res, st, stderr := runChild(t, name, s)
	if !st.Success() || res == nil {
		t.Fatalf("child %s: %v, stderr: %s", name, st, stderr)
	}
	return res
}

func TestInstallErrno(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.EXDEV))},
		{Names: []string{"rmdir"}, Action: specs.ActErrno}, // EPERM by default
	}}
	res := mustReport(t, "mkdir", s)
	expect(t, res, result{
		"mkdirat": int(unix.EXDEV), "mkdir": int(unix.EXDEV), "rmdir": int(unix.EPERM), "getpid": 0,
		// Without TSYNC the filter is on the calling thread only.
		"other-thread-mkdirat": 0,
	})
}

func TestInstallArgs(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0xffffffff}}},
		{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: u(45)},
		{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: u(60),
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0xff00000000, ValueTwo: 0x1200000000}}},
		{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: u(61),
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpGreaterEqual, Value: 0x100000000},
				{Index: 0, Op: specs.OpLessThan, Value: 0x200000000}}},
		{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: u(62),
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 7}}},
	}}
	res := mustReport(t, "args", s)
	expect(t, res, result{
		"personality-query": 0, "personality-0": 45, "personality-hi": 45,
		"getpgid-0": 0, "getpgid-masked": 60, "getpgid-masked-miss": 0, "getpgid-range": 61,
		"getpgid-7": 62,
	})
	// getpgid(0x200000000): the kernel sees pid 0; no rule matches.
	expect(t, res, result{"getpgid-above": 0})
}

func TestInstallKillProcess(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getppid"}, Action: specs.ActKillProcess}}}
	res, st, stderr := runChild(t, "kill", s)
	ws, _ := st.Sys().(syscall.WaitStatus)
	if res != nil || !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, report %v, stderr %s; want killed by SIGSYS", st, res, stderr)
	}
}

func TestInstallTrace(t *testing.T) {
	// SCMP_ACT_TRACE without a tracer: the call fails with ENOSYS.
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getppid"}, Action: specs.ActTrace, ErrnoRet: u(7)}}}
	expect(t, mustReport(t, "trace", s), result{"getppid": int(unix.ENOSYS)})
}

func TestInstallX32(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: u(77)}}}
	res := mustReport(t, "x32", s)
	expect(t, res, result{"getppid": 77, "x32-getppid": 77})
	// x32 getpid passes the filter; the kernel runs it or has no x32 ABI.
	if e := res["x32-getpid"]; e != 0 && e != int(unix.ENOSYS) {
		t.Errorf("x32 getpid: errno %d", e)
	}

	// x32 not listed: the x32 call kills the thread (bad arch), whatever the
	// default says.
	s.Architectures = nil
	res = mustReport(t, "x32-unlisted", s)
	expect(t, res, result{"main-getpid": 0, "x32-on-other": -2})
}

func TestInstallTSYNC(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: u(33)}}}
	expect(t, mustReport(t, "tsync", s), result{"getppid": 33, "other-getppid": 0})
	s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}
	expect(t, mustReport(t, "tsync", s), result{"getppid": 33, "other-getppid": 33})
}

func TestInstallFlags(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: u(34)},
			{Names: []string{"gettid"}, Action: specs.ActLog}}}
	expect(t, mustReport(t, "tsync", s), result{"getppid": 34, "other-getppid": 0})
}

func TestInstallDockerDefault(t *testing.T) {
	s := loadDockerDefault(t)
	res := mustReport(t, "docker", s)
	expect(t, res, result{
		"getpid": 0, "mount": int(unix.EPERM), "unshare": int(unix.EPERM), "clone3": int(unix.ENOSYS),
		"personality": 0, "personality-bad": int(unix.EPERM), "socket-unix": 0,
		"socket-vsock": int(unix.EPERM), "mkdirat": 0,
	})
}

func TestInstallNeedsPrivilege(t *testing.T) {
	// Without no_new_privs and CAP_SYS_ADMIN the kernel refuses; as root
	// (CAP_SYS_ADMIN) Install works without no_new_privs. Either way the
	// error, if any, must say what is missing. Run in a throwaway locked
	// goroutine: Install never unlocks, so its thread dies with it.
	f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: u(35)}}})
	errc := make(chan error)
	go func() {
		if err := f.Install(); err != nil {
			errc <- err
			return
		}
		if e := raw(unix.SYS_GETPPID); e != 35 {
			errc <- fmt.Errorf("getppid after Install: errno %d", e)
			return
		}
		errc <- nil
	}()
	err := <-errc
	caps, _ := os.ReadFile("/proc/self/status")
	root := os.Geteuid() == 0
	switch {
	case err == nil && !root:
		t.Logf("installed without no_new_privs (CAP_SYS_ADMIN?): %s", caps)
	case err != nil && (root || !strings.Contains(err.Error(), "no_new_privs")):
		t.Fatal(err)
	}
	if e := raw(unix.SYS_GETPPID); e != 0 {
		t.Fatalf("getppid on the test's thread: errno %d; the filter leaked", e)
	}
}
