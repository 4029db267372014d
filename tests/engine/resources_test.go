package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// readCgroup reads file of container cgroup path (e.g. "sdocker/ID") in the
// v1 hierarchy of ctrl.
func readCgroup(t *testing.T, ctrl, path, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, path, file))
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return strings.TrimSpace(string(b))
}

// skipUnlessV1 skips a test that reads v1 cgroup files (the VM lane tests
// v2's in internal/cgroups).
func skipUnlessV1(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		t.Skip("reads cgroup v1 files; this machine runs cgroup v2")
	}
}

// diskOf is a block device of this machine and its major:minor, or the
// test skips.
func diskOf(t *testing.T) (path, num string) {
	for _, d := range []string{"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0"} {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return d, fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	t.Skip("no block device in /dev")
	return "", ""
}

// TestRunResourceFlags: the memory reservation, OOM killer, NUMA,
// real-time and block I/O throttle flags reach the container's cgroup
// files and inspect, and update changes those Docker's update does.
func TestRunResourceFlags(t *testing.T) {
	skipUnlessV1(t)
	e := newEnv(t)
	e.trackRoot()
	dev, num := diskOf(t)
	id := e.runDetached("--memory", "64m", "--memory-reservation", "32m", "--oom-kill-disable", "--cpuset-mems", "0",
		"--cpu-rt-period", "500000", "--cpu-rt-runtime", "5000",
		"--device-read-bps", dev+":1mb", "--device-write-bps", dev+":2mb",
		"--device-read-iops", dev+":100", "--device-write-iops", dev+":200",
		rootfsDir, "sleep", "100")
	path := "sdocker/" + id
	for _, f := range []struct{ ctrl, file, want string }{
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"cpuset", "cpuset.mems", "0"},
		{"cpu", "cpu.rt_period_us", "500000"},
		{"cpu", "cpu.rt_runtime_us", "5000"},
		{"blkio", "blkio.throttle.read_bps_device", num + " 1048576"},
		{"blkio", "blkio.throttle.write_bps_device", num + " 2097152"},
		{"blkio", "blkio.throttle.read_iops_device", num + " 100"},
		{"blkio", "blkio.throttle.write_iops_device", num + " 200"},
	} {
		if got := readCgroup(t, f.ctrl, path, f.file); got != f.want {
			t.Errorf("%s = %q, want %q", f.file, got, f.want)
		}
	}
	if got := readCgroup(t, "memory", path, "memory.oom_control"); !strings.Contains(got, "oom_kill_disable 1") {
		t.Errorf("memory.oom_control = %q, want oom_kill_disable 1", got)
	}
	const format = "{{.HostConfig.MemoryReservation}} {{.HostConfig.OomKillDisable}} {{.HostConfig.CpusetMems}} " +
		"{{.HostConfig.CpuRealtimePeriod}} {{.HostConfig.CpuRealtimeRuntime}} {{json .HostConfig.BlkioDeviceReadBps}} " +
		"{{json .HostConfig.BlkioDeviceWriteIOps}}"
	want := fmt.Sprintf(`33554432 true 0 500000 5000 [{"Path":%q,"Rate":1048576}] [{"Path":%q,"Rate":200}]`, dev, dev)
	if got := e.state(id, format); got != want {
		t.Errorf("inspect = %s\nwant      %s", got, want)
	}

	e.mustRun(0, "update", "--memory-reservation", "16m", "--cpu-rt-runtime", "10000", id)
	if got := readCgroup(t, "memory", path, "memory.soft_limit_in_bytes"); got != "16777216" {
		t.Errorf("after update: memory.soft_limit_in_bytes = %s", got)
	}
	if got := readCgroup(t, "cpu", path, "cpu.rt_runtime_us"); got != "10000" {
		t.Errorf("after update: cpu.rt_runtime_us = %s", got)
	}
	// What update did not name stays, in the cgroup and in inspect.
	if got := readCgroup(t, "blkio", path, "blkio.throttle.write_iops_device"); got != num+" 200" {
		t.Errorf("after update: blkio.throttle.write_iops_device = %q", got)
	}
	if got := e.state(id, "{{.HostConfig.MemoryReservation}} {{.HostConfig.CpuRealtimeRuntime}} {{.HostConfig.OomKillDisable}}"); got != "16777216 10000 true" {
		t.Errorf("inspect after update = %q", got)
	}
}

// TestRunResourceRefusals: what the kernel cannot honour or a flag cannot
// mean gets one line and exit 125, before anything is made.
func TestRunResourceRefusals(t *testing.T) {
	skipUnlessV1(t)
	e := newEnv(t)
	e.trackRoot()
	cases := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--device-read-bps", "/dev/sdocker-no-such-disk:1mb"}, "stat /dev/sdocker-no-such-disk: no such file"},
		{[]string{"--device-write-iops", "/dev/null:10"}, "/dev/null is not a block device"},
		{[]string{"--device-read-bps", "/dev/vda"}, "use DEVICE:RATE"},
		{[]string{"--device-write-bps", "/dev/vda:0"}, "the rate must be a positive number"},
		{[]string{"--memory-reservation", "lots"}, "--memory-reservation \"lots\""},
		{[]string{"--memory", "32m", "--memory-reservation", "64m"}, "at most the memory limit"},
		{[]string{"--cpuset-mems", "63"}, "memory node 63 is not available"},
		{[]string{"--cpu-rt-period", "1000", "--cpu-rt-runtime", "2000"}, "higher than the real-time period"},
		{[]string{"--blkio-weight", "5"}, "blkio weight 5"},
		{[]string{"--cgroup-parent", "../escape"}, "--cgroup-parent \"../escape\""},
		{[]string{"--cgroup-parent", "/a/../../b"}, "--cgroup-parent \"/a/../../b\""},
	}
	if !blkioWeightFile() {
		cases = append(cases, struct {
			args []string
			want string
		}{[]string{"--blkio-weight", "500"}, "--blkio-weight: the kernel has no proportional I/O scheduler"})
	}
	for _, tc := range cases {
		r := e.run(append(append([]string{"run", "--rm"}, tc.args...), rootfsDir, "true")...)
		if r.code != 125 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("want exit 125 and one line with %q:\n%s", tc.want, r)
		}
	}
	if out := e.mustRun(0, "ps", "-aq").stdout; out != "" {
		t.Errorf("containers left by refused runs: %q", out)
	}
}

// blkioWeightFile reports whether the kernel has a v1 block I/O weight.
func blkioWeightFile() bool {
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/blkio", f)); err == nil {
			return true
		}
	}
	return false
}

// TestCgroupParent: a relative --cgroup-parent goes under sdocker's
// cgroup, an absolute one under the root; the container's own cgroup is
// removed with it, the parent (made for it or not) is left.
func TestCgroupParent(t *testing.T) {
	skipUnlessV1(t)
	e := newEnv(t)
	e.trackRoot()
	rel := "test-parent-" + filepath.Base(e.root) // unique: the test's own root
	abs := "/sdocker-test-parent-" + filepath.Base(e.root)
	for _, p := range []string{"/sdocker/" + rel, abs} {
		t.Cleanup(func() {
			for _, left := range testutil.RemoveCgroupTree(p) {
				t.Errorf("cleanup: rmdir %s", left)
			}
		})
	}
	// One parent exists already in one hierarchy, which is not sdocker's to remove.
	if err := os.Mkdir(filepath.Join("/sys/fs/cgroup/memory", abs), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, path string }{{rel, "sdocker/" + rel}, {abs + "/", abs[1:]}} {
		id := e.runDetached("--cgroup-parent", tc.flag, rootfsDir, "sleep", "100")
		leaf := filepath.Join(tc.path, id)
		if got := e.state(id, "{{.HostConfig.CgroupParent}}"); got != tc.flag {
			t.Errorf("inspect CgroupParent = %q, want %q", got, tc.flag)
		}
		for _, ctrl := range []string{"memory", "cpu", "pids"} {
			procs := readCgroup(t, ctrl, leaf, "cgroup.procs")
			if procs == "" {
				t.Errorf("%s: no process in %s", ctrl, leaf)
			}
		}
		e.mustRun(0, "rm", "-f", id)
		for _, ctrl := range []string{"memory", "cpu", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, leaf)); err == nil {
				t.Errorf("%s: %s left after rm -f", ctrl, leaf)
			}
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, tc.path)); err != nil {
				t.Errorf("%s: parent %s removed: %v", ctrl, tc.path, err)
			}
		}
	}
}
