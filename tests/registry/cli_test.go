package registry

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/sdocker/sdocker/tests/testutil"
)

// busyboxLayer is a layer with the host's static busybox as /bin/sh.
func busyboxLayer(t *testing.T) v1.Layer {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("needs a static /bin/busybox (busybox-static): %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), Typeflag: tar.TypeReg})
	tw.Write(bb)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Linkname: "busybox", Typeflag: tar.TypeSymlink})
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithCompression(compression.GZip))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCLIPullAndRunPull(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	bb := busyboxLayer(t)
	srv.push(t, "bb:1", imageOf(t, "amd64", false, bb, layerOf(t, map[string]string{"etc/greeting": "hello"}, compression.GZip, false)), nil)

	// Not a terminal: plain lines, one per layer state; the name on stdout.
	r := c.mustRun(0, "pull", srv.host+"/bb:1")
	if strings.TrimSpace(r.stdout) != srv.host+"/bb:1" || strings.Count(r.stderr, ": Pull complete") != 2 ||
		strings.Contains(r.stderr, "\x1b[") || !strings.Contains(r.stderr, "Status: Downloaded newer image") {
		t.Errorf("pull output: %s", r)
	}
	if r := c.mustRun(0, "images"); !strings.Contains(r.stdout, srv.host+"/bb") {
		t.Errorf("images after pull: %s", r)
	}
	r = c.mustRun(0, "pull", srv.host+"/bb:1")
	if strings.Count(r.stderr, ": Already exists") != 2 || !strings.Contains(r.stderr, "Image is up to date") {
		t.Errorf("second pull: %s", r)
	}

	// run pulls a missing image (the default), not with --pull never.
	srv.push(t, "bb:2", imageOf(t, "amd64", false, bb, layerOf(t, map[string]string{"etc/greeting": "two"}, compression.GZip, false)), nil)
	if r := c.run("", "run", "--rm", "--pull", "never", srv.host+"/bb:2", "/bin/sh", "-c", "cat /etc/greeting"); r.code != 125 || !strings.Contains(r.stderr, "no such image") {
		t.Errorf("run --pull never of a missing image: %s", r)
	}
	r = c.mustRun(0, "run", "--rm", srv.host+"/bb:2", "/bin/sh", "-c", "cat /etc/greeting")
	if r.stdout != "two" || strings.Count(r.stderr, ": Already exists") != 1 {
		t.Errorf("run of a missing image: %s", r)
	}
	// always pulls again: a new image under the same tag is run.
	srv.push(t, "bb:2", imageOf(t, "amd64", false, bb, layerOf(t, map[string]string{"etc/greeting": "three"}, compression.GZip, false)), nil)
	if r = c.mustRun(0, "run", "--rm", srv.host+"/bb:2", "/bin/sh", "-c", "cat /etc/greeting"); r.stdout != "two" {
		t.Errorf("run --pull missing of a present image pulled: %s", r)
	}
	if r = c.mustRun(0, "run", "--rm", "--pull", "always", srv.host+"/bb:2", "/bin/sh", "-c", "cat /etc/greeting"); r.stdout != "three" {
		t.Errorf("run --pull always: %s", r)
	}
	if r := c.run("", "run", "--rm", "--pull", "sometimes", srv.host+"/bb:2", "true"); r.code != 125 || !strings.Contains(r.stderr, "--pull") {
		t.Errorf("run --pull sometimes: %s", r)
	}
}

func TestCLIPullBadInput(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host, "127.0.0.1:1")
	srv.push(t, "x:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "x")...), nil)
	for _, tc := range []struct{ args, want string }{
		{"pull " + srv.host + "/NoCaps:1", "must be lowercase"},
		{"pull " + srv.host + "/nosuch:1", "not found"},
		{"pull " + srv.host + "/x:2", "not found"}, // a tag the repository lacks
		{"pull 127.0.0.1:1/x:1", "connection refused"},
		{"pull --platform linux " + srv.host + "/x:1", "--platform"},
		{"pull --jobs 0 " + srv.host + "/x:1", "--jobs"},
		{"pull", "accepts 1 arg"},
	} {
		r := c.run("", strings.Fields(tc.args)...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("want exit 125 and one line with %q: %s", tc.want, r)
		}
	}
	if ents := testutil.DirNames(filepath.Join(c.root, "image", "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ left: %v", ents)
	}
}

// TestCLIPullUnknownHost: a registry whose name does not resolve is a
// clear error. The pull runs in a network namespace of its own (no query
// leaves the machine): the lookup fails there as it does for an unknown
// name.
func TestCLIPullUnknownHost(t *testing.T) {
	c := newCLI(t, "nosuch.invalid:5000")
	cmd := c.command("pull", "nosuch.invalid:5000/x:1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, errOut, code, err := testutil.RunCommand(cmd, testutil.Timeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if code != 125 || !strings.Contains(errOut, "the registry's host nosuch.invalid cannot be resolved") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || out != "" {
		t.Errorf("pull from an unknown host: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, d := range []string{"images", "layers", "tmp"} {
		if ents := testutil.DirNames(filepath.Join(c.root, "image", d)); len(ents) != 0 {
			t.Errorf("a failed pull left %s/%v", d, ents)
		}
	}
}

func TestCLIPullInterrupted(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	big := make([]byte, 256<<10)
	rand.Read(big)
	ls := []v1.Layer{uniqueLayers(t, 1, "i")[0], layerOf(t, map[string]string{"big": string(big)}, compression.GZip, false)}
	srv.push(t, "i:1", imageOf(t, "amd64", false, ls...), nil)
	srv.setSlow(digestOf(t, ls[1]))

	cmd := c.command("pull", "--jobs", "1", srv.host+"/i:1")
	var errOut testutil.SyncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	testutil.WaitFor(t, 20*time.Second, "the pull to download its second layer", func() bool {
		return strings.Count(errOut.String(), "Downloading") >= 2
	})
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if err == nil || !strings.Contains(errOut.String(), "interrupted") {
		t.Fatalf("interrupted pull: %v\n%s", err, errOut.String())
	}
	if ents := testutil.DirNames(filepath.Join(c.root, "image", "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ left after SIGINT: %v", ents)
	}
	if r := c.mustRun(0, "images", "-q"); r.stdout != "" {
		t.Errorf("an interrupted pull left an image: %s", r)
	}
	srv.setSlow("")
	r := c.mustRun(0, "pull", srv.host+"/i:1")
	if strings.Count(r.stderr, "Already exists") != 1 || strings.Count(r.stderr, "Pull complete") != 1 {
		t.Errorf("the next pull did not resume: %s", r)
	}
}

func TestCLILoginLogout(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		srv := newServer(t, serverOpts{user: "bob", pass: "pw1", bearer: bearer})
		c := newCLI(t, srv.host)
		srv.push(t, "priv:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "l")...), nil)
		ref := srv.host + "/priv:1"
		configJSON := filepath.Join(c.dockerConfig, "config.json")

		// One line each, though the registry's answer quoted may have more.
		if r := c.run("", "pull", ref); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("bearer=%v: pull before login: %s", bearer, r)
		}
		if r := c.run("wrong\n", "login", "-u", "bob", "--password-stdin", srv.host); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("bearer=%v: login with a wrong password: %s", bearer, r)
		}
		if _, err := os.Stat(configJSON); err == nil {
			t.Errorf("bearer=%v: a failed login wrote %s", bearer, configJSON)
		}
		if r := c.run("pw1\n", "login", "-u", "bob", "--password-stdin", srv.host); r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
			t.Errorf("bearer=%v: login: %s", bearer, r)
		}
		if b, err := os.ReadFile(configJSON); err != nil || !strings.Contains(string(b), `"`+srv.host+`"`) {
			t.Errorf("bearer=%v: config.json after login: %s, %v", bearer, b, err)
		}
		c.mustRun(0, "pull", ref)
		if r := c.mustRun(0, "logout", srv.host); !strings.Contains(r.stdout, "Removing login credentials") {
			t.Errorf("bearer=%v: logout: %s", bearer, r)
		}
		if r := c.mustRun(0, "logout", srv.host); !strings.Contains(r.stdout, "Not logged in") {
			t.Errorf("bearer=%v: second logout: %s", bearer, r)
		}
		c.mustRun(0, "rmi", ref)
		if r := c.run("", "pull", ref); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") {
			t.Errorf("bearer=%v: pull after logout: %s", bearer, r)
		}
	}
}

func TestCLIRmiPulledImage(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	dig := srv.push(t, "rm:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "q")...), nil)
	ref, byDigest := srv.host+"/rm:1", srv.host+"/rm@"+dig
	c.mustRun(0, "pull", ref)
	// By digest: that reference only, while the tag stays.
	if r := c.mustRun(0, "rmi", byDigest); r.stdout != "Untagged: "+byDigest+"\n" {
		t.Errorf("rmi by digest: %s", r)
	}
	c.mustRun(0, "pull", ref)
	// By its last tag: the digest reference goes too, and the image.
	r := c.mustRun(0, "rmi", ref)
	if !strings.Contains(r.stdout, "Untagged: "+ref+"\n") || !strings.Contains(r.stdout, "Untagged: "+byDigest+"\n") || !strings.Contains(r.stdout, "Deleted: sha256:") {
		t.Errorf("rmi by tag: %s", r)
	}
	// Pulled by digest, removed by digest.
	c.mustRun(0, "pull", byDigest)
	if r := c.mustRun(0, "rmi", byDigest); !strings.Contains(r.stdout, "Deleted: sha256:") {
		t.Errorf("rmi of an image pulled by digest: %s", r)
	}
	if ents := testutil.DirNames(filepath.Join(c.root, "image", "layers")); len(ents) != 0 {
		t.Errorf("layers left: %v", ents)
	}
}

func TestCLISaveLoadRoundTrip(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	srv.push(t, "rt:1", imageOf(t, "amd64", false, busyboxLayer(t), layerOf(t, map[string]string{"etc/rt": "round trip"}, compression.ZStd, true)), nil)
	ref := srv.host + "/rt:1"
	c.mustRun(0, "pull", ref)
	id := strings.TrimSpace(c.mustRun(0, "images", "-q").stdout)
	for _, format := range []string{"docker-archive", "oci"} {
		archive := filepath.Join(c.root, "rt-"+format+".tar")
		c.mustRun(0, "save", "--format", format, "-o", archive, ref)
		c.mustRun(0, "rmi", ref)
		if ents := testutil.DirNames(filepath.Join(c.root, "image", "layers")); len(ents) != 0 {
			t.Fatalf("layers left after rmi: %v", ents)
		}
		r := c.mustRun(0, "load", "-i", archive)
		if !strings.Contains(r.stdout, "Loaded image: "+ref) {
			t.Errorf("%s: load: %s", format, r)
		}
		if got := strings.TrimSpace(c.mustRun(0, "images", "-q").stdout); got != id {
			t.Errorf("%s: image %q after the round trip, want %q", format, got, id)
		}
		if r := c.mustRun(0, "run", "--rm", "--pull", "never", ref, "/bin/sh", "-c", "cat /etc/rt"); r.stdout != "round trip" {
			t.Errorf("%s: run after the round trip: %s", format, r)
		}
	}
	// Bad input: a clear error, no file.
	bad := filepath.Join(c.root, "bad.tar")
	for _, args := range [][]string{{"save", "-o", bad, "nosuch:1"}, {"save", "--format", "zip", "-o", bad, ref}, {"save", "-o", bad, ref, "nosuch:2"}} {
		if r := c.run("", args...); r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("want exit 125 and one line: %s", r)
		}
	}
	if ents := testutil.DirNames(c.root); strings.Contains(strings.Join(ents, " "), "bad.tar") {
		t.Errorf("a failed save left a file: %v", ents)
	}
}

// podman runs podman on a store of its own under dir.
func podman(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("needs podman")
	}
	all := append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}, args...)
	out, errOut, code, err := testutil.RunCommand(exec.Command(bin, all...), testutil.Timeout(60*time.Second))
	if err != nil || code != 0 {
		t.Fatalf("podman %s: exit %d, %v\n%s%s", strings.Join(args, " "), code, err, out, errOut)
	}
	return out
}

func TestCLISavePodmanRoundTrip(t *testing.T) {
	c := newCLI(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("from sdocker"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun(0, "import", src, "pm:1")
	id := strings.TrimSpace(c.mustRun(0, "images", "-q").stdout)
	pdir, err := os.MkdirTemp("", "pm-") // podman wants a short runroot
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pdir) })
	for _, format := range []string{"docker-archive", "oci-archive"} {
		archive := filepath.Join(c.root, format+".tar")
		c.mustRun(0, "save", "--format", format, "-o", archive, "pm:1")
		podman(t, pdir, "load", "-i", archive)
	}
	// podman sees the same image (same ID) under both names.
	out := podman(t, pdir, "images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
	if strings.Count(out, id+" ") != 2 {
		t.Errorf("podman images after loading sdocker's archives:\n%s(want ID %s twice)", out, id)
	}
	// And what podman saves, sdocker loads, with the same ID.
	c.mustRun(0, "rmi", "pm:1")
	archive := filepath.Join(c.root, "from-podman.tar")
	podman(t, pdir, "save", "--format", "oci-archive", "-o", archive, "docker.io/library/pm:1")
	c.mustRun(0, "load", "-i", archive)
	if got := strings.TrimSpace(c.mustRun(0, "images", "-q").stdout); got != id {
		t.Errorf("image %q after podman save and sdocker load, want %q", got, id)
	}
}

func TestCLIPush(t *testing.T) {
	srv := newServer(t, serverOpts{user: "carol", pass: "pw", bearer: true})
	c := newCLI(t, srv.host)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "pushed"), []byte("up and down"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun(0, "import", src, "local:1")
	id := strings.TrimSpace(c.mustRun(0, "images", "-q").stdout)
	ref := srv.host + "/team/pushed:1"
	c.mustRun(0, "tag", "local:1", ref)

	// Refused before any layer is compressed: one line.
	if r := c.run("", "push", ref); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("push before login: %s", r)
	}
	for _, args := range [][]string{{"push", srv.host + "/team/pushed"}, {"push", "nosuch:1"}, {"push", "local@sha256:" + fmtHex(1)}} {
		if r := c.run("", args...); r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("want exit 125 and one line: %s", r)
		}
	}
	c.run("pw\n", "login", "-u", "carol", "--password-stdin", srv.host)
	r := c.mustRun(0, "push", ref)
	if !strings.HasPrefix(r.stdout, "1: digest: sha256:") {
		t.Errorf("push: %s", r)
	}
	// Another client sees the same image: its config digest is our ID.
	img, err := remote.Image(mustRef(t, ref), remote.WithAuth(&authn.Basic{Username: "carol", Password: "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if cd, err := img.ConfigName(); err != nil || cd.String()[len("sha256:"):][:12] != id {
		t.Errorf("pushed config %v (%v), want image %s", cd, err, id)
	}
	// Pulled into another store: the same image, the file there.
	c2 := newCLI(t, srv.host)
	c2.dockerConfig = c.dockerConfig
	c2.mustRun(0, "pull", ref)
	if got := strings.TrimSpace(c2.mustRun(0, "images", "-q").stdout); got != id {
		t.Errorf("pulled back %q, want %q", got, id)
	}
	// Pushing again sends no layer.
	before := srv.uploads()
	if before != 2 {
		t.Errorf("the first push uploaded %d blobs, want 2 (a layer and the config)", before)
	}
	c.mustRun(0, "push", ref)
	if after := srv.uploads(); after != before {
		t.Errorf("a second push uploaded %d blobs", after-before)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCLIImageInfo(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	dig := srv.push(t, "info:1", imageOf(t, "amd64", false, uniqueLayers(t, 2, "h")...), nil)
	ref := srv.host + "/info:1"
	c.mustRun(0, "pull", ref)
	c.mustRun(0, "import", t.TempDir(), "other:1")
	id := strings.TrimSpace(c.mustRun(0, "image", "inspect", "-f", "{{.Id}}", ref).stdout)

	r := c.mustRun(0, "history", ref)
	if l := lines(r.stdout); len(l) != 3 || !strings.HasPrefix(l[1], id[len("sha256:"):][:12]) || !strings.HasPrefix(l[2], "<missing>") {
		t.Errorf("history: %s", r)
	}
	r = c.mustRun(0, "image", "inspect", ref)
	var info []struct {
		ID          string `json:"Id"`
		RepoTags    []string
		RepoDigests []string
		Os          string
		RootFS      struct{ Layers []string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || len(info) != 1 {
		t.Fatalf("image inspect: %v\n%s", err, r)
	}
	if i := info[0]; i.ID != id || len(i.RepoTags) != 1 || i.RepoTags[0] != ref || len(i.RepoDigests) != 1 ||
		i.RepoDigests[0] != srv.host+"/info@"+dig || i.Os != "linux" || len(i.RootFS.Layers) != 2 {
		t.Errorf("image inspect: %+v", info[0])
	}
	if r := c.run("", "image", "inspect", ref, "nosuch:1"); r.code != 1 || !strings.Contains(r.stderr, "nosuch") || !strings.Contains(r.stdout, id) {
		t.Errorf("image inspect of a missing image: %s", r)
	}

	if r := c.mustRun(0, "images", "--digests"); !strings.Contains(r.stdout, "DIGEST") || !strings.Contains(r.stdout, dig) {
		t.Errorf("images --digests: %s", r)
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"reference=" + srv.host + "/inf*", []string{"info"}},
		{"reference=other", []string{"other"}},
		{"dangling=false", []string{"other", "info"}}, // newest first
		{"dangling=true", nil},
		{"since=" + ref, []string{"other"}},
	} {
		r := c.mustRun(0, "images", "--filter", tc.filter)
		rows := lines(r.stdout)[1:]
		if len(rows) != len(tc.want) {
			t.Errorf("--filter %s: %s", tc.filter, r)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(rows[i], w) {
				t.Errorf("--filter %s: row %q, want %s", tc.filter, rows[i], w)
			}
		}
	}
	for _, bad := range []string{"dangling", "nosuch=1", "dangling=maybe", "reference=[", "before=nosuch:1"} {
		if r := c.run("", "images", "--filter", bad); r.code != 125 || !strings.Contains(r.stderr, "--filter") && !strings.Contains(r.stderr, "nosuch") {
			t.Errorf("images --filter %s: %s", bad, r)
		}
	}
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func TestCLIPullDiskFull(t *testing.T) {
	srv := newServer(t, serverOpts{})
	c := newCLI(t, srv.host)
	big := make([]byte, 3<<20)
	rand.Read(big)
	srv.push(t, "full:1", imageOf(t, "amd64", false, append(uniqueLayers(t, 2, "f"),
		layerOf(t, map[string]string{"big": string(big)}, compression.GZip, false))...), nil)
	// The image store on a 2 MiB tmpfs: the big layer does not fit.
	store := filepath.Join(c.root, "image")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", store, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(store, syscall.MNT_DETACH) })
	r := c.run("", "pull", "--jobs", "1", srv.host+"/full:1")
	if r.code != 125 || !strings.Contains(r.stderr, "no space left on device") || strings.Contains(r.stderr, "invalid") {
		t.Errorf("pull on a full disk: %s", r)
	}
	for _, d := range []string{"images", "layers", "tmp"} {
		if ents := testutil.DirNames(filepath.Join(store, d)); len(ents) != 0 {
			t.Errorf("a pull on a full disk left %s/%v", d, ents)
		}
	}
}
