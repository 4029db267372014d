package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/sdocker/sdocker/internal/image"
)

// TestProcessOf: run's -e NAME takes the caller's value, an image's bare
// NAME does not; a rootfs directory runs bash without a command, an image
// without one is refused.
func TestProcessOf(t *testing.T) {
	t.Setenv("SDOCKER_TEST_FROM_HOST", "host value")
	t.Setenv("SDOCKER_TEST_SECRET", "not for the image")
	img := &image.Image{Config: image.Config{Cmd: []string{"serve"}, Env: []string{"SDOCKER_TEST_SECRET", "A=1"}}}
	p, err := processOf(RunOptions{Image: "app", Env: []string{"SDOCKER_TEST_FROM_HOST", "SDOCKER_TEST_UNSET", "B=2"}}, img)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SDOCKER_TEST_SECRET", "A=1", "SDOCKER_TEST_FROM_HOST=host value", "SDOCKER_TEST_UNSET", "B=2"}
	if !slices.Equal(p.Env, want) || !slices.Equal(p.Args(), []string{"serve"}) {
		t.Errorf("env %q (want %q), args %q", p.Env, want, p.Args())
	}
	p, err = processOf(RunOptions{}, nil)
	if err != nil || !slices.Equal(p.Args(), []string{"bash"}) {
		t.Errorf("a rootfs directory without a command: %q, %v; want bash", p.Args(), err)
	}
	p, err = processOf(RunOptions{Entrypoint: new(string)}, nil)
	if err != nil || !slices.Equal(p.Args(), []string{"bash"}) {
		t.Errorf("a rootfs directory, --entrypoint \"\": %q, %v; want bash", p.Args(), err)
	}
	empty := ""
	_, err = processOf(RunOptions{Image: "app", Entrypoint: &empty}, img)
	if !errors.Is(err, ErrInvalidInput) || err.Error() != "invalid argument: image app has no command: give one" {
		t.Errorf("an image whose command is cleared: %v", err)
	}
}
