package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Login checks user and password against server (HOST[:PORT], "" for the
// default registry), with basic or bearer-token authentication as the
// registry asks, and stores them in Docker's config.json (or the
// credential helper configured for server). It returns the server's name.
func Login(ctx context.Context, cfg *Config, server, user, pass string) (string, error) {
	reg, err := cfg.registry(server)
	if err != nil {
		return "", err
	}
	if user == "" || pass == "" {
		return "", errors.New("login: give a user name and a password")
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})
	rt, err := transport.NewWithContext(ctx, reg, auth, newTransport(cfg), nil)
	if err != nil {
		return "", fmt.Errorf("login %s: %w", reg.Name(), describe(err))
	}
	scheme := "https"
	if cfg.Insecure(reg.Name()) {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+reg.Name()+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("login %s: %w", reg.Name(), describe(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login %s: %w (status %d)", reg.Name(), ErrUnauthorized, resp.StatusCode)
	}
	k, err := loadKeychain()
	if err != nil {
		return "", err
	}
	key := authKey(reg.Name())
	if err := k.cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: pass, ServerAddress: key}); err != nil {
		return "", fmt.Errorf("store credentials for %s: %w", reg.Name(), err)
	}
	if err := k.cf.Save(); err != nil {
		return "", fmt.Errorf("save %s: %w", k.cf.Filename, err)
	}
	return reg.Name(), nil
}

// Logout removes the credentials stored for server; it reports false if
// there were none.
func Logout(cfg *Config, server string) (string, bool, error) {
	reg, err := cfg.registry(server)
	if err != nil {
		return "", false, err
	}
	k, err := loadKeychain()
	if err != nil {
		return "", false, err
	}
	key := authKey(reg.Name())
	if ac, err := k.cf.GetAuthConfig(key); err != nil || (ac.Username == "" && ac.Auth == "" && ac.IdentityToken == "") {
		return reg.Name(), false, nil
	}
	if err := k.cf.GetCredentialsStore(key).Erase(key); err != nil {
		return "", false, fmt.Errorf("remove credentials for %s: %w", reg.Name(), err)
	}
	if err := k.cf.Save(); err != nil {
		return "", false, fmt.Errorf("save %s: %w", k.cf.Filename, err)
	}
	return reg.Name(), true, nil
}

// registry is server as a registry ("" is the default one).
func (c *Config) registry(server string) (name.Registry, error) {
	if server == "" {
		server = c.DefaultRegistry
	}
	if err := checkHost(server); err != nil {
		return name.Registry{}, err
	}
	opts := []name.Option{name.StrictValidation}
	if c.Insecure(server) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(server, opts...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("registry %q: %w", server, err)
	}
	return reg, nil
}
