package engine

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// subordinateIDs points the engine at subordinate id files of the test's
// own that give its user (sdocker) the ids first.. for size, and lets the
// containers' roots reach the engine's directories (see makeTraversable):
// the suite's work directory is its own and private.
func subordinateIDs(t *testing.T, first, size int) {
	t.Helper()
	dir := t.TempDir()
	line := fmt.Sprintf("sdocker:%d:%d\n", first, size)
	for _, name := range []string{"subuid", "subgid"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("other:1000:100\n"+line), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SDOCKER_"+strings.ToUpper(name), p)
	}
	t.Setenv("SDOCKER_USERNS_USER", "")
	if err := os.Chmod(workDir, 0o711); err != nil {
		t.Fatal(err)
	}
}

// idMap reads a uid_map or gid_map: container id, host id, size.
func idMap(t *testing.T, s string) [3]int {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 3 {
		t.Fatalf("map %q: want one range", s)
	}
	var out [3]int
	for i, v := range f {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

// --userns auto: each container gets a range of its own out of the
// subordinate ids, in which it is root; the host sees its processes and
// files as that range's; a range comes free with its container.
func TestUsernsAuto(t *testing.T) {
	e := newEnv(t)
	const first, size = 600000, 3 * 65536
	subordinateIDs(t, first, size)
	e.mustRun(0, "import", rootfsDir, "userns:1")
	a := e.runDetached("--network", "none", "--userns", "auto", "-v", "usernsvol:/etc", "userns:1", "sh", "-c", "touch /etc/f /top; sleep 600")
	b := e.runDetached("--network", "none", "--userns", "auto", rootfsDir, "sleep", "600")
	maps := map[string][3]int{}
	for _, id := range []string{a, b} {
		out := lines(e.mustRun(0, "exec", id, "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map").stdout)
		if len(out) != 3 || out[0] != "0" {
			t.Fatalf("exec into %s printed %q, want uid 0 and the maps", id, out)
		}
		u, g := idMap(t, out[1]), idMap(t, out[2])
		if u[0] != 0 || u[2] != 65536 || u[1] < first || u[1]+u[2] > first+size || g != u {
			t.Errorf("container %s maps uids %v, gids %v: want 0, a host id in %d-%d, 65536, both alike", id, u, g, first, first+size-1)
		}
		maps[id] = u
		if pid := e.inspect(id).State.Pid; pid > 0 {
			var st syscall.Stat_t
			if err := syscall.Stat(fmt.Sprintf("/proc/%d", pid), &st); err != nil || int(st.Uid) != u[1] {
				t.Errorf("the host sees the init of %s as uid %d (%v), want %d", id, st.Uid, err, u[1])
			}
		}
	}
	if ua, ub := maps[a], maps[b]; ua[1] < ub[1]+ub[2] && ub[1] < ua[1]+ua[2] {
		t.Errorf("the two containers share host ids: %v and %v", ua, ub)
	}
	if mode := e.inspect(a).HostConfig.UsernsMode; mode != "auto" {
		t.Errorf("inspect says UsernsMode %q, want auto", mode)
	}
	// The volume, id-mapped, keeps the host's root as the owner on disk,
	// of what the image had there (copied in at the first mount) as of
	// what the container's root makes; the container's own changes to its
	// root file system are its range's.
	vol := strings.TrimSpace(e.mustRun(0, "volume", "inspect", "-f", "{{.Mountpoint}}", "usernsvol").stdout)
	for deadline := time.Now().Add(timeout(30 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(vol, "f")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no file f in the volume %s of %s: %s\n%s", vol, a, e.run("logs", a), e.run("inspect", a))
		}
	}
	for _, f := range []string{"f", "passwd", "."} {
		if uid, gid := owner(t, filepath.Join(vol, f)); uid != 0 || gid != 0 {
			t.Errorf("%s in the volume is %d:%d on disk, want 0:0", f, uid, gid)
		}
	}
	if uid, _ := owner(t, filepath.Join(e.root, "containers", a, "upper", "top")); uid != maps[a][1] {
		t.Errorf("a file the container's root made in its root file system is uid %d on disk, want %d", uid, maps[a][1])
	}
	// The third range is free; once a is gone, its range is too.
	e.mustRun(0, "rm", "-f", a)
	c := e.runDetached("--network", "none", "--userns", "auto", rootfsDir, "sleep", "600")
	if got := idMap(t, e.mustRun(0, "exec", c, "cat", "/proc/self/uid_map").stdout); got != maps[a] {
		t.Errorf("after rm of the first container, the next maps %v, want its range %v", got, maps[a])
	}
	e.mustRun(0, "volume", "rm", "usernsvol")
}

func owner(t *testing.T, p string) (int, int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid)
}

// --uidmap alone maps the gids alike; the container's root is the host id
// it names.
func TestUsernsUIDMap(t *testing.T) {
	e := newEnv(t)
	subordinateIDs(t, 600000, 65536)
	out := lines(e.mustRun(0, "run", "--rm", "--network", "none", "--uidmap", "0:700000:1000", rootfsDir,
		"sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; echo x >/dev/null && echo null-ok").stdout)
	if len(out) != 4 || out[0] != "0" || idMap(t, out[1]) != [3]int{0, 700000, 1000} || idMap(t, out[2]) != [3]int{0, 700000, 1000} || out[3] != "null-ok" {
		t.Errorf("the container printed %q", out)
	}
}

// Bad user namespace options: one line, exit 125, nothing made.
func TestUsernsBadInput(t *testing.T) {
	e := newEnv(t)
	subordinateIDs(t, 600000, 65536)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--uidmap", "0:600000:10", "--uidmap", "5:700000:10"}, "overlap"},
		{[]string{"--uidmap", "0:4294967290:100"}, "goes past"},
		{[]string{"--uidmap", "1:600000:10"}, "root (0) is not mapped"},
		{[]string{"--uidmap", "0:600000"}, "CONTAINER_ID:HOST_ID:SIZE"},
		{[]string{"--userns", "sometimes"}, "--userns"},
		{[]string{"--userns", "auto", "--uidmap", "0:600000:10"}, "cannot be combined"},
		{[]string{"--userns", "auto", "--pid", "host"}, "--pid host"},
		{[]string{"--userns", "auto:size=70000"}, "no 70000 free subordinate ids"},
		{[]string{"--userns", "keep-id"}, "keep-id"},
	} {
		r := e.mustRun(125, append(append([]string{"run", "--rm", "--network", "none"}, c.args...), rootfsDir, "true")...)
		if msg := strings.TrimSpace(r.stderr); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%v: want one line with %q:\n%s", c.args, c.want, r)
		}
	}
	t.Setenv("SDOCKER_USERNS_USER", "nosuchuser")
	r := e.mustRun(125, "run", "--rm", "--network", "none", "--userns", "auto", rootfsDir, "true")
	if !strings.Contains(r.stderr, `user "nosuchuser" has no subordinate ids`) {
		t.Errorf("auto without subordinate ids: %s", r)
	}
	if out := e.mustRun(0, "ps", "-a", "-q").stdout; out != "" {
		t.Errorf("refused runs left containers: %q", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(ents) != 0 {
		t.Errorf("refused runs left container directories: %v", ents)
	}
}

// commit and export of a user-namespaced container record the ids the
// container sees, not its range on the host: the committed image, run
// without a user namespace, has the files of the container's root as
// root's and those of its user 1000 as 1000's.
func TestUsernsCommitExport(t *testing.T) {
	e := newEnv(t)
	subordinateIDs(t, 600000, 65536)
	e.mustRun(0, "import", rootfsDir, "usernsbase:1")
	e.mustRun(0, "run", "--name", "maker", "--network", "none", "--userns", "auto", "-u", "1000:1000", "usernsbase:1",
		"sh", "-c", "echo x >/tmp/made")
	t.Cleanup(func() { e.remove("maker") })
	e.mustRun(0, "commit", "maker", "usernscommitted:1")
	out := strings.TrimSpace(e.mustRun(0, "run", "--rm", "--network", "none", "usernscommitted:1",
		"stat", "-c", "%u:%g", "/tmp/made", "/tmp", "/etc/passwd").stdout)
	if want := "1000:1000\n0:0\n0:0"; out != want {
		t.Errorf("the committed image's owners are %q, want %q", out, want)
	}
	owners := map[string]string{}
	tr := tar.NewReader(strings.NewReader(e.mustRun(0, "export", "maker").stdout))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		owners[h.Name] = fmt.Sprintf("%d:%d", h.Uid, h.Gid)
	}
	for name, want := range map[string]string{"tmp/made": "1000:1000", "tmp/": "0:0", "etc/passwd": "0:0"} {
		if got := owners[name]; got != want {
			t.Errorf("export: %s is %q, want %q", name, got, want)
		}
	}
}

// cp into a user-namespaced container gives what it copies the
// container's owners, as Docker with userns-remap: its root's without -a,
// the archive's ids through the container's mapping with -a; on disk the
// root file system holds them as the container's range, an id-mapped
// volume as the container sees them (through the id-mapped mount of a
// running one, which takes no file of the host's root). A stopped
// container's copy lands alike. An owner the container does not map is
// refused.
func TestUsernsCopyInto(t *testing.T) {
	e := newEnv(t)
	subordinateIDs(t, 600000, 2*65536)
	e.mustRun(0, "import", rootfsDir, "usernscp:1")
	src := t.TempDir()
	for _, p := range []string{"f", "d", "d/g"} {
		var err error
		if p == "d" {
			err = os.Mkdir(filepath.Join(src, p), 0o755)
		} else {
			err = os.WriteFile(filepath.Join(src, p), []byte("x\n"), 0o644)
		}
		if err == nil {
			err = os.Lchown(filepath.Join(src, p), 1234, 1234)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	stat := []string{"exec", "", "stat", "-c", "%n %u:%g", "/tmp/plain", "/tmp/arch", "/tmp/d/g", "/tmp/darch/g", "/vol/plain", "/vol/arch"}
	want := "/tmp/plain 0:0\n/tmp/arch 1234:1234\n/tmp/d/g 0:0\n/tmp/darch/g 1234:1234\n/vol/plain 0:0\n/vol/arch 1234:1234"
	copyIn := func(id string, volume bool) {
		t.Helper()
		e.mustRun(0, "cp", filepath.Join(src, "f"), id+":/tmp/plain")
		e.mustRun(0, "cp", "-a", filepath.Join(src, "f"), id+":/tmp/arch")
		e.mustRun(0, "cp", filepath.Join(src, "d"), id+":/tmp/d")
		e.mustRun(0, "cp", "-a", filepath.Join(src, "d"), id+":/tmp/darch")
		if volume {
			e.mustRun(0, "cp", filepath.Join(src, "f"), id+":/vol/plain")
			e.mustRun(0, "cp", "-a", filepath.Join(src, "f"), id+":/vol/arch")
		}
	}
	// Running.
	a := e.runDetached("--network", "none", "--userns", "auto", "-v", "usernscpvola:/vol", "usernscp:1", "sleep", "600")
	copyIn(a, true)
	stat[1] = a
	if out := strings.TrimSpace(e.mustRun(0, stat...).stdout); out != want {
		t.Errorf("cp into running %s: the container sees\n%s\nwant\n%s", a, out, want)
	}
	uid := idMap(t, e.mustRun(0, "exec", a, "cat", "/proc/self/uid_map").stdout)[1]
	if u, g := owner(t, filepath.Join(e.root, "containers", a, "upper", "tmp", "plain")); u != uid || g != uid {
		t.Errorf("/tmp/plain of %s is %d:%d on disk, want the container's root %d", a, u, g, uid)
	}
	// Stopped, with an id-mapped volume.
	b := strings.TrimSpace(e.mustRun(0, "create", "--network", "none", "--userns", "auto", "-v", "usernscpvol:/vol", "usernscp:1", "sleep", "600").stdout)
	t.Cleanup(func() { e.remove(b) })
	copyIn(b, true)
	e.mustRun(0, "start", b)
	stat[1] = b
	if out := strings.TrimSpace(e.mustRun(0, stat...).stdout); out != want {
		t.Errorf("cp into stopped %s: the container sees\n%s\nwant\n%s", b, out, want)
	}
	for _, v := range []string{"usernscpvola", "usernscpvol"} {
		vol := strings.TrimSpace(e.mustRun(0, "volume", "inspect", "-f", "{{.Mountpoint}}", v).stdout)
		if u, g := owner(t, filepath.Join(vol, "plain")); u != 0 || g != 0 {
			t.Errorf("plain in the id-mapped volume %s is %d:%d on disk, want 0:0", v, u, g)
		}
	}
	// An owner the container cannot have: refused, in one line.
	if err := os.Lchown(filepath.Join(src, "f"), 70000, 70000); err != nil {
		t.Fatal(err)
	}
	r := e.run("cp", "-a", filepath.Join(src, "f"), a+":/tmp/unmapped")
	if msg := strings.TrimSpace(r.stderr); r.code == 0 || !strings.Contains(msg, "70000:70000 is not mapped") || strings.Contains(msg, "\n") {
		t.Errorf("cp -a of a file of uid 70000 into a container mapping 65536 ids: %s", r)
	}
}
