package engine

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// cpWith runs `sdocker cp ARGS...` with stdin and returns its result.
func (e *env) cpWith(stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := e.command(append([]string{"cp"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{args: append([]string{"cp"}, args...), stdout: out.String(), stderr: errOut.String()}
	if cmd.ProcessState == nil {
		e.t.Fatalf("sdocker cp: %v", err)
	}
	r.code = cmd.ProcessState.ExitCode()
	return r
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarNames lists the names of a tar stream.
func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		names = append(names, h.Name)
	}
}

// TestCp: cp in both directions, into a running and a stopped container
// of an image: files and directories as Docker copies them (into a
// directory, onto a missing path, "/." for a directory's content,
// overwriting a file), -a keeps owners, -L follows a symlink, "-" is a tar
// stream both ways; a missing parent directory is a clear error (125). A
// stopped container's root file system is mounted only while cp runs.
func TestCp(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("cpimg:1")
	e.mustRun(0, "import", rootfsDir, "cpimg:1")
	id := e.runDetached("--name", "cpbox", "cpimg:1", "sh", "-c",
		"[ -L /cpdata/link ] || { mkdir -p /cpdata/sub && echo one > /cpdata/sub/f && echo top > /cpdata/t && echo old > /cpdata/o && ln -s /cpdata/t /cpdata/link; }; sleep 1000")
	testutil.WaitFor(t, timeout(10*time.Second), "the container to fill /cpdata", func() bool {
		return e.run("exec", "cpbox", "test", "-L", "/cpdata/link").code == 0
	})
	host := t.TempDir()
	src := filepath.Join(host, "src")
	writeFile(t, filepath.Join(src, "a"), "a\n")
	writeFile(t, filepath.Join(src, "d", "b"), "b\n")

	for _, state := range []string{"running", "stopped"} {
		if state == "stopped" {
			e.mustRun(0, "stop", "-t", "0", "cpbox")
			e.checkNoMounts()
		}
		out := filepath.Join(host, state)
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		// Container to host: a directory into a directory, onto a missing
		// path, its content; a file; a symlink, and -L.
		e.mustRun(0, "cp", "cpbox:/cpdata", out)
		e.mustRun(0, "cp", "cpbox:/cpdata", filepath.Join(out, "renamed"))
		e.mustRun(0, "cp", "cpbox:/cpdata/sub/.", out)
		e.mustRun(0, "cp", "cpbox:/cpdata/link", filepath.Join(out, "link"))
		e.mustRun(0, "cp", "-L", "cpbox:/cpdata/link", filepath.Join(out, "followed"))
		for p, want := range map[string]string{"cpdata/sub/f": "one\n", "renamed/t": "top\n", "f": "one\n", "followed": "top\n"} {
			if got := readFile(t, filepath.Join(out, p)); got != want {
				t.Errorf("%s: cp out: %s is %q, want %q", state, p, got, want)
			}
		}
		if l, err := os.Readlink(filepath.Join(out, "link")); err != nil || l != "/cpdata/t" {
			t.Errorf("%s: cp of a symlink: %q %v", state, l, err)
		}
		var st = func(p string) (uid, gid int) {
			fi, err := os.Lstat(filepath.Join(out, p))
			if err != nil {
				t.Fatal(err)
			}
			s := fi.Sys().(*syscall.Stat_t)
			return int(s.Uid), int(s.Gid)
		}
		// Owners: an archive's with -a, root's without, both ways.
		var owned bytes.Buffer
		tw := tar.NewWriter(&owned)
		for _, n := range []string{"owned-" + state, "plain-" + state} {
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o640, Uid: 1234, Gid: 5678, Size: 2, Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			tw.Write([]byte("o\n"))
		}
		tw.Close()
		e.cpWith(owned.Bytes(), "-a", "-", "cpbox:/cpdata")
		e.cpWith(owned.Bytes(), "-", "cpbox:/")
		e.mustRun(0, "cp", "-a", "cpbox:/cpdata/owned-"+state, filepath.Join(out, "archived"))
		e.mustRun(0, "cp", "cpbox:/cpdata/owned-"+state, filepath.Join(out, "unarchived"))
		e.mustRun(0, "cp", "-a", "cpbox:/plain-"+state, filepath.Join(out, "plain"))
		for p, want := range map[string][2]int{"archived": {1234, 5678}, "unarchived": {0, 0}, "plain": {0, 0}} {
			if u, g := st(p); u != want[0] || g != want[1] {
				t.Errorf("%s: %s: owner %d:%d, want %d:%d", state, p, u, g, want[0], want[1])
			}
		}

		// Host to container.
		dst := "/in-" + state
		e.mustRun(0, "cp", src, "cpbox:"+dst)                          // created as dst
		e.mustRun(0, "cp", src, "cpbox:"+dst)                          // now into it, as dst/src
		e.mustRun(0, "cp", filepath.Join(src, "a"), "cpbox:/cpdata/o") // overwrites a file
		// A tar stream out and back in.
		tarOut := e.mustRun(0, "cp", "cpbox:/cpdata/sub", "-")
		if got := tarNames(t, []byte(tarOut.stdout)); !slices.Equal(got, []string{"sub/", "sub/f"}) {
			t.Errorf("%s: cp CONTAINER:/cpdata/sub - names %q", state, got)
		}
		// The whole root: its content, without the kernel's /proc and /sys.
		all := tarNames(t, []byte(e.mustRun(0, "cp", "cpbox:/", "-").stdout))
		if !slices.Contains(all, "etc/passwd") || !slices.Contains(all, "cpdata/sub/f") || slices.ContainsFunc(all, func(n string) bool {
			return strings.HasPrefix(n, "proc/") && n != "proc/" || strings.HasPrefix(n, "sys/") && n != "sys/"
		}) {
			t.Errorf("%s: cp CONTAINER:/ -: %d names, %q...", state, len(all), all[:min(len(all), 20)])
		}
		if r := e.cpWith([]byte(tarOut.stdout), "-", "cpbox:"+dst); r.code != 0 {
			t.Errorf("%s: cp - CONTAINER:DIR:\n%s", state, r)
		}
		// Missing parents, a directory onto a file: 125, clearly.
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{src, "cpbox:/no/such/dir"}, "could not find the file /no/such in container cpbox"},
			{[]string{"cpbox:/no/such", out}, "could not find the file /no/such in container cpbox"},
			{[]string{filepath.Join(src, "a"), "cpbox:/no-such-dir/"}, "must exist"},
			{[]string{src, "cpbox:/cpdata/t"}, "cannot copy a directory to a file"},
			{[]string{"cpbox:/cpdata", filepath.Join(host, "missing", "x")}, "could not find the file " + filepath.Join(host, "missing")},
			{[]string{"-", "cpbox:/cpdata/t"}, "must be a directory"},
		} {
			if r := e.run(append([]string{"cp"}, c.args...)...); r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%s: want 125 and %q:\n%s", state, c.want, r)
			}
		}
		if state == "stopped" {
			e.checkNoMounts()
			e.mustRun(0, "start", "cpbox")
		}
		check := "cat " + dst + "/a " + dst + "/d/b " + dst + "/src/a " + dst + "/sub/f /cpdata/o"
		if got := e.mustRun(0, "exec", "cpbox", "sh", "-c", check).stdout; got != "a\nb\na\none\na\n" {
			t.Errorf("%s: cp in: %q", state, got)
		}
	}
	e.rmf(id)
}

// TestCpVolumes: cp sees a container's volumes, running or stopped (a
// stopped one's mounted for cp alone, in a namespace of its own: nothing
// is left mounted): a file written into a volume lands in its host
// directory, one over a file volume is written in place (refused clearly
// for a :ro one), and the volumes' files are read.
func TestCpVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("cpvol:1")
	e.mustRun(0, "import", rootfsDir, "cpvol:1")
	host := t.TempDir()
	vol, conf, roConf, payload := filepath.Join(host, "vol"), filepath.Join(host, "app.conf"), filepath.Join(host, "ro.conf"), filepath.Join(host, "payload")
	writeFile(t, filepath.Join(vol, "given"), "given\n")
	writeFile(t, conf, "conf\n")
	writeFile(t, roConf, "ro\n")
	writeFile(t, payload, "payload\n")
	e.runDetached("--name", "volbox", "-v", vol+":/vol", "-v", conf+":/etc/app.conf", "-v", roConf+":/etc/ro.conf:ro", "cpvol:1", "sleep", "1000")
	for _, state := range []string{"running", "stopped"} {
		if state == "stopped" {
			e.mustRun(0, "stop", "-t", "0", "volbox")
		}
		writeFile(t, payload, state+"\n")
		e.mustRun(0, "cp", payload, "volbox:/vol/"+state)
		if got := readFile(t, filepath.Join(vol, state)); got != state+"\n" {
			t.Errorf("%s: cp into a volume: the host directory has %q", state, got)
		}
		e.mustRun(0, "cp", payload, "volbox:/etc/app.conf")
		if got := readFile(t, conf); got != state+"\n" {
			t.Errorf("%s: cp over a file volume: the host file has %q", state, got)
		}
		if state == "running" {
			// Still mounted in the container.
			if got := e.mustRun(0, "exec", "volbox", "cat", "/etc/app.conf").stdout; got != "running\n" {
				t.Errorf("after cp over a file volume, the container sees %q", got)
			}
		}
		if r := e.run("cp", payload, "volbox:/etc/ro.conf"); r.code != 125 || !strings.Contains(r.stderr, "read-only file system") {
			t.Errorf("%s: cp over a read-only file volume:\n%s", state, r)
		}
		if got := readFile(t, roConf); got != "ro\n" {
			t.Errorf("%s: a read-only file volume was written: %q", state, got)
		}
		out := filepath.Join(host, "out-"+state)
		e.mustRun(0, "cp", "volbox:/vol/given", out)
		if got := readFile(t, out); got != "given\n" {
			t.Errorf("%s: cp out of a volume: %q", state, got)
		}
		for _, p := range []string{vol, conf, roConf} {
			if m := testutil.MountsUnder(p); len(m) > 0 {
				t.Errorf("%s: mounts left on the host: %q", state, m)
			}
		}
	}
	e.checkNoMounts()
}
