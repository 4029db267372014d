package rootless

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// rangeCount is the size of a test user's subordinate ranges.
const rangeCount = 65536

// testUser is an unprivileged user that one test made.
type testUser struct {
	name     string
	uid, gid int
	home     string
	runDir   string // its XDG_RUNTIME_DIR
	subStart int    // first of its subordinate uids and gids; 0: none
	path     string // PATH of its commands
	cgroup   string // on cgroup v2: the cgroup delegated to it (its commands run in cgroup/client)
}

// newUser makes a user with a home of its own, with subordinate ranges if
// ranges is set, and removes everything of it when t ends.
func newUser(t *testing.T, ranges bool) *testUser {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	u := &testUser{name: "sdrl" + hex.EncodeToString(b), path: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
	// Not t.TempDir: the user must reach its home.
	base, err := os.MkdirTemp("", "sdocker-rootless-user-")
	if err == nil {
		err = os.Chmod(base, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testutil.RemoveWorkDir(base); err != nil {
			t.Error(err)
		}
	})
	u.home = filepath.Join(base, "home")
	// No subordinate ranges of useradd's: the test says which.
	out, err := exec.Command("useradd", "-M", "-U", "-d", u.home, "-s", "/bin/sh", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", u.name).CombinedOutput()
	if err != nil {
		t.Fatalf("useradd %s: %v: %s", u.name, err, out)
	}
	t.Cleanup(func() { u.remove(t) })
	pw, err := user.Lookup(u.name)
	if err != nil {
		t.Fatal(err)
	}
	u.uid, _ = strconv.Atoi(pw.Uid)
	u.gid, _ = strconv.Atoi(pw.Gid)
	u.runDir = filepath.Join(u.home, "run")
	for _, d := range []string{u.home, u.runDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	if ranges {
		u.addRanges(t)
	}
	if testutil.CgroupV2() {
		u.delegateCgroup(t)
	}
	return u
}

// addRanges gives u subordinate uids and gids after every range that
// /etc/subuid and /etc/subgid hold.
func (u *testUser) addRanges(t *testing.T) {
	t.Helper()
	end := 1 << 21
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) != 3 {
				continue
			}
			start, err1 := strconv.Atoi(fields[1])
			count, err2 := strconv.Atoi(fields[2])
			if err1 == nil && err2 == nil && start+count > end {
				end = start + count
			}
		}
		file.Close()
	}
	// Rounded up, with a random gap: another suite may add one meanwhile.
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	u.subStart = (end/rangeCount + 1 + int(b[0])) * rangeCount
	line := fmt.Sprintf("%s:%d:%d\n", u.name, u.subStart, rangeCount)
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		file, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = file.WriteString(line)
			file.Close()
		}
		if err != nil {
			t.Fatalf("add a range to %s: %v", f, err)
		}
	}
}

// delegateCgroup makes a cgroup v2 subtree that u owns, as systemd's
// user@UID.service is: u's commands run in its "client" cgroup.
func (u *testUser) delegateCgroup(t *testing.T) {
	t.Helper()
	u.cgroup = filepath.Join("/sys/fs/cgroup", "sdocker-rootless-"+u.name)
	for _, d := range []string{u.cgroup, filepath.Join(u.cgroup, "client")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
			if err := os.Chown(filepath.Join(d, f), u.uid, u.gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// command is sdocker with args as u, in u's environment (XDG_RUNTIME_DIR
// in its home, no XDG_DATA_HOME: the default), in its delegated cgroup.
func (u *testUser) command(args ...string) *exec.Cmd {
	cmd := exec.Command(sdockerBin, args...)
	cmd.Dir = u.home
	cmd.Env = []string{"PATH=" + u.path, "HOME=" + u.home, "XDG_RUNTIME_DIR=" + u.runDir, "USER=" + u.name}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
	if u.cgroup != "" {
		if fd, err := unix.Open(filepath.Join(u.cgroup, "client"), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
			// Closed once the command started: see run.
		}
	}
	return cmd
}

// run runs sdocker with args as u and returns its output and status.
func (u *testUser) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := u.command(args...)
	if cmd.SysProcAttr.UseCgroupFD {
		defer unix.Close(cmd.SysProcAttr.CgroupFD)
	}
	stdout, stderr, code, err := testutil.RunCommand(cmd, testutil.Timeout(60*time.Second))
	if err != nil {
		t.Fatalf("sdocker %s: %v", strings.Join(args, " "), err)
	}
	return stdout, stderr, code
}

// mustRun runs sdocker with args as u and fails the test unless it succeeds.
func (u *testUser) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := u.run(t, args...)
	if code != 0 {
		t.Fatalf("sdocker %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// importImage imports the test rootfs as image name.
func (u *testUser) importImage(t *testing.T, name string) {
	t.Helper()
	u.mustRun(t, "import", imageTar, name)
}

// dataDir is where u's sdocker keeps its state: the XDG default.
func (u *testUser) dataDir() string { return filepath.Join(u.home, ".local", "share", "sdocker") }

// owns reports whether host uid id is u's: its own or a subordinate one.
func (u *testUser) owns(id int) bool {
	return id == u.uid || u.subStart != 0 && id >= u.subStart && id < u.subStart+rangeCount
}

// processes lists the processes of u (by real uid, subordinate ones too).
func (u *testUser) processes() []int {
	var out []int
	for _, pid := range testutil.Pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		if f := strings.Fields(testutil.StatusField(string(b), "Uid")); len(f) > 0 {
			if id, err := strconv.Atoi(f[0]); err == nil && u.owns(id) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// remove kills u's processes (the pause process, pasta, slirp4netns,
// containers), and removes its cgroups, ranges, files and the user.
func (u *testUser) remove(t *testing.T) {
	testutil.Poll(testutil.Timeout(10*time.Second), func() bool {
		pids := u.processes()
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		testutil.ReapAll()
		return len(pids) == 0
	})
	if left := u.processes(); len(left) > 0 {
		t.Errorf("processes of %s left: %v", u.name, left)
	}
	if u.cgroup != "" {
		if left := testutil.RemoveCgroups(u.cgroup); len(left) > 0 {
			t.Errorf("cgroups left: %q", left)
		}
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if err := removeLines(f, u.name+":"); err != nil {
			t.Error(err)
		}
	}
	if out, err := exec.Command("userdel", u.name).CombinedOutput(); err != nil {
		t.Errorf("userdel %s: %v: %s", u.name, err, out)
	}
	// The home goes next (the Cleanup before), once the pause process's
	// mount namespace, with the containers' mounts, is gone.
}

// removeLines removes the lines of file that start with prefix.
func removeLines(file, prefix string) error {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, prefix) {
			keep = append(keep, line)
		}
	}
	return os.WriteFile(file, []byte(strings.Join(keep, "")), 0o644)
}

// lookPath finds tool in the test's PATH.
func lookPath(tool string) (string, error) { return exec.LookPath(tool) }
