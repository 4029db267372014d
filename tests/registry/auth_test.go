package registry

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sdocker/sdocker/internal/registry"
)

// dockerConfig writes a Docker config.json with credentials for host in a
// temporary DOCKER_CONFIG.
func dockerConfig(t *testing.T, host, user, pass string) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	cf := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

func TestPullAuth(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		t.Run(fmt.Sprintf("bearer=%v", bearer), func(t *testing.T) {
			srv := newServer(t, serverOpts{user: "alice", pass: "s3cret", bearer: bearer})
			cfg := config(t, "", srv.host)
			srv.push(t, "private:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "p")...), nil)
			ref := srv.host + "/private:1"
			s := newStore(t)

			// No credentials, then a wrong password: refused, nothing stored.
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			if _, err := registry.Pull(t.Context(), s, ref, registry.Options{Config: cfg}); !errors.Is(err, registry.ErrUnauthorized) {
				t.Errorf("pull without credentials: %v", err)
			}
			dockerConfig(t, srv.host, "alice", "wrong")
			if _, err := registry.Pull(t.Context(), s, ref, registry.Options{Config: cfg}); !errors.Is(err, registry.ErrUnauthorized) {
				t.Errorf("pull with a wrong password: %v", err)
			}
			assertStoreClean(t, s)

			dockerConfig(t, srv.host, "alice", "s3cret")
			if _, err := registry.Pull(t.Context(), s, ref, registry.Options{Config: cfg}); err != nil {
				t.Errorf("pull with credentials: %v", err)
			}
		})
	}
}

func TestPullTLS(t *testing.T) {
	certs := testCA(t)
	caPEM := certs.caPEM
	srv := newServer(t, serverOpts{tls: certs.server})
	srv.push(t, "secure:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "s")...), caClient(caPEM))
	ref := srv.host + "/secure:1"
	s := newStore(t)

	// The CA is unknown: refused (and never retried over plain HTTP).
	certsDir := t.TempDir()
	if _, err := pull(t, s, ref, registry.Options{Config: config(t, certsDir)}); err == nil || !contains(err, "certificate") {
		t.Errorf("pull with an unknown CA: %v", err)
	}
	assertStoreClean(t, s)

	// The CA in certs.d/HOST:PORT/ca.crt: accepted.
	if err := os.MkdirAll(filepath.Join(certsDir, srv.host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certsDir, srv.host, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pull(t, s, ref, registry.Options{Config: config(t, certsDir)}); err != nil {
		t.Errorf("pull with the CA in certs.d: %v", err)
	}
}

func TestPlainHTTPOnlyForInsecure(t *testing.T) {
	srv := newServer(t, serverOpts{})
	srv.push(t, "plain:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "h")...), nil)
	s := newStore(t)
	_, err := pull(t, s, srv.host+"/plain:1", registry.Options{Config: config(t, "")})
	if !errors.Is(err, registry.ErrPlainHTTP) {
		t.Errorf("plain HTTP to a registry not marked insecure: %v", err)
	}
	assertStoreClean(t, s)
	if _, err := pull(t, s, srv.host+"/plain:1", registry.Options{Config: config(t, "", srv.host)}); err != nil {
		t.Errorf("plain HTTP to an insecure registry: %v", err)
	}
}

func TestPullFromMirror(t *testing.T) {
	mirror := newServer(t, serverOpts{})
	mirror.push(t, "library/app:1", imageOf(t, "amd64", false, uniqueLayers(t, 2, "m")...), nil)
	// The mirrored registry itself is not reachable (a closed port).
	cfg := config(t, "", mirror.host, "127.0.0.1:1")
	cfg.Mirrors = map[string][]string{"127.0.0.1:1": {mirror.host}}
	s := newStore(t)
	res, err := pull(t, s, "127.0.0.1:1/library/app:1", registry.Options{Config: cfg, Platform: amd64})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Image.Names) != 1 || res.Image.Names[0] != "127.0.0.1:1/library/app:1" {
		t.Errorf("names %v: want the registry's name, not the mirror's", res.Image.Names)
	}
}

// TestPullCredentialHelper: config.json's credHelpers names the helper
// that gives a registry's credentials (docker-credential-NAME get).
func TestPullCredentialHelper(t *testing.T) {
	srv := newServer(t, serverOpts{user: "erin", pass: "from-helper"})
	srv.push(t, "helped:1", imageOf(t, "amd64", false, uniqueLayers(t, 1, "c")...), nil)
	bin := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n" +
		"printf '{\"ServerURL\":\"%s\",\"Username\":\"erin\",\"Secret\":\"from-helper\"}' \"$server\"\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-sdtest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	dir := t.TempDir()
	cf := fmt.Sprintf(`{"credHelpers": {%q: "sdtest"}}`, srv.host)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	s := newStore(t)
	if _, err := registry.Pull(t.Context(), s, srv.host+"/helped:1", registry.Options{Config: config(t, "", srv.host)}); err != nil {
		t.Errorf("pull with a credential helper: %v", err)
	}
}

// TestPullDefaultRegistry: a short name is on the configured default
// registry, and the store names the image without it.
func TestPullDefaultRegistry(t *testing.T) {
	srv := newServer(t, serverOpts{})
	srv.push(t, "team/app:3", imageOf(t, "amd64", false, uniqueLayers(t, 1, "r")...), nil)
	cfg := config(t, "", srv.host)
	cfg.DefaultRegistry = srv.host
	s := newStore(t)
	res, err := pull(t, s, "team/app:3", registry.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref.Name() != srv.host+"/team/app:3" || len(res.Image.Names) != 1 || res.Image.Names[0] != "team/app:3" {
		t.Errorf("pulled %s as %v", res.Ref.Name(), res.Image.Names)
	}
}
