package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func str(s string) *string { return &s }

// TestMerge: Docker's rules for the choices of run over an image's config.
func TestMerge(t *testing.T) {
	img := ImageConfig{
		Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"default", "args"},
		Env: []string{"PATH=/img/bin", "A=image"}, WorkingDir: "/img", User: "app",
	}
	for _, c := range []struct {
		name  string
		image ImageConfig
		run   RunConfig
		want  ImageConfig
	}{
		{"the image's", img, RunConfig{}, img},
		{"args replace Cmd, keep the entrypoint", img, RunConfig{Cmd: []string{"a"}},
			ImageConfig{Entrypoint: img.Entrypoint, Cmd: []string{"a"}, Env: img.Env, WorkingDir: "/img", User: "app"}},
		{"an entrypoint replaces the image's and drops its Cmd", img, RunConfig{Entrypoint: str("sh")},
			ImageConfig{Entrypoint: []string{"sh"}, Env: img.Env, WorkingDir: "/img", User: "app"}},
		{"an entrypoint and args", img, RunConfig{Entrypoint: str("sh"), Cmd: []string{"-c", "true"}},
			ImageConfig{Entrypoint: []string{"sh"}, Cmd: []string{"-c", "true"}, Env: img.Env, WorkingDir: "/img", User: "app"}},
		{"an empty entrypoint clears both", img, RunConfig{Entrypoint: str("")},
			ImageConfig{Env: img.Env, WorkingDir: "/img", User: "app"}},
		{"an empty entrypoint and args", img, RunConfig{Entrypoint: str(""), Cmd: []string{"echo", "x"}},
			ImageConfig{Cmd: []string{"echo", "x"}, Env: img.Env, WorkingDir: "/img", User: "app"}},
		{"env after the image's", img, RunConfig{Env: []string{"A=run", "B=run"}},
			ImageConfig{Entrypoint: img.Entrypoint, Cmd: img.Cmd, Env: []string{"PATH=/img/bin", "A=image", "A=run", "B=run"}, WorkingDir: "/img", User: "app"}},
		{"workdir and user of run", img, RunConfig{WorkingDir: "/run", User: "0:0"},
			ImageConfig{Entrypoint: img.Entrypoint, Cmd: img.Cmd, Env: img.Env, WorkingDir: "/run", User: "0:0"}},
		{"no image: run's", ImageConfig{}, RunConfig{Cmd: []string{"ls"}, Env: []string{"A=1"}, WorkingDir: "/w", User: "1"},
			ImageConfig{Cmd: []string{"ls"}, Env: []string{"A=1"}, WorkingDir: "/w", User: "1"}},
		{"no image: an entrypoint before the args", ImageConfig{}, RunConfig{Entrypoint: str("echo"), Cmd: []string{"hi"}},
			ImageConfig{Entrypoint: []string{"echo"}, Cmd: []string{"hi"}}},
		{"no image, nothing", ImageConfig{}, RunConfig{}, ImageConfig{}},
		{"an image with only an entrypoint", ImageConfig{Entrypoint: []string{"/e"}}, RunConfig{Cmd: []string{"x"}},
			ImageConfig{Entrypoint: []string{"/e"}, Cmd: []string{"x"}}},
	} {
		got := c.image.Merge(c.run)
		if !slices.Equal(got.Entrypoint, c.want.Entrypoint) || !slices.Equal(got.Cmd, c.want.Cmd) || !slices.Equal(got.Env, c.want.Env) ||
			got.WorkingDir != c.want.WorkingDir || got.User != c.want.User {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	before := slices.Clone(img.Env)
	img.Merge(RunConfig{Env: []string{"X=1"}})
	if !slices.Equal(img.Env, before) {
		t.Errorf("Merge changed the image's env: %q", img.Env)
	}
}

// TestWithImageConfig: the command line, the environment over the defaults
// and the working directory of an image config; what it lacks is left.
func TestWithImageConfig(t *testing.T) {
	s, err := build(t, WithTerminal(true), WithImageConfig(ImageConfig{
		Entrypoint: []string{"/e"}, Cmd: []string{"c"}, Env: []string{"PATH=/img", "TERM=vt100", "X=1"}, WorkingDir: "/w", User: "nobody",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Args, []string{"/e", "c"}) || s.Process.Cwd != "/w" ||
		!slices.Equal(s.Process.Env, []string{"PATH=/img", "HOSTNAME=sdocker", "HOME=/root", "TERM=vt100", "X=1"}) {
		t.Errorf("args %q, cwd %q, env %q", s.Process.Args, s.Process.Cwd, s.Process.Env)
	}
	if s.Process.User.UID != 0 || s.Process.User.GID != 0 {
		t.Errorf("user %+v: resolved before the rootfs is there", s.Process.User)
	}
	s, err = build(t, WithWorkdir("/keep"), WithImageConfig(ImageConfig{}))
	if err != nil || !slices.Equal(s.Process.Args, []string{"true"}) || s.Process.Cwd != "/keep" || !slices.Equal(s.Process.Env, defaultEnv) {
		t.Errorf("an empty image config changed the spec: %v %+v", err, s.Process)
	}
	for _, bad := range []ImageConfig{{WorkingDir: "rel"}, {Env: []string{"=v"}}} {
		if _, err := build(t, WithImageConfig(bad)); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestRunSpec: the options in the order `run` gives them, image config
// merged: the environment has its defaults first, then the image's, then
// run's; the user is looked up once the rootfs is in place.
func TestRunSpec(t *testing.T) {
	rootfs := userRootfs(t, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n", "staff:x:50:app\n")
	img := ImageConfig{Cmd: []string{"serve"}, Env: []string{"PATH=/img/bin", "HOME=/img", "MODE=image"}, WorkingDir: "/srv", User: "app"}
	p := img.Merge(RunConfig{Env: []string{"MODE=run", "EXTRA=1"}, Cmd: []string{"serve", "--debug"}})
	s, err := New(
		WithRootfs(rootfs),
		WithHostname("web", testID),
		WithTerminal(true),
		WithNetwork("none"),
		WithCgroupsPath("sdocker", testID),
		WithImageConfig(p),
	)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{"PATH=/img/bin", "HOSTNAME=web@0123456789ab", "HOME=/img", "TERM=xterm", "MODE=run", "EXTRA=1"}
	if !slices.Equal(s.Process.Env, wantEnv) || !slices.Equal(s.Process.Args, []string{"serve", "--debug"}) || s.Process.Cwd != "/srv" {
		t.Errorf("env %q (want %q), args %q, cwd %q", s.Process.Env, wantEnv, s.Process.Args, s.Process.Cwd)
	}
	if err := Apply(s, WithUser(p.User, nil)); err != nil {
		t.Fatal(err)
	}
	u := s.Process.User
	if u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{50}) {
		t.Errorf("user %+v, want 1000:1000 in group 50", u)
	}
	if !slices.Contains(s.Process.Env, "HOME=/home/app") || slices.Contains(s.Process.Env, "HOME=/img") || len(s.Process.Env) != len(wantEnv) {
		t.Errorf("env %q: want HOME=/home/app in place of the image's", s.Process.Env)
	}
}

// TestWithUser: a user of the rootfs's /etc/passwd and its HOME; a uid
// without an entry keeps HOME; no user leaves root; a name the rootfs lacks
// is an error.
func TestWithUser(t *testing.T) {
	rootfs := userRootfs(t, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\nnohome:x:7:7\n", "")
	for _, c := range []struct {
		user     string
		uid, gid uint32
		home     string
		err      string
	}{
		{user: "", home: "/root"},
		{user: "nobody", uid: 65534, gid: 65534, home: "/nonexistent"},
		{user: "65534", uid: 65534, gid: 65534, home: "/nonexistent"},
		{user: "1234:5", uid: 1234, gid: 5, home: "/root"},
		{user: "0", home: "/root"},
		{user: "alice", err: `user "alice": no such user in the container's /etc/passwd`},
		{user: "nobody:staff", err: `user "nobody:staff": no such group "staff": the container has no /etc/group`},
	} {
		s, err := build(t, WithRootfs(rootfs))
		if err != nil {
			t.Fatal(err)
		}
		err = Apply(s, WithUser(c.user, nil))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error with %q", c.user, err, c.err)
			}
			continue
		}
		u := s.Process.User
		if err != nil || u.UID != c.uid || u.GID != c.gid || !slices.Contains(s.Process.Env, "HOME="+c.home) || len(s.Process.Env) != len(defaultEnv) {
			t.Errorf("%q: %+v %q %v; want %d:%d HOME=%s", c.user, u, s.Process.Env, err, c.uid, c.gid, c.home)
		}
	}
	// HOME set by the image or by run stays: the user's home is a default.
	s, err := build(t, WithRootfs(rootfs), WithEnv([]string{"HOME=/srv"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(s, WithUser("nobody", []string{"A=1", "HOME=/srv"})); err != nil || !slices.Contains(s.Process.Env, "HOME=/srv") || slices.Contains(s.Process.Env, "HOME=/nonexistent") {
		t.Errorf("-u nobody with HOME=/srv: %q %v", s.Process.Env, err)
	}
	// The rootfs is the spec's: a relative or missing one has no users.
	s = defaultSpec()
	s.Root.Path = filepath.Join(t.TempDir(), "missing")
	if err := Apply(s, WithUser("nobody", nil)); err == nil {
		t.Error("a user looked up in a missing rootfs: no error")
	}
	if _, err := os.Stat(s.Root.Path); err == nil {
		t.Error("WithUser made the rootfs")
	}
}
