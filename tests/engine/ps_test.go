package engine

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// psNames runs ps with args and returns the names it lists, newest first.
func (e *env) psNames(args ...string) []string {
	e.t.Helper()
	return lines(e.mustRun(0, append(append([]string{"ps"}, args...), "--format", "{{.Names}}")...).stdout)
}

// TestPsFilters: ps --filter with Docker's semantics (values of one key are
// alternatives, different keys must all match; status= shows stopped
// containers without -a), --last/-n and --latest/-l (any state, newest
// first), and a bad filter refused with 125.
func TestPsFilters(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("psimg:1")
	e.mustRun(0, "import", rootfsDir, "psimg:1")
	e.runDetached("--name", "c-dir", "--label", "tier=web", rootfsDir, "sleep", "100")
	a := e.runDetached("--name", "a-img", "--label", "tier=web", "--label", "env=prod", "psimg:1", "sleep", "100")
	e.mustRun(3, "run", "--name", "b-exit3", "--label", "tier=batch", "psimg:1", "sh", "-c", "exit 3")
	t.Cleanup(func() { e.remove("b-exit3") })

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"a-img", "c-dir"}},
		{[]string{"-a"}, []string{"b-exit3", "a-img", "c-dir"}},
		{[]string{"--filter", "status=exited"}, []string{"b-exit3"}},
		{[]string{"-f", "status=exited", "-f", "status=running"}, []string{"b-exit3", "a-img", "c-dir"}},
		{[]string{"-f", "status=paused"}, nil},
		{[]string{"-a", "-f", "name=^a-"}, []string{"a-img"}},
		{[]string{"-a", "-f", "name=img", "-f", "name=exit"}, []string{"b-exit3", "a-img"}},
		{[]string{"-a", "-f", "label=tier"}, []string{"b-exit3", "a-img", "c-dir"}},
		{[]string{"-a", "-f", "label=tier=web"}, []string{"a-img", "c-dir"}},
		{[]string{"-a", "-f", "label=tier=web", "-f", "label=env=prod"}, []string{"a-img", "c-dir"}},
		{[]string{"-a", "-f", "label=tier=web", "-f", "ancestor=psimg:1"}, []string{"a-img"}},
		{[]string{"-f", "ancestor=psimg:1"}, []string{"a-img"}},
		{[]string{"-a", "-f", "ancestor=psimg"}, nil}, // psimg:latest
		{[]string{"-a", "-f", "ancestor=psimg:1"}, []string{"b-exit3", "a-img"}},
		{[]string{"-a", "-f", "ancestor=" + e.inspect("a-img").Image[:19]}, []string{"b-exit3", "a-img"}},
		{[]string{"-a", "-f", "exited=3"}, []string{"b-exit3"}},
		{[]string{"-a", "-f", "exited=0"}, nil},
		{[]string{"-a", "-f", "id=" + a[:10]}, []string{"a-img"}},
		{[]string{"-a", "-f", "id=" + a[:10], "-f", "status=exited"}, nil},
		{[]string{"-l"}, []string{"b-exit3"}},
		{[]string{"--latest", "-f", "status=running"}, []string{"a-img"}},
		{[]string{"-n", "2"}, []string{"b-exit3", "a-img"}},
		{[]string{"--last", "5"}, []string{"b-exit3", "a-img", "c-dir"}},
		{[]string{"--last", "0"}, nil},
	} {
		if got := e.psNames(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("ps %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	if got := lines(e.mustRun(0, "ps", "-q", "-f", "name=a-img").stdout); !slices.Equal(got, []string{a[:12]}) {
		t.Errorf("ps -q -f name=a-img: %q", got)
	}
	for _, bad := range []string{"color=red", "status=sleeping", "exited=x", "name=[", "label"} {
		r := e.run("ps", "-f", bad)
		if r.code != 125 || r.stdout != "" || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, bad) {
			t.Errorf("ps -f %s: want 125 and one line naming it:\n%s", bad, r)
		}
	}
}

var sizeRE = regexp.MustCompile(`^([0-9.]+)(B|kB|MB|GB) \(virtual ([0-9.]+)(B|kB|MB|GB)\)$`)

// bytesOf reads a size as SizeString writes it (3 significant digits).
func bytesOf(t *testing.T, n, unit string) float64 {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		t.Fatalf("size %s%s: %v", n, unit, err)
	}
	return f * map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
}

// TestPsSize: ps --size shows what the container wrote over its image, and
// with the image's size, as Docker writes it ("1MB (virtual 5.2MB)").
func TestPsSize(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("pssize:1")
	e.mustRun(0, "import", rootfsDir, "pssize:1")
	e.runDetached("--name", "w", "pssize:1", "sleep", "100")
	size := func() (rw, virtual float64) {
		out := e.mustRun(0, "ps", "--size", "--format", "{{.Size}}", "-f", "name=^w$").stdout
		m := sizeRE.FindStringSubmatch(strings.TrimSpace(out))
		if m == nil {
			t.Fatalf("ps --size: %q", out)
		}
		return bytesOf(t, m[1], m[2]), bytesOf(t, m[3], m[4])
	}
	rw0, virt0 := size()
	if rw0 > 100e3 || virt0 < 100e3 {
		t.Errorf("a new container: %v bytes written, %v virtual", rw0, virt0)
	}
	e.mustRun(0, "exec", "w", "dd", "if=/dev/zero", "of=/ps-size-data", "bs=100000", "count=20")
	rw, virt := size()
	if rw < 2e6 || rw > 2e6+100e3 || virt-rw < virt0-rw0-10e3 || virt-rw > virt0-rw0+10e3 {
		t.Errorf("after writing 2MB: %v written (%v before), virtual %v (%v before)", rw, rw0, virt, virt0)
	}
	// The default table gets a SIZE column.
	tbl := lines(e.mustRun(0, "ps", "-s").stdout)
	if len(tbl) != 2 || !strings.HasSuffix(tbl[0], "SIZE") || !sizeRE.MatchString(tbl[1][strings.Index(tbl[0], "SIZE"):]) {
		t.Errorf("ps -s:\n%s", strings.Join(tbl, "\n"))
	}
}
