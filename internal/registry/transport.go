package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ErrPlainHTTP is matched by the error of a plain HTTP request to a registry
// not configured as insecure.
var ErrPlainHTTP = errors.New("plain HTTP is refused for a registry not listed in insecure-registries")

// hostTransport is every registry request's way out: plain HTTP only to an
// insecure registry, and TLS with the CAs and client certificates of the
// host's certs.d directory.
type hostTransport struct {
	cfg   *Config
	base  *http.Transport
	mu    sync.Mutex
	hosts map[string]http.RoundTripper
}

func newTransport(cfg *Config) *hostTransport {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil // registries are reached directly, as configured
	return &hostTransport{cfg: cfg, base: base, hosts: map[string]http.RoundTripper{}}
}

func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "http" && !t.cfg.Insecure(host) {
		return nil, fmt.Errorf("%s: %w", host, ErrPlainHTTP)
	}
	rt, err := t.forHost(host)
	if err != nil {
		return nil, err
	}
	return rt.RoundTrip(req)
}

// forHost returns the round tripper for host, made on first use.
func (t *hostTransport) forHost(host string) (http.RoundTripper, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.hosts[host]; ok {
		return rt, nil
	}
	tc, err := t.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = t.base
	if tc != nil {
		tr := t.base.Clone()
		tr.TLSClientConfig = tc
		rt = tr
	}
	t.hosts[host] = rt
	return rt, nil
}

// tlsConfig is host's TLS setup: nil for the defaults; the system's CAs plus
// certs.d/HOST/*.crt, client certificates certs.d/HOST/*.cert with *.key,
// and no verification for an insecure registry.
func (t *hostTransport) tlsConfig(host string) (*tls.Config, error) {
	dir := filepath.Join(t.cfg.CertsDir, host)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	insecure := t.cfg.Insecure(host)
	if len(ents) == 0 && !insecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // insecure-registries asks for it
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			if err := addCA(tc, p); err != nil {
				return nil, err
			}
		case strings.HasSuffix(e.Name(), ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s: %w", p, err)
			}
			tc.Certificates = append(tc.Certificates, pair)
		}
	}
	return tc, nil
}

func addCA(tc *tls.Config, path string) error {
	if tc.RootCAs == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		tc.RootCAs = pool
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read CA %s: %w", path, err)
	}
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA %s: no PEM certificate in it", path)
	}
	return nil
}
