package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// blockDevice is a block device node of this machine and its major:minor,
// or the test skips.
func blockDevice(t *testing.T) (path, num string) {
	t.Helper()
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		p := filepath.Join("/dev", e.Name())
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return p, fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	t.Skip("no block device node in /dev for /sys/block")
	return "", ""
}

// TestResourceFlagsInCgroupParent: the memory reservation, memory nodes
// and block I/O throttles reach the files of a container made under a
// relative --cgroup-parent (v1 or v2), which is removed with it while the
// parent stays; on v2, the real-time and OOM killer flags are refused.
func TestResourceFlagsInCgroupParent(t *testing.T) {
	e := newEnv(t)
	dev, num := blockDevice(t)
	name := uniqueName(t, "res")
	rel := "it-" + name
	t.Cleanup(func() {
		for _, left := range testutil.RemoveCgroupTree("/sdocker/" + rel) {
			t.Errorf("cleanup: rmdir %s", left)
		}
	})
	b, c := e.runBg(name, "--cgroup-parent", rel, "--memory", "64m", "--memory-reservation", "32m", "--cpuset-mems", "0",
		"--device-read-bps", dev+":1mb", "--device-write-bps", dev+":2mb",
		"--device-read-iops", dev+":100", "--device-write-iops", dev+":200", rootfsDir, "sleep", "1000")
	dir := func(ctrl string) string {
		if cgroupMode == 2 {
			return filepath.Join("/sys/fs/cgroup/sdocker", rel, c.id)
		}
		return filepath.Join(v1Mounts()[ctrl], "sdocker", rel, c.id)
	}
	type file struct{ ctrl, name, want string }
	files := []file{
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"cpuset", "cpuset.mems", "0"},
		{"blkio", "blkio.throttle.read_bps_device", num + " 1048576"},
		{"blkio", "blkio.throttle.write_bps_device", num + " 2097152"},
		{"blkio", "blkio.throttle.read_iops_device", num + " 100"},
		{"blkio", "blkio.throttle.write_iops_device", num + " 200"},
	}
	if cgroupMode == 2 {
		files = []file{
			{"", "memory.low", "33554432"},
			{"", "cpuset.mems", "0"},
			{"", "io.max", num + " rbps=1048576 wbps=2097152 riops=100 wiops=200"},
		}
	}
	for _, f := range files {
		p := filepath.Join(dir(f.ctrl), f.name)
		got, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(got)) != f.want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, f.want)
		}
	}
	if r := e.run("rm", "-f", name); r.code != 0 {
		t.Fatalf("rm -f: %s", r)
	}
	b.wait(timeout(30 * time.Second))
	for _, ctrl := range []string{"memory", "pids"} {
		if _, err := os.Stat(dir(ctrl)); err == nil {
			t.Errorf("%s left after rm -f", dir(ctrl))
		}
		if _, err := os.Stat(filepath.Dir(dir(ctrl))); err != nil {
			t.Errorf("the parent %s went with the container: %v", filepath.Dir(dir(ctrl)), err)
		}
	}

	if cgroupMode != 2 {
		return
	}
	for flag, want := range map[string]string{
		"--cpu-rt-runtime=1000": "cgroup v2 has no real-time budget",
		"--oom-kill-disable":    "cgroup v2 cannot disable the OOM killer",
	} {
		r := e.run("run", "--rm", "--name", name+"-refused", flag, rootfsDir, "true")
		if r.code != 125 || !strings.Contains(r.stderr, want) {
			t.Errorf("run %s on v2: want exit 125 and %q:\n%s", flag, want, r)
		}
		if r := e.run("inspect", name+"-refused"); r.code == 0 {
			t.Errorf("run %s on v2 left a container", flag)
		}
	}
}
