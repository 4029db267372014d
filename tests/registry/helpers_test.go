package registry

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/registry"
)

// server is an in-process registry (go-containerregistry's) on 127.0.0.1,
// behind hooks: blob fetch counts, a tampered blob, a connection dropped in
// the middle of a blob, basic or bearer authentication.
type server struct {
	*httptest.Server
	host string // 127.0.0.1:PORT

	mu      sync.Mutex
	fetches map[string]int // blob digest -> GETs
	puts    int            // blob uploads completed
	tamper  string         // blob digest served with one byte changed
	drop    string         // blob digest whose next GET stops half-way
	user    string         // basic auth (or the token server's, with bearer)
	pass    string
	bearer  bool
	swap    map[string]string // manifest digest -> the one served instead
	slow    string            // blob digest served a little at a time
}

type serverOpts struct {
	tls    *tls.Config
	user   string
	pass   string
	bearer bool
}

func newServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	s := &server{fetches: map[string]int{}, user: o.user, pass: o.pass, bearer: o.bearer}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(reg, w, r) })
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if o.tls != nil {
		s.TLS = o.tls
		s.StartTLS()
	} else {
		s.Start()
	}
	s.host = strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	t.Cleanup(s.Close)
	return s
}

const testToken = "token-for-tests"

func (s *server) serve(reg http.Handler, w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	if !s.authorized(r) {
		if s.bearer {
			scheme := "http"
			if s.TLS != nil {
				scheme = "https"
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s://%s/token",service="test"`, scheme, r.Host))
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		}
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	for from, to := range s.swap {
		if strings.HasSuffix(r.URL.Path, "/manifests/"+from) {
			r.URL.Path = strings.TrimSuffix(r.URL.Path, from) + to
		}
	}
	s.mu.Unlock()
	dig := ""
	if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 && r.Method == http.MethodGet {
		dig = r.URL.Path[i+len("/blobs/"):]
	}
	s.mu.Lock()
	if dig != "" {
		s.fetches[dig]++
	}
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
		s.puts++
	}
	tamper, drop, slow := dig != "" && dig == s.tamper, dig != "" && dig == s.drop, dig != "" && dig == s.slow
	if drop {
		s.drop = ""
	}
	s.mu.Unlock()
	if slow {
		serveSlowly(reg, w, r)
		return
	}
	if !tamper && !drop {
		reg.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(rec.Code)
	if tamper {
		body = bytes.Clone(body)
		body[len(body)/2] ^= 0xff
		w.Write(body)
		return
	}
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler) // the connection drops half-way
}

// serveSlowly sends a blob 4 kB every 20 ms, until the client goes.
func serveSlowly(reg http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(rec.Code)
	for len(body) > 0 && r.Context().Err() == nil {
		n := min(4096, len(body))
		w.Write(body[:n])
		w.(http.Flusher).Flush()
		body = body[n:]
		time.Sleep(20 * time.Millisecond)
	}
}

// authorized checks the request's credentials, if the server wants some.
func (s *server) authorized(r *http.Request) bool {
	if s.user == "" {
		return true
	}
	if s.bearer {
		return r.Header.Get("Authorization") == "Bearer "+testToken
	}
	u, p, ok := r.BasicAuth()
	return ok && u == s.user && p == s.pass
}

// token is the bearer token server: the basic credentials buy a token.
func (s *server) token(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || u != s.user || p != s.pass {
		http.Error(w, "bad credentials", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, testToken)
}

func (s *server) fetchCount(digest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[digest]
}

func (s *server) uploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

func (s *server) setTamper(digest string) { s.mu.Lock(); s.tamper = digest; s.mu.Unlock() }
func (s *server) setDrop(digest string)   { s.mu.Lock(); s.drop = digest; s.mu.Unlock() }
func (s *server) setSlow(digest string)   { s.mu.Lock(); s.slow = digest; s.mu.Unlock() }

// setTamperManifest serves manifest to instead of from.
func (s *server) setTamperManifest(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swap == nil {
		s.swap = map[string]string{}
	}
	s.swap[from] = to
}

// push writes img (or an index) to the server as repo:tag, with the
// server's own credentials, and returns the manifest digest.
func (s *server) push(t *testing.T, repo string, img any, client *http.Client) string {
	t.Helper()
	ref, err := name.ParseReference(s.host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithAuth(&authn.Basic{Username: s.user, Password: s.pass})}
	if s.user == "" {
		opts = []remote.Option{remote.WithAuth(authn.Anonymous)}
	}
	if client != nil {
		opts = append(opts, remote.WithTransport(client.Transport))
	}
	var d v1.Hash
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(ref, x, opts...)
		if err == nil {
			d, err = x.Digest()
		}
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, x, opts...)
		if err == nil {
			d, err = x.Digest()
		}
	}
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return d.String()
}

// layerOf is a layer tar of files (path -> content), compressed as asked.
func layerOf(t *testing.T, files map[string]string, comp compression.Compression, oci bool) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for p, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, c)
	}
	tw.Close()
	b := buf.Bytes()
	opts := []tarball.LayerOption{tarball.WithCompression(comp)}
	if oci {
		mt := types.OCILayer
		if comp == compression.ZStd {
			mt = types.OCILayerZStd
		}
		opts = append(opts, tarball.WithMediaType(mt))
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf is an image of layers for os/arch.
func imageOf(t *testing.T, arch string, oci bool, layers ...v1.Layer) v1.Image {
	t.Helper()
	base := empty.Image
	if oci {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// uniqueLayers are n small gzip layers with content of their own.
func uniqueLayers(t *testing.T, n int, tag string) []v1.Layer {
	var ls []v1.Layer
	for i := range n {
		ls = append(ls, layerOf(t, map[string]string{fmt.Sprintf("%s/%d", tag, i): strings.Repeat(tag, 5000+i)}, compression.GZip, false))
	}
	return ls
}

func digestOf(t *testing.T, l v1.Layer) string {
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// newStore is an empty image store in a temporary directory.
func newStore(t *testing.T) *image.Store {
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// config is a registry configuration with the given insecure registries
// and an empty certs.d (or certsDir).
func config(t *testing.T, certsDir string, insecure ...string) *registry.Config {
	if certsDir == "" {
		certsDir = t.TempDir()
	}
	c, err := registry.ParseConfig("test", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	c.CertsDir, c.InsecureRegistries = certsDir, insecure
	return c
}

// anonymous is a keychain without credentials.
var anonymous = authn.NewMultiKeychain()

// assertStoreClean checks the store has no image, no layer and nothing in
// tmp/.
func assertStoreClean(t *testing.T, s *image.Store) {
	t.Helper()
	imgs, err := s.List()
	if err != nil || len(imgs) != 0 {
		t.Errorf("store has images %v (err %v)", imgs, err)
	}
	for _, d := range []string{"layers", "images", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(s.Dir(), d))
		if len(ents) != 0 {
			t.Errorf("store's %s/ has %d entries left", d, len(ents))
		}
	}
}

// layerCount is the number of layers in the store.
func layerCount(t *testing.T, s *image.Store) int {
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "layers"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it.
func testCA(t *testing.T) *testCerts {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sdocker test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCerts{
		server:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// testCerts are a test CA and a server certificate it signed for
// 127.0.0.1: as a TLS config, and in PEM for servers that read files.
type testCerts struct {
	server                 *tls.Config
	caPEM, certPEM, keyPEM []byte
}

// caClient trusts the CA (for pushing test images over TLS).
func caClient(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}
