package network

import (
	"errors"
	"slices"
	"testing"
)

func TestParseFilters(t *testing.T) {
	nets := []*Network{
		{Name: DefaultName, ID: "b0b0", Driver: "bridge"},
		{Name: "app", ID: "a1a1", Driver: "bridge", Labels: map[string]string{"env": "test", "tier": ""}},
		{Name: "backend", ID: "a2a2", Driver: "bridge", Labels: map[string]string{"env": "prod"}},
	}
	for _, c := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"bridge", "app", "backend"}},
		{[]string{"name=ap"}, []string{"app"}},
		{[]string{"name=a"}, []string{"app", "backend"}},
		{[]string{"name=app", "name=bridge"}, []string{"bridge", "app"}},
		{[]string{"id=a"}, []string{"app", "backend"}},
		{[]string{"id=a1a1"}, []string{"app"}},
		{[]string{"label=env"}, []string{"app", "backend"}},
		{[]string{"label=env=prod"}, []string{"backend"}},
		{[]string{"label=tier="}, []string{"app"}},
		{[]string{"label=env", "name=back"}, []string{"backend"}},
		{[]string{"type=custom"}, []string{"app", "backend"}},
		{[]string{"type=builtin"}, []string{"bridge"}},
		{[]string{"driver=bridge", "id=b"}, []string{"bridge"}},
		{[]string{"driver=macvlan"}, nil},
	} {
		match, err := ParseFilters(c.filters)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range nets {
			if match(n) {
				got = append(got, n.Name)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, want %v", c.filters, got, c.want)
		}
	}
	for _, bad := range []string{"name", "color=red", "type=mine", "=x"} {
		if _, err := ParseFilters([]string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
