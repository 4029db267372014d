package ids

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckMappings(t *testing.T) {
	r := func(c, h, n uint32) specs.LinuxIDMapping {
		return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
	}
	many := make([]specs.LinuxIDMapping, MaxExtents+1)
	for i := range many {
		many[i] = r(uint32(i), uint32(100000+i), 1)
	}
	for _, c := range []struct {
		name string
		m    []specs.LinuxIDMapping
		err  string // "": accepted
	}{
		{"none", nil, ""},
		{"one", []specs.LinuxIDMapping{r(0, 100000, 65536)}, ""},
		{"adjacent", []specs.LinuxIDMapping{r(0, 100000, 10), r(10, 100010, 10)}, ""},
		{"whole range but the last id", []specs.LinuxIDMapping{r(0, 0, 1<<32-1)}, ""},
		{"past the last id", []specs.LinuxIDMapping{r(0, 1, 1<<32-1)}, "m[0]: 1+4294967295 goes past 4294967294"},
		{"container side past", []specs.LinuxIDMapping{r(1<<32-10, 0, 10)}, "goes past"},
		{"empty", []specs.LinuxIDMapping{r(0, 100000, 0)}, "m[0]: size 0"},
		{"inside overlap", []specs.LinuxIDMapping{r(0, 100000, 10), r(9, 200000, 10)}, "m[1]: container ids overlap those of m[0]"},
		{"host overlap", []specs.LinuxIDMapping{r(0, 100000, 10), r(100, 100005, 1)}, "m[1]: host ids overlap those of m[0]"},
		{"too many", many, "341 ranges, at most 340"},
	} {
		err := CheckMappings("m", c.m)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.err)
		}
	}
}

func TestToHostAndOverlaps(t *testing.T) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 5000, HostID: 7, Size: 1}}
	for _, c := range []struct {
		id   uint32
		want uint32
		ok   bool
	}{{0, 100000, true}, {999, 100999, true}, {1000, 0, false}, {5000, 7, true}, {5001, 0, false}} {
		if got, ok := ToHost(m, c.id); got != c.want || ok != c.ok {
			t.Errorf("ToHost(%d) = %d, %v; want %d, %v", c.id, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		host, want uint32
		ok         bool
	}{{100000, 0, true}, {100999, 999, true}, {101000, 0, false}, {7, 5000, true}, {99999, 0, false}} {
		if got, ok := ToContainer(m, c.host); got != c.want || ok != c.ok {
			t.Errorf("ToContainer(%d) = %d, %v; want %d, %v", c.host, got, ok, c.want, c.ok)
		}
	}
	if !Overlaps(m, []specs.LinuxIDMapping{{HostID: 100999, Size: 5}}) || Overlaps(m, []specs.LinuxIDMapping{{HostID: 101000, Size: 5}}) {
		t.Error("Overlaps misjudges the host ranges' edges")
	}
}

func TestSubordinateRanges(t *testing.T) {
	file := `# comment
containers:100000:65536
other:300000:65536
containers:2147483648:1000000
1001:500000:10
containers:bad:5
containers:1:0
containers:4294967290:100

`
	got, err := SubordinateRanges(strings.NewReader(file), "containers", 1001)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{100000, 65536}, {2147483648, 1000000}, {500000, 10}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("range %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
