package cri

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/tests/testutil"
)

// criNode is the suite's containerd with its CRI plugin, and what it needs.
type criNode struct {
	dir          string // everything the node keeps: config, root, state, logs
	sock         string // containerd's gRPC socket (the CRI endpoint)
	cgroupParent string // the pods' cgroup parent (a cgroup path)
	sdockerRunc  string // the runtime under test
	crictlBin    string
	netnsBefore  map[string]bool // /var/run/netns before containerd ran
	cmd          *exec.Cmd
	done         chan error
	registry     *localRegistry
	images       map[string]v1.Image // the images imported, by name
}

// newNode builds the runtime, the tools and the images, writes the
// configs and starts containerd. A node returned with an error is torn
// down by the caller.
func newNode() (*criNode, error) {
	dir, err := os.MkdirTemp("", "sdocker-cri-")
	if err != nil {
		return nil, err
	}
	n := &criNode{
		dir:          dir,
		sock:         filepath.Join(dir, "containerd.sock"),
		cgroupParent: fmt.Sprintf("/sdcri-%d", os.Getpid()),
		netnsBefore:  dirSet("/var/run/netns"),
		images:       map[string]v1.Image{},
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return n, err
	}
	steps := []func() error{n.buildTools, n.startRegistry, n.writeConfigs, n.start, n.importImages}
	for _, step := range steps {
		if err := step(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// buildTools provides sdocker-runc (SDOCKER_RUNC or built from the module)
// and crictl (built from tools/cri/go.mod, cached by the go command).
func (n *criNode) buildTools() error {
	n.sdockerRunc = os.Getenv("SDOCKER_RUNC")
	if n.sdockerRunc == "" {
		bin := filepath.Join(n.dir, "bin")
		if err := testutil.BuildBinaries(bin, "./cmd/sdocker-runc", "./tests/cri/pause"); err != nil {
			return err
		}
		n.sdockerRunc = filepath.Join(bin, "sdocker-runc")
	} else if err := testutil.BuildBinaries(filepath.Join(n.dir, "bin"), "./tests/cri/pause"); err != nil {
		return err
	}
	var err error
	n.crictlBin, err = criTool("crictl")
	return err
}

// criTool returns the path of a tool pinned in tools/cri/go.mod, built on
// first use and cached by the go command.
func criTool(tool string) (string, error) {
	root, err := testutil.ModuleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "tool", "-modfile=tools/cri/go.mod", "-n", tool)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("go tool -modfile=tools/cri/go.mod -n %s: %w\n%s", tool, err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

// writeConfigs writes containerd's config.toml, the CNI network and
// crictl's config.
func (n *criNode) writeConfigs() error {
	runcBin, err := exec.LookPath("runc")
	if err != nil {
		return err
	}
	for _, sub := range []string{"root", "state", "opt", "cni", "ipam", "logs"} {
		if err := os.MkdirAll(filepath.Join(n.dir, sub), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"config.toml":           n.containerdConfig(runcBin),
		"cni/10-sdcri.conflist": cniConfig(filepath.Join(n.dir, "ipam")),
		"crictl.yaml": fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: %d\n",
			n.sock, n.sock, int(timeout(60*time.Second).Seconds())),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(n.dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig is a containerd 1.6 config (version 2) with the CRI
// plugin and the handlers "sdocker" and "runc".
func (n *criNode) containerdConfig(runcBin string) string {
	handler := func(name, bin string) string {
		return fmt.Sprintf(`
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s.options]
          BinaryName = %[2]q
          Root = %[3]q
`, name, bin, filepath.Join(n.dir, "runtime-root", name))
	}
	// restrict_oom_score_adj: containerd gives a sandbox an oom_score_adj
	// of -998, which needs CAP_SYS_RESOURCE to be written below the
	// caller's own; the root of a test machine may not have it (this one
	// does not), and then every sandbox fails, runc's too. With it the
	// value is clamped to containerd's own oom_score_adj.
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = "%[3]s.ttrpc"

[debug]
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[4]q
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %[5]q
    restrict_oom_score_adj = true
    disable_apparmor = true
    enable_selinux = false
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
%[6]s%[7]s
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."%[10]s"]
      endpoint = ["http://%[10]s"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %[8]q
      conf_dir = %[9]q
      max_conf_num = 1
`, filepath.Join(n.dir, "root"), filepath.Join(n.dir, "state"), n.sock, filepath.Join(n.dir, "opt"),
		pauseImage, handler("sdocker", n.sdockerRunc), handler("runc", runcBin),
		cniBinDir, filepath.Join(n.dir, "cni"), n.registry.addr)
}

// cniConfig is the pods' network: a bridge of the suite's own with
// host-local addresses (kept in ipamDir) and no masquerading; containerd
// adds the loopback plugin itself.
func cniConfig(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "sdcri",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]]}
  }]
}
`, bridgeName, ipamDir, subnet)
}

// start starts containerd and waits for its CRI service.
func (n *criNode) start() error {
	logf, err := os.Create(filepath.Join(n.dir, "containerd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINERD_") {
			env = append(env, kv)
		}
	}
	n.cmd = exec.Command("containerd", "--config", filepath.Join(n.dir, "config.toml"))
	n.cmd.Env = env
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmdMu.Lock()
	err = n.cmd.Start()
	if err == nil {
		daemonPid = n.cmd.Process.Pid
	}
	cmdMu.Unlock()
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	n.done = make(chan error, 1)
	go func() { n.done <- n.cmd.Wait() }()
	ok := waitFor(timeout(time.Minute), func() bool {
		select {
		case <-n.done:
			n.done <- fmt.Errorf("exited")
			return true
		default:
		}
		return n.crictl(timeout(10*time.Second), "info").err == nil
	})
	if r := n.crictl(timeout(10*time.Second), "info"); !ok || r.err != nil {
		return fmt.Errorf("containerd's CRI did not answer on %s: %s\n%s", n.sock, r, n.log())
	}
	return nil
}

// log is containerd's log.
func (n *criNode) log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "containerd.log"))
	return string(b)
}

// importImages writes the pause and busybox images as image tars and
// imports them into containerd's k8s.io namespace.
func (n *criNode) importImages() error {
	busybox, _ := exec.LookPath("busybox")
	if err := testutil.CheckStatic(busybox); err != nil {
		return fmt.Errorf("%s (apt-get install busybox-static): %w", busybox, err)
	}
	bbDir := filepath.Join(n.dir, "busybox-rootfs")
	if err := testutil.MakeBusyboxRootfs(busybox, bbDir, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}); err != nil {
		return err
	}
	pauseDir := filepath.Join(n.dir, "pause-rootfs")
	if err := os.MkdirAll(pauseDir, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(n.dir, "bin", "pause"), filepath.Join(pauseDir, "pause")); err != nil {
		return err
	}
	images := []struct {
		ref, dir string
		cfg      v1.Config
	}{
		{pauseImage, pauseDir, v1.Config{Entrypoint: []string{"/pause"}}},
		{busyboxImage, bbDir, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, WorkingDir: "/"}},
		{webImage, bbDir, v1.Config{Cmd: []string{"sh", "-c", webServer}, Env: []string{"PATH=/bin"}, WorkingDir: "/"}},
	}
	for _, im := range images {
		img, err := buildImage(im.dir, im.cfg)
		if err != nil {
			return fmt.Errorf("image %s: %w", im.ref, err)
		}
		n.images[im.ref] = img
	}
	return n.importImageSet(n.images, filepath.Join(n.dir, "images.tar"))
}

// buildImage makes the rootfs dir a one-layer image with config cfg.
func buildImage(dir string, cfg v1.Config) (v1.Image, error) {
	var layerTar bytes.Buffer
	if err := image.WriteDirTar(&layerTar, dir); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Config = runtime.GOARCH, "linux", cfg
	return mutate.ConfigFile(img, cf)
}

// writeImageTar writes the images, by name, as a docker-archive tar at out.
func writeImageTar(images map[string]v1.Image, out string) error {
	refs := map[name.Reference]v1.Image{}
	for ref, img := range images {
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	return tarball.MultiRefWriteToFile(out, refs)
}

// importImageSet imports the images, by name, into containerd's k8s.io
// namespace.
func (n *criNode) importImageSet(images map[string]v1.Image, tarPath string) error {
	if err := writeImageTar(images, tarPath); err != nil {
		return err
	}
	if r := n.ctrImages("import", tarPath); r.err != nil {
		return fmt.Errorf("import %s: %s", tarPath, r)
	}
	return nil
}

// crictl runs crictl against the node.
func (n *criNode) crictl(d time.Duration, args ...string) *result {
	r := run(d, n.crictlBin, append([]string{"--config", filepath.Join(n.dir, "crictl.yaml")}, args...)...)
	r.cmdline = "crictl " + strings.Join(args, " ")
	return r
}

// mustCrictl runs crictl and fails t unless it succeeds; it returns its
// trimmed stdout.
func (n *criNode) mustCrictl(t *testing.T, args ...string) string {
	t.Helper()
	r := n.crictl(timeout(2*time.Minute), args...)
	if r.err != nil {
		t.Fatalf("%s", r)
	}
	return strings.TrimSpace(r.stdout)
}

// teardown removes every pod, stops containerd and its shims, and removes
// what they left: mounts, cgroups, the bridge, network namespaces, the dir.
func (n *criNode) teardown() error {
	var errs []string
	if n.cmd != nil && n.cmd.Process != nil {
		if r := n.crictl(timeout(time.Minute), "rmp", "-a", "-f"); r.err != nil {
			errs = append(errs, r.String())
		}
		_ = n.cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(timeout(20 * time.Second)):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
	killShims(n.sock)
	if n.registry != nil {
		n.registry.close()
	}
	testutil.UnmountAll(n.dir)
	for _, p := range testutil.DirNames("/var/run/netns") {
		if !n.netnsBefore[p] && strings.HasPrefix(p, "cni-") {
			_ = unix.Unmount(filepath.Join("/var/run/netns", p), unix.MNT_DETACH)
			_ = os.Remove(filepath.Join("/var/run/netns", p))
		}
	}
	if err := exec.Command("ip", "link", "show", bridgeName).Run(); err == nil {
		if out, err := exec.Command("ip", "link", "del", bridgeName).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("ip link del %s: %v: %s", bridgeName, err, out))
		}
	}
	if left := testutil.RemoveCgroupTree(n.cgroupParent); len(left) > 0 {
		errs = append(errs, fmt.Sprintf("cgroups left: %q", left))
	}
	if err := testutil.RemoveWorkDir(n.dir); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// killShims SIGKILLs the shims that serve the containerd on sock.
func killShims(sock string) {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cl, []byte("containerd-shim")) || !bytes.Contains(cl, []byte(sock)) {
			continue
		}
		_ = unix.Kill(pid, unix.SIGKILL)
		pids = append(pids, pid)
	}
	waitFor(10*time.Second, func() bool {
		for _, pid := range pids {
			if testutil.ProcessRunning(pid) {
				return false
			}
		}
		return true
	})
	reapOrphans()
}

// dirSet is the set of names in dir.
func dirSet(dir string) map[string]bool {
	m := map[string]bool{}
	for _, name := range testutil.DirNames(dir) {
		m[name] = true
	}
	return m
}

// jsonField decodes the crictl JSON output s into v.
func jsonField(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}
