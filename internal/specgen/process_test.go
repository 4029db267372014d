package specgen

import (
	"math"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseUlimit(t *testing.T) {
	good := map[string]specs.POSIXRlimit{
		"nofile=1024":            {Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024},
		"nofile=1024:2048":       {Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 2048},
		"NPROC=5:5":              {Type: "RLIMIT_NPROC", Soft: 5, Hard: 5},
		"core=0:unlimited":       {Type: "RLIMIT_CORE", Soft: 0, Hard: math.MaxUint64},
		"memlock=-1":             {Type: "RLIMIT_MEMLOCK", Soft: math.MaxUint64, Hard: math.MaxUint64},
		"stack=8388608:-1":       {Type: "RLIMIT_STACK", Soft: 8388608, Hard: math.MaxUint64},
		"rttime=unlimited:-1":    {Type: "RLIMIT_RTTIME", Soft: math.MaxUint64, Hard: math.MaxUint64},
		"msgqueue=819200:819200": {Type: "RLIMIT_MSGQUEUE", Soft: 819200, Hard: 819200},
	}
	for in, want := range good {
		got, err := ParseUlimit(in)
		if err != nil || got != want {
			t.Errorf("ParseUlimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"nofile=10:5", "nofile=-1:5", "bogus=1", "nofile", "=1", "nofile=", "nofile=1:", "nofile=a", "nofile=1:2:3", "nofile=-2", "RLIMIT_NOFILE=1"} {
		if got, err := ParseUlimit(in); err == nil || !strings.Contains(err.Error(), "--ulimit") {
			t.Errorf("ParseUlimit(%q) = %+v, %v; want an error naming --ulimit", in, got, err)
		}
	}
}

func TestWithRlimitsReplacesSameType(t *testing.T) {
	s := defaultSpec()
	a := specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 2}
	b := specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 0, Hard: 0}
	c := specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 3, Hard: 4}
	if err := Apply(s, WithRlimits(a, b), WithRlimits(c)); err != nil {
		t.Fatal(err)
	}
	if want := []specs.POSIXRlimit{c, b}; !slices.Equal(s.Process.Rlimits, want) {
		t.Errorf("rlimits %+v, want %+v", s.Process.Rlimits, want)
	}
}

func TestWithInit(t *testing.T) {
	s := defaultSpec()
	if err := Apply(s, WithArgs("sh", "-c", "true"), WithInit("/usr/local/bin/sdocker-tini")); err != nil {
		t.Fatal(err)
	}
	if want := []string{InitPath, "--", "sh", "-c", "true"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args %q, want %q", s.Process.Args, want)
	}
	m := s.Mounts[len(s.Mounts)-1]
	if m.Destination != InitPath || m.Source != "/usr/local/bin/sdocker-tini" || !slices.Contains(m.Options, "ro") {
		t.Errorf("init mount %+v: want a read-only bind at %s", m, InitPath)
	}
	s = defaultSpec()
	n := len(s.Mounts)
	if err := Apply(s, WithArgs("true"), WithInit("")); err != nil || len(s.Mounts) != n || !slices.Equal(s.Process.Args, []string{"true"}) {
		t.Errorf("WithInit(\"\") changed the spec: %v %q", err, s.Process.Args)
	}
	if err := Apply(defaultSpec(), WithInit("/x")); err == nil {
		t.Error("WithInit without a command: no error")
	}
}

func TestWithOOMScoreAdj(t *testing.T) {
	for _, v := range []int{-1000, 0, 1000} {
		s := defaultSpec()
		if err := Apply(s, WithOOMScoreAdj(&v)); err != nil || s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != v {
			t.Errorf("WithOOMScoreAdj(%d): %v", v, err)
		}
	}
	for _, v := range []int{-1001, 1001} {
		if err := Apply(defaultSpec(), WithOOMScoreAdj(&v)); err == nil {
			t.Errorf("WithOOMScoreAdj(%d): no error", v)
		}
	}
	s := defaultSpec()
	if err := Apply(s, WithOOMScoreAdj(nil)); err != nil || s.Process.OOMScoreAdj != nil {
		t.Errorf("WithOOMScoreAdj(nil) set %v, %v", s.Process.OOMScoreAdj, err)
	}
}

func TestWithGroupAdd(t *testing.T) {
	root := userRootfs(t, "root:x:0:0::/root:/bin/sh\n", "root:x:0:\nstaff:x:50:\n")
	s := defaultSpec()
	s.Root.Path = root
	s.Process.User.AdditionalGids = []uint32{50}
	if err := Apply(s, WithGroupAdd([]string{"staff", "1234", "1234"})); err != nil {
		t.Fatal(err)
	}
	if want := []uint32{50, 1234}; !slices.Equal(s.Process.User.AdditionalGids, want) {
		t.Errorf("gids %v, want %v", s.Process.User.AdditionalGids, want)
	}
	for _, g := range []string{"nosuch", "-1", "4294967296"} {
		if err := Apply(s, WithGroupAdd([]string{g})); err == nil || !strings.Contains(err.Error(), "--group-add") {
			t.Errorf("WithGroupAdd(%q): %v, want an error naming --group-add", g, err)
		}
	}
}
