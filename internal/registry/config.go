// Package registry is sdocker's registry client: it pulls images into the
// image store and pushes them, through go-containerregistry's remote
// package, and logs in. Only cmd/sdocker-registry imports it: the sdocker
// binary runs that for pull, push, login, logout and `run --pull`, so its
// HTTP, TLS and registry libraries cost no other command's start anything.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// DefaultConfigPath is where the registry configuration is read from
// (SDOCKER_REGISTRY_CONFIG overrides it).
const DefaultConfigPath = "/etc/sdocker/registries.json"

// DefaultCertsDir holds a directory per registry (HOST:PORT) with its CA
// (ca.crt, any *.crt) and client certificate (*.cert with *.key), as
// Docker's /etc/docker/certs.d.
const DefaultCertsDir = "/etc/sdocker/certs.d"

// DockerHub is the registry short names expand to unless configured.
const DockerHub = "docker.io"

// Config is the registry configuration file:
//
//	{
//	  "default-registry": "docker.io",
//	  "mirrors": {"docker.io": ["mirror.example.com:5000"]},
//	  "insecure-registries": ["127.0.0.1:5000"],
//	  "certs-dir": "/etc/sdocker/certs.d",
//	  "max-concurrent-downloads": 3
//	}
type Config struct {
	// DefaultRegistry is the registry of a name without one (busybox,
	// user/app): docker.io (then library/ is added to a one-part name).
	DefaultRegistry string `json:"default-registry,omitempty"`
	// Mirrors are tried in order before the registry itself for pulls
	// (HOST[:PORT], keyed by the registry they mirror).
	Mirrors map[string][]string `json:"mirrors,omitempty"`
	// InsecureRegistries (HOST[:PORT]) may be reached over plain HTTP and
	// without TLS verification; no other may.
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	// CertsDir is the certs.d directory (default /etc/sdocker/certs.d).
	CertsDir string `json:"certs-dir,omitempty"`
	// MaxConcurrentDownloads is how many layers a pull fetches at once
	// (default 3).
	MaxConcurrentDownloads int `json:"max-concurrent-downloads,omitempty"`
}

// LoadConfig reads the configuration file at path (DefaultConfigPath if
// empty); a missing file is the defaults.
func LoadConfig(path string) (*Config, error) {
	if path == "" {
		path = DefaultConfigPath
		if p := os.Getenv("SDOCKER_REGISTRY_CONFIG"); p != "" {
			path = p
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return (&Config{}).withDefaults(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read registry config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig decodes and checks a configuration file's content.
func ParseConfig(path string, b []byte) (*Config, error) {
	var c Config
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	if d.More() {
		return nil, fmt.Errorf("registry config %s: data after the JSON object", path)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	return c.withDefaults(), nil
}

func (c *Config) check() error {
	if c.MaxConcurrentDownloads < 0 {
		return fmt.Errorf("max-concurrent-downloads %d: must be 1 or more", c.MaxConcurrentDownloads)
	}
	hosts := slices.Clone(c.InsecureRegistries)
	if c.DefaultRegistry != "" {
		hosts = append(hosts, c.DefaultRegistry)
	}
	for reg, ms := range c.Mirrors {
		hosts = append(hosts, reg)
		hosts = append(hosts, ms...)
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return err
		}
	}
	return nil
}

// checkHost accepts HOST or HOST:PORT, without a scheme or a path.
func checkHost(h string) error {
	switch {
	case h == "":
		return errors.New("empty registry host")
	case strings.Contains(h, "://"):
		return fmt.Errorf("registry %q: give HOST[:PORT] without a scheme", h)
	case strings.ContainsAny(h, "/ \t@"):
		return fmt.Errorf("registry %q: give HOST[:PORT] only", h)
	}
	return nil
}

func (c *Config) withDefaults() *Config {
	if c.DefaultRegistry == "" || c.DefaultRegistry == "index.docker.io" {
		c.DefaultRegistry = DockerHub
	}
	if c.CertsDir == "" {
		c.CertsDir = DefaultCertsDir
	}
	return c
}

// Insecure reports whether host (HOST[:PORT]) may be reached over plain
// HTTP.
func (c *Config) Insecure(host string) bool {
	return slices.Contains(c.InsecureRegistries, canonicalHost(host))
}

// mirrorsOf returns the mirrors configured for a registry.
func (c *Config) mirrorsOf(registry string) []string {
	return c.Mirrors[canonicalHost(registry)]
}

// canonicalHost names Docker Hub one way.
func canonicalHost(h string) string {
	if h == "index.docker.io" || h == "registry-1.docker.io" {
		return DockerHub
	}
	return h
}
