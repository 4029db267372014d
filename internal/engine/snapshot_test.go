package engine

import (
	"slices"
	"testing"

	"github.com/sdocker/sdocker/internal/specgen"
)

// TestProcessConfigOf: one value per name (run's over the image's), and
// no bare name.
func TestProcessConfigOf(t *testing.T) {
	c := processConfigOf(specgen.ImageConfig{
		Entrypoint: []string{"/e"}, Cmd: []string{"a"}, WorkingDir: "/w",
		Env: []string{"PATH=/img", "A=image", "A=run", "BARE", "B=run"},
	})
	if !slices.Equal(c.Env, []string{"PATH=/img", "A=run", "B=run"}) || !slices.Equal(c.Entrypoint, []string{"/e"}) ||
		!slices.Equal(c.Cmd, []string{"a"}) || c.WorkingDir != "/w" {
		t.Errorf("got %+v", c)
	}
}

// TestOwnEnv: what the engine added to the environment of a container of
// an older record is not its config; the same values from the image or
// from run are.
func TestOwnEnv(t *testing.T) {
	env := []string{"PATH=" + specgen.DefaultPath, "HOSTNAME=abc", "HOME=/root", "TERM=xterm", "A=1"}
	if got := ownEnv(env, nil, true); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("tty, an image without PATH or HOME: %q", got)
	}
	if got := ownEnv(env, []string{"PATH=" + specgen.DefaultPath, "HOME=/home"}, false); !slices.Equal(got, []string{"PATH=" + specgen.DefaultPath, "HOME=/root", "TERM=xterm", "A=1"}) {
		t.Errorf("an image with PATH and HOME, no tty: %q", got)
	}
}
