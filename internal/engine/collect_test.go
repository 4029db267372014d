package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCollect: what a killed command leaves is collected by the next
// one's Collect, and nothing else is touched.
func TestCollect(t *testing.T) {
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	volume := func(name string) string {
		p := filepath.Join(e.Root, "volumes", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostDir := t.TempDir()
	add := func(n int, r Record, spec bool) *Record {
		r.ID, r.Name = strings.Repeat(string(rune('a'+n)), 64), "c"+string(rune('a'+n))
		if err := os.Mkdir(e.containerDir(r.ID), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := e.save(&r); err != nil {
			t.Fatal(err)
		}
		if spec {
			if err := os.WriteFile(filepath.Join(e.containerDir(r.ID), "spec.json"), []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return &r
	}
	// A run killed before it wrote the spec: gone, with its anonymous volume.
	halfMade := add(0, Record{Status: StateCreated, Mounts: []MountPoint{{Source: volume("half"), Destination: "/v", Anonymous: true}}}, false)
	// A run killed after it wrote the spec, before the container started:
	// kept as created, with its command.
	created := add(1, Record{Status: StateCreated, Command: []string{"sleep", "1"}}, true)
	// Its watcher died while it ran: exited, 137.
	orphan := add(2, Record{Status: StateRunning, Pid: 0, StartedAt: time.Now()}, true)
	// The same with --rm: gone with its anonymous volume, not the host
	// directory it had.
	orphanRm := add(3, Record{Status: StateRunning, AutoRemove: true, Mounts: []MountPoint{
		{Source: volume("rm"), Destination: "/v", Anonymous: true}, {Source: hostDir, Destination: "/h"}}}, true)
	// Watched (its lock is held): untouched.
	watched := add(4, Record{Status: StateRunning, Pid: 0}, true)
	lock, err := e.holdContainer(watched.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// Ended and recorded, nothing left: untouched.
	ended := add(5, Record{Status: StateExited, ExitCode: 3}, true)

	if err := e.Collect(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Record{halfMade, orphanRm} {
		if _, err := e.loadRecord(r.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: not removed (%v)", r.Name, err)
		}
		if _, err := os.Stat(r.Mounts[0].Source); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: its anonymous volume %s is left", r.Name, r.Mounts[0].Source)
		}
	}
	if _, err := os.Stat(hostDir); err != nil {
		t.Errorf("the host directory of a --rm container went with it: %v", err)
	}
	want := map[*Record]func(*Record) bool{
		created: func(n *Record) bool { return n.Status == StateCreated && len(n.Command) == 2 && n.ExitCode == 0 },
		orphan:  func(n *Record) bool { return n.Status == StateExited && n.ExitCode == 137 && !n.FinishedAt.IsZero() },
		watched: func(n *Record) bool { return n.Status == StateRunning },
		ended:   func(n *Record) bool { return n.Status == StateExited && n.ExitCode == 3 },
	}
	for r, ok := range want {
		n, err := e.loadRecord(r.ID)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		if !ok(n) {
			t.Errorf("%s after Collect: status %s, exit code %d, command %q", r.Name, n.Status, n.ExitCode, n.Command)
		}
	}
}

func TestUnwatchedCause(t *testing.T) {
	for _, c := range []struct {
		detached, killed bool
		want             string
	}{
		{true, true, "killed: its monitor died"},
		{true, false, "exit status lost: its monitor died before it could record it"},
		{false, true, "killed: the sdocker command that ran it died"},
		{false, false, "killed: the sdocker command that ran it died"},
	} {
		if got := unwatchedCause(c.detached, c.killed); got != c.want {
			t.Errorf("unwatchedCause(%v, %v) = %q, want %q", c.detached, c.killed, got, c.want)
		}
	}
}
