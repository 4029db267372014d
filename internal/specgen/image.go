package specgen

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ImageConfig is what an image says about the process of its containers
// (the Config of an OCI image), or the process a container runs once the
// choices of `run` are merged in (Merge).
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE, set in order over the defaults
	WorkingDir string
	User       string // uid[:gid] or name[:group]
}

// RunConfig are the choices of `sdocker run` that take the place of an
// image's.
type RunConfig struct {
	// Entrypoint, when set, replaces the image's entrypoint ("" clears it)
	// and drops the image's Cmd.
	Entrypoint *string
	Cmd        []string // in place of the image's Cmd, when given
	Env        []string // after the image's: the same name takes run's value
	WorkingDir string   // in place of the image's, when given
	User       string   // in place of the image's, when given
}

// Merge is Docker's merge of run's choices into image config c: the
// process the container runs.
func (c ImageConfig) Merge(run RunConfig) ImageConfig {
	out := ImageConfig{
		Entrypoint: c.Entrypoint,
		Cmd:        run.Cmd,
		Env:        append(slices.Clone(c.Env), run.Env...),
		WorkingDir: c.WorkingDir,
		User:       c.User,
	}
	if run.Entrypoint != nil {
		out.Entrypoint = nil
		if *run.Entrypoint != "" {
			out.Entrypoint = []string{*run.Entrypoint}
		}
	}
	if len(run.Cmd) == 0 && run.Entrypoint == nil {
		out.Cmd = c.Cmd
	}
	if run.WorkingDir != "" {
		out.WorkingDir = run.WorkingDir
	}
	if run.User != "" {
		out.User = run.User
	}
	return out
}

// Args is the command line of c: its entrypoint, then its Cmd.
func (c ImageConfig) Args() []string {
	return append(slices.Clone(c.Entrypoint), c.Cmd...)
}

// WithImageConfig sets the process of c: its command line (when it has
// one), its environment over the defaults, its working directory (when it
// has one). Its user names entries of the container's /etc/passwd and
// /etc/group: WithUser(c.User) applies once the root file system is in
// place.
func WithImageConfig(c ImageConfig) Opt {
	return func(s *specs.Spec) error {
		if args := c.Args(); len(args) > 0 {
			s.Process.Args = args
		}
		return Apply(s, WithEnv(c.Env), WithWorkdir(c.WorkingDir))
	}
}
