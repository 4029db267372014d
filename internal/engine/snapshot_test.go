package engine

import (
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/specgen"
)

// TestProcessConfigOf: one value per name (run's over the image's), no
// bare name, and Docker's order: run's variables first, then the image's.
func TestProcessConfigOf(t *testing.T) {
	imageEnv := []string{"PATH=/img", "A=image", "C=image", "C=image2", "D=image"}
	c := processConfigOf(specgen.ImageConfig{
		Entrypoint: []string{"/e"}, Cmd: []string{"a"}, WorkingDir: "/w",
		Env: append(slices.Clone(imageEnv), "B=run", "A=run", "BARE", "D", "B=run2"),
	}, imageEnv)
	if !slices.Equal(c.Env, []string{"B=run2", "A=run", "PATH=/img", "C=image2", "D=image"}) || !slices.Equal(c.Entrypoint, []string{"/e"}) ||
		!slices.Equal(c.Cmd, []string{"a"}) || c.WorkingDir != "/w" {
		t.Errorf("got %+v", c)
	}
	if c := processConfigOf(specgen.ImageConfig{Cmd: []string{"a"}, Env: []string{"A=1"}}, nil); !slices.Equal(c.Env, []string{"A=1"}) {
		t.Errorf("without an image: %+v", c)
	}
}

// TestOwnEnv: what the engine added to the environment of a container of
// an older record is not its config (HOME the home directory of any user,
// unless the image's); the same values from the image or from run are.
func TestOwnEnv(t *testing.T) {
	env := []string{"PATH=" + specgen.DefaultPath, "HOSTNAME=abc", "HOME=/root", "TERM=xterm", "A=1"}
	if got := ownEnv(env, nil, true); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("tty, an image without PATH or HOME: %q", got)
	}
	if got := ownEnv(env, []string{"PATH=" + specgen.DefaultPath, "HOME=/root"}, false); !slices.Equal(got, []string{"PATH=" + specgen.DefaultPath, "HOME=/root", "TERM=xterm", "A=1"}) {
		t.Errorf("an image with PATH and HOME, no tty: %q", got)
	}
	if got := ownEnv([]string{"HOME=/nonexistent", "A=1"}, []string{"HOME=/home"}, false); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("the home directory of -u over the image's HOME: %q", got)
	}
}

// TestContainerConfig: a record's config with its anonymous volumes and
// published ports; an older record's is read from its spec, the image's
// entrypoint told from the command where the command starts with it (an
// --entrypoint of the same program but other arguments is all command).
func TestContainerConfig(t *testing.T) {
	img := &image.Image{Config: image.Config{Entrypoint: []string{"/entry", "-x"}, Env: []string{"PATH=/img"}}}
	r := &Record{
		Host:   HostOptions{User: "app", StopSignal: "SIGHUP", Init: true},
		Labels: map[string]string{"a": "1"},
		Ports:  []network.PortMapping{{HostPort: 1, ContainerPort: 80, Proto: "tcp"}},
		Mounts: []MountPoint{
			{Type: mountVolume, Name: "x", Destination: "/anon", Anonymous: true},
			{Type: mountVolume, Name: "named", Destination: "/named"},
			{Type: mountBind, Source: "/h", Destination: "/bind"},
		},
		Config: &ProcessConfig{Entrypoint: []string{"/e"}, Cmd: []string{"c"}, Env: []string{"A=1"}, WorkingDir: "/w"},
		Spec: &specs.Spec{Process: &specs.Process{
			Args: []string{specgen.InitPath, "--", "/entry", "-x", "run"},
			Env:  []string{"PATH=/img", "HOSTNAME=h", "HOME=/root", "B=2"}, Cwd: "/srv",
		}},
	}
	want := &image.ContainerConfig{
		Entrypoint: []string{"/e"}, Cmd: []string{"c"}, Env: []string{"A=1"}, WorkingDir: "/w", User: "app",
		ExposedPorts: []string{"80/tcp"}, Volumes: []string{"/anon"}, Labels: r.Labels, StopSignal: "SIGHUP",
	}
	if got := containerConfig(r, img); !reflect.DeepEqual(got, want) {
		t.Errorf("with its config:\n%+v\nwant\n%+v", got, want)
	}
	r.Config = nil
	want.Entrypoint, want.Cmd, want.Env, want.WorkingDir = []string{"/entry", "-x"}, []string{"run"}, []string{"PATH=/img", "B=2"}, "/srv"
	if got := containerConfig(r, img); !reflect.DeepEqual(got, want) {
		t.Errorf("an older record:\n%+v\nwant\n%+v", got, want)
	}
	r.Spec.Process.Args = []string{specgen.InitPath, "--", "/entry", "-y"}
	if got := containerConfig(r, img); got.Entrypoint != nil || !slices.Equal(got.Cmd, []string{"/entry", "-y"}) {
		t.Errorf("an older record of another entrypoint: %+v", got)
	}
}
