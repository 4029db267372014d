package oci

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// absMountDestinations makes a relative mount destination absolute: the
// spec has it relative to / (deprecated, still allowed).
func absMountDestinations(spec *specs.Spec) {
	for i, m := range spec.Mounts {
		if m.Destination != "" && !filepath.IsAbs(m.Destination) {
			spec.Mounts[i].Destination = "/" + m.Destination
		}
	}
}

// validateMusts refuses what config.md says a config must not have, and
// create would otherwise find late or not at all: a hook with a relative
// path or a timeout that is not positive (a poststop hook runs only at
// delete), an rlimit type given twice, an empty annotation key.
func validateMusts(spec *specs.Spec) error {
	bad := func(field, why string) error { return fmt.Errorf("%w: %s: %s", ErrInvalid, field, why) }
	if h := spec.Hooks; h != nil {
		for _, kind := range []struct {
			name  string
			hooks []specs.Hook
		}{
			{"prestart", h.Prestart}, //nolint:staticcheck // deprecated, still run
			{"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
			{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
		} {
			for i, hk := range kind.hooks {
				field := fmt.Sprintf("hooks.%s[%d]", kind.name, i)
				if !filepath.IsAbs(hk.Path) {
					return bad(field+".path", fmt.Sprintf("%q is not absolute", hk.Path))
				}
				if hk.Timeout != nil && *hk.Timeout <= 0 {
					return bad(field+".timeout", fmt.Sprintf("%d is not greater than zero", *hk.Timeout))
				}
			}
		}
	}
	if p := spec.Process; p != nil {
		seen := map[string]bool{}
		for i, rl := range p.Rlimits {
			if seen[rl.Type] {
				return bad(fmt.Sprintf("process.rlimits[%d].type", i), fmt.Sprintf("%s given twice", rl.Type))
			}
			seen[rl.Type] = true
		}
	}
	if _, ok := spec.Annotations[""]; ok {
		return bad("annotations", "an empty key")
	}
	return nil
}
