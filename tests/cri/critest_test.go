package cri

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// critestSubset is the part of critest that CI runs on both handlers: the
// specs that pass with runc here and take seconds each.
const critestSubset = `PodSandbox|Runtime info|Container runtime should support (basic operations|starting|stopping|removing|listing|execSync)|` +
	`Streaming|Container OOM|Multiple Containers`

// critestImages are the images critest pulls (paths under its registry
// prefix; critest 1.37 drops the tag when it adds the prefix, so all are
// :latest), all served by the suite's registry: the web servers as
// webImage, the rest as the busybox image.
var critestImages = map[string]string{
	"e2e-test-images/busybox":                   busyboxImage,
	"e2e-test-images/nonewprivs":                busyboxImage,
	"e2e-test-images/httpd":                     webImage,
	"e2e-test-images/nginx":                     webImage,
	"pause":                                     pauseImage,
	"k8s-staging-cri-tools/test-image-latest":   busyboxImage,
	"k8s-staging-cri-tools/test-image-tag":      busyboxImage,
	"k8s-staging-cri-tools/test-image-1":        busyboxImage,
	"k8s-staging-cri-tools/test-image-2":        busyboxImage,
	"k8s-staging-cri-tools/test-image-3":        busyboxImage,
	"k8s-staging-cri-tools/test-image-tags":     busyboxImage,
	"k8s-staging-cri-tools/hostnet-nginx-amd64": webImage,
}

// TestCritest runs critest (cri-tools' validation suite) on the sdocker
// and the runc handler of the same containerd. By default it runs
// critestSubset and every spec must pass; with CRITEST_FULL=1 it runs all
// of it and writes each handler's results (spec, state) as JSON into the
// directory CRITEST_REPORT_DIR, where scripts/critest.sh compares them.
func TestCritest(t *testing.T) {
	n := requireNode(t)
	critest, err := critestBinary()
	if err != nil {
		t.Fatal(err)
	}
	for path, src := range critestImages {
		if err := n.registry.push(n, src, path+":latest"); err != nil {
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

// critestSpec is one spec's result in critest's ginkgo JSON report.
type critestSpec struct {
	Name  string
	State string // passed, failed, skipped, pending, panicked, timedout
}

// critest runs the critest binary on handler and returns its specs.
func (n *criNode) critest(t *testing.T, bin, handler string, full bool) []critestSpec {
	report := filepath.Join(t.TempDir(), "report.json")
	args := []string{
		"-runtime-endpoint", "unix://" + n.sock, "-image-endpoint", "unix://" + n.sock,
		"-runtime-handler", handler, "-registry-prefix", n.registry.addr,
		"-config", filepath.Join(n.dir, "crictl.yaml"),
		"-ginkgo.no-color", "-ginkgo.json-report", report,
	}
	if !full {
		args = append(args, "-ginkgo.focus", critestSubset)
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
