package specgen

import (
	"slices"
	"testing"
)

func TestParseTmpfsOptions(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		ro   bool
	}{
		{"", nil, false},
		{"size=64m,mode=1777", []string{"size=64m", "mode=1777"}, false},
		{"ro,exec", []string{"exec"}, true},
		{"ro,rw,size=10%", []string{"size=10%"}, false},
		{"uid=1000,gid=1000,nr_inodes=100", []string{"uid=1000", "gid=1000", "nr_inodes=100"}, false},
	} {
		got, ro, err := ParseTmpfsOptions(c.in)
		if err != nil || !slices.Equal(got, c.want) || ro != c.ro {
			t.Errorf("ParseTmpfsOptions(%q) = %q, %v, %v; want %q, %v", c.in, got, ro, err, c.want, c.ro)
		}
	}
	for _, bad := range []string{"size=abc", "size=", "size=1mm", "mode=999", "mode=77777", "uid=-1", "bogus", "exec=1", ","} {
		if _, _, err := ParseTmpfsOptions(bad); err == nil {
			t.Errorf("ParseTmpfsOptions(%q): accepted", bad)
		}
	}
}

func TestBindMountAndTmpfs(t *testing.T) {
	m := BindMount("/h", "/c", true, "rshared")
	if !slices.Equal(m.Options, []string{"rbind", "rshared", "ro"}) {
		t.Errorf("bind options %q", m.Options)
	}
	if m := BindMount("/h", "/c", false, ""); !slices.Equal(m.Options, []string{"rbind", "rprivate"}) {
		t.Errorf("bind options %q", m.Options)
	}
	tm := Tmpfs("/t", true, []string{"exec", "size=1m"})
	if tm.Type != "tmpfs" || !slices.Equal(tm.Options, []string{"nosuid", "nodev", "noexec", "exec", "size=1m", "ro"}) {
		t.Errorf("tmpfs %+v", tm)
	}
	for _, p := range []string{"", "rel", "/", "/.."} {
		if CheckDestination(p) == nil {
			t.Errorf("CheckDestination(%q): accepted", p)
		}
	}
}

func TestWithBindPropagation(t *testing.T) {
	for _, c := range []struct {
		props []string
		want  string
	}{
		{nil, ""},
		{[]string{"", "rprivate"}, ""},
		{[]string{"rslave"}, "rslave"},
		{[]string{"slave", "shared"}, "rshared"},
		{[]string{"rshared", "rslave"}, "rshared"},
	} {
		s, err := New(WithRootfs("/r"), WithArgs("true"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.props {
			s.Mounts = append(s.Mounts, BindMount("/h", "/c", false, p))
		}
		s.Mounts = append(s.Mounts, Tmpfs("/t", false, []string{"shared"}))
		if err := Apply(s, WithBindPropagation()); err != nil || s.Linux.RootfsPropagation != c.want {
			t.Errorf("binds %q: rootfs propagation %q, %v; want %q", c.props, s.Linux.RootfsPropagation, err, c.want)
		}
	}
}
