package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

var volumeFilterKeys = []string{"dangling", "driver", "label", "name"}

// ParseVolumeFilters reads the --filter KEY=VALUE options of volume ls:
// name (part of the name), label (KEY or KEY=VALUE), dangling (true: no
// container uses it) and driver (local). Several values of one key are
// alternatives; different keys must all match. The returned function
// tells whether a volume, used or not, matches.
func ParseVolumeFilters(list []string) (func(v *Volume, used bool) bool, error) {
	byKey := map[string][]string{}
	for _, f := range list {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: --filter %q: want KEY=VALUE", ErrInvalidInput, f)
		case !slices.Contains(volumeFilterKeys, k):
			return nil, fmt.Errorf("%w: --filter %q: unknown key %s (%s)", ErrInvalidInput, f, k, strings.Join(volumeFilterKeys, ", "))
		case k == "dangling":
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("%w: --filter %q: dangling is true or false", ErrInvalidInput, f)
			}
		}
		byKey[k] = append(byKey[k], v)
	}
	return func(vol *Volume, used bool) bool {
		for k, vs := range byKey {
			if !slices.ContainsFunc(vs, func(v string) bool { return volumeMatches(vol, used, k, v) }) {
				return false
			}
		}
		return true
	}, nil
}

func volumeMatches(vol *Volume, used bool, key, value string) bool {
	switch key {
	case "name":
		return strings.Contains(vol.Name, value)
	case "driver":
		return value == "local"
	case "dangling":
		b, _ := strconv.ParseBool(value)
		return b == !used
	}
	k, v, withValue := strings.Cut(value, "=")
	got, ok := vol.Labels[k]
	return ok && (!withValue || got == v)
}
