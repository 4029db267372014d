package engine

import (
	"archive/tar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestImagesImport: import of a directory, a tar and a tar.gz; images lists
// them; tag; rmi is refused while a container (even an exited one) uses the
// image, unless -f.
func TestImagesImport(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	dir := t.TempDir()
	var tarBuf strings.Builder
	tw := tar.NewWriter(&tarBuf)
	writeDirTar(t, tw, rootfsDir, "./")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "rootfs.tar")
	gz := filepath.Join(dir, "rootfs.tar.gz")
	if err := os.WriteFile(plain, []byte(tarBuf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, gzipBytes(t, []byte(tarBuf.String())), 0o644); err != nil {
		t.Fatal(err)
	}

	idRE := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	ids := map[string]string{}
	for _, c := range []struct{ src, name string }{
		{rootfsDir, "fromdir:v1"}, {plain, "fromtar:v1"}, {gz, "fromgz:v1"},
	} {
		e.cleanupImage(c.name)
		r := e.mustRun(0, "import", c.src, c.name)
		id := strings.TrimSpace(r.stdout)
		if !idRE.MatchString(id) {
			t.Fatalf("import %s printed %q, want the image id", c.src, r.stdout)
		}
		ids[c.name] = id
		// Each runs.
		if out := e.runOut(0, c.name, "sh", "-c", "echo hi; test -x /bin/bash"); out != "hi\n" {
			t.Errorf("run %s: %q", c.name, out)
		}
	}
	// The plain and gzip'd tars hold the same layer: one image config
	// differs only by its creation time, but the layers are shared.
	layers, _ := os.ReadDir(filepath.Join(e.root, "image", "layers"))
	if len(layers) > 2 {
		t.Errorf("3 imports of the same tree (dir, tar, tar.gz) made %d layers, want the tars' one shared (at most 2)", len(layers))
	}

	header, rows := imagesTable(t, e.mustRun(0, "images").stdout)
	if header != "REPOSITORY TAG IMAGE ID CREATED SIZE" {
		t.Errorf("images header %q", header)
	}
	byName := map[string]map[string]string{}
	for _, row := range rows {
		byName[row["REPOSITORY"]+":"+row["TAG"]] = row
	}
	for name, id := range ids {
		row := byName[name]
		if row == nil {
			t.Errorf("images does not list %s:\n%v", name, rows)
			continue
		}
		if row["IMAGE ID"] != id[7:19] || !strings.HasSuffix(row["CREATED"], "ago") ||
			!regexp.MustCompile(`^[0-9.]+[kMG]?B$`).MatchString(row["SIZE"]) {
			t.Errorf("images row of %s: %v (id %s)", name, row, id)
		}
		if row["SIZE"] != "" && !strings.HasSuffix(row["SIZE"], "MB") {
			t.Errorf("images: %s is %s, want megabytes (the rootfs is ~17 MB)", name, row["SIZE"])
		}
	}
	if r := e.mustRun(0, "images", "-q"); len(lines(r.stdout)) != 3 {
		t.Errorf("images -q: %q", r.stdout)
	}

	// tag: another name for the same id; the image runs by it.
	e.cleanupImage("other/name:latest")
	e.mustRun(0, "tag", "fromgz:v1", "other/name")
	_, rows = imagesTable(t, e.mustRun(0, "images").stdout)
	found := false
	for _, row := range rows {
		if row["REPOSITORY"] == "other/name" && row["TAG"] == "latest" && row["IMAGE ID"] == ids["fromgz:v1"][7:19] {
			found = true
		}
	}
	if !found {
		t.Errorf("tag fromgz:v1 other/name: images shows %v", rows)
	}
	// A name with a slash is an image name as in Docker (library/busybox,
	// myorg/app:1): a rootfs directory that is not there is no excuse.
	if r := e.run("run", "--rm", "other/name", "echo", "tagged"); r.code != 0 || r.stdout != "tagged\n" {
		t.Errorf("run of the image other/name (images lists it): want \"tagged\":\n%s", r)
	}
	if r := e.run("run", "--rm", "other/name:latest", "echo", "tagged"); r.code != 0 || r.stdout != "tagged\n" {
		t.Errorf("run of the image other/name:latest: want \"tagged\":\n%s", r)
	}
	if r := e.run("tag", "nosuch:v1", "x:y"); r.code == 0 {
		t.Errorf("tag of a missing image worked:\n%s", r)
	}

	// rmi of an image an exited container uses: refused; -f untags it.
	id := e.runDetached("--name", "user", "fromtar:v1", "true")
	e.waitStatus(id, "exited", 30*time.Second)
	r := e.run("rmi", "fromtar:v1")
	if r.code == 0 || !strings.Contains(r.stderr, "used by a container") {
		t.Errorf("rmi of an image an exited container uses: want an error:\n%s", r)
	}
	if !strings.Contains(e.mustRun(0, "images").stdout, "fromtar") {
		t.Errorf("the refused rmi removed the image")
	}
	// The container still starts on it.
	e.mustRun(0, "start", "user")
	e.waitStatus(id, "exited", 30*time.Second)
	r = e.mustRun(0, "rmi", "-f", "fromtar:v1")
	if !strings.Contains(r.stdout, "Untagged: fromtar:v1") {
		t.Errorf("rmi -f: %q", r.stdout)
	}
	if strings.Contains(e.mustRun(0, "images").stdout, "fromtar") {
		t.Errorf("rmi -f left the name")
	}
	// The container's image stays until the container goes.
	e.mustRun(0, "start", "user")
	e.waitStatus(id, "exited", 30*time.Second)
	if c := e.inspect(id); c.State.ExitCode != 0 || c.State.Error != "" {
		t.Errorf("start after rmi -f of its image: State %+v", c.State)
	}
	e.rmf(id)

	// Without users: rmi removes; of a missing image: an error.
	r = e.mustRun(0, "rmi", "fromdir:v1")
	if !strings.Contains(r.stdout, "Untagged: fromdir:v1") || !strings.Contains(r.stdout, "Deleted: "+ids["fromdir:v1"]) {
		t.Errorf("rmi fromdir:v1: %q", r.stdout)
	}
	if r := e.run("rmi", "fromdir:v1"); r.code == 0 || !strings.Contains(r.stderr, "no such image") {
		t.Errorf("rmi of a removed image:\n%s", r)
	}
	if r := e.run("run", "--rm", "fromdir:v1", "true"); r.code != 125 || !strings.Contains(r.stderr, "no such image") {
		t.Errorf("run of a removed image: want 125 and \"no such image\":\n%s", r)
	}
}

// dataLayers are the layers of the test's docker-archive: the rootfs plus
// /etc/removed and /data/old, then a layer that deletes /etc/removed
// (whiteout) and replaces /data (opaque directory) with /data/new.
func dataLayers(t *testing.T) [][]byte {
	l1 := layerTar(t, rootfsDir, []tarEntry{
		{name: "etc/removed", body: "remove me\n"},
		{name: "data", dir: true},
		{name: "data/old", body: "old\n"},
		{name: "data/sub", dir: true},
		{name: "data/sub/older", body: "older\n"},
	})
	l2 := layerTar(t, "", []tarEntry{
		{name: "etc", dir: true},
		{name: "etc/.wh.removed"},
		{name: "data", dir: true},
		{name: "data/.wh..wh..opq"},
		{name: "data/new", body: "new\n"},
	})
	return [][]byte{l1, l2}
}

// TestLoadDockerArchive: a multi-layer docker save archive with whiteouts
// loads, and runs with its image's Cmd, Env, WorkingDir and User.
func TestLoadDockerArchive(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	archive := filepath.Join(t.TempDir(), "image.tar")
	writeDockerArchive(t, archive, []dockerImage{{
		tags: []string{"docker.io/library/layered:1.0"},
		config: imageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from the image"},
			Cmd:        []string{"sh", "-c", "echo $GREETING; pwd; ls /data; test -e /etc/removed || echo gone; id -u; id -g"},
			WorkingDir: "/data",
			User:       "nobody",
		},
		layers: dataLayers(t),
	}})
	e.cleanupImage("layered:1.0")
	r := e.mustRun(0, "load", "-i", archive)
	if !strings.Contains(r.stdout, "Loaded image: layered:1.0") {
		t.Errorf("load: %q, want \"Loaded image: layered:1.0\"", r.stdout)
	}
	if !strings.Contains(e.mustRun(0, "images").stdout, "layered") {
		t.Errorf("images does not list the loaded image")
	}
	if n, _ := os.ReadDir(filepath.Join(e.root, "image", "layers")); len(n) != 2 {
		t.Errorf("a two-layer image: %d layers stored", len(n))
	}

	want := "hello from the image\n/data\nnew\ngone\n65534\n65534\n"
	if out := e.runOut(0, "layered:1.0"); out != want {
		t.Errorf("run layered:1.0 printed %q, want %q (Cmd, Env, WorkingDir, whiteout, opaque dir, User nobody)", out, want)
	}
	// Detached, as the container's log.
	id := e.runDetached("layered:1.0")
	e.waitStatus(id, "exited", 30*time.Second)
	if got := e.mustRun(0, "logs", id).stdout; got != want {
		t.Errorf("logs of run -d layered:1.0: %q, want %q", got, want)
	}
	c := e.inspect(id)
	if c.Config.User != "nobody" || c.Config.WorkingDir != "/data" || c.GraphDriver.Name != "overlay" {
		t.Errorf("inspect: User %q WorkingDir %q GraphDriver %q", c.Config.User, c.Config.WorkingDir, c.GraphDriver.Name)
	}
	e.rmf(id)

	// Options win over the image's.
	if out := e.runOut(0, "-u", "0", "-e", "GREETING=override", "-w", "/tmp", "layered:1.0", "sh", "-c", "echo $GREETING; pwd; id -u; cat /data/new; ls /data/sub >/dev/null 2>&1 || echo nosub"); out != "override\n/tmp\n0\nnew\nnosub\n" {
		t.Errorf("run -u 0 -e -w layered:1.0 CMD: %q", out)
	}
}

// TestLoadEntrypoint: an archive of two images sharing a layer; an image's
// Entrypoint takes the Cmd or the run's arguments, --entrypoint replaces it.
func TestLoadEntrypoint(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	base := layerTar(t, rootfsDir, nil)
	archive := filepath.Join(t.TempDir(), "two.tar")
	writeDockerArchive(t, archive, []dockerImage{
		{tags: []string{"entry:1"}, layers: [][]byte{base}, config: imageConfig{
			Entrypoint: []string{"/bin/echo", "entry:"}, Cmd: []string{"default"},
		}},
		{tags: []string{"plain:1"}, layers: [][]byte{base}, config: imageConfig{
			Cmd: []string{"echo", "plain"}, Env: []string{"PATH=/usr/bin:/bin"},
		}},
	})
	e.cleanupImage("entry:1")
	e.cleanupImage("plain:1")
	r := e.mustRun(0, "load", "-i", archive)
	if !strings.Contains(r.stdout, "Loaded image: entry:1") || !strings.Contains(r.stdout, "Loaded image: plain:1") {
		t.Errorf("load of a two-image archive: %q", r.stdout)
	}
	if n, _ := os.ReadDir(filepath.Join(e.root, "image", "layers")); len(n) != 1 {
		t.Errorf("two images sharing one layer: %d layers stored", len(n))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"entry:1"}, "entry: default\n"},
		{[]string{"entry:1", "a", "b"}, "entry: a b\n"},
		{[]string{"--entrypoint", "sh", "entry:1", "-c", "echo replaced"}, "replaced\n"},
		{[]string{"--entrypoint", "", "entry:1", "echo", "cleared"}, "cleared\n"},
		{[]string{"plain:1"}, "plain\n"},
		{[]string{"plain:1", "echo", "args"}, "args\n"},
		{[]string{"--entrypoint", "echo", "plain:1", "e"}, "e\n"},
	} {
		if out := e.runOut(0, c.args...); out != c.want {
			t.Errorf("run %q: %q, want %q", c.args, out, c.want)
		}
	}
	if r := e.run("run", "--rm", "--entrypoint", "", "entry:1"); r.code != 125 {
		t.Errorf("run --entrypoint \"\" of an image without its command: want 125:\n%s", r)
	}
}

// TestLoadOCILayout: a hand-written OCI image-layout archive (gzip'd
// layers) loads by its ref.name and runs with its config; its numeric User
// is honoured and a missing WorkingDir is created.
func TestLoadOCILayout(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	layers := [][]byte{
		layerTar(t, rootfsDir, nil),
		layerTar(t, "", []tarEntry{{name: "etc", dir: true}, {name: "etc/oci-marker", body: "oci\n"}}),
	}
	archive := filepath.Join(t.TempDir(), "oci.tar")
	writeOCIArchive(t, archive, "ocibox:1.0", imageConfig{
		Env:        []string{"PATH=/usr/bin:/bin", "OCIVAR=from-oci"},
		Cmd:        []string{"sh", "-c", "id -u; id -g; echo $OCIVAR; pwd; cat /etc/oci-marker"},
		WorkingDir: "/srv/app",
		User:       "65534:65534",
	}, layers)
	e.cleanupImage("ocibox:1.0")
	r := e.mustRun(0, "load", "-i", archive)
	if !strings.Contains(r.stdout, "Loaded image: ocibox:1.0") {
		t.Errorf("load of an OCI layout: %q", r.stdout)
	}
	if out := e.runOut(0, "ocibox:1.0"); out != "65534\n65534\nfrom-oci\n/srv/app\noci\n" {
		t.Errorf("run ocibox:1.0: %q", out)
	}
	// By image id prefix too.
	id := strings.TrimPrefix(e.mustRun(0, "images", "-q").stdout, "sha256:")
	if out := e.runOut(0, strings.TrimSpace(id)[:12], "id", "-un"); out != "nobody\n" {
		t.Errorf("run by image id: %q", out)
	}
}

// TestOverlayIsolation: what a container writes stays in its own upper
// layer: not in the image, not seen by another container of the image.
func TestOverlayIsolation(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("iso:1")
	e.mustRun(0, "import", rootfsDir, "iso:1")
	a := e.runDetached("--name", "a", "iso:1", "sleep", "100")
	b := e.runDetached("--name", "b", "iso:1", "sleep", "100")
	e.mustRun(0, "exec", "a", "sh", "-c", "echo secret > /etc/written-by-a; rm /root/.bashrc")
	if r := e.mustRun(0, "exec", "a", "cat", "/etc/written-by-a"); r.stdout != "secret\n" {
		t.Errorf("a reads back %q", r.stdout)
	}
	if r := e.run("exec", "b", "sh", "-c", "test -e /etc/written-by-a || echo absent; test -e /root/.bashrc && echo bashrc"); r.stdout != "absent\nbashrc\n" {
		t.Errorf("b sees a's changes:\n%s", r)
	}
	if out := e.runOut(0, "iso:1", "sh", "-c", "test -e /etc/written-by-a || echo absent; test -e /root/.bashrc && echo bashrc"); out != "absent\nbashrc\n" {
		t.Errorf("a new container of the image sees a's changes: %q", out)
	}
	// On disk: in a's upper directory only.
	ca := e.inspect(a)
	if ca.GraphDriver.Name != "overlay" {
		t.Errorf("GraphDriver.Name %q, want overlay", ca.GraphDriver.Name)
	}
	if b, err := os.ReadFile(filepath.Join(ca.GraphDriver.Data["UpperDir"], "etc", "written-by-a")); err != nil || string(b) != "secret\n" {
		t.Errorf("a's upper dir lacks the file: %q %v", b, err)
	}
	for _, l := range strings.Split(ca.GraphDriver.Data["LowerDir"], ":") {
		if _, err := os.Stat(filepath.Join(l, "etc", "written-by-a")); err == nil {
			t.Errorf("the file is in the image layer %s", l)
		}
		if _, err := os.Stat(filepath.Join(l, "root", ".bashrc")); err != nil {
			t.Errorf("a's rm removed /root/.bashrc from the image layer %s", l)
		}
	}
	// a's changes survive its restart.
	e.mustRun(0, "restart", "-t", "0", "a")
	e.waitStatus(a, "running", 30*time.Second)
	if r := e.run("exec", "a", "cat", "/etc/written-by-a"); r.stdout != "secret\n" {
		t.Errorf("after restart a lost its file:\n%s", r)
	}
	e.rmf(a)
	e.rmf(b)
	e.checkNoMounts()
}
