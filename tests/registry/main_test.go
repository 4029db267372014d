package registry

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// The command-line tests run the sdocker binary as root; the client tests
// need neither.
var (
	cliSkip    string
	workDir    string
	sdockerBin string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if err := testutil.SetSlowFactor("SDOCKER_TEST_SLOW", 1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if cliSkip = testutil.RootSkipReason("the sdocker command tests need root"); cliSkip != "" {
		return m.Run()
	}
	if err := testutil.StartSuite(1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	code, err := buildAndRun(m)
	code = testutil.Finish("tests/registry", code, err)
	testutil.ReapAll()
	return code
}

func buildAndRun(m *testing.M) (code int, err error) {
	if workDir, err = os.MkdirTemp("", "sdocker-registry-"); err != nil {
		return 2, err
	}
	defer func() { err = errors.Join(err, testutil.RemoveWorkDir(workDir)) }()
	binDir := os.Getenv("SDOCKER_TEST_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(workDir, "bin")
		pkgs := []string{"./cmd/sdocker", "./cmd/sdocker-registry", "./cmd/sdocker-monitor"}
		if testutil.HasPackage("./cmd/sdocker-init") {
			pkgs = append(pkgs, "./cmd/sdocker-init")
		}
		if err := testutil.BuildBinaries(binDir, pkgs...); err != nil {
			return 2, err
		}
	}
	sdockerBin = filepath.Join(binDir, "sdocker")
	return m.Run(), nil
}

// cli runs sdocker with a store, a registry config and a Docker config of
// its own.
type cli struct {
	t            *testing.T
	root, config string
	dockerConfig string
}

func newCLI(t *testing.T, insecure ...string) *cli {
	t.Helper()
	if cliSkip != "" {
		t.Skip(cliSkip)
	}
	root, err := os.MkdirTemp(workDir, "root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	c := &cli{t: t, root: root, config: filepath.Join(root, "registries.json"), dockerConfig: filepath.Join(root, "docker")}
	cfg := fmt.Sprintf(`{"insecure-registries": [%s], "certs-dir": %q}`, quoteList(insecure), filepath.Join(root, "certs.d"))
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func quoteList(l []string) string {
	var q []string
	for _, s := range l {
		q = append(q, fmt.Sprintf("%q", s))
	}
	return strings.Join(q, ", ")
}

func (c *cli) command(args ...string) *exec.Cmd {
	cmd := exec.Command(sdockerBin, args...)
	cmd.Env = append(testutil.SdockerEnv(c.root), "SDOCKER_REGISTRY_CONFIG="+c.config, "DOCKER_CONFIG="+c.dockerConfig)
	return cmd
}

type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("sdocker %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs sdocker to its end (killed after a generous bound).
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	cmd := c.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, errOut, code, err := testutil.RunCommand(cmd, testutil.Timeout(60*time.Second))
	if err != nil {
		c.t.Fatalf("sdocker %s: %v", strings.Join(args, " "), err)
	}
	return result{args: args, stdout: out, stderr: errOut, code: code}
}

func (c *cli) mustRun(code int, args ...string) result {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != code {
		c.t.Fatalf("want exit %d: %s", code, r)
	}
	return r
}
