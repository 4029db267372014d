package registry

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// distribution is Debian's docker-registry (the distribution registry) on
// 127.0.0.1, with a configuration and storage of its own.
type distribution struct {
	host string
	dir  string
}

// startDistribution starts docker-registry; with certs it serves TLS and
// asks for user:pass (htpasswd).
func startDistribution(t *testing.T, certs *testCerts, user, pass string) *distribution {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("needs docker-registry (Debian package docker-registry)")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &distribution{host: l.Addr().String(), dir: dir}
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), d.host)
	scheme := "http"
	if certs != nil {
		scheme = "https"
		writeTestFile(t, filepath.Join(dir, "cert.pem"), certs.certPEM)
		writeTestFile(t, filepath.Join(dir, "key.pem"), certs.keyPEM)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
		writeTestFile(t, filepath.Join(dir, "htpasswd"), []byte(user+":"+bcryptHash(t, pass)+"\n"))
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	writeTestFile(t, filepath.Join(dir, "config.yml"), []byte(cfg))
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client := http.Client{Timeout: time.Second}
	if certs != nil {
		client.Transport = caClient(certs.caPEM).Transport
	}
	answered := func() bool {
		resp, err := client.Get(scheme + "://" + d.host + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	if !testutil.Poll(20*time.Second, answered) {
		t.Fatalf("docker-registry did not answer on %s:\n%s", d.host, out.String())
	}
	return d
}

func writeTestFile(t *testing.T, p string, b []byte) {
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// bcryptHash hashes a password for htpasswd, with the system's crypt(3), at
// bcrypt's lowest cost: the registry checks it on every request.
func bcryptHash(t *testing.T, pass string) string {
	out, err := exec.Command("python3", "-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))", pass).Output()
	if err != nil || !strings.HasPrefix(string(out), "$2") {
		t.Skipf("needs python3 with bcrypt crypt(3) for htpasswd: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// skopeo runs skopeo; it skips the test without it.
func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("needs skopeo")
	}
	out, errOut, code, err := testutil.RunCommand(exec.Command(bin, args...), testutil.Timeout(60*time.Second))
	if err != nil || code != 0 {
		t.Fatalf("skopeo %s: exit %d, %v\n%s%s", strings.Join(args, " "), code, err, out, errOut)
	}
	return out
}

func TestDistributionInsecure(t *testing.T) {
	reg := startDistribution(t, nil, "", "")
	c := newCLI(t, reg.host)
	src := t.TempDir()
	writeTestFile(t, filepath.Join(src, "f"), []byte("to distribution"))
	c.mustRun(0, "import", src, "dist:1")
	id := strings.TrimSpace(c.mustRun(0, "images", "-q").stdout)
	ref := reg.host + "/team/dist:1"
	c.mustRun(0, "tag", "dist:1", ref)
	r := c.mustRun(0, "push", ref)
	digest := strings.Fields(r.stdout)[2]

	// skopeo reads what sdocker pushed.
	var info struct{ Digest string }
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--tls-verify=false", "docker://"+ref)), &info); err != nil || info.Digest != digest {
		t.Errorf("skopeo inspect: digest %q (%v), sdocker pushed %s", info.Digest, err, digest)
	}
	// podman pulls it: the same image.
	pdir, err := os.MkdirTemp("", "pm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pdir) })
	podman(t, pdir, "pull", "--tls-verify=false", ref)
	if out := podman(t, pdir, "images", "--format", "{{.ID}}"); strings.TrimSpace(out) != id {
		t.Errorf("podman pulled %q, want %s", out, id)
	}
	// What skopeo copies in, sdocker pulls.
	archive := filepath.Join(c.root, "dist.tar")
	c.mustRun(0, "save", "-o", archive, "dist:1")
	other := reg.host + "/team/copied:2"
	skopeo(t, "copy", "--dest-tls-verify=false", "docker-archive:"+archive, "docker://"+other)
	c2 := newCLI(t, reg.host)
	c2.mustRun(0, "pull", other)
	if got := strings.TrimSpace(c2.mustRun(0, "images", "-q").stdout); got != id {
		t.Errorf("pulled what skopeo copied: %q, want %s", got, id)
	}
}

func TestDistributionTLSAndPassword(t *testing.T) {
	certs := testCA(t)
	reg := startDistribution(t, certs, "dave", "pw-dave")
	c := newCLI(t)
	if err := os.MkdirAll(filepath.Join(c.root, "certs.d", reg.host), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(c.root, "certs.d", reg.host, "ca.crt"), certs.caPEM)
	src := t.TempDir()
	writeTestFile(t, filepath.Join(src, "f"), []byte("secret"))
	c.mustRun(0, "import", src, "s:1")
	ref := reg.host + "/s:1"
	c.mustRun(0, "tag", "s:1", ref)

	if r := c.run("", "push", ref); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("push before login: %s", r)
	}
	if r := c.run("nope\n", "login", "-u", "dave", "--password-stdin", reg.host); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("login with a wrong password: %s", r)
	}
	c.run("pw-dave\n", "login", "-u", "dave", "--password-stdin", reg.host)
	c.mustRun(0, "push", ref)
	certDir := filepath.Join(c.root, "certs.d", reg.host)
	skopeo(t, "inspect", "--cert-dir", certDir, "--creds", "dave:pw-dave", "docker://"+ref)
	c.mustRun(0, "rmi", ref, "s:1")
	c.mustRun(0, "pull", ref)
}
