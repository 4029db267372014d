package network

import (
	"slices"
	"strings"
)

// filterKeys are the keys `network ls --filter` knows.
var filterKeys = []string{"name", "id", "label", "driver", "type"}

// ParseFilters reads `network ls --filter KEY=VALUE` values into one
// predicate, as Docker: name (a part of the name), id (a prefix), label
// (KEY or KEY=VALUE), driver, type (custom or builtin). Several values of
// one key are alternatives; different keys must all match.
func ParseFilters(list []string) (func(*Network) bool, error) {
	byKey := map[string][]string{}
	for _, f := range list {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, refuse(ErrInvalid, "invalid --filter %q: want KEY=VALUE", f)
		case !slices.Contains(filterKeys, k):
			return nil, refuse(ErrInvalid, "invalid --filter %q: unknown key %s (%s)", f, k, strings.Join(filterKeys, ", "))
		case k == "type" && v != "custom" && v != "builtin":
			return nil, refuse(ErrInvalid, "invalid --filter %q: type is custom or builtin", f)
		}
		byKey[k] = append(byKey[k], v)
	}
	return func(n *Network) bool {
		for k, vs := range byKey {
			if !slices.ContainsFunc(vs, func(v string) bool { return matches(n, k, v) }) {
				return false
			}
		}
		return true
	}, nil
}

// matches reports whether n matches one filter.
func matches(n *Network, key, value string) bool {
	switch key {
	case "name":
		return strings.Contains(n.Name, value)
	case "id":
		return strings.HasPrefix(n.ID, value)
	case "driver":
		return n.Driver == value
	case "type":
		return n.UserDefined() == (value == "custom")
	}
	k, v, withValue := strings.Cut(value, "=")
	got, ok := n.Labels[k]
	return ok && (!withValue || got == v)
}
