package cgroups

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Unit tests of the pure logic: no root, no cgroup file system.

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 2: 1, 1024: 39, 512: 20, 262144: 10000} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestBlkioToIOWeight(t *testing.T) {
	for w, want := range map[uint16]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := blkioToIOWeight(w); got != want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestSwapToV2(t *testing.T) {
	for _, c := range []struct {
		swap, memory, want int64
		bad                bool
	}{
		{0, 0, 0, false},
		{0, 100, 0, false},     // swap unset: leave alone
		{0, -1, -1, false},     // unlimited memory: unlimited swap
		{-1, 100, -1, false},   // unlimited swap
		{-1, -1, -1, false},    //
		{300, 100, 200, false}, // total 300 = 100 memory + 200 swap
		{100, 100, 0, false},   // no swap
		{50, 100, 0, true},     // total below memory
		{100, 0, 0, true},      // swap without a memory limit
		{100, -1, 0, true},
	} {
		got, err := swapToV2(c.swap, c.memory)
		if c.bad {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("swapToV2(%d, %d) = %d, %v; want an ErrInvalid", c.swap, c.memory, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("swapToV2(%d, %d) = %d, %v; want %d", c.swap, c.memory, got, err, c.want)
		}
	}
}

func TestValidatePath(t *testing.T) {
	for _, p := range []string{"/sdocker/0123abcd", "/a", "/a/b/c"} {
		if err := validatePath(p); err != nil {
			t.Errorf("validatePath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "a/b", "/", "/a/../b", "/..", "/../a", "/a/..", "/a/", "//a", "/a//b", "/a/./b", "."} {
		err := validatePath(p)
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("validatePath(%q) = %v, want an ErrInvalid", p, err)
		}
		if _, err := New(p); err == nil {
			t.Errorf("New(%q) succeeded", p)
		}
	}
}

func TestValidate(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	u := func(v uint64) *uint64 { return &v }
	w := func(v uint16) *uint16 { return &v }
	good := []*specs.LinuxResources{
		nil,
		{},
		{Memory: &specs.LinuxMemory{Limit: i(-1), Swap: i(-1), Reservation: i(-1), Swappiness: u(math.MaxUint64)}},
		{Memory: &specs.LinuxMemory{Limit: i(100), Swap: i(100), Swappiness: u(100)}},
		{CPU: &specs.LinuxCPU{Shares: u(2), Quota: i(-1), Period: u(1000)}},
		{CPU: &specs.LinuxCPU{Shares: u(262144), Quota: i(1000), Period: u(1000000)}},
		{BlockIO: &specs.LinuxBlockIO{Weight: w(10)}},
		{Pids: &specs.LinuxPids{Limit: i(-1)}},
	}
	for _, r := range good {
		if err := validate(r); err != nil {
			t.Errorf("validate(%+v) = %v", r, err)
		}
	}
	bad := map[string]*specs.LinuxResources{
		"swappiness":        {Memory: &specs.LinuxMemory{Swappiness: u(101)}},
		"memory limit":      {Memory: &specs.LinuxMemory{Limit: i(-2)}},
		"memory+swap limit": {Memory: &specs.LinuxMemory{Limit: i(200), Swap: i(100)}},
		"reservation":       {Memory: &specs.LinuxMemory{Reservation: i(-5)}},
		"cpu shares 1":      {CPU: &specs.LinuxCPU{Shares: u(1)}},
		"cpu shares 262145": {CPU: &specs.LinuxCPU{Shares: u(262145)}},
		"cpu quota":         {CPU: &specs.LinuxCPU{Quota: i(-2)}},
		"cpu quota 999":     {CPU: &specs.LinuxCPU{Quota: i(999)}},
		"cpu period":        {CPU: &specs.LinuxCPU{Period: u(999)}},
		"blkio weight":      {BlockIO: &specs.LinuxBlockIO{Weight: w(1001)}},
	}
	for what, r := range bad {
		err := validate(r)
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: validate = %v, want an ErrInvalid", what, err)
			continue
		}
		if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasSuffix(msg, ".") {
			t.Errorf("%s: message %q is not lowercase without a final period", what, msg)
		}
	}
}

func TestWarnings(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	i := func(v int64) *int64 { return &v }
	yes := true
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i(100), Swap: i(200), Swappiness: u(0), DisableOOMKiller: &yes}}
	w2 := warnings(2, true, r)
	if len(w2) != 2 || !strings.Contains(w2[0], "swappiness is not supported on cgroup v2; ignored") ||
		!strings.Contains(w2[1], "oom killer") {
		t.Errorf("v2 warnings = %q", w2)
	}
	if w := warnings(1, true, r); len(w) != 0 {
		t.Errorf("v1 warnings = %q, want none", w)
	}
	if w := warnings(1, false, r); len(w) != 1 || !strings.Contains(w[0], "swap") {
		t.Errorf("v1 warnings without swap accounting = %q", w)
	}
	if w := warnings(1, true, &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: &yes}}); len(w) != 1 ||
		!strings.Contains(w[0], "without a memory limit") {
		t.Errorf("v1 warnings for no oom killer and no limit = %q", w)
	}
	r.Memory.Swappiness = u(math.MaxUint64) // -1: unset
	r.Memory.DisableOOMKiller = nil
	if w := warnings(2, true, r); len(w) != 0 {
		t.Errorf("v2 warnings for unset swappiness = %q, want none", w)
	}
	if w := warnings(2, true, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{}}, Unified: map[string]string{"a": "b"}}); len(w) != 2 {
		t.Errorf("warnings for hugepages and unified = %q", w)
	}
	if w := warnings(2, true, nil); w != nil {
		t.Errorf("warnings(nil) = %q", w)
	}
}

func TestKeyedValue(t *testing.T) {
	for _, c := range []struct {
		content, key string
		want         uint64
		found        bool
	}{
		{"oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill", 3, true},
		{"oom_kill_disable 1\nunder_oom 0\n", "oom_kill", 0, false}, // kernels before 4.13
		{"low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n", "oom_kill", 1, true},
		{"usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n", "usage_usec", 123456, true},
		{"populated 1\nfrozen 1\n", "frozen", 1, true},
	} {
		got, found, err := keyedValue(c.content, c.key)
		if err != nil || got != c.want || found != c.found {
			t.Errorf("keyedValue(%q, %q) = %d, %v, %v; want %d, %v", c.content, c.key, got, found, err, c.want, c.found)
		}
	}
	if _, _, err := keyedValue("oom_kill x\n", "oom_kill"); err == nil {
		t.Error("keyedValue accepted a non-number")
	}
}

func TestParseIOStat(t *testing.T) {
	r, w := parseIOStat("8:0 rbytes=90112 wbytes=4096 rios=3 wios=1 dbytes=0 dios=0\n" +
		"254:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n")
	if r != 90122 || w != 4116 {
		t.Errorf("parseIOStat = %d, %d", r, w)
	}
	if r, w := parseIOStat(""); r != 0 || w != 0 {
		t.Errorf("parseIOStat(empty) = %d, %d", r, w)
	}
}

func TestParseBlkioBytes(t *testing.T) {
	r, w := parseBlkioBytes("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n" +
		"8:16 Read 1\n8:16 Write 2\nTotal 12291\n")
	if r != 4097 || w != 8194 {
		t.Errorf("parseBlkioBytes = %d, %d", r, w)
	}
}

func TestParseMountinfo(t *testing.T) {
	hybrid := `22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	got, err := parseMountinfo(strings.NewReader(hybrid))
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "memory": "/sys/fs/cgroup/memory",
		"pids": "/sys/fs/cgroup/pids", "name=systemd": "/sys/fs/cgroup/systemd",
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("hybrid: got %v, %v; want %v", got, err, want)
	}

	// Combined cpu,cpuacct (the cpu and cpuacct symlinks are not mounts),
	// a bind mount of a sub-cgroup seen before the real one, a path with
	// an escaped space, and optional fields before the separator.
	combined := `25 24 0:22 /docker/abc /mnt/memory ro,relatime master:1 - cgroup cgroup rw,memory
26 24 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
27 24 0:22 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
28 24 0:24 / /sys/fs/cgroup/my\040pids rw shared:11 - cgroup cgroup rw,pids
29 24 0:25 /sub /srv/pids rw - cgroup cgroup rw,pids
`
	got, err = parseMountinfo(strings.NewReader(combined))
	want = map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/my pids",
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("combined: got %v, %v; want %v", got, err, want)
	}
	if m := (&v1{path: "/x", mounts: got}); !reflect.DeepEqual(m.dirs([]string{"cpu", "cpuacct", "memory"}),
		[]string{"/sys/fs/cgroup/cpu,cpuacct/x", "/sys/fs/cgroup/memory/x"}) {
		t.Errorf("dirs of a combined hierarchy = %v", m.dirs([]string{"cpu", "cpuacct", "memory"}))
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/a\011b\134`: "/a\tb\\", `/plain`: "/plain", `/bad\0`: `/bad\0`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
