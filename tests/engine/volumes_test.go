package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/tests/testutil"
)

// volImage loads vol:1, the test rootfs with /data (owned 33:33, setgid,
// 2775) holding hello (1000:1001, 0640) and a symlink out of it, and
// vol:declared, the same with VOLUME /data.
func volImage(e *env) {
	e.t.Helper()
	layers := [][]byte{layerTar(e.t, rootfsDir, nil), layerTar(e.t, "", []tarEntry{
		{name: "data", dir: true, mode: 0o2775, uid: 33, gid: 33},
		{name: "data/hello", body: "from the image\n", mode: 0o640, uid: 1000, gid: 1001},
		{name: "data/shadow", link: "/etc/shadow"},
	})}
	archive := filepath.Join(e.t.TempDir(), "vol.tar")
	writeDockerArchive(e.t, archive, []dockerImage{
		{tags: []string{"vol:1"}, config: imageConfig{Cmd: []string{"true"}}, layers: layers},
		{tags: []string{"vol:declared"}, config: imageConfig{Cmd: []string{"true"}, Volumes: []string{"/data"}}, layers: layers},
	})
	e.cleanupImage("vol:1")
	e.cleanupImage("vol:declared")
	e.mustRun(0, "load", "-i", archive)
}

func statOwner(t *testing.T, p string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	return s.Uid, s.Gid, st.Mode()
}

// TestNamedVolumes: -v NAME:/path makes the volume and fills it from the
// image (owners, modes, symlinks kept) the first time only; it outlives
// its containers; volume rm refuses one in use (exit 1) and removes it
// once unused; ls, inspect and prune.
func TestNamedVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	volImage(e)
	data := filepath.Join(e.root, "volumes", "web", "_data")
	out := e.runOut(0, "-v", "web:/data", "vol:1", "sh", "-c", "cat /data/hello; echo new > /data/new")
	if out != "from the image\n" {
		t.Errorf("the image's content in a new volume: %q", out)
	}
	if u, g, m := statOwner(t, filepath.Join(data, "hello")); u != 1000 || g != 1001 || m.Perm() != 0o640 {
		t.Errorf("hello in the volume: %d:%d %v, want 1000:1001 0640 as in the image", u, g, m)
	}
	if u, g, m := statOwner(t, data); u != 33 || g != 33 || m&os.ModeSetgid == 0 || m.Perm() != 0o775 {
		t.Errorf("the volume's directory: %d:%d %v, want 33:33 setgid 0775 as the image's /data", u, g, m)
	}
	if l, err := os.Readlink(filepath.Join(data, "shadow")); err != nil || l != "/etc/shadow" {
		t.Errorf("the image's symlink in the volume: %q %v", l, err)
	}
	// The volume outlives the --rm container; what is in it is not copied again.
	if err := os.Remove(filepath.Join(data, "hello")); err != nil {
		t.Fatal(err)
	}
	if out := e.runOut(0, "-v", "web:/data:ro", "vol:1", "sh", "-c", "ls /data; echo x > /data/f 2>/dev/null || echo ro-refused"); out != "new\nshadow\nro-refused\n" {
		t.Errorf("second mount, :ro: %q", out)
	}
	// A volume that volume create made empty is filled too; nocopy keeps one empty.
	e.mustRun(0, "volume", "create", "--label", "env=test", "-d", "local", "made")
	e.mustRun(125, "volume", "create", "--driver", "nfs", "other")
	if out := e.runOut(0, "-v", "made:/data", "vol:1", "cat", "/data/hello"); out != "from the image\n" {
		t.Errorf("volume create, then a first mount: %q", out)
	}
	if out := e.runOut(0, "-v", "empty:/data:nocopy", "vol:1", "ls", "-A", "/data"); out != "" {
		t.Errorf("nocopy: %q", out)
	}
	// Containers that mount a new volume at once: one fills it, each sees it full.
	var wg sync.WaitGroup
	outs := make([]result, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = e.run("run", "--rm", "-v", "race:/data", "vol:1", "cat", "/data/hello")
		}()
	}
	wg.Wait()
	for _, r := range outs {
		if r.code != 0 || r.stdout != "from the image\n" {
			t.Errorf("concurrent first mounts of a volume:\n%s", r)
		}
	}
	e.mustRun(0, "volume", "rm", "race")
	// In use by a container that is not running: refused, exit 1.
	id := strings.TrimSpace(e.mustRun(0, "run", "-d", "-v", "web:/data", "vol:1", "true").stdout)
	t.Cleanup(func() { e.remove(id) })
	e.waitStatus(id, "exited", timeout(30e9))
	r := e.mustRun(1, "volume", "rm", "web")
	if !strings.Contains(r.stderr, "volume is in use") || !strings.Contains(r.stderr, id[:12]) || len(lines(r.stderr)) != 1 {
		t.Errorf("volume rm of a volume in use:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(data, "new")); err != nil {
		t.Errorf("a refused volume rm removed data: %v", err)
	}
	ls := e.mustRun(0, "volume", "ls").stdout
	if !strings.HasPrefix(ls, "DRIVER    VOLUME NAME\n") || !strings.Contains(ls, "local     web\n") || len(lines(ls)) != 4 {
		t.Errorf("volume ls:\n%s", ls)
	}
	if q := e.mustRun(0, "volume", "ls", "-q", "--filter", "dangling=true").stdout; q != "empty\nmade\n" {
		t.Errorf("volume ls -q --filter dangling=true: %q", q)
	}
	if q := e.mustRun(0, "volume", "ls", "-q", "-f", "label=env=test").stdout; q != "made\n" {
		t.Errorf("volume ls -q -f label=env=test: %q", q)
	}
	e.mustRun(125, "volume", "ls", "--filter", "colour=red")
	var vs []dockerfmt.VolumeJSON
	if err := json.Unmarshal([]byte(e.mustRun(0, "volume", "inspect", "web", "made").stdout), &vs); err != nil ||
		len(vs) != 2 || vs[0].Mountpoint != data || vs[0].Driver != "local" || vs[1].Labels["env"] != "test" {
		t.Errorf("volume inspect: %+v %v", vs, err)
	}
	if out := e.mustRun(0, "volume", "inspect", "-f", "{{.Name}} {{.Labels.env}} {{.Mountpoint}}", "made").stdout; out != "made test "+filepath.Join(e.root, "volumes", "made", "_data")+"\n" {
		t.Errorf("volume inspect -f: %q", out)
	}
	e.mustRun(1, "volume", "inspect", "-f", "{{.Nope", "made")
	if r := e.mustRun(1, "volume", "inspect", "web", "nope"); !strings.Contains(r.stderr, "no such volume") || !strings.Contains(r.stdout, data) {
		t.Errorf("volume inspect of a missing one:\n%s", r)
	}
	c := e.inspect(id)
	if len(c.Mounts) != 1 || c.Mounts[0].Type != "volume" || c.Mounts[0].Name != "web" || c.Mounts[0].Source != data {
		t.Errorf("inspect Mounts: %+v", c.Mounts)
	}
	// prune keeps named volumes; prune -a removes the unused ones only.
	if r := e.mustRun(0, "volume", "prune", "-f"); strings.Contains(r.stdout, "made") {
		t.Errorf("prune without -a removed a named volume:\n%s", r)
	}
	if r := e.mustRun(0, "volume", "prune", "-af"); r.stdout != "Deleted Volumes:\nempty\nmade\n" {
		t.Errorf("prune -af:\n%s", r)
	}
	e.mustRun(0, "rm", "-v", id) // -v removes anonymous volumes only
	if _, err := os.Stat(filepath.Join(data, "new")); err != nil {
		t.Errorf("rm -v removed a named volume: %v", err)
	}
	if r := e.mustRun(0, "volume", "rm", "web"); r.stdout != "web\n" {
		t.Errorf("volume rm:\n%s", r)
	}
	if _, err := os.Stat(filepath.Dir(data)); !os.IsNotExist(err) {
		t.Errorf("volume rm left %s: %v", filepath.Dir(data), err)
	}
	e.mustRun(1, "volume", "rm", "web")
	e.mustRun(0, "volume", "rm", "-f", "web")
	for _, bad := range []string{"../x", "a/b", "-x"} {
		if r := e.run("volume", "create", bad); r.code != 125 || !strings.Contains(r.stderr, "volume name") && !strings.Contains(r.stderr, "unknown shorthand") {
			t.Errorf("volume create %q:\n%s", bad, r)
		}
	}
}

// TestAnonymousVolumes: -v /path, --mount type=volume without a source and
// an image's VOLUME are volumes like the named ones (listed, filled from
// the image), owned by their container: --rm and rm -v remove them, not a
// volume that --volumes-from shares with another.
func TestAnonymousVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	volImage(e)
	if out := e.runOut(0, "-v", "/data", "vol:1", "cat", "/data/hello"); out != "from the image\n" {
		t.Errorf("anonymous volume filled from the image: %q", out)
	}
	if q := e.mustRun(0, "volume", "ls", "-q").stdout; q != "" {
		t.Errorf("--rm left volumes: %q", q)
	}
	host := t.TempDir()
	a := strings.TrimSpace(e.mustRun(0, "run", "-d", "--name", "a", "-v", "/data", "--mount", "type=volume,dst=/more", "-v", host+":/h", "vol:1", "sh", "-c", "echo a > /data/f; echo h > /h/f").stdout)
	t.Cleanup(func() { e.remove(a) })
	e.waitStatus(a, "exited", timeout(30e9))
	vols := lines(e.mustRun(0, "volume", "ls", "-q").stdout)
	if len(vols) != 2 {
		t.Fatalf("volumes of a: %q", vols)
	}
	// --volumes-from: the same volume and bind; :ro makes them read-only.
	out := e.runOut(0, "--volumes-from", "a", "vol:1", "sh", "-c", "cat /data/f /h/f; echo b > /data/g")
	if out != "a\nh\n" {
		t.Errorf("--volumes-from a: %q", out)
	}
	out = e.runOut(0, "--volumes-from", "a:ro", "vol:1", "sh", "-c", "cat /data/g; echo x > /data/x 2>/dev/null || echo ro-refused")
	if out != "b\nro-refused\n" {
		t.Errorf("--volumes-from a:ro: %q", out)
	}
	// A container of --volumes-from keeps a's volumes through rm -v of a.
	b := strings.TrimSpace(e.mustRun(0, "run", "-d", "--volumes-from", a, "vol:1", "true").stdout)
	t.Cleanup(func() { e.remove(b) })
	e.waitStatus(b, "exited", timeout(30e9))
	e.mustRun(0, "rm", "-v", a)
	if got := lines(e.mustRun(0, "volume", "ls", "-q").stdout); len(got) != 2 {
		t.Errorf("rm -v of a removed volumes that b uses: %q", got)
	}
	e.mustRun(0, "rm", "-v", b) // b does not own them
	if got := lines(e.mustRun(0, "volume", "ls", "-q").stdout); len(got) != 2 {
		t.Errorf("rm -v of b removed volumes it did not make: %q", got)
	}
	if r := e.mustRun(0, "volume", "prune", "-f"); len(lines(r.stdout)) != 3 {
		t.Errorf("prune of the anonymous volumes:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(host, "f")); err != nil {
		t.Errorf("the host directory of a bind went: %v", err)
	}
	r := e.run("run", "--rm", "--volumes-from", "nope", "vol:1", "true")
	e.assertRefused(r, "no such container")

	// The image's VOLUME /data: an anonymous volume, filled from the
	// image, unless a mount of the run is there.
	if out := e.runOut(0, "vol:declared", "sh", "-c", "cat /data/hello; grep ' /data ' /proc/self/mounts | wc -l"); out != "from the image\n1\n" {
		t.Errorf("VOLUME /data: %q", out)
	}
	if q := e.mustRun(0, "volume", "ls", "-q").stdout; q != "" {
		t.Errorf("--rm left the volume of the image's VOLUME: %q", q)
	}
	d := strings.TrimSpace(e.mustRun(0, "run", "-d", "vol:declared", "sh", "-c", "echo kept > /data/f").stdout)
	t.Cleanup(func() { e.remove(d) })
	e.waitStatus(d, "exited", timeout(30e9))
	vols = lines(e.mustRun(0, "volume", "ls", "-q").stdout)
	if len(vols) != 1 {
		t.Fatalf("volumes of VOLUME /data: %q", vols)
	}
	if b, err := os.ReadFile(filepath.Join(e.root, "volumes", vols[0], "_data", "f")); err != nil || string(b) != "kept\n" {
		t.Errorf("the VOLUME's anonymous volume: %q %v", b, err)
	}
	e.mustRun(0, "rm", "-v", d)
	e.runOut(0, "-v", "named:/data", "vol:declared", "true")
	e.runOut(0, "--tmpfs", "/data", "vol:declared", "true")
	if q := e.mustRun(0, "volume", "ls", "-q").stdout; q != "named\n" {
		t.Errorf("volumes after rm -v, and runs with a mount at the VOLUME: %q", q)
	}
}

// mountLine is the line of /proc/self/mounts (as the container's sh
// prints it) of the mount at dst.
func mountLine(out, dst string) string {
	for _, l := range lines(out) {
		if f := strings.Fields(l); len(f) > 3 && f[1] == dst {
			return l
		}
	}
	return ""
}

// TestMountFlag: --mount bind (readonly), volume and tmpfs
// (size, mode); and what it refuses, leaving nothing.
func TestMountFlag(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.runOut(0,
		"--mount", "type=bind,src="+host+",dst=/h,readonly",
		"--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
		"--mount", "type=volume,src=v,dst=/v",
		rootfsDir, "sh", "-c", "cat /h/f; echo x > /h/x 2>/dev/null || echo ro-refused; echo v > /v/f; cat /proc/self/mounts")
	if !strings.HasPrefix(out, "host\nro-refused\n") {
		t.Errorf("--mount bind,readonly: %q", out)
	}
	if l := mountLine(out, "/t"); !strings.HasPrefix(l, "tmpfs /t tmpfs ") || !strings.Contains(l, "size=1024k") || !strings.Contains(l, "mode=1770") ||
		!strings.Contains(l, "nosuid") || !strings.Contains(l, "noexec") {
		t.Errorf("--mount type=tmpfs: %q", l)
	}
	if l := mountLine(out, "/h"); !strings.Contains(l, " ro,") {
		t.Errorf("--mount readonly: %q", l)
	}
	if b, err := os.ReadFile(filepath.Join(e.root, "volumes", "v", "_data", "f")); err != nil || string(b) != "v\n" {
		t.Errorf("--mount type=volume: %q %v", b, err)
	}
	for _, c := range []struct{ mount, want string }{
		{"type=bind,src=" + host + ",dst=/h,colour=red", `unknown key "colour"`},
		{"type=bind,src=" + host + "/nope,dst=/h", "bind source path does not exist: " + host + "/nope"},
		{"type=tmpfs,dst=/t,tmpfs-size=abc", "tmpfs-size=abc"},
		{"type=nfs,dst=/n", `type "nfs"`},
		{"type=volume,src=v,dst=/", "absolute path other than /"},
		// The test's temporary directory is on a private mount.
		{"type=bind,src=" + host + ",dst=/h,bind-propagation=rslave", "not a shared or slave mount"},
		{"type=volume,src=new,dst=/v,tmpfs-size=1m", "does not apply to a volume mount"},
	} {
		e.assertRefused(e.run("run", "--rm", "--mount", c.mount, rootfsDir, "true"), c.want)
	}
	for _, c := range []struct{ v, want string }{
		{"../x:/c", "neither an absolute host path nor a volume name"},
		{"new:/c:rshared", `unknown option "rshared"`},
		{host + ":/c:nocopy", `unknown option "nocopy"`},
		{"new:c", "absolute path other than /"},
	} {
		e.assertRefused(e.run("run", "--rm", "-v", c.v, rootfsDir, "true"), c.want)
	}
	if q := e.mustRun(0, "volume", "ls", "-q").stdout; q != "v\n" {
		t.Errorf("refused runs left volumes: %q", q)
	}
	if _, err := os.Stat(filepath.Join(host, "nope")); err == nil {
		t.Error("a refused --mount made its bind source")
	}
}

// TestTmpfsAndReadOnly: --tmpfs with options, --read-only alone (nothing
// writable) and with --read-only-tmpfs (/tmp, /var/tmp, /run writable).
func TestTmpfsAndReadOnly(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	out := e.runOut(0, "--tmpfs", "/scratch:size=2m,exec", "--tmpfs", "/plain", rootfsDir, "sh", "-c", "cat /proc/self/mounts")
	if l := mountLine(out, "/scratch"); !strings.Contains(l, "size=2048k") || strings.Contains(l, "noexec") {
		t.Errorf("--tmpfs /scratch:size=2m,exec: %q", l)
	}
	if l := mountLine(out, "/plain"); !strings.Contains(l, "nosuid,nodev,noexec") {
		t.Errorf("--tmpfs /plain: %q, want nosuid,nodev,noexec", l)
	}
	write := "for d in / /tmp /var/tmp /run; do touch $d/w 2>/dev/null && echo $d ok || echo $d refused; done"
	if out := e.runOut(0, "--read-only", rootfsDir, "sh", "-c", write); out != "/ refused\n/tmp refused\n/var/tmp refused\n/run refused\n" {
		t.Errorf("--read-only: %q", out)
	}
	if out := e.runOut(0, "--read-only", "--read-only-tmpfs", rootfsDir, "sh", "-c", write); out != "/ refused\n/tmp ok\n/var/tmp ok\n/run ok\n" {
		t.Errorf("--read-only --read-only-tmpfs: %q", out)
	}
	volImage(e) // an image's overlay rootfs, as a directory's
	if out := e.runOut(0, "--read-only", "--read-only-tmpfs", "vol:1", "sh", "-c", write+"; touch /data/w 2>/dev/null || echo /data refused"); out != "/ refused\n/tmp ok\n/var/tmp ok\n/run ok\n/data refused\n" {
		t.Errorf("--read-only --read-only-tmpfs of an image: %q", out)
	}
	if out := e.runOut(0, "--read-only", "--tmpfs", "/tmp:ro", rootfsDir, "sh", "-c", write); out != "/ refused\n/tmp refused\n/var/tmp refused\n/run refused\n" {
		t.Errorf("--read-only --tmpfs /tmp:ro: %q", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--read-only-tmpfs"}, "--read-only-tmpfs needs --read-only"},
		{[]string{"--tmpfs", "/t:size=lots"}, `tmpfs option "size=lots"`},
		{[]string{"--tmpfs", "rel"}, "absolute path"},
		{[]string{"--tmpfs", "/x", "-v", "/x"}, "duplicate mount point: /x"},
	} {
		e.assertRefused(e.run(append(append([]string{"run", "--rm"}, c.args...), rootfsDir, "true")...), c.want)
	}
}

// TestBindPropagation: a bind of propagation rslave (-v and --mount) sees
// what the host mounts under its source after the container started; a
// private one (the default) does not.
func TestBindPropagation(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	src := t.TempDir()
	if err := unix.Mount("tmpfs", src, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(src, unix.MNT_DETACH) })
	if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each reports, in its own file of src, whether the host's later
	// mount on sub is what it sees.
	wait := "until [ -e /ctl/go ]; do sleep 0.05; done; if [ -e /d/sub/mounted ]; then echo seen; else echo unseen; fi > /ctl/$0; sleep 100"
	ctl := t.TempDir()
	slave := e.runDetached("-v", ctl+":/ctl", "-v", src+":/d:rslave", rootfsDir, "sh", "-c", wait, "slave")
	mount := e.runDetached("-v", ctl+":/ctl", "--mount", "type=bind,src="+src+",dst=/d,bind-propagation=rslave", rootfsDir, "sh", "-c", wait, "mount")
	private := e.runDetached("-v", ctl+":/ctl", "-v", src+":/d", rootfsDir, "sh", "-c", wait, "private")
	for _, id := range []string{slave, mount, private} {
		e.waitStatus(id, "running", timeout(30e9))
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "mounted"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctl, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"slave": "seen\n", "mount": "seen\n", "private": "unseen\n"} {
		var got []byte
		testutil.WaitFor(t, timeout(30e9), "container "+name+" to report", func() bool {
			b, err := os.ReadFile(filepath.Join(ctl, name))
			got = b
			return err == nil && len(b) > 0
		})
		if string(got) != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if c := e.inspect(slave); len(c.Mounts) != 2 || c.Mounts[1].Propagation != "rslave" {
		t.Errorf("inspect Mounts: %+v", c.Mounts)
	}
}
