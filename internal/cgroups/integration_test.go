package cgroups

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// Integration tests against the real kernel of the machine (v1 or v2; see
// scripts/cgroup2-vm-test.sh for v2 on a v1 host). Each test works under
// its own parent "/sdocker-test-<random>", removed on cleanup.

// childEnv makes the test binary act as a child process (see TestMain).
const childEnv = "SDOCKER_CGROUPS_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "sleep":
		time.Sleep(2 * time.Minute)
		os.Exit(0)
	case "spin":
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		}
		os.Exit(0)
	case "oom":
		oomChild()
	case "devices":
		devicesChild()
	}
	os.Exit(m.Run())
}

// oomChild waits for a byte on stdin (sent once it is in its cgroup), then
// allocates and touches memory until the kernel kills it.
func oomChild() {
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		os.Exit(2)
	}
	var keep [][]byte
	for i := 0; i < 1024; i++ { // 1 GiB: far past any test limit
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b) //nolint:staticcheck // SA4010: held so the pages stay charged
	}
	os.Exit(3) // not killed: the test fails
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hierarchies lists the roots of the cgroup hierarchies of this machine.
func hierarchies(t *testing.T) []string {
	if Mode() == 2 {
		return []string{mountRoot}
	}
	mounts, err := v1Mounts()
	if err != nil {
		t.Fatal(err)
	}
	var roots []string
	for _, mnt := range mounts {
		if !slices.Contains(roots, mnt) {
			roots = append(roots, mnt)
		}
	}
	return roots
}

// newManager returns a Manager for a fresh leaf under a fresh test parent,
// and registers the removal of both, whatever the test does.
func newManager(t *testing.T) (m Manager, parent string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroup integration tests need root (os.Geteuid() != 0)")
	}
	parent = "/sdocker-test-" + randHex(6)
	t.Cleanup(func() { removeAll(t, parent) })
	m, err := New(parent + "/" + randHex(32))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != Mode() {
		t.Fatalf("Version() = %d, Mode() = %d", m.Version(), Mode())
	}
	return m, parent
}

// removeAll kills every process under parent in every hierarchy, thaws and
// removes the cgroups, without the code under test.
func removeAll(t *testing.T, parent string) {
	for _, left := range testutil.RemoveCgroupTree(parent) {
		t.Errorf("cleanup: rmdir %s", left)
	}
}

// startChild starts the test binary as a child in the given mode; it is
// killed and reaped on cleanup.
func startChild(t *testing.T, mode string, attr *syscall.SysProcAttr) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func expectFile(t *testing.T, dir, name, want string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("%s/%s = %q, want %q", dir, name, got, want)
	}
}

// expectFiles checks files (controller -> file -> content); a file the
// kernel does not have (memsw, swap.max, weights) is skipped with a log.
func expectFiles(t *testing.T, m Manager, files map[string]map[string]string) {
	t.Helper()
	paths := m.Paths()
	for ctrl, fm := range files {
		dir, ok := paths[ctrl]
		if !ok {
			t.Errorf("Paths() has no %q: %v", ctrl, paths)
			continue
		}
		for name, want := range fm {
			if !exists(filepath.Join(dir, name)) && optionalFile(name) {
				t.Logf("%s/%s: not offered by this kernel, not checked", dir, name)
				continue
			}
			expectFile(t, dir, name, want)
		}
	}
}

func optionalFile(name string) bool {
	switch name {
	case "memory.memsw.limit_in_bytes", "memory.swap.max", "blkio.weight", "blkio.bfq.weight", "io.weight", "io.bfq.weight":
		return true
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// hasWeightFile reports whether the kernel offers a block I/O weight: v1
// shows it in the blkio root already, v2 only below the root (where it is
// as optional as the io controller).
func hasWeightFile() bool {
	if Mode() == 2 {
		return true
	}
	mounts, err := v1Mounts()
	return err == nil && mounts["blkio"] != "" && firstExisting(mounts["blkio"], "blkio.weight", "blkio.bfq.weight") != ""
}

const (
	mib       = 1 << 20
	v1NoLimit = "9223372036854771712" // the largest page-aligned int64 (4 KiB pages)
)

func TestCreateAndSetWriteFiles(t *testing.T) {
	m, parent := newManager(t)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 * mib), Swap: ptr[int64](128 * mib),
			Reservation: ptr[int64](32 * mib), Swappiness: ptr[uint64](10), DisableOOMKiller: ptr(true)},
		CPU: &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](100)},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](500)},
	}
	if !hasWeightFile() {
		r.BlockIO = nil // refused (see TestBlockIOThrottle)
	}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	w := Warnings(r)
	t.Logf("warnings: %q", w)
	if Mode() == 2 {
		if len(w) != 2 {
			t.Errorf("Warnings on v2 = %q, want swappiness and oom killer", w)
		}
		files := map[string]string{
			"memory.max": "67108864", "memory.swap.max": "67108864", "memory.low": "33554432",
			"cpu.max": "50000 100000", "cpu.weight": "20", "pids.max": "100",
			"cpuset.cpus": "0", "cpuset.mems": "0", "io.weight": "default 4950",
		}
		if exists(filepath.Join(m.Paths()[""], "io.bfq.weight")) {
			delete(files, "io.weight")
			files["io.bfq.weight"] = "default 500"
		}
		expectFiles(t, m, map[string]map[string]string{"": files})
		// Each level enables the controllers for the next.
		for _, d := range []string{mountRoot, filepath.Join(mountRoot, parent)} {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.subtree_control"))
			if err != nil || !strings.Contains(string(b), "memory") || !strings.Contains(string(b), "pids") {
				t.Errorf("%s/cgroup.subtree_control = %q, %v", d, b, err)
			}
		}
	} else {
		if len(w) != 0 {
			t.Errorf("Warnings on v1 = %q, want none", w)
		}
		blkio := "blkio.weight"
		if d := m.Paths()["blkio"]; d != "" && !exists(filepath.Join(d, blkio)) {
			blkio = "blkio.bfq.weight"
		}
		files := map[string]map[string]string{
			"memory": {"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "134217728",
				"memory.soft_limit_in_bytes": "33554432", "memory.swappiness": "10"},
			"cpu":    {"cpu.shares": "512", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"},
			"pids":   {"pids.max": "100"},
			"cpuset": {"cpuset.cpus": "0", "cpuset.mems": "0"},
		}
		if _, ok := m.Paths()["blkio"]; ok && r.BlockIO != nil {
			files["blkio"] = map[string]string{blkio: "500"}
		}
		expectFiles(t, m, files)
		if b, err := os.ReadFile(filepath.Join(m.Paths()["memory"], "memory.oom_control")); err != nil ||
			!strings.Contains(string(b), "oom_kill_disable 1") {
			t.Errorf("memory.oom_control = %q, %v", b, err)
		}
	}

	// Raise memory and swap (v1 must write memsw first), then lower both
	// (memory first), then make memory unlimited.
	type step struct {
		limit, swap    *int64
		v1mem, v1memsw string
		v2mem, v2swap  string
	}
	for i, s := range []step{
		{ptr[int64](256 * mib), ptr[int64](512 * mib), "268435456", "536870912", "268435456", "268435456"},
		{ptr[int64](32 * mib), ptr[int64](32 * mib), "33554432", "33554432", "33554432", "0"},
		{ptr[int64](-1), nil, v1NoLimit, v1NoLimit, "max", "max"},
	} {
		if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: s.limit, Swap: s.swap}}); err != nil {
			t.Fatalf("memory step %d: %v", i, err)
		}
		if Mode() == 2 {
			expectFiles(t, m, map[string]map[string]string{"": {"memory.max": s.v2mem, "memory.swap.max": s.v2swap}})
		} else {
			expectFiles(t, m, map[string]map[string]string{"memory": {"memory.limit_in_bytes": s.v1mem, "memory.memsw.limit_in_bytes": s.v1memsw}})
		}
	}

	// A new period alone keeps the quota; quota -1 lifts it; pids 0 is max.
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](50000)}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](0)}}); err != nil {
		t.Fatal(err)
	}
	if Mode() == 2 {
		expectFiles(t, m, map[string]map[string]string{"": {"cpu.max": "50000 50000", "pids.max": "max"}})
	} else {
		expectFiles(t, m, map[string]map[string]string{"cpu": {"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "50000"}, "pids": {"pids.max": "max"}})
	}
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](-1)}}); err != nil {
		t.Fatal(err)
	}
	if Mode() == 2 {
		expectFiles(t, m, map[string]map[string]string{"": {"cpu.max": "max 50000"}})
	} else {
		expectFiles(t, m, map[string]map[string]string{"cpu": {"cpu.cfs_quota_us": "-1"}})
	}

	// Bad values are refused without touching anything.
	err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1)}})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Set(shares 1) = %v, want ErrInvalid", err)
	}

	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for ctrl, d := range m.Paths() {
		if exists(d) {
			t.Errorf("%s: %s still exists after Destroy", ctrl, d)
		}
	}
}

func TestApplyStatsFreezeDestroy(t *testing.T) {
	m, parent := newManager(t)
	if err := m.Create(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 * mib)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](50)},
	}); err != nil {
		t.Fatal(err)
	}
	cmd := startChild(t, "spin", nil)
	pid := cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	pids, err := m.Pids()
	if err != nil || !reflect.DeepEqual(pids, []int{pid}) {
		t.Errorf("Pids() = %v, %v; want [%d]", pids, err, pid)
	}
	// Every hierarchy holds the process.
	for ctrl, d := range m.Paths() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
			t.Errorf("%s: %s/cgroup.procs = %q, %v", ctrl, d, b, err)
		}
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", *st)
	if st.Pids < 1 || st.PidsLimit != 50 || st.MemoryLimit != 64*mib {
		t.Errorf("Stats() = %+v", *st)
	}
	if n, err := m.OOMKills(); err != nil || n != 0 {
		t.Errorf("OOMKills() = %d, %v", n, err)
	}

	// The spinning child uses CPU, but none while frozen.
	cpuGrows := func() bool {
		t.Helper()
		before := cpuUsage(t, m)
		ok, _ := waitFor(5*time.Second, func() (bool, error) { return cpuUsage(t, m) > before, nil })
		return ok
	}
	if !cpuGrows() {
		t.Error("CPU usage does not grow while the child spins")
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	expectFrozen(t, m, true)
	if err := m.Freeze(); err != nil { // again: no-op
		t.Fatal(err)
	}
	u1 := cpuUsage(t, m)
	time.Sleep(200 * time.Millisecond)
	if u2 := cpuUsage(t, m); u2 != u1 {
		t.Errorf("CPU usage grew by %d ns while frozen", u2-u1)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	expectFrozen(t, m, false)
	if !cpuGrows() {
		t.Error("CPU usage does not grow after Thaw")
	}

	// Destroy kills what is left, removes the leaf, keeps the parent.
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectKilled(t, cmd)
	for ctrl, d := range m.Paths() {
		if exists(d) {
			t.Errorf("%s: %s still exists after Destroy", ctrl, d)
		}
		if !exists(filepath.Dir(d)) {
			t.Errorf("%s: Destroy removed the parent %s", ctrl, filepath.Dir(d))
		}
	}
	if !strings.HasSuffix(filepath.Dir(m.Paths()["memory"]+m.Paths()[""]), parent) {
		t.Errorf("parent of %v is not %s", m.Paths(), parent)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := m.Stats(); err == nil {
		t.Error("Stats() of a destroyed cgroup succeeded")
	}
}

func cpuUsage(t *testing.T, m Manager) uint64 {
	t.Helper()
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.CPUUsageNanos
}

func expectFrozen(t *testing.T, m Manager, frozen bool) {
	t.Helper()
	if Mode() == 2 {
		want := "frozen 0"
		if frozen {
			want = "frozen 1"
		}
		b, err := os.ReadFile(filepath.Join(m.Paths()[""], "cgroup.events"))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("cgroup.events = %q, %v; want %q", b, err, want)
		}
		return
	}
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	expectFile(t, m.Paths()["freezer"], "freezer.state", want)
}

// expectKilled waits for cmd and checks that SIGKILL ended it.
func expectKilled(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: Wait() = %v, want killed", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", ws)
	}
}

func TestDestroyFrozenAndNested(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	a := startChild(t, "sleep", nil)
	b := startChild(t, "sleep", nil)
	if err := m.Apply(a.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// b goes into a sub-cgroup of its own, as a container may make.
	for _, d := range m.Paths() {
		sub := filepath.Join(d, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(b.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := m.Pids()
	slices.Sort(pids)
	want := []int{a.Process.Pid, b.Process.Pid}
	slices.Sort(want)
	if err != nil || !reflect.DeepEqual(pids, want) {
		t.Errorf("Pids() = %v, %v; want %v", pids, err, want)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectKilled(t, a)
	expectKilled(t, b)
	for _, d := range m.Paths() {
		if exists(d) {
			t.Errorf("%s still exists after Destroy", d)
		}
	}
}

func TestCreateRefusals(t *testing.T) {
	m, parent := newManager(t)

	// Invalid input: nothing is made.
	err := m.Create(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr[uint64](101)}})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Create(swappiness 101) = %v, want ErrInvalid", err)
	}
	// Refused by the kernel (no such cpu): what was made is removed again.
	err = m.Create(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4095"}})
	if err == nil {
		t.Error("Create(cpus 4095) succeeded")
	} else {
		t.Logf("Create(cpus 4095): %v", err)
	}
	for _, root := range hierarchies(t) {
		if d := filepath.Join(root, parent); exists(d) {
			entries, _ := os.ReadDir(d)
			if len(entries) > 0 && slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.IsDir() }) {
				t.Errorf("%s has a leaf after failed Creates", d)
			}
		}
	}

	// A second Create joins what the first made, which stays the
	// container's, also after a failed third one.
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	made := m.Ownership().Made
	if err := m.Create(nil); err != nil {
		t.Errorf("second Create = %v", err)
	}
	if err := m.Create(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](1)}, CPU: &specs.LinuxCPU{Cpus: "4095"}}); err == nil {
		t.Error("Create(cpus 4095) over an existing cgroup succeeded")
	}
	for ctrl, d := range m.Paths() {
		if !exists(d) && ctrl != "cpuset" {
			t.Errorf("%s: %s vanished after a failed Create", ctrl, d)
		}
	}
	if got := m.Ownership().Made; !slices.Equal(got, made) {
		t.Errorf("Ownership().Made = %v after more Creates, want %v", got, made)
	}
}

func TestCpusetAfterCreate(t *testing.T) {
	m, cmd := sleeperIn(t)
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}}); err != nil {
		t.Fatal(err)
	}
	ctrl := "cpuset"
	if Mode() == 2 {
		ctrl = ""
	}
	d, ok := m.Paths()[ctrl]
	if !ok {
		t.Fatalf("Paths() = %v, no cpuset", m.Paths())
	}
	expectFile(t, d, "cpuset.cpus", "0")
	expectFile(t, d, "cpuset.mems", "0")
	expectFile(t, d, "cgroup.procs", strconv.Itoa(cmd.Process.Pid))
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectKilled(t, cmd)
	if exists(d) {
		t.Errorf("%s still exists after Destroy", d)
	}
}

func TestFD(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	fd, err := m.FD()
	if err != nil {
		t.Fatal(err)
	}
	if Mode() == 1 {
		if fd != -1 {
			t.Errorf("FD() on v1 = %d, want -1", fd)
		}
		return
	}
	defer syscall.Close(fd)
	// The child is born in the cgroup (clone3 with CLONE_INTO_CGROUP).
	cmd := startChild(t, "sleep", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd})
	pids, err := m.Pids()
	if err != nil || !reflect.DeepEqual(pids, []int{cmd.Process.Pid}) {
		t.Errorf("Pids() = %v, %v; want [%d]", pids, err, cmd.Process.Pid)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectKilled(t, cmd)
}

func TestOOMKill(t *testing.T) {
	m, _ := newManager(t)
	limit := int64(8 * mib)
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}} // no swap
	if Mode() == 1 {
		r.Memory.Swappiness = ptr[uint64](0)
	}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=oom")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expectKilled(t, cmd)
	t.Logf("child OOM-killed after %s", time.Since(start).Round(time.Millisecond))
	n, err := m.OOMKills()
	if err != nil || n == 0 {
		t.Errorf("OOMKills() = %d, %v; want > 0", n, err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

// TestModeMatchesMounts checks the detection against /proc/self/mountinfo.
func TestModeMatchesMounts(t *testing.T) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	want := 1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == mountRoot && strings.Contains(sc.Text(), " - cgroup2 ") {
			want = 2
		}
	}
	if Mode() != want {
		t.Errorf("Mode() = %d, mountinfo says %d", Mode(), want)
	}
	t.Logf("cgroup mode %d", Mode())
}
