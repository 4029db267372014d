package cri

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/sdocker/sdocker/tests/testutil"
)

// critestSubset is the part of critest that CI runs on both handlers: the
// specs that pass with runc here and take seconds each.
const critestSubset = `PodSandbox|Runtime info|Container runtime should support (basic operations|starting|stopping|removing|listing|execSync)|` +
	`Streaming|Container OOM|Multiple Containers`

// critestSubsetSkip are the specs of the subset that fail with runc too
// (see the README's list).
const critestSubsetSkip = `portforward in host network|execSync with timeout|Idempotence`

// critestImages are the images critest asks for, by the names its specs
// use, each made from one of ours: the web servers from webImage, the rest
// from the busybox image. critest pulls them from its registry prefix (the
// suite's registry) with the tag dropped (critest 1.37 loses it when it
// adds the prefix) but creates containers with the names as they are here:
// both are made.
var critestImages = map[string]string{
	"registry.k8s.io/e2e-test-images/busybox:1.29-2":                           busyboxImage,
	"registry.k8s.io/e2e-test-images/nonewprivs:1.3":                           busyboxImage,
	"registry.k8s.io/e2e-test-images/httpd:2.4.39-4":                           webImage,
	"registry.k8s.io/e2e-test-images/nginx:1.14-2":                             webImage,
	"registry.k8s.io/pause:3.9":                                                pauseImage,
	"gcr.io/k8s-staging-cri-tools/test-image-latest:latest":                    busyboxImage,
	"gcr.io/k8s-staging-cri-tools/test-image-tag:test":                         busyboxImage,
	"gcr.io/k8s-staging-cri-tools/test-image-tag:all":                          busyboxImage,
	"gcr.io/k8s-staging-cri-tools/test-image-1:latest":                         busyboxImage,
	"gcr.io/k8s-staging-cri-tools/test-image-2:latest":                         busyboxImage,
	"gcr.io/k8s-staging-cri-tools/test-image-3:latest":                         busyboxImage,
	"gcr.io/k8s-staging-cri-tools/test-image-tags:1":                           busyboxImage,
	"gcr.io/k8s-staging-cri-tools/hostnet-nginx-" + runtime.GOARCH + ":latest": webImage,
}

// TestCritest runs critest (cri-tools' validation suite) on the sdocker
// and the runc handler of the same containerd. By default it runs
// critestSubset and every spec must pass; with CRITEST_FULL=1 it runs all
// of it and writes each handler's results (spec, state) as JSON into the
// directory CRITEST_REPORT_DIR, where scripts/critest.sh compares them.
// CRITEST_FOCUS (a ginkgo focus regexp) runs other specs instead.
func TestCritest(t *testing.T) {
	n := requireNode(t)
	critest, err := critestBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Each name is an image of its own (a label tells them apart): critest
	// removes some, and a removal takes every name of the image.
	images := map[string]v1.Image{}
	for ref, src := range critestImages {
		img, err := withLabel(n.images[src], "org.sdocker.critest.ref", ref)
		if err != nil {
			t.Fatal(err)
		}
		images[ref] = img
	}
	if err := n.importImageSet(images, filepath.Join(t.TempDir(), "critest-images.tar")); err != nil {
		t.Fatal(err)
	}
	for ref := range critestImages {
		path := ref[strings.Index(ref, "/")+1 : strings.LastIndex(ref, ":")]
		if err := n.registry.push(n, ref, path+":latest"); err != nil {
			t.Fatal(err)
		}
	}
	full := os.Getenv("CRITEST_FULL") == "1"
	results := map[string][]critestSpec{}
	for _, handler := range []string{"sdocker", "runc"} {
		t.Run(handler, func(t *testing.T) {
			specs := n.critest(t, critest, handler, full)
			var failed []string
			for _, s := range specs {
				if s.State == "failed" || s.State == "panicked" || s.State == "timedout" {
					failed = append(failed, s.Name)
				}
			}
			t.Logf("critest on %s: %d specs run, %d failed", handler, countRun(specs), len(failed))
			if full {
				results[handler] = specs
				return
			}
			if countRun(specs) == 0 {
				t.Fatalf("critest ran no spec of the subset")
			}
			for _, f := range failed {
				t.Errorf("critest failed on %s: %s", handler, f)
			}
		})
	}
	if full {
		writeReport(t, results)
	}
}

// withLabel is img with the label key=value added to its config.
func withLabel(img v1.Image, key, value string) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := *cf.Config.DeepCopy()
	labels := map[string]string{key: value}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	cfg.Labels = labels
	return mutate.Config(img, cfg)
}

// critestSpec is one spec's result in critest's ginkgo JSON report.
type critestSpec struct {
	Name  string
	State string // passed, failed, skipped, pending, panicked, timedout
}

// critest runs the critest binary on handler and returns its specs.
func (n *criNode) critest(t *testing.T, bin, handler string, full bool) []critestSpec {
	report := filepath.Join(t.TempDir(), "report.json")
	// critest makes its pods' log directories (podLogTest*) and its mount
	// propagation specs' mounts (test*/mnt) in TMPDIR and leaves some
	// behind: they go with the test's own, the mounts first.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Cleanup(func() { testutil.UnmountAll(tmp) })
	args := []string{
		"-runtime-endpoint", "unix://" + n.sock, "-image-endpoint", "unix://" + n.sock,
		"-runtime-handler", handler, "-registry-prefix", n.registry.addr,
		"-config", filepath.Join(n.dir, "crictl.yaml"),
		"-ginkgo.no-color", "-ginkgo.json-report", report,
	}
	if focus := os.Getenv("CRITEST_FOCUS"); focus != "" {
		args = append(args, "-ginkgo.focus", focus)
	} else if !full {
		args = append(args, "-ginkgo.focus", critestSubset, "-ginkgo.skip", critestSubsetSkip)
	}
	d := timeout(10 * time.Minute)
	if full {
		d = timeout(90 * time.Minute)
	}
	r := run(d, bin, args...)
	if dir := os.Getenv("CRITEST_REPORT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, handler+".log"), []byte(r.stdout), 0o644); err != nil {
			t.Error(err)
		}
	}
	specs, err := readGinkgoReport(report)
	if err != nil {
		t.Fatalf("critest report: %v\n%s\n%s", err, r, tail(r.stdout, 4000))
	}
	if r.err != nil {
		t.Logf("critest on %s: %v\n%s", handler, r.err, tail(r.stdout, 4000))
	}
	return specs
}

func countRun(specs []critestSpec) int {
	c := 0
	for _, s := range specs {
		if s.State != "skipped" && s.State != "pending" {
			c++
		}
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// readGinkgoReport reads the specs of a ginkgo JSON report.
func readGinkgoReport(path string) ([]critestSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reports []struct {
		SpecReports []struct {
			ContainerHierarchyTexts []string
			LeafNodeType            string
			LeafNodeText            string
			State                   string
		}
	}
	if err := json.Unmarshal(b, &reports); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	var out []critestSpec
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType != "It" {
				continue
			}
			name := strings.Join(append(s.ContainerHierarchyTexts, s.LeafNodeText), " ")
			out = append(out, critestSpec{Name: name, State: s.State})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// writeReport writes the results of the handlers side by side, as
// markdown, to CRITEST_REPORT_DIR/critest.md (and to the test log): the
// counts, then every spec that failed on one of them.
func writeReport(t *testing.T, results map[string][]critestSpec) {
	handlers := []string{"sdocker", "runc"}
	state := map[string]map[string]string{}
	seen := map[string]bool{}
	var names []string
	for _, h := range handlers {
		state[h] = map[string]string{}
		for _, s := range results[h] {
			if !seen[s.Name] {
				seen[s.Name] = true
				names = append(names, s.Name)
			}
			state[h][s.Name] = s.State
		}
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "critest %s, containerd %s, %s\n\n", critestVersion(), containerdVersion(), time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| handler | passed | failed | skipped |\n|---|---|---|---|\n")
	for _, h := range handlers {
		c := map[string]int{}
		for _, s := range results[h] {
			c[s.State]++
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", h, c["passed"], c["failed"]+c["panicked"]+c["timedout"], c["skipped"]+c["pending"])
	}
	b.WriteString("\n| spec | sdocker | runc |\n|---|---|---|\n")
	for _, name := range names {
		sd, rc := state["sdocker"][name], state["runc"][name]
		if sd != rc || (sd != "passed" && sd != "skipped" && sd != "pending") {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", name, sd, rc)
		}
	}
	t.Logf("critest results:\n%s", b.String())
	if dir := os.Getenv("CRITEST_REPORT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "critest.md"), []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// critestVersion is the cri-tools version pinned in tools/cri/go.mod.
func critestVersion() string {
	root, _ := testutil.ModuleRoot()
	b, _ := os.ReadFile(filepath.Join(root, "tools", "cri", "go.mod"))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "sigs.k8s.io/cri-tools" {
			return f[1]
		}
	}
	return "?"
}

// containerdVersion is what `containerd --version` says of its version.
func containerdVersion() string {
	out, _ := exec.Command("containerd", "--version").Output()
	if f := strings.Fields(string(out)); len(f) >= 3 {
		return f[2]
	}
	return "?"
}

// critestBinary builds critest (a test binary of cri-tools, pinned in
// tools/cri/go.mod) once per version into the user's cache directory.
func critestBinary() (string, error) {
	root, err := testutil.ModuleRoot()
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(root, "tools", "cri", "go.sum"))
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(sum)
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "sdocker", "critest-"+hex.EncodeToString(h[:8]))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "test", "-c", "-modfile=tools/cri/go.mod", "-o", bin+".tmp", "sigs.k8s.io/cri-tools/cmd/critest")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build critest: %w\n%s", err, out)
	}
	return bin, os.Rename(bin+".tmp", bin)
}
