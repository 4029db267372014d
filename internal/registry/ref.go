package registry

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Ref is an image reference expanded as Docker expands it, and the name the
// local store gives the image.
type Ref struct {
	Remote name.Reference // e.g. index.docker.io/library/busybox:latest
	// Local is the store's name: "busybox:latest", "host:5000/app:1", or
	// "" for a reference by digest. The default registry (and Docker
	// Hub's library/) is left out, as `docker images` shows it.
	Local string
	// LocalRepo is Local without its tag: "busybox", "host:5000/app".
	LocalRepo string
}

// Name is the full reference as Docker shows it: docker.io/library/busybox:latest.
func (r Ref) Name() string { return displayName(r.Remote) }

func displayName(r name.Reference) string {
	n := r.Name()
	if rest, ok := strings.CutPrefix(n, name.DefaultRegistry+"/"); ok {
		return DockerHub + "/" + rest
	}
	return n
}

// ParseRef expands a reference: NAME[:TAG|@sha256:DIGEST]. A name without a
// registry (no dot, no port, not localhost in its first part) is on the
// configured default registry; on Docker Hub a one-part name is under
// library/. No tag is latest.
func (c *Config) ParseRef(s string) (Ref, error) {
	if err := checkLowercase(s); err != nil {
		return Ref{}, err
	}
	opts := []name.Option{name.WeakValidation, name.WithDefaultRegistry(c.DefaultRegistry)}
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid reference format %q: %w", s, err)
	}
	if c.Insecure(r.Context().RegistryStr()) {
		if r, err = name.ParseReference(s, append(opts, name.Insecure)...); err != nil {
			return Ref{}, fmt.Errorf("invalid reference format %q: %w", s, err)
		}
	}
	ref := Ref{Remote: r, LocalRepo: c.localRepo(r.Context())}
	if t, ok := r.(name.Tag); ok {
		ref.Local = ref.LocalRepo + ":" + t.TagStr()
	}
	return ref, nil
}

// localRepo is a repository's name in the store.
func (c *Config) localRepo(repo name.Repository) string {
	reg := canonicalHost(repo.RegistryStr())
	path := repo.RepositoryStr()
	if reg != canonicalHost(c.DefaultRegistry) {
		return reg + "/" + path
	}
	if reg == DockerHub {
		return strings.TrimPrefix(path, "library/")
	}
	return path
}

// checkLowercase refuses a repository with capitals as Docker does, with the
// reason (the registry host may have them; a tag may too).
func checkLowercase(s string) error {
	repo := s
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	if i := strings.IndexByte(repo, '/'); i >= 0 {
		first := repo[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			repo = repo[i+1:]
		}
	}
	if repo != strings.ToLower(repo) {
		return fmt.Errorf("invalid reference format %q: repository name must be lowercase", s)
	}
	return nil
}
