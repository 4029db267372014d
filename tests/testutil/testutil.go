// Package testutil holds what the real-kernel test suites (tests/integration,
// tests/engine, tests/oci, tests/clients) share in their TestMain and
// harness: building the module's static binaries, the root check, making
// the test binary a child subreaper, reading /proc/PID/stat, reaping, the
// checks of the suite's work directory, polling with the suite's slow
// factor (poll.go), the cgroups as the host sees them (cgroup.go) and a
// busybox rootfs (rootfs.go). It is imported only by tests.
package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// InitEntry is the entry point sdocker-init is linked with (launch.UsernsEntry;
// not imported here, which the packages that launch imports test with).
const InitEntry = "github.com/sdocker/sdocker/internal/launch.usernsEntry"

// ModuleRoot returns the directory of the sdocker module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the sdocker module (go env GOMOD = %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// BuildBinaries builds the module's packages pkgs (as "./cmd/NAME") as
// static programs (CGO_ENABLED=0) into dir, which it makes readable by all.
func BuildBinaries(dir string, pkgs ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	var builds [][]string
	if i := slices.Index(pkgs, "./cmd/sdocker-init"); i >= 0 {
		// Its own entry point (see InitEntry).
		builds = append(builds, []string{"-ldflags=-E=" + InitEntry, pkgs[i]})
		pkgs = slices.Delete(slices.Clone(pkgs), i, i+1)
	}
	if len(pkgs) > 0 {
		builds = append(builds, pkgs)
	}
	for _, b := range builds {
		cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, b...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(b, " "), err, out)
		}
	}
	return os.Chmod(dir, 0o755)
}

// RootSkipReason returns "" when the test binary runs as root. Otherwise it
// returns why every test of the suite skips ("NEED; running as uid N: every
// test is skipped") and prints it to stderr: TestMain then still runs the
// tests, which skip with that reason.
func RootSkipReason(need string) string {
	if os.Geteuid() == 0 {
		return ""
	}
	reason := fmt.Sprintf("%s; running as uid %d: every test is skipped", need, os.Geteuid())
	fmt.Fprintln(os.Stderr, "SKIP: "+reason)
	return reason
}

// BecomeSubreaper makes the test binary a child subreaper: the orphans of
// the processes it starts (detached containers, daemons) become its
// children, as this machine's PID 1 may never reap them.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// SlowFactor returns the timeout multiplier set in the environment
// variable env (a positive number), or def when it is unset.
func SlowFactor(env string, def float64) (float64, error) {
	s := os.Getenv(env)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive number", env, s)
	}
	return v, nil
}

// Finish is the end of a TestMain: it reports err (prefixed by suite) and
// makes a passing code a failure when there is one.
func Finish(suite string, code int, err error) int {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Every runs f every d in a goroutine until stop is called; stop returns
// once f no longer runs.
func Every(d time.Duration, f func()) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// ProcStat is what the reapers read of /proc/PID/stat.
type ProcStat struct {
	State byte   // R, S, Z...
	PPid  int    // parent
	Comm  string // command name
	Start uint64 // start time, in clock ticks since boot
}

// ReadProcStat reads the state, parent, name and start time of pid.
func ReadProcStat(pid int) (ProcStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, false
	}
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i || j+2 >= len(b) {
		return ProcStat{}, false
	}
	f := strings.Fields(string(b[j+2:]))
	if len(f) < 20 {
		return ProcStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return ProcStat{State: f[0][0], PPid: ppid, Comm: string(b[i+1 : j]), Start: start}, true
}

// ProcIDs is the Uid, Gid and Groups lines of /proc/PID/status, as the
// kernel writes them: what a process's credentials really are.
func ProcIDs(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") || strings.HasPrefix(l, "Groups:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n"), nil
}

// StatusField returns the value of field name (e.g. "CapEff") of a
// /proc/PID/status text, "" when it has none.
func StatusField(status, name string) string {
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ArmDelayEnv is launch.ArmDelayEnv, named again here: testutil is
// imported by internal packages' tests, which launch (importing cgroups)
// would turn into an import cycle. tests/oci checks that the two agree.
const ArmDelayEnv = "SDOCKER_TEST_ARM_DELAY"

// KillExecBeforeArmed starts cmd, an exec (of either face) into a
// running container, with the fault injection of launch.ArmDelayEnv
// holding the process it starts there for delay before that arms its
// parent-death signal; once that process exists (a child of cmd), it kills
// cmd and waits for it. It returns the process, before its execve then.
func KillExecBeforeArmed(cmd *exec.Cmd, delay time.Duration) (int, error) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, ArmDelayEnv+"="+strconv.FormatInt(delay.Milliseconds(), 10))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for deadline := time.Now().Add(delay); ; time.Sleep(10 * time.Millisecond) {
		if pid := execHelperOf(cmd.Process.Pid); pid != 0 {
			return pid, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: no exec process started after %s", strings.Join(cmd.Args, " "), delay)
		}
	}
}

// execHelperOf is the exec process (sdocker-init as "sdocker-exec") that
// parent started, 0 while there is none.
func execHelperOf(parent int) int {
	for _, pid := range Pids() {
		if st, ok := ReadProcStat(pid); ok && st.PPid == parent {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sdocker-exec\x003\x00" {
				return pid
			}
		}
	}
	return 0
}

// ProcessRunning reports whether pid exists and is not a zombie.
func ProcessRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// Pids lists the processes of the machine (the numbered entries of /proc).
func Pids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// ProcessAlive reports whether pid is the live process (not a zombie)
// that started at start, in clock ticks since boot (ProcStat.Start); any
// start when start is 0.
func ProcessAlive(pid int, start uint64) bool {
	st, ok := ReadProcStat(pid)
	return pid > 0 && ok && (start == 0 || st.Start == start) && st.State != 'Z' && st.State != 'X'
}

// Argv is the command line of pid (/proc/PID/cmdline), nil when it has
// none (gone, a zombie, a kernel thread).
func Argv(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// ReapAll reaps every child left (orphans re-parented to us). Only to be
// called once no exec.Cmd of ours runs any more: it would steal its status.
func ReapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

// MountsUnder lists the mount points of this mount namespace at or below
// dir, in the order of /proc/self/mountinfo.
func MountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if p := UnescapeMount(f[4]); p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// UnescapeMount undoes mountinfo's octal escapes (\040 for a space...).
func UnescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RemoveWorkDir removes a suite's work directory, unless something is
// still mounted under it: then it is kept and that is the error.
func RemoveWorkDir(dir string) error {
	if mounts := MountsUnder(dir); len(mounts) > 0 {
		return fmt.Errorf("mounts left under %s (not removed): %q", dir, mounts)
	}
	return os.RemoveAll(dir)
}

// SdockerEnv is our environment with root as SDOCKER_ROOT, and a registry
// configuration whose default registry is a closed port of 127.0.0.1: a
// test that runs an image it does not have never reaches the network.
func SdockerEnv(root string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SDOCKER_ROOT=") && !strings.HasPrefix(kv, "SDOCKER_REGISTRY_CONFIG=") {
			env = append(env, kv)
		}
	}
	return append(env, "SDOCKER_ROOT="+root, "SDOCKER_REGISTRY_CONFIG="+offlineRegistryConfig())
}

// offlineRegistryConfig is the path of registries-offline.json, beside
// this file.
func offlineRegistryConfig() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "registries-offline.json")
}

// PrepareSdocker provides the sdocker suites' binaries and rootfs under
// workDir: binDir is $SDOCKER_TEST_BIN_DIR, or workDir/bin with pkgs built
// into it; it must hold sdocker, cpu-test and memory-test. rootfsDir
// (absolute) is $SDOCKER_TEST_ROOTFS, or workDir/rootfs made by `sdocker
// rootfs`.
func PrepareSdocker(workDir string, pkgs ...string) (binDir, rootfsDir string, err error) {
	binDir = os.Getenv("SDOCKER_TEST_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(workDir, "bin")
		if err := BuildBinaries(binDir, pkgs...); err != nil {
			return "", "", err
		}
	}
	for _, name := range []string{"sdocker", "cpu-test", "memory-test"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			return "", "", fmt.Errorf("binary %s: %w", name, err)
		}
	}
	rootfsDir = os.Getenv("SDOCKER_TEST_ROOTFS")
	if rootfsDir == "" {
		rootfsDir = filepath.Join(workDir, "rootfs")
		cmd := exec.Command(filepath.Join(binDir, "sdocker"), "rootfs", rootfsDir)
		cmd.Env = SdockerEnv(filepath.Join(workDir, "rootfs-root"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("sdocker rootfs %s: %w\n%s", rootfsDir, err, out)
		}
	}
	if rootfsDir, err = filepath.Abs(rootfsDir); err != nil {
		return "", "", err
	}
	return binDir, rootfsDir, nil
}

// HasPackage reports whether the module has the package pkg ("./cmd/NAME").
func HasPackage(pkg string) bool {
	root, err := ModuleRoot()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(root, filepath.FromSlash(pkg)))
	return err == nil
}

// SyncBuffer is a bytes.Buffer that a writer goroutine (a command's
// output, a follower) and the test may use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ForeignCgroup is a cgroup that somebody else made, with a process of
// its own in it: what a container whose cgroup path names it must join
// without ever killing that process or removing the cgroup.
type ForeignCgroup struct {
	Sleep *exec.Cmd // the cgroup's own process, a host `sleep`
	Dirs  []string  // the cgroup's directories
}

// NewForeignCgroup makes the cgroup at path (e.g. "/sdocker/ID") in the v1
// hierarchies of controllers (by default those a container joins: memory,
// pids, cpu, cpuacct, blkio, devices, freezer) or, on a cgroup v2 machine,
// the one v2 cgroup, and puts a host `sleep` in it. Close kills the sleep
// and removes the cgroup.
func NewForeignCgroup(path string, controllers ...string) (*ForeignCgroup, error) {
	f := &ForeignCgroup{Sleep: exec.Command("sleep", "1000")}
	if err := f.Sleep.Start(); err != nil {
		return nil, err
	}
	if CgroupV2() {
		f.Dirs = []string{filepath.Join("/sys/fs/cgroup", path)}
	} else {
		if len(controllers) == 0 {
			controllers = []string{"memory", "pids", "cpu", "cpuacct", "blkio", "devices", "freezer"}
		}
		for _, c := range controllers {
			f.Dirs = append(f.Dirs, filepath.Join("/sys/fs/cgroup", c, path))
		}
	}
	for _, d := range f.Dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Close()
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(f.Sleep.Process.Pid)), 0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// Check says what is wrong after what: the cgroup's own process was killed
// or a directory removed ("" when nothing).
func (f *ForeignCgroup) Check(after string) string {
	var errs []string
	if !ProcessRunning(f.Sleep.Process.Pid) {
		errs = append(errs, fmt.Sprintf("after %s: the cgroup's own process %d (not the container's) was killed", after, f.Sleep.Process.Pid))
	}
	for _, d := range f.Dirs {
		if _, err := os.Stat(d); err != nil {
			errs = append(errs, fmt.Sprintf("after %s: the existing cgroup %s was removed", after, d))
		}
	}
	return strings.Join(errs, "\n")
}

// Close kills and reaps the sleep and removes the cgroup's directories.
func (f *ForeignCgroup) Close() {
	f.Sleep.Process.Kill()
	f.Sleep.Wait()
	RemoveCgroups(f.Dirs...)
}

// The kill -9 suites (tests/engine and tests/oci) share one random seed and
// one number of trials, spread over the verbs of both faces.
const (
	// KillNineSeedEnv sets the seed (default KillNineDefaultSeed): a
	// failure is replayed with the seed its suite printed.
	KillNineSeedEnv = "SDOCKER_KILLNINE_SEED"
	// KillNineTrialsEnv sets the number of trials of both suites together
	// (default 200; e.g. 2000 for a long run).
	KillNineTrialsEnv   = "SDOCKER_KILLNINE_TRIALS"
	KillNineDefaultSeed = 20261205
	// KillNineVerbs is how many verbs both suites kill, together.
	KillNineVerbs = 8
)

// KillNine returns the seed and the number of trials of a kill -9 suite
// that kills verbs of the KillNineVerbs verbs: its share of the trials.
func KillNine(verbs int) (seed uint64, trials int, err error) {
	seed, total := uint64(KillNineDefaultSeed), 200
	if s := os.Getenv(KillNineSeedEnv); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%s=%q: want a number", KillNineSeedEnv, s)
		}
	}
	if s := os.Getenv(KillNineTrialsEnv); s != "" {
		if total, err = strconv.Atoi(s); err != nil || total <= 0 {
			return 0, 0, fmt.Errorf("%s=%q: want a positive number", KillNineTrialsEnv, s)
		}
	}
	return seed, max(1, (total*verbs+KillNineVerbs-1)/KillNineVerbs), nil
}

// DirNames lists the names of the entries of dir (none if it cannot be read).
func DirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
