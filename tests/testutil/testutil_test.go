package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withSlow sets the slow factor to f for the rest of the test.
func withSlow(t *testing.T, f float64) {
	old := slow
	slow = f
	t.Cleanup(func() { slow = old })
}

func TestSlowFactor(t *testing.T) {
	const env = "TESTUTIL_TEST_SLOW"
	t.Setenv(env, "")
	if f, err := SlowFactor(env, 5); err != nil || f != 5 {
		t.Errorf("unset: %v, %v; want the default 5", f, err)
	}
	t.Setenv(env, "2.5")
	if f, err := SlowFactor(env, 1); err != nil || f != 2.5 {
		t.Errorf("2.5: %v, %v", f, err)
	}
	for _, bad := range []string{"0", "-1", "x", "3s"} {
		t.Setenv(env, bad)
		if _, err := SlowFactor(env, 1); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%q: err %v, want one that names %s", bad, err, env)
		}
	}
	withSlow(t, 1)
	t.Setenv(env, "4")
	if err := SetSlowFactor(env, 1); err != nil || Timeout(time.Second) != 4*time.Second {
		t.Errorf("SetSlowFactor 4: %v, Timeout(1s) = %s", err, Timeout(time.Second))
	}
	t.Setenv(env, "x")
	if err := SetSlowFactor(env, 1); err == nil || Timeout(time.Second) != 4*time.Second {
		t.Errorf("SetSlowFactor x: %v, and the factor changed: Timeout(1s) = %s", err, Timeout(time.Second))
	}
}

func TestPoll(t *testing.T) {
	withSlow(t, 1)
	calls := 0
	if !Poll(time.Minute, func() bool { calls++; return calls == 3 }) || calls != 3 {
		t.Errorf("a condition that holds at the third look: %d looks", calls)
	}
	calls = 0
	if Poll(30*time.Millisecond, func() bool { calls++; return false }) || calls < 2 {
		t.Errorf("a condition that never holds: held, or looked at %d times only", calls)
	}
	// The deadline is scaled: 20 ms at factor 5 gives a condition 100 ms.
	withSlow(t, 5)
	start := time.Now()
	if !Poll(20*time.Millisecond, func() bool { return time.Since(start) > 60*time.Millisecond }) {
		t.Errorf("Poll(20ms) at slow factor 5 gave up before 60 ms")
	}
}

// fatalRecorder is a testing.TB whose Fatalf only records.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestWaitFor(t *testing.T) {
	withSlow(t, 2)
	r := &fatalRecorder{TB: t}
	WaitFor(r, time.Millisecond, "the impossible", func() bool { return false })
	if r.msg != "timed out after 2ms waiting for the impossible" {
		t.Errorf("failure message %q", r.msg)
	}
	r.msg = ""
	WaitFor(r, time.Millisecond, "the obvious", func() bool { return true })
	if r.msg != "" {
		t.Errorf("a condition that holds failed the test: %q", r.msg)
	}
}

func TestProcessAlive(t *testing.T) {
	self, ok := ReadProcStat(os.Getpid())
	if !ok {
		t.Fatal("cannot read /proc/self/stat")
	}
	if !ProcessAlive(os.Getpid(), self.Start) || !ProcessAlive(os.Getpid(), 0) {
		t.Errorf("the test process is not alive (start %d)", self.Start)
	}
	if ProcessAlive(os.Getpid(), self.Start+1) {
		t.Errorf("another start time is the test process")
	}
	if ProcessAlive(0, 0) || ProcessAlive(-1, 0) {
		t.Errorf("pid 0 or -1 is alive")
	}
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	st, _ := ReadProcStat(pid)
	if !ProcessAlive(pid, st.Start) || !ProcessRunning(pid) || !slices.Contains(Pids(), pid) {
		t.Errorf("a running sleep %d is not alive, or not listed", pid)
	}
	if got := Argv(pid); !slices.Equal(got, []string{"sleep", "100"}) {
		t.Errorf("argv of the sleep: %q", got)
	}
	cmd.Process.Kill()
	// Killed, not yet reaped: a zombie.
	if !Poll(time.Minute, func() bool { st, _ := ReadProcStat(pid); return st.State == 'Z' }) {
		t.Fatalf("the killed sleep %d is no zombie", pid)
	}
	if ProcessAlive(pid, st.Start) || ProcessRunning(pid) || Argv(pid) != nil {
		t.Errorf("a zombie is alive, or has an argv")
	}
	cmd.Wait()
	if ProcessAlive(pid, st.Start) || ProcessAlive(pid, 0) {
		t.Errorf("a reaped process is alive")
	}
}

func TestCgroupDirProcs(t *testing.T) {
	dir := t.TempDir()
	if got := CgroupDirProcs(dir); got != nil {
		t.Errorf("no cgroup.procs: %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("12\n345\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := CgroupDirProcs(dir); !slices.Equal(got, []int{12, 345}) {
		t.Errorf("cgroup.procs 12 345: %v", got)
	}
}

// TestCgroupProcs finds the test process in its own cgroup.
func TestCgroupProcs(t *testing.T) {
	if len(CgroupHierarchies()) == 0 {
		t.Skip("no cgroup hierarchy mounted")
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 || parts[1] == "" && !CgroupV2() {
			continue // the unified hierarchy of a hybrid machine may be elsewhere
		}
		if len(CgroupDirs(parts[2])) == 0 {
			t.Errorf("%s: no directory for cgroup %s", l, parts[2])
		}
		if !slices.Contains(CgroupProcs(parts[2]), os.Getpid()) {
			t.Errorf("%s: the test process %d is not in cgroup %s: %v", l, os.Getpid(), parts[2], CgroupProcs(parts[2]))
		}
	}
}

// TestRemoveCgroups removes a tree of plain directories (no root needed),
// deepest first, and reports what it cannot remove.
func TestRemoveCgroups(t *testing.T) {
	withSlow(t, 0.01) // 50 ms of retries
	dir := t.TempDir()
	for _, d := range []string{"a/b/c", "a/d", "e/f"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "e", "f", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	left := RemoveCgroups(filepath.Join(dir, "a"), filepath.Join(dir, "e"), filepath.Join(dir, "gone"))
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("a is still there: %v", err)
	}
	want := []string{filepath.Join(dir, "e", "f"), filepath.Join(dir, "e")}
	if len(left) != 2 || !strings.HasPrefix(left[0], want[0]+" (") || !strings.HasPrefix(left[1], want[1]+" (") {
		t.Errorf("left %q, want %q with why", left, want)
	}
}

func TestMakeBusyboxRootfs(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox")
	}
	dir := t.TempDir()
	if err := MakeBusyboxRootfs(bb, dir, map[string]string{"etc/passwd": "root:x:0:0::/:/bin/sh\n"}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin", "sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh: %q, %v", l, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp: %v, %v", st.Mode(), err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "passwd")); err != nil || string(b) != "root:x:0:0::/:/bin/sh\n" {
		t.Errorf("etc/passwd: %q, %v", b, err)
	}
	out, err := exec.Command(filepath.Join(dir, "bin", "sh"), "-c", "echo hi").Output()
	if err != nil || string(out) != "hi\n" {
		t.Errorf("bin/sh -c 'echo hi': %q, %v", out, err)
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\tsleep\nUmask:\t0022\nCapEff:\t000001ffffffffff\nGroups:\t\n"
	for name, want := range map[string]string{"Name": "sleep", "CapEff": "000001ffffffffff", "Groups": "", "CapAmb": "", "Cap": ""} {
		if got := StatusField(status, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if got := StatusField(string(b), "Pid"); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("Pid of /proc/self/status: %q", got)
	}
}
