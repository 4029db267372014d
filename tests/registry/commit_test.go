package registry

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/tests/testutil"
)

// busyboxDir is a rootfs directory of the host's static busybox (an
// applet a symlink) and files.
func busyboxDir(t *testing.T, files map[string]string) string {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skipf("needs a static /bin/busybox (busybox-static): %v", err)
	}
	dir := t.TempDir()
	for p := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.MakeBusyboxRootfs("/bin/busybox", dir, files); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (c *cli) storeCounts() (images, layers int) {
	return len(testutil.DirNames(filepath.Join(c.root, "image", "images"))), len(testutil.DirNames(filepath.Join(c.root, "image", "layers")))
}

func TestCLICommitAndExport(t *testing.T) {
	c := newCLI(t)
	c.mustRun(0, "import", busyboxDir(t, map[string]string{"etc/keep": "k", "etc/gone": "g", "data/old/x": "x"}), "base:1")
	t.Cleanup(func() { c.run("", "rm", "-f", "c1", "c2") })

	// A container that changed files, added some and deleted others.
	c.mustRun(0, "run", "--name", "c1", "base:1", "/bin/sh", "-c",
		"echo new > /etc/new; rm /etc/gone; rm -r /data/old; mkdir /data/old; echo fresh > /data/old/y")
	id := strings.TrimSpace(c.mustRun(0, "commit", "-m", "first commit",
		"-c", `CMD ["/bin/sh", "-c", "echo from-cmd $GREETING; pwd"]`, "-c", "ENV GREETING=hi", "-c", "WORKDIR /data",
		"-c", "LABEL team=blue", "-c", "EXPOSE 8080", "c1", "snap:1").stdout)
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	// Without a network the container gets no /etc/hosts, resolv.conf or
	// hostname of its own: what /etc holds is what was committed (the
	// mount points c1 had for them are not).
	r := c.mustRun(0, "run", "--rm", "--network", "none", "snap:1", "/bin/sh", "-c", "ls /etc; echo --; ls /data/old")
	if r.stdout != "keep\nnew\n--\ny\n" {
		t.Errorf("deletions were not committed as whiteouts (or the opaque dir): %q", r.stdout)
	}
	if r := c.mustRun(0, "run", "--rm", "snap:1"); r.stdout != "from-cmd hi\n/data\n" {
		t.Errorf("the committed CMD, ENV, WORKDIR: %s", r)
	}
	var info []struct {
		Config struct {
			Labels       map[string]string
			ExposedPorts map[string]any
		}
		RootFS struct{ Layers []string }
	}
	if err := json.Unmarshal([]byte(c.mustRun(0, "image", "inspect", "snap:1").stdout), &info); err != nil ||
		info[0].Config.Labels["team"] != "blue" || info[0].Config.ExposedPorts["8080/tcp"] == nil || len(info[0].RootFS.Layers) != 2 {
		t.Errorf("the committed config: %+v, %v", info, err)
	}
	if r := c.mustRun(0, "history", "snap:1"); !strings.Contains(r.stdout, "first commit") || len(lines(r.stdout)) != 3 {
		t.Errorf("history: %s", r)
	}

	// export: the whole file system of the container.
	out := filepath.Join(c.root, "c1.tar")
	c.mustRun(0, "export", "-o", out, "c1")
	names := tarNames(t, out)
	for _, want := range []string{"etc/new", "etc/keep", "data/old/y", "bin/busybox"} {
		if !names[want] {
			t.Errorf("export lacks %s", want)
		}
	}
	for _, gone := range []string{"etc/gone", "data/old/x"} {
		if names[gone] {
			t.Errorf("export has the deleted %s", gone)
		}
	}

	// A running container: frozen while read, running again after.
	c.mustRun(0, "run", "-d", "--name", "c2", "snap:1", "/bin/sh", "-c", "echo live > /live; exec sleep 1000")
	testutil.WaitFor(t, 20*time.Second, "the container to write /live", func() bool {
		return strings.Contains(c.run("", "exec", "c2", "/bin/sh", "-c", "cat /live").stdout, "live")
	})
	c.mustRun(0, "commit", "c2", "snap:2")
	if r := c.mustRun(0, "run", "--rm", "snap:2", "/bin/sh", "-c", "cat /live"); r.stdout != "live\n" {
		t.Errorf("commit of a running container: %s", r)
	}
	if r := c.mustRun(0, "inspect", "-f", "{{.State.Status}}", "c2"); strings.TrimSpace(r.stdout) != "running" {
		t.Errorf("after commit the container is %s", r.stdout)
	}

	// Bad input: one line, exit 125, the store as it was.
	images, layers := c.storeCounts()
	for _, args := range [][]string{
		{"commit", "nosuch", "x:1"},
		{"commit", "c1", "Bad:Name"},
		{"commit", "-c", "FROM scratch", "c1", "x:1"},
		{"commit", "-c", "CMD [not json", "c1", "x:1"},
		{"commit", "-c", "EXPOSE 99999", "c1", "x:1"},
		{"export", "-o", filepath.Join(c.root, "bad.tar"), "nosuch"},
	} {
		if r := c.run("", args...); r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("want exit 125 and one line: %s", r)
		}
	}
	if i, l := c.storeCounts(); i != images || l != layers {
		t.Errorf("failed commits changed the store: %d images, %d layers (were %d, %d)", i, l, images, layers)
	}
	if _, err := os.Stat(filepath.Join(c.root, "bad.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left its file: %v", err)
	}
	// A container on a rootfs directory has no image to commit onto.
	c.mustRun(0, "run", "--name", "c3", busyboxDir(t, map[string]string{}), "/bin/sh", "-c", "true")
	t.Cleanup(func() { c.run("", "rm", "-f", "c3") })
	if r := c.run("", "commit", "c3", "x:1"); r.code != 125 || !strings.Contains(r.stderr, "rootfs directory") {
		t.Errorf("commit of a rootfs-directory container: %s", r)
	}
}

func tarNames(t *testing.T, path string) map[string]bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = true
	}
}

// TestCLICommitContainerConfig: the committed image's config is the
// container's, as Docker's commit makes it: the command it ran (the
// entrypoint apart), its environment, working directory, user, published
// ports, labels and stop signal over its image's; then --change.
func TestCLICommitContainerConfig(t *testing.T) {
	c := newCLI(t)
	c.mustRun(0, "import", busyboxDir(t, map[string]string{"data/x": "x"}), "base:1")
	t.Cleanup(func() { c.run("", "rm", "-f", "c0", "c1", "c2") })
	c.mustRun(0, "run", "--name", "c0", "--network", "none", "base:1", "/bin/sh", "-c", "true")
	c.mustRun(0, "commit", "-c", "ENV A=image", "-c", "ENV KEEP=image", "-c", "LABEL from=image", "-c", "LABEL x=image",
		"-c", "EXPOSE 80", "-c", "WORKDIR /", "c0", "base:2")

	c.mustRun(0, "run", "--name", "c1", "-e", "A=run", "-e", "B=run", "-e", "UNSET_IN_CALLER", "-w", "/data", "-u", "1:1",
		"--label", "x=run", "--stop-signal", "SIGUSR1", "-p", "127.0.0.1::8080", "-t",
		"base:2", "/bin/sh", "-c", "echo $A $B $KEEP; id -u; pwd")
	c.mustRun(0, "commit", "c1", "snap:1")
	if r := c.mustRun(0, "run", "--rm", "--network", "none", "snap:1"); r.stdout != "run run image\n1\n/data\n" {
		t.Errorf("the committed command, environment, user and working directory: %s", r)
	}
	cfg := imageConfig(t, c, "snap:1")
	want := imageConfigJSON{
		Cmd: []string{"/bin/sh", "-c", "echo $A $B $KEEP; id -u; pwd"}, WorkingDir: "/data", User: "1:1",
		ExposedPorts: map[string]any{"80/tcp": map[string]any{}, "8080/tcp": map[string]any{}},
		Labels:       map[string]string{"from": "image", "x": "run"}, StopSignal: "SIGUSR1",
	}
	env := cfg.Env
	cfg.Env = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("the committed config:\n%+v\nwant\n%+v", cfg, want)
	}
	// The engine's own variables (HOSTNAME, TERM of -t) are not the
	// container's config; a bare -e the caller lacks is not either.
	slices.Sort(env)
	if !slices.Equal(env, []string{"A=run", "B=run", "KEEP=image"}) {
		t.Errorf("the committed environment: %q", env)
	}

	// --entrypoint: the entrypoint and the command stay apart.
	c.mustRun(0, "run", "--name", "c2", "--network", "none", "--entrypoint", "/bin/sh", "base:2", "-c", "echo ep")
	c.mustRun(0, "commit", "c2", "snap:2")
	if cfg := imageConfig(t, c, "snap:2"); !slices.Equal(cfg.Entrypoint, []string{"/bin/sh"}) || !slices.Equal(cfg.Cmd, []string{"-c", "echo ep"}) {
		t.Errorf("commit of a container run with --entrypoint: %+v", cfg)
	}
	if r := c.mustRun(0, "run", "--rm", "--network", "none", "snap:2", "-c", "echo other"); r.stdout != "other\n" {
		t.Errorf("the committed entrypoint with other arguments: %s", r)
	}
	// --change goes over the container's: an ENTRYPOINT alone drops its
	// command (Docker's builder), a CMD replaces it.
	c.mustRun(0, "commit", "-c", `ENTRYPOINT ["/bin/echo", "entry"]`, "c1", "snap:3")
	if cfg := imageConfig(t, c, "snap:3"); cfg.Cmd != nil || cfg.WorkingDir != "/data" {
		t.Errorf("commit -c ENTRYPOINT: %+v", cfg)
	}
	c.mustRun(0, "commit", "-c", `CMD ["/bin/echo", "changed"]`, "-c", "USER 0", "c1", "snap:4")
	if r := c.mustRun(0, "run", "--rm", "--network", "none", "snap:4"); r.stdout != "changed\n" {
		t.Errorf("commit -c CMD: %s", r)
	}
}

// TestCLICommitVolumes: as Docker's commit, the new image's Volumes are its
// image's and the container's anonymous volumes (-v /path, an image's
// VOLUME), not its named volumes or binds; what the container wrote in a
// volume is not in the layer, and a container of the new image gets
// anonymous volumes there.
func TestCLICommitVolumes(t *testing.T) {
	c := newCLI(t)
	c.mustRun(0, "import", busyboxDir(t, map[string]string{"imgvol/seed": "seed"}), "base:1")
	t.Cleanup(func() { c.run("", "rm", "-f", "-v", "v0", "v1", "v2"); c.run("", "volume", "rm", "named") })
	c.mustRun(0, "run", "--name", "v0", "--network", "none", "-v", "/imgvol", "base:1", "/bin/sh", "-c", "true")
	c.mustRun(0, "commit", "v0", "base:2")
	if cfg := imageConfig(t, c, "base:2"); !reflect.DeepEqual(cfg.Volumes, map[string]any{"/imgvol": map[string]any{}}) {
		t.Errorf("commit of a container with -v /imgvol: Volumes %v", cfg.Volumes)
	}

	bind := t.TempDir()
	c.mustRun(0, "run", "--name", "v1", "--network", "none", "-v", "/data", "-v", "named:/named", "-v", bind+":/bind",
		"base:2", "/bin/sh", "-c", "echo x > /data/written; echo y > /imgvol/written; echo z > /kept")
	c.mustRun(0, "commit", "v1", "snap:1")
	if cfg := imageConfig(t, c, "snap:1"); !reflect.DeepEqual(cfg.Volumes, map[string]any{"/imgvol": map[string]any{}, "/data": map[string]any{}}) {
		t.Errorf("commit of a container with -v /data, a named volume and a bind over an image's VOLUME: Volumes %v", cfg.Volumes)
	}
	c.mustRun(0, "run", "--name", "v2", "--network", "none", "snap:1", "/bin/sh", "-c", "true")
	var mounts []struct{ Type, Destination string }
	if err := json.Unmarshal([]byte(c.mustRun(0, "inspect", "-f", "{{json .Mounts}}", "v2").stdout), &mounts); err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, m := range mounts {
		if m.Type == "volume" {
			dsts = append(dsts, m.Destination)
		}
	}
	slices.Sort(dsts)
	if !slices.Equal(dsts, []string{"/data", "/imgvol"}) {
		t.Errorf("a container of the committed image: volumes at %q, want /data and /imgvol", dsts)
	}
	if r := c.mustRun(0, "run", "--rm", "--network", "none", "snap:1", "/bin/sh", "-c", "ls /data /imgvol; cat /kept"); r.stdout != "/data:\n\n/imgvol:\nseed\nz\n" {
		t.Errorf("the committed layer has what the container wrote in its volumes, or lacks its own file: %q", r.stdout)
	}
}

type imageConfigJSON struct {
	User         string
	ExposedPorts map[string]any
	Env          []string
	Cmd          []string
	Volumes      map[string]any
	WorkingDir   string
	Entrypoint   []string
	Labels       map[string]string
	StopSignal   string
}

func imageConfig(t *testing.T, c *cli, ref string) imageConfigJSON {
	t.Helper()
	var info []struct{ Config imageConfigJSON }
	if err := json.Unmarshal([]byte(c.mustRun(0, "image", "inspect", ref).stdout), &info); err != nil || len(info) != 1 {
		t.Fatalf("image inspect %s: %v", ref, err)
	}
	return info[0].Config
}

// TestCommitFreezesRunningContainer: commit reads the changes of a running
// container while its cgroup is frozen (thawed after), and --pause=false
// reads them with the container running.
func TestCommitFreezesRunningContainer(t *testing.T) {
	c := newCLI(t)
	c.mustRun(0, "import", busyboxDir(t, map[string]string{}), "base:1")
	t.Cleanup(func() { c.run("", "rm", "-f", "fz") })
	c.mustRun(0, "run", "-d", "--name", "fz", "--network", "none", "base:1", "/bin/sh", "-c", "exec sleep 1000")
	e, err := engine.New(c.root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Find("fz")
	if err != nil {
		t.Fatal(err)
	}
	for _, freeze := range []bool{true, false} {
		want := map[bool]string{true: "FROZEN", false: "THAWED"}[freeze]
		var during string
		if err := e.WithSnapshot("fz", freeze, func(engine.Snapshot) error {
			during = freezerState(t, r.CgroupPath)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if during != want {
			t.Errorf("freeze=%v: the container was %s while its changes were read, want %s", freeze, during, want)
		}
		if after := freezerState(t, r.CgroupPath); after != "THAWED" {
			t.Errorf("freeze=%v: the container is %s after", freeze, after)
		}
	}
}

// freezerState is FROZEN or THAWED, the state of the cgroup at path.
func freezerState(t *testing.T, path string) string {
	t.Helper()
	if testutil.CgroupV2() {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", path, "cgroup.freeze"))
		if err != nil {
			t.Fatal(err)
		}
		return map[bool]string{true: "FROZEN", false: "THAWED"}[strings.TrimSpace(string(b)) == "1"]
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", path, "freezer.state"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
