package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var psFilterKeys = []string{"ancestor", "exited", "health", "id", "label", "name", "status"}

// psHealth are the values of ps --filter health=.
var psHealth = []string{HealthStarting, HealthHealthy, HealthUnhealthy, HealthNone}

// psStatuses are the values of ps --filter status=, as Docker has them.
var psStatuses = []string{"created", "restarting", "running", "removing", "paused", "exited", "dead"}

// PsFilter is a parsed set of ps --filter KEY=VALUE options. Several
// values of one key are alternatives; different keys must all match.
type PsFilter struct {
	byKey map[string][]string
	names []*regexp.Regexp
	// ImageID resolves an ancestor= value to an image id ("" when the
	// store has no such image); nil matches ancestors by name only.
	ImageID func(ref string) string
}

// ParsePsFilters reads the --filter options of ps: status (created,
// restarting, running, removing, paused, exited, dead), name (a regular
// expression on the name), label (KEY or KEY=VALUE), ancestor (an image
// name, name:tag or id), exited (an exit code; containers that ran), health
// (starting, healthy, unhealthy, none: of the health LoadHealth read) and
// id (an id prefix).
func ParsePsFilters(list []string) (*PsFilter, error) {
	f := &PsFilter{byKey: map[string][]string{}}
	for _, s := range list {
		k, v, ok := strings.Cut(s, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("%w: --filter %q: want KEY=VALUE", ErrInvalidInput, s)
		}
		if err := f.add(k, v); err != nil {
			return nil, fmt.Errorf("%w: --filter %q: %w", ErrInvalidInput, s, err)
		}
	}
	return f, nil
}

func (f *PsFilter) add(k, v string) error {
	switch k {
	case "status":
		if !slices.Contains(psStatuses, v) {
			return fmt.Errorf("unknown status %s (%s)", v, strings.Join(psStatuses, ", "))
		}
	case "health":
		if !slices.Contains(psHealth, v) {
			return fmt.Errorf("unknown health status %s (%s)", v, strings.Join(psHealth, ", "))
		}
	case "exited":
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("exited takes an exit code")
		}
	case "name":
		re, err := regexp.Compile(v)
		if err != nil {
			return fmt.Errorf("name: %w", err)
		}
		f.names = append(f.names, re)
	default:
		if !slices.Contains(psFilterKeys, k) {
			return fmt.Errorf("unknown key %s (%s)", k, strings.Join(psFilterKeys, ", "))
		}
	}
	f.byKey[k] = append(f.byKey[k], v)
	return nil
}

// Has tells whether a filter on key was given.
func (f *PsFilter) Has(key string) bool { return len(f.byKey[key]) > 0 }

// Match tells whether r passes every filter.
func (f *PsFilter) Match(r *Record) bool {
	for k, vs := range f.byKey {
		if !slices.ContainsFunc(vs, func(v string) bool { return f.matches(r, k, v) }) {
			return false
		}
	}
	return true
}

func (f *PsFilter) matches(r *Record, key, value string) bool {
	switch key {
	case "status":
		return psStatus(r) == value
	case "exited":
		code, _ := strconv.Atoi(value)
		return r.Status == StateExited && !r.StartedAt.IsZero() && r.ExitCode == code
	case "health":
		return r.HealthStatus() == value
	case "id":
		return strings.HasPrefix(r.ID, value)
	case "name":
		return slices.ContainsFunc(f.names, func(re *regexp.Regexp) bool {
			return re.String() == value && re.MatchString(r.Name)
		})
	case "ancestor":
		return f.isAncestor(r, value)
	}
	k, v, withValue := strings.Cut(value, "=")
	got, ok := r.Labels[k]
	return ok && (!withValue || got == v)
}

// psStatus is the state of r as ps filters see it: a container that
// never ran is created, one whose record cannot be read is dead.
func psStatus(r *Record) string {
	switch {
	case r.Status == "", r.Status == StateExited && r.StartedAt.IsZero():
		return StateCreated
	case r.Status == StateDamaged:
		return "dead"
	}
	return r.Status
}

func (f *PsFilter) isAncestor(r *Record, ref string) bool {
	if r.Image == ref || !strings.Contains(ref, ":") && r.Image == ref+":latest" {
		return true
	}
	return r.ImageID != "" && f.ImageID != nil && f.ImageID(ref) == r.ImageID
}
