package clients

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/tests/testutil"
)

// --- commands and orphans ---------------------------------------------------

var (
	// reapMu: commands start under its read lock, the reaper sweeps under
	// its write lock, so a child of ours is registered before a sweep can
	// see it as a zombie.
	reapMu sync.RWMutex
	// ownPids are the children an exec.Cmd of ours waits for.
	ownPids sync.Map
	// reapPause, held, stops the reaper (a test that waits for an orphan
	// itself).
	reapPause sync.Mutex
)

// startReaper reaps, every 100ms, the zombies that are our children but
// were not started by us: daemons that re-parented to this subreaper
// (conmon, containerd-shim-runc-v2, podman's cleanup processes).
func startReaper() (stop func()) { return testutil.Every(100*time.Millisecond, reapOrphans) }

// reapOrphans reaps our zombie children that no exec.Cmd waits for.
func reapOrphans() {
	reapPause.Lock()
	defer reapPause.Unlock()
	reapMu.Lock()
	defer reapMu.Unlock()
	me := os.Getpid()
	for _, p := range processes() {
		if p.ppid != me || p.state != 'Z' {
			continue
		}
		if _, own := ownPids.Load(p.pid); own {
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
	}
}

type procInfo struct {
	pid, ppid int
	state     byte
	argv      []string
}

// processes lists the processes of the machine (pid, ppid, state, argv).
func processes() []procInfo {
	var out []procInfo
	for _, pid := range testutil.Pids() {
		if st, ok := testutil.ReadProcStat(pid); ok {
			out = append(out, procInfo{pid: pid, ppid: st.PPid, state: st.State, argv: testutil.Argv(pid)})
		}
	}
	return out
}

// processesMatching lists live processes whose argv contains every one of
// the given words (as whole arguments or inside one).
func processesMatching(words ...string) []procInfo {
	var out []procInfo
	for _, p := range processes() {
		if p.state == 'Z' || len(p.argv) == 0 {
			continue
		}
		cmd := strings.Join(p.argv, " ")
		all := true
		for _, w := range words {
			if !strings.Contains(cmd, w) {
				all = false
				break
			}
		}
		if all {
			out = append(out, p)
		}
	}
	return out
}

// result is what a command did.
type result struct {
	cmdline        string
	stdout, stderr string
	code           int  // exit status, -1 if it did not exit normally
	timedOut       bool // killed after its timeout
	err            error
}

func (r *result) String() string {
	s := fmt.Sprintf("%s: exit %d", r.cmdline, r.code)
	if r.timedOut {
		s += " (TIMED OUT, killed)"
	}
	if r.err != nil {
		s += fmt.Sprintf(" (%v)", r.err)
	}
	return s + fmt.Sprintf("\nstdout: %s\nstderr: %s", strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// ok reports whether the command exited 0 in time.
func (r *result) ok() bool { return r.err == nil && r.code == 0 && !r.timedOut }

// runCmd runs name args with env (nil: ours) for at most d, killing it
// after. Output goes through files, not pipes: a daemon it leaves behind
// (conmon, a shim) must not keep us waiting for EOF.
func runCmd(d time.Duration, env []string, name string, args ...string) *result {
	r := &result{cmdline: name + " " + strings.Join(args, " "), code: -1}
	outF, err := os.CreateTemp(workDir, "out-")
	if err != nil {
		r.err = err
		return r
	}
	defer os.Remove(outF.Name())
	defer outF.Close()
	errF, err := os.CreateTemp(workDir, "err-")
	if err != nil {
		r.err = err
		return r
	}
	defer os.Remove(errF.Name())
	defer errF.Close()

	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outF, errF
	reapMu.RLock()
	err = cmd.Start()
	if err == nil {
		ownPids.Store(cmd.Process.Pid, true)
	}
	reapMu.RUnlock()
	if err != nil {
		r.err = err
		return r
	}
	pid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(d):
		r.timedOut = true
		cmd.Process.Signal(syscall.SIGKILL)
		err = <-waited
	}
	ownPids.Delete(pid)
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.err = err
	}
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	r.stdout, r.stderr = string(o), string(e)
	return r
}

// startDaemon starts a long-running process of ours with output to logPath.
func startDaemon(logPath string, env []string, name string, args ...string) (*exec.Cmd, <-chan error, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	defer lf.Close()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	reapMu.RLock()
	err = cmd.Start()
	if err == nil {
		ownPids.Store(cmd.Process.Pid, true)
	}
	reapMu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		ownPids.Delete(cmd.Process.Pid)
		done <- err
	}()
	return cmd, done, nil
}

// killProcesses SIGKILLs the given processes (by pid, each checked to still
// run the same argv) and waits for them to go.
func killProcesses(ps []procInfo) {
	for _, p := range ps {
		if slices.Equal(testutil.Argv(p.pid), p.argv) {
			unix.Kill(p.pid, unix.SIGKILL)
		}
	}
	testutil.Poll(10*time.Second, func() bool {
		for _, p := range ps {
			if testutil.ProcessRunning(p.pid) {
				return false
			}
		}
		return true
	})
	reapOrphans()
}

// --- mounts -------------------------------------------------------------------

// --- cgroups ------------------------------------------------------------------

// cgroupDirsNamed lists the cgroup directories below parent (a cgroup path
// like /sdclients-123) in every hierarchy whose name contains word.
func cgroupDirsNamed(parent, word string) []string {
	var out []string
	for _, base := range testutil.CgroupDirs(parent) {
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == base {
				return nil
			}
			if strings.Contains(d.Name(), word) {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// --- the busybox rootfs -----------------------------------------------------

// writeRootfsTar writes dir as a tar, as `sdocker import` of a directory
// makes one (entries relative, owned by root, reproducible).
func writeRootfsTar(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := image.WriteDirTar(f, dir); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// uniqueID is a container id/name unique to this run and test.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}
