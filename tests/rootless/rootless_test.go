package rootless

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// checkNothingLeft fails t if u's sdocker left a container or a process.
func checkNothingLeft(t *testing.T, u *testUser) {
	t.Helper()
	if names := testutil.DirNames(filepath.Join(u.dataDir(), "containers")); len(names) > 0 {
		t.Errorf("containers left: %q", names)
	}
	if out := u.mustRun(t, "ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("ps -aq: %q", out)
	}
}

func TestRootlessRunTrue(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	if usableNetwork(t, u, "slirp4netns") {
		// The default network: slirp4netns.
		out := u.mustRun(t, "run", "--rm", "box", "ip", "-4", "-o", "addr", "show", "scope", "global")
		if !strings.Contains(out, "inet 10.0.2.100/") {
			t.Errorf("the default network: %q, want slirp4netns's address", out)
		}
	}
	if _, _, code := u.run(t, "run", "--rm", "--network", "none", "box", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3: got %d", code)
	}
	// In the namespace, uid 0 is the user and 1..N the range.
	out := u.mustRun(t, "run", "--rm", "--network", "none", "box", "cat", "/proc/self/uid_map")
	want := fmt.Sprintf("0 %d 1\n1 %d %d\n", u.uid, u.subStart, rangeCount)
	if got := strings.Join(strings.Fields(strings.ReplaceAll(out, "\n", " | ")), " "); got != strings.Join(strings.Fields(strings.ReplaceAll(want, "\n", " | ")), " ") {
		t.Errorf("uid_map in the container: %q, want %q", out, want)
	}
	// The state is under the XDG directories.
	pidFile := filepath.Join(u.runDir, "sdocker", "pause.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the pause process's pid: %v", err)
	}
	// A pause process that died is made again by the next command.
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		t.Fatalf("%s: %q", pidFile, b)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, testutil.Timeout(10*time.Second), "the pause process ends", func() bool {
		st, ok := testutil.ReadProcStat(pid)
		if ok && st.State == 'Z' {
			testutil.ReapAll()
		}
		return !ok || st.State == 'Z'
	})
	u.mustRun(t, "run", "--rm", "--network", "none", "box", "true")
	if b2, err := os.ReadFile(pidFile); err != nil || string(b2) == string(b) {
		t.Errorf("pause process after the first was killed: %q, %v", b2, err)
	}
	checkNothingLeft(t, u)
}

// owner is who should own path (under a directory) on the host.
type owner struct {
	path     string
	uid, gid int
}

// checkOwners fails t for each file under dir that want's owner does not
// own on the host.
func checkOwners(t *testing.T, dir string, want []owner) {
	t.Helper()
	for _, c := range want {
		var st syscall.Stat_t
		p := filepath.Join(dir, c.path)
		if err := syscall.Stat(p, &st); err != nil {
			t.Errorf("stat %s: %v", p, err)
			continue
		}
		if int(st.Uid) != c.uid || int(st.Gid) != c.gid {
			t.Errorf("%s: owned by %d:%d on the host, want %d:%d", c.path, st.Uid, st.Gid, c.uid, c.gid)
		}
	}
}

func TestRootlessFileOwnership(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	vol := filepath.Join(u.home, "vol")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(vol, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	u.mustRun(t, "run", "--rm", "--network", "none", "-v", vol+":/v", "box", "sh", "-c", "echo a > /v/root && mkdir /v/d && chmod 777 /v/d")
	u.mustRun(t, "run", "--rm", "--network", "none", "--user", "65534:65534", "-v", vol+":/v", "box", "sh", "-c", "echo b > /v/d/nobody")
	checkOwners(t, vol, []owner{
		{"root", u.uid, u.gid}, // container root: the user
		{"d/nobody", u.subStart + 65534 - 1, u.subStart + 65534 - 1}, // uid N: subordinate N-1
	})
	// A layer file the image has as root's is root's in the container.
	if out := u.mustRun(t, "run", "--rm", "--network", "none", "box", "stat", "-c", "%u:%g", "/bin/sh"); strings.TrimSpace(out) != "0:0" {
		t.Errorf("/bin/sh in the container owned by %q, want 0:0", out)
	}
	checkNothingLeft(t, u)
}

// --userns keep-id: the user's ids outside are the process's in the
// container (its user by default), through the namespace's 0; the
// container's other ids come from the user's range.
func TestRootlessKeepID(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	vol := filepath.Join(u.home, "keep")
	if err := os.Mkdir(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "mine"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{vol, filepath.Join(vol, "mine")} {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	out := u.mustRun(t, "run", "--rm", "--network", "none", "--userns", "keep-id", "-v", vol+":/v", "box",
		"sh", "-c", "id -u; id -g; stat -c %u:%g /v/mine; echo a > /v/by-user; touch /tmp/upper")
	want := fmt.Sprintf("%d\n%d\n%d:%d\n", u.uid, u.gid, u.uid, u.gid)
	if out != want {
		t.Errorf("keep-id: %q, want %q (the process and the user's file at the user's ids)", out, want)
	}
	// The container's root is the first id of the range (the
	// namespace's 1), and its id N below the user's is the range's N.
	u.mustRun(t, "run", "--rm", "--network", "none", "--userns", "keep-id", "--user", "0:0", "-v", vol+":/v", "box",
		"sh", "-c", "echo b > /v/by-root && chown 5:5 /v/by-root")
	checkOwners(t, vol, []owner{{"by-user", u.uid, u.gid}, {"by-root", u.subStart + 5, u.subStart + 5}})
	checkNothingLeft(t, u)
}

// freePort is a port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHello waits until 127.0.0.1:port answers "hello-from-container".
func waitHello(t *testing.T, port int) {
	t.Helper()
	testutil.WaitFor(t, testutil.Timeout(20*time.Second), "the published port answers", func() bool {
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line) == "hello-from-container"
	})
}

func TestRootlessPublish(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	if !usablePasta(t, u) {
		t.SkipNow()
	}
	port := freePort(t)
	id := strings.TrimSpace(u.mustRun(t, "run", "-d", "--network", "pasta", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "box",
		"sh", "-c", "while true; do echo hello-from-container | nc -l -p 8080; done"))
	t.Cleanup(func() { u.run(t, "rm", "-f", id) })
	waitHello(t, port)
	// The later commands join the same namespaces: exec, port, stop.
	if out := u.mustRun(t, "exec", id, "cat", "/proc/1/cmdline"); !strings.Contains(out, "while true") {
		t.Errorf("exec: pid 1's command line %q", out)
	}
	if out := u.mustRun(t, "port", id); !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("port: %q", out)
	}
	u.mustRun(t, "rm", "-f", id)
	if c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still open after rm -f", port)
	}
	checkNothingLeft(t, u)
}

// pasta configures the container's namespace while the init boots: the
// program's first instruction finds it up (address and default route).
// A pasta that fails (a host port taken) fails the start with its
// reason, in one line, and leaves nothing: no container, no pasta.
func TestRootlessPastaStart(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	if !usablePasta(t, u) {
		t.SkipNow()
	}
	out := u.mustRun(t, "run", "--rm", "--network", "pasta", "box", "sh", "-c", "ip -4 -o addr show scope global; ip route show default")
	if !strings.Contains(out, "inet ") || !strings.Contains(out, "default via") {
		t.Errorf("the network when the program starts: %q, want an address and a default route", out)
	}
	// A pasta that fails once the init has started.
	_, stderr, code := runWithFailing(t, u, "pasta", "run", "--rm", "--network", "pasta", "box", "true")
	if msg := strings.TrimSpace(stderr); code != 125 || !strings.Contains(msg, "pasta") || !strings.Contains(msg, "cannot configure the namespace") {
		t.Errorf("a pasta that fails: exit %d, %q; want 125 and pasta's error", code, stderr)
	}
	checkNothingLeft(t, u)
	checkNoProcessLeft(t, u, "pas")
}

// runWithFailing runs u's sdocker with args, with a prog first in PATH
// that fails once the init has started, as a user-mode network that
// cannot configure the namespace.
func runWithFailing(t *testing.T, u *testUser, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := filepath.Join(u.home, "fakebin")
	script := "#!/bin/sh\nsleep 0.2\necho 'cannot configure the namespace' >&2\nexit 1\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, prog), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	path := u.path
	u.path = bin + ":" + path
	defer func() { u.path = path }()
	return u.run(t, args...)
}

// checkNoProcessLeft fails t if a process of u's whose name begins with
// comm runs still (once zombies are reaped).
func checkNoProcessLeft(t *testing.T, u *testUser, comm string) {
	t.Helper()
	testutil.WaitFor(t, testutil.Timeout(10*time.Second), "no "+comm+" of the user's left", func() bool {
		for _, pid := range u.processes() {
			if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.HasPrefix(string(c), comm) {
				if st, ok := testutil.ReadProcStat(pid); ok && st.State == 'Z' {
					testutil.ReapAll()
				}
				return false
			}
		}
		return true
	})
}

func TestRootlessNetworkHostAndNone(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	// --network host: the host's interfaces (lo at least) and its /sys.
	out := u.mustRun(t, "run", "--rm", "--network", "host", "box", "sh", "-c", "ls /sys/class/net")
	if !strings.Contains(out, "lo") {
		t.Errorf("--network host: /sys/class/net: %q", out)
	}
	out = u.mustRun(t, "run", "--rm", "--network", "none", "box", "ls", "/sys/class/net")
	if strings.TrimSpace(out) != "lo" {
		t.Errorf("--network none: /sys/class/net: %q", out)
	}
	// Bridge networks are a privileged engine's.
	if _, stderr, code := u.run(t, "run", "--rm", "--network", "mynet", "box", "true"); code != 125 || !strings.Contains(stderr, "rootless") {
		t.Errorf("--network mynet: exit %d, %q", code, stderr)
	}
	checkNothingLeft(t, u)
}

func TestRootlessLimits(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	if u.cgroup == "" {
		// cgroup v1: no cgroups for the user; a warning, never a failure.
		_, stderr, code := u.run(t, "run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50", "box", "true")
		if code != 0 || !strings.Contains(stderr, "WARNING: resource limits are not applied") || strings.Count(stderr, "WARNING") != 1 {
			t.Errorf("--memory on cgroup v1: exit %d, stderr %q", code, stderr)
		}
		// Without limits, no warning.
		if _, stderr, _ := u.run(t, "run", "--rm", "--network", "none", "box", "true"); strings.Contains(stderr, "WARNING") {
			t.Errorf("no limits: %q", stderr)
		}
		checkNothingLeft(t, u)
		return
	}
	// cgroup v2 with a delegated subtree: the limits are in the container's cgroup.
	id := strings.TrimSpace(u.mustRun(t, "run", "-d", "--network", "none", "--memory", "64m", "--pids-limit", "50", "box", "sleep", "600"))
	t.Cleanup(func() { u.run(t, "rm", "-f", id) })
	dir := filepath.Join(u.cgroup, "sdocker", id)
	for file, want := range map[string]string{"memory.max": "67108864", "pids.max": "50"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s: %q, %v; want %s", file, b, err, want)
		}
	}
	u.mustRun(t, "rm", "-f", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the container's cgroup %s is left: %v", dir, err)
	}
	checkNothingLeft(t, u)
}

// checkBadInput checks that sdocker as u fails with want in a one-line
// error and leaves nothing: no state, no process.
func checkBadInput(t *testing.T, u *testUser, want string) {
	t.Helper()
	stdout, stderr, code := u.run(t, "run", "--rm", imageTar, "true")
	if code != 125 || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 125 and one line with %q", code, stdout, stderr, want)
	}
	for _, d := range []string{filepath.Join(u.runDir, "sdocker"), filepath.Join(u.home, ".local")} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", d, err)
		}
	}
	if pids := u.processes(); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}

func TestRootlessNoSubordinateRange(t *testing.T) {
	u := newUser(t, false)
	checkBadInput(t, u, "has no subordinate range in /etc/subuid")
	// Help needs no namespace.
	if out, _, code := u.run(t, "run", "--help"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("run --help: exit %d, %q", code, out)
	}
}

func TestRootlessMissingNewuidmap(t *testing.T) {
	u := newUser(t, true)
	// A PATH with nsenter and nothing else.
	dir := filepath.Join(u.home, "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nsenter, err := lookPath("nsenter")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nsenter, filepath.Join(dir, "nsenter")); err != nil {
		t.Fatal(err)
	}
	u.path = dir
	checkBadInput(t, u, "newuidmap not found")
}

// hasDefaultRoute reports whether /proc/net/route's text has a route to
// 0.0.0.0/0 (Destination and Mask zero; a link route such as a bridge's has
// a zero Gateway too, so that one alone says nothing).
func hasDefaultRoute(routes string) bool {
	for _, l := range strings.Split(routes, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return true
		}
	}
	return false
}

// usablePasta reports whether pasta can connect u's containers (see
// usableNetwork).
func usablePasta(t *testing.T, u *testUser) bool { return usableNetwork(t, u, "pasta") }

// usableNetwork reports whether prog (pasta or slirp4netns) can connect
// u's containers: it is installed and the host has a default route (an
// external interface). Then it makes /dev/net/tun usable by u, as
// distributions make it (mode 0666), for the time of t, after checking
// that a machine where it is not gets a clear error (and nothing left)
// from a container on prog's network.
func usableNetwork(t *testing.T, u *testUser, prog string) bool {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Logf("no %s: its network is not tested", prog)
		return false
	}
	if b, err := os.ReadFile("/proc/net/route"); err != nil || !hasDefaultRoute(string(b)) {
		t.Logf("no default route: %s has no external interface, its network is not tested", prog)
		return false
	}
	const tun = "/dev/net/tun"
	st, err := os.Stat(tun)
	if err != nil {
		t.Logf("%s needs %s: %v", prog, tun, err)
		return false
	}
	if mode := st.Mode().Perm(); mode&0o006 != 0o006 {
		_, stderr, code := u.run(t, "run", "--rm", "--network", prog, "box", "true")
		if code != 125 || !strings.Contains(stderr, prog+" needs /dev/net/tun") {
			t.Errorf("%s of mode %o: exit %d, %q", tun, mode, code, stderr)
		}
		checkNothingLeft(t, u)
		if err := os.Chmod(tun, 0o666); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(tun, mode) })
	}
	return true
}
