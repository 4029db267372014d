package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStopTimeoutAndSignal(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, c := range []struct {
		own   *int
		given time.Duration
		want  time.Duration
	}{
		{nil, ContainerStopTimeout, DefaultStopTimeout},
		{n(3), ContainerStopTimeout, 3 * time.Second},
		{n(0), ContainerStopTimeout, 0},
		{n(-1), ContainerStopTimeout, -1},
		{n(3), 7 * time.Second, 7 * time.Second},
		{nil, 0, 0},
	} {
		r := &Record{Host: HostOptions{StopTimeout: c.own}}
		if got := stopTimeout(r, c.given); got != c.want {
			t.Errorf("stopTimeout(own %v, given %v) = %v, want %v", c.own, c.given, got, c.want)
		}
	}
	for sig, want := range map[string]unix.Signal{"": unix.SIGTERM, "HUP": unix.SIGHUP, "SIGUSR1": unix.SIGUSR1, "9": unix.SIGKILL} {
		if got := stopSignal(&Record{Host: HostOptions{StopSignal: sig}}); got != want {
			t.Errorf("stopSignal(%q) = %v, want %v", sig, got, want)
		}
	}
}

func TestUserCommand(t *testing.T) {
	args := []string{"/sbin/docker-init", "--", "sleep", "1"}
	if got := userCommand(&Record{Host: HostOptions{Init: true}}, args); !slices.Equal(got, args[2:]) {
		t.Errorf("with --init: %q", got)
	}
	if got := userCommand(&Record{}, args); !slices.Equal(got, args) {
		t.Errorf("without --init: %q", got)
	}
}

func TestProcessSpecRefuses(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "cid")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := func(v int) *int { return &v }
	for _, o := range []ProcessOptions{
		{StopSignal: "NOSUCH"},
		{StopSignal: "65"},
		{StopTimeout: n(-2)},
		{Ulimits: []string{"nofile=10:5"}},
		{Ulimits: []string{"nosuch=1"}},
		{CIDFile: existing},
	} {
		if _, err := processSpec(o); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("processSpec(%+v): %v, want ErrInvalidInput", o, err)
		}
	}
}

func TestWriteCIDFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cid")
	if err := writeCIDFile(p, "abc"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "abc" {
		t.Errorf("cidfile %q", b)
	}
	if err := writeCIDFile(p, "def"); err == nil {
		t.Error("a second write to the cidfile: no error")
	}
	if err := removeCIDFile(p); err != nil {
		t.Fatal(err)
	}
	if err := removeCIDFile(p); err != nil {
		t.Errorf("removing a missing cidfile: %v", err)
	}
}
