package rootless

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/proc"
)

// The namespaces of a user are held by one pause process: the first
// command makes it (a new user and mount namespace, mapped by newuidmap and
// newgidmap), every command joins it (through nsenter: a Go process is
// multi-threaded and cannot join a user namespace itself), so that every
// command sees the same mounts (the containers' root file systems) and owns
// the namespaces of the containers the others started. Its pid and start
// time are in RunDir/pause.pid.

// envPause marks the pause process; its descriptor 3 says when its
// namespace is mapped.
const envPause = "_SDOCKER_ROOTLESS_PAUSE"

// IsPause reports whether this process is to be the pause process.
func IsPause() bool { return os.Getenv(envPause) == "1" && os.Getpid() != 1 }

// PauseMain waits until the namespace is mapped and then holds it: it never
// returns. It ends on SIGTERM or SIGKILL.
func PauseMain() {
	sync := os.NewFile(3, "sync")
	var b [1]byte
	if n, _ := sync.Read(b[:]); n != 1 {
		os.Exit(1) // the maps were not written
	}
	sync.Close()
	for {
		_ = unix.Pause()
	}
}

// Enter runs this command (args without the program's name) again in the
// user's namespaces, made first if need be. It returns only on error.
func Enter(args []string) error {
	uid := os.Getuid()
	data, err := dataDir()
	if err != nil {
		return err
	}
	run := runDir(uid)
	pidFile := filepath.Join(run, "pause.pid")
	if pid, start, ok := readPause(pidFile); ok {
		// The common case: nothing to write, no lock to take.
		err := join(pid, start, args, uid, data, run)
		if !errors.Is(err, errGone) {
			return err
		}
	}
	tools, err := checkCanMap(uid)
	if err != nil {
		return err
	}
	if err := makePrivateDir(run, uid); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(run, "pause.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", filepath.Join(run, "pause.lock"), err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	pid, start, ok := readPause(pidFile)
	if !ok {
		if pid, start, err = startPause(tools); err != nil {
			return err
		}
		if err := atomicfile.Write(pidFile, fmt.Appendf(nil, "%d %d\n", pid, start), 0o600, false); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			return err
		}
	}
	return join(pid, start, args, uid, data, run)
}

// readPause reads the pause process's pid file and tells whether it runs.
func readPause(path string) (pid int, start uint64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil {
		return 0, 0, false
	}
	return pid, start, proc.Alive(pid, start)
}

// mapTools is what making the namespace needs.
type mapTools struct {
	newuidmap, newgidmap string
	uid, gid             int
	subuid, subgid       Range
}

// checkCanMap finds the user's subordinate ranges and newuidmap and
// newgidmap, before anything is made.
func checkCanMap(uid int) (*mapTools, error) {
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	t := &mapTools{uid: uid, gid: os.Getgid()}
	var err error
	if t.subuid, err = subIDs("/etc/subuid", name, uid); err != nil {
		return nil, err
	}
	if t.subgid, err = subIDs("/etc/subgid", name, uid); err != nil {
		return nil, err
	}
	for _, p := range []*string{&t.newuidmap, &t.newgidmap} {
		tool := "newuidmap"
		if p == &t.newgidmap {
			tool = "newgidmap"
		}
		if *p, err = exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("rootless: %s not found in PATH: install it (Debian and Ubuntu: the uidmap package)", tool)
		}
	}
	return t, nil
}

// startPause makes the pause process in a new user and mount namespace and
// maps uid 0 there to the user, 1..N to the user's subordinate range.
func startPause(t *mapTools) (int, uint64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, fmt.Errorf("rootless: find sdocker's executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, fmt.Errorf("rootless: pipe: %w", err)
	}
	defer w.Close()
	cmd := &exec.Cmd{
		Path: exe, Args: []string{"sdocker-pause"}, Env: []string{envPause + "=1"}, Dir: "/",
		ExtraFiles:  []*os.File{r},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, Setsid: true},
	}
	err = cmd.Start()
	r.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("rootless: start the pause process: %w", err)
	}
	pid := cmd.Process.Pid
	err = mapIDs(t.newuidmap, pid, t.uid, t.subuid)
	if err == nil {
		err = mapIDs(t.newgidmap, pid, t.gid, t.subgid)
	}
	if err == nil {
		_, err = w.Write([]byte{1})
	}
	start := proc.StartTime(pid)
	if err != nil || start == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, 0, errors.Join(err, errors.New("rootless: the pause process ended"))
	}
	// It outlives this command: whoever becomes its parent reaps it.
	_ = cmd.Process.Release()
	return pid, start, nil
}

// mapIDs runs newuidmap or newgidmap: 0 is id, 1..Count the range.
func mapIDs(tool string, pid, id int, r Range) error {
	args := []string{strconv.Itoa(pid), "0", strconv.Itoa(id), "1", "1", strconv.FormatUint(uint64(r.Start), 10), strconv.FormatUint(uint64(r.Count), 10)}
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("rootless: %s %s: %w: %s", tool, strings.Join(args, " "), err, msg)
	}
	return nil
}

// errGone says that the pause process ended before it could be joined.
var errGone = errors.New("the pause process is gone")

// join executes sdocker with args again in the namespaces of the pause
// process pid, through nsenter, in the same working directory.
func join(pid int, start uint64, args []string, uid int, data, run string) error {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return errors.New("rootless: nsenter not found in PATH: install it (the util-linux package)")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rootless: find sdocker's executable: %w", err)
	}
	var fds []int
	for _, ns := range []string{"user", "mnt"} {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, ns)
		fd, err := unix.Open(p, unix.O_RDONLY, 0) // no O_CLOEXEC: for nsenter
		if err != nil {
			return errGone
		}
		fds = append(fds, fd)
	}
	if !proc.Alive(pid, start) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return errGone
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = "/"
	}
	argv := []string{
		"nsenter", fmt.Sprintf("--user=/proc/self/fd/%d", fds[0]), fmt.Sprintf("--mount=/proc/self/fd/%d", fds[1]),
		"--preserve-credentials", "--wd=" + wd, "--", exe,
	}
	env := append(os.Environ(),
		envUID+"="+strconv.Itoa(uid), envGID+"="+strconv.Itoa(os.Getgid()), envDataDir+"="+data, envRunDir+"="+run,
		fmt.Sprintf("%s=%d,%d", envFDs, fds[0], fds[1]))
	err = unix.Exec(nsenter, append(argv, args...), env)
	return fmt.Errorf("rootless: execute %s: %w", nsenter, err)
}

// Inside finishes the join in the namespace: it closes the descriptors
// that nsenter was given. Call it first thing.
func Inside() {
	for _, s := range strings.Split(os.Getenv(envFDs), ",") {
		if fd, err := strconv.Atoi(s); err == nil && fd > 2 {
			unix.Close(fd)
		}
	}
	_ = os.Unsetenv(envFDs)
}
