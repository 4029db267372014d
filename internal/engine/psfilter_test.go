package engine

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParsePsFiltersRefusesBadInput(t *testing.T) {
	for _, f := range []string{"color=red", "status", "status=", "status=sleeping", "exited=x", "name=[", "=x", "health=sick", "health="} {
		if _, err := ParsePsFilters([]string{f}); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("--filter %q: err %v, want ErrInvalidInput", f, err)
		}
	}
}

func TestPsFilterMatch(t *testing.T) {
	started := time.Unix(1700000000, 0)
	web := &Record{ID: "abc123", Name: "web-1", Image: "alpine:latest", ImageID: "sha256:aaa", Status: StateRunning,
		StartedAt: started, Labels: map[string]string{"tier": "web", "env": "prod"}}
	job := &Record{ID: "def456", Name: "job", Image: "busybox:1", ImageID: "sha256:bbb", Status: StateExited,
		StartedAt: started, ExitCode: 137, Labels: map[string]string{"tier": "batch"}}
	fresh := &Record{ID: "abd789", Name: "fresh", Image: "/srv/rootfs", Status: StateCreated}
	neverRan := &Record{ID: "fff000", Name: "never", Image: "alpine", Status: StateExited}
	all := []*Record{web, job, fresh, neverRan}
	resolve := func(ref string) string {
		if ref == "sha256:bb" || ref == "bbb" {
			return "sha256:bbb"
		}
		return ""
	}
	for _, tc := range []struct {
		filters []string
		want    []*Record
	}{
		{nil, all},
		{[]string{"status=running"}, []*Record{web}},
		{[]string{"status=running", "status=exited"}, []*Record{web, job}},
		{[]string{"status=created"}, []*Record{fresh, neverRan}},
		{[]string{"name=^web"}, []*Record{web}},
		{[]string{"name=e"}, []*Record{web, fresh, neverRan}},
		{[]string{"name=e", "status=created"}, []*Record{fresh, neverRan}},
		{[]string{"label=tier"}, []*Record{web, job}},
		{[]string{"label=tier=web"}, []*Record{web}},
		{[]string{"label=tier=web", "label=tier=batch"}, []*Record{web, job}},
		{[]string{"label=tier", "label=env=prod"}, []*Record{web, job}},
		{[]string{"label=tier", "status=exited"}, []*Record{job}},
		{[]string{"ancestor=alpine"}, []*Record{web, neverRan}},
		{[]string{"ancestor=alpine:latest"}, []*Record{web}},
		{[]string{"ancestor=bbb"}, []*Record{job}},
		{[]string{"ancestor=/srv/rootfs"}, []*Record{fresh}},
		{[]string{"exited=137"}, []*Record{job}},
		{[]string{"exited=0"}, nil},
		{[]string{"id=ab"}, []*Record{web, fresh}},
		{[]string{"id=ab", "id=def"}, []*Record{web, job, fresh}},
		{[]string{"id=ab", "name=fresh"}, []*Record{fresh}},
	} {
		f, err := ParsePsFilters(tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		f.ImageID = resolve
		var got []*Record
		for _, r := range all {
			if f.Match(r) {
				got = append(got, r)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.filters, names(got), names(tc.want))
		}
	}
}

func names(rs []*Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}
