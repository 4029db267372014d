package specgen

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/launch"
)

// InitPath is where --init's binary is mounted in the container, Docker's
// place for it.
const InitPath = "/sbin/docker-init"

// WithInit mounts the init binary at host path binary read-only at
// InitPath and puts it in front of the command (--init): it reaps the
// container's orphans and forwards signals to the command. "" leaves the
// command as it is. It comes after the options that set the command.
func WithInit(binary string) Opt {
	return func(s *specs.Spec) error {
		if binary == "" {
			return nil
		}
		if len(s.Process.Args) == 0 {
			return fmt.Errorf("--init: no command to run behind the init")
		}
		s.Mounts = append(s.Mounts, Bind(binary, InitPath, true))
		s.Process.Args = append([]string{InitPath, "--"}, s.Process.Args...)
		return nil
	}
}

// ParseUlimit reads a --ulimit NAME=SOFT[:HARD] (HARD defaults to SOFT;
// -1 or unlimited is no limit), NAME as Docker names it (nofile, nproc,
// core, ...).
func ParseUlimit(u string) (specs.POSIXRlimit, error) {
	name, val, ok := strings.Cut(u, "=")
	typ := "RLIMIT_" + strings.ToUpper(name)
	if _, known := launch.RlimitResource(typ); !ok || name == "" || !known {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: use NAME=SOFT[:HARD] with a NAME such as nofile, nproc, core, memlock, stack", u)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	if !hasHard {
		hardS = softS
	}
	soft, err1 := rlimitValue(softS)
	hard, err2 := rlimitValue(hardS)
	if err1 != nil || err2 != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: a limit is a number, -1 or unlimited", u)
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: the soft limit %s is above the hard limit %s", u, softS, hardS)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

func rlimitValue(s string) (uint64, error) {
	if s == "-1" || s == "unlimited" {
		return math.MaxUint64, nil // RLIM_INFINITY
	}
	return strconv.ParseUint(s, 10, 64)
}

// WithRlimits sets the process's rlimits (--ulimit), one per type: a later
// one of the same type replaces an earlier one.
func WithRlimits(limits ...specs.POSIXRlimit) Opt {
	return func(s *specs.Spec) error {
		for _, l := range limits {
			replaced := false
			for i, r := range s.Process.Rlimits {
				if r.Type == l.Type {
					s.Process.Rlimits[i], replaced = l, true
				}
			}
			if !replaced {
				s.Process.Rlimits = append(s.Process.Rlimits, l)
			}
		}
		return nil
	}
}

// WithOOMScoreAdj sets the process's OOM score adjustment, -1000..1000
// (--oom-score-adj); nil leaves it.
func WithOOMScoreAdj(adj *int) Opt {
	return func(s *specs.Spec) error {
		if adj == nil {
			return nil
		}
		if *adj < -1000 || *adj > 1000 {
			return fmt.Errorf("--oom-score-adj %d: must be in -1000..1000", *adj)
		}
		v := *adj
		s.Process.OOMScoreAdj = &v
		return nil
	}
}

// WithGroupAdd adds supplementary groups to the process (--group-add):
// gids, or names of the /etc/group of the spec's root file system, which
// must be in place (as for WithUser, after which it comes).
func WithGroupAdd(groups []string) Opt {
	return func(s *specs.Spec) error {
		for _, g := range groups {
			gid, err := resolveGroup(s.Root.Path, g)
			if err != nil {
				return fmt.Errorf("--group-add %s: %w", g, err)
			}
			if !slices.Contains(s.Process.User.AdditionalGids, gid) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gid)
			}
		}
		return nil
	}
}
