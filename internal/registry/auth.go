package registry

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// keychain finds credentials in Docker's config.json ($DOCKER_CONFIG or
// ~/.docker): its auths, or the credential helper configured for the
// registry (credHelpers, credsStore).
type keychain struct{ cf *configfile.ConfigFile }

// loadKeychain reads Docker's config.json (none is no credentials).
func loadKeychain() (*keychain, error) {
	dir := configDir()
	cf, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return &keychain{cf: cf}, nil
}

// configDir is Docker's configuration directory: $DOCKER_CONFIG, else
// ~/.docker (read each time: config.Dir keeps the first answer).
func configDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".docker")
}

// authKey is how config.json names a registry: Docker Hub by its old URL.
func authKey(registry string) string {
	if canonicalHost(registry) == DockerHub || registry == name.DefaultRegistry {
		return authn.DefaultAuthKey
	}
	return registry
}

func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	ac, err := k.cf.GetAuthConfig(authKey(r.RegistryStr()))
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", r.RegistryStr(), err)
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}), nil
}
