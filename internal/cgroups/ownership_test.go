package cgroups

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A cgroup that exists before the container (somebody else's) is joined,
// never killed in nor removed; what was made for the container is.

// foreignCgroup makes the cgroup at path in the hierarchies of ctrls (v1
// controller names; the one hierarchy on v2) as somebody else would, with a
// process of its own in it, which it returns, and the directories.
func foreignCgroup(t *testing.T, path string, ctrls ...string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := startChild(t, "sleep", nil)
	var dirs []string
	if Mode() == 2 {
		dirs = []string{filepath.Join(mountRoot, path)}
	} else {
		mounts, err := v1Mounts()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ctrls {
			if d := filepath.Join(mounts[c], path); mounts[c] != "" && !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	return cmd, dirs
}

// allControllers are the v1 controllers a container joins without cpuset.
var allControllers = append(append([]string{}, v1Required...), v1Optional...)

func expectAlive(t *testing.T, what string, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("%s (pid %d) was killed: %v", what, cmd.Process.Pid, err)
	}
}

func expectDirs(t *testing.T, dirs []string, want bool) {
	t.Helper()
	for _, d := range dirs {
		if exists(d) != want {
			t.Errorf("%s exists = %v, want %v", d, !want, want)
		}
	}
}

// reopen is the Manager a later command makes from the ownership the
// container's state kept (through JSON, as it is kept).
func reopen(t *testing.T, path string, m Manager) Manager {
	t.Helper()
	b, err := json.Marshal(m.Ownership())
	if err != nil {
		t.Fatal(err)
	}
	var o *Ownership
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	n, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The case: cgroupsPath names a cgroup that exists everywhere.
func TestJoinExistingCgroup(t *testing.T) {
	_, parent := newManager(t)
	path := parent + "/victim"
	foreign, dirs := foreignCgroup(t, path, allControllers...)
	m, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	// Limits are written into a joined cgroup too, as runc does.
	if err := m.Create(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](100)}}); err != nil {
		t.Fatalf("Create over an existing cgroup: %v", err)
	}
	pidsDir := m.Paths()["pids"] + m.Paths()[""]
	expectFile(t, pidsDir, "pids.max", "100")
	if made := m.Ownership().Made; len(made) != 0 || !m.Joined() {
		t.Errorf("Ownership().Made = %v, Joined() = %v; want nothing made, joined", made, m.Joined())
	}
	ours := startChild(t, "sleep", nil)
	if err := m.Apply(ours.Process.Pid); err != nil {
		t.Fatal(err)
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, foreign.Process.Pid) || !slices.Contains(pids, ours.Process.Pid) {
		t.Errorf("Pids() = %v, %v; want both %d and %d", pids, err, foreign.Process.Pid, ours.Process.Pid)
	}
	for _, d := range []Manager{m, reopen(t, path, m)} {
		if err := d.Destroy(); err != nil {
			t.Fatal(err)
		}
		expectAlive(t, "the cgroup's own process", foreign)
		expectAlive(t, "the container's process (its caller's to kill)", ours)
		expectDirs(t, dirs, true)
	}
}

// On v1 the leaf may exist in some hierarchies only: those are joined, the
// others made, and only the made ones are killed in and removed. A made
// hierarchy that holds every process of the container (memory, cpu,
// cpuacct, pids) lists them all and nothing else; a cpuset that Set adds
// later takes them from there.
func TestJoinPartlyExistingCgroupV1(t *testing.T) {
	if Mode() == 2 {
		t.Skip("v1 only: one hierarchy on v2")
	}
	for _, tc := range []struct {
		name     string
		existing []string
		joined   bool // Joined(): the pids hierarchy existed
	}{
		{"memory and pids exist", []string{"memory", "pids"}, false},
		{"memory exists", []string{"memory"}, false},
		{"memory, cpu, cpuacct and pids exist", []string{"memory", "cpu", "cpuacct", "pids"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, parent := newManager(t)
			path := parent + "/victim"
			foreign, joined := foreignCgroup(t, path, tc.existing...)
			m, err := New(path)
			if err != nil {
				t.Fatal(err)
			}
			// A failed Create (no such cpu) removes what it made, not what
			// it joined.
			if err := m.Create(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4095"}}); err == nil {
				t.Fatal("Create(cpus 4095) succeeded")
			}
			if made := m.Ownership().Made; len(made) != 0 {
				t.Errorf("after a failed Create, Ownership().Made = %v", made)
			}
			expectDirs(t, joined, true)
			expectAlive(t, "the cgroup's own process", foreign)

			if err := m.Create(nil); err != nil {
				t.Fatal(err)
			}
			var made []string
			for _, d := range m.Paths() {
				if !slices.Contains(joined, d) && !slices.Contains(made, d) {
					made = append(made, d)
				}
			}
			slices.Sort(made)
			if got := m.Ownership().Made; !slices.Equal(got, made) || m.Joined() != tc.joined {
				t.Errorf("Ownership().Made = %v, Joined() = %v; want %v, %v", got, m.Joined(), made, tc.joined)
			}
			ours := startChild(t, "sleep", nil)
			if err := m.Apply(ours.Process.Pid); err != nil {
				t.Fatal(err)
			}
			pids, err := m.Pids()
			if err != nil || slices.Contains(pids, foreign.Process.Pid) != tc.joined || !slices.Contains(pids, ours.Process.Pid) {
				t.Errorf("Pids() = %v, %v; want %d, and %d only in a joined cgroup", pids, err, ours.Process.Pid, foreign.Process.Pid)
			}
			m = reopen(t, path, m) // (as `update` does)
			err = m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}})
			cpuset := filepath.Join(m.(*v1).mounts["cpuset"], path)
			switch {
			case tc.joined && err == nil:
				t.Error("a cpuset added to a container in joined cgroups took the processes of the cgroups")
			case tc.joined:
				t.Logf("Set(cpus): %v", err)
				expectDirs(t, []string{cpuset}, false)
			case err != nil:
				t.Fatalf("Set(cpus): %v", err)
			default:
				expectFile(t, cpuset, "cgroup.procs", strconv.Itoa(ours.Process.Pid))
				made = append(made, cpuset)
			}
			m = reopen(t, path, m)
			if !tc.joined && !slices.Contains(m.Ownership().Made, cpuset) {
				t.Errorf("Ownership().Made = %v, without the cpuset Set made", m.Ownership().Made)
			}
			if err := m.Destroy(); err != nil {
				t.Fatal(err)
			}
			if tc.joined { // the caller's to kill
				expectAlive(t, "the container's process", ours)
			} else {
				expectKilled(t, ours) // in the hierarchies made for it
			}
			expectAlive(t, "the cgroup's own process", foreign)
			expectDirs(t, joined, true)
			expectDirs(t, made, false)
		})
	}
}

// Open: a state from before ownership was kept (nil) owns everything, as
// Create never joined then; directories that are not the container's are
// never taken for its own.
func TestOpenOwnership(t *testing.T) {
	m, parent := newManager(t)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	var path string
	var leafs []string
	for _, d := range m.Paths() {
		leafs = append(leafs, d)
		path = "/" + filepath.Base(filepath.Dir(d)) + "/" + filepath.Base(d)
	}
	if made := m.Ownership().Made; len(made) == 0 || m.Joined() {
		t.Fatalf("Ownership().Made = %v, Joined() = %v after a Create that made the cgroup", made, m.Joined())
	}
	strange := &Ownership{Made: []string{filepath.Join(mountRoot, parent), "/tmp", filepath.Dir(leafs[0])}}
	n, err := Open(path, strange)
	if err != nil {
		t.Fatal(err)
	}
	if made := n.Ownership().Made; len(made) != 0 {
		t.Errorf("Open(%v).Ownership().Made = %v, want none", strange.Made, made)
	}
	if err := n.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectDirs(t, leafs, true)

	cmd := startChild(t, "sleep", nil)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	legacy, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectKilled(t, cmd)
	expectDirs(t, leafs, false)
}
