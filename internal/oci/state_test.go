package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/proc"
)

// newTestState is the state of a created container id whose init is this
// test process (alive, with its real start time).
func newTestState(id string) *State {
	return &State{
		State: specs.State{
			Version: specs.Version, ID: id, Status: specs.StateCreated,
			Pid: os.Getpid(), Bundle: "/bundles/" + id,
			Annotations: map[string]string{"org.example.key": "value"},
		},
		InitStart:       proc.StartTime(os.Getpid()),
		Created:         time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Rootfs:          "/bundles/" + id + "/rootfs",
		Config:          &specs.Spec{Version: "1.0.2", Process: &specs.Process{Args: []string{"sh"}}},
		CgroupPath:      "/sdocker-runc/" + id,
		CgroupOwnership: &cgroups.Ownership{},
	}
}

// newTestContainer writes st into a store of its own, as create leaves it.
func newTestContainer(t *testing.T, st *State) *Store {
	t.Helper()
	s := &Store{Root: t.TempDir()}
	if err := os.Mkdir(s.dir(st.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.save(st); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "abc-DEF_1.2+3": true, "0start": true, strings.Repeat("x", 1024): true,
		"": false, strings.Repeat("x", 1025): false, "-a": false, ".a": false, "_a": false, "+a": false,
		"a/b": false, "../a": false, "a b": false, "a\x00": false, "é": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v; want %v", id, got, want)
		}
	}
}

// A saved state comes back as it was written, its status refreshed from
// the init it names.
func TestStateRoundTrip(t *testing.T) {
	st := newTestState("round")
	s := newTestContainer(t, st)
	if err := unix.Mkfifo(s.fifo("round"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("round")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, st)
	}
	// Started: the init no longer waits on the fifo.
	if err := os.Remove(s.fifo("round")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load("round"); err != nil || got.Status != specs.StateRunning {
		t.Errorf("Load once started: %+v, %v; want running", got, err)
	}
	if fi, err := os.Stat(filepath.Join(s.dir("round"), "state.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state.json: %v, %v; want mode 0600", fi, err)
	}
}

// The status of a loaded state is what the kernel says of its init: gone
// (or never started) is stopped, the exec fifo still there is created,
// else running; paused stays paused while the init lives.
func TestRefreshStatus(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	self, start := os.Getpid(), proc.StartTime(os.Getpid())
	if err := os.Mkdir(s.dir("c"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		pid    int
		start  uint64
		status specs.ContainerState
		fifo   bool
		want   specs.ContainerState
	}{
		{"no init", 0, 0, specs.StateCreating, false, specs.StateStopped},
		{"init gone (reused pid)", self, start + 1, specs.StateRunning, false, specs.StateStopped},
		{"init gone, paused", self, start + 1, StatusPaused, false, specs.StateStopped},
		{"waiting on the fifo", self, start, specs.StateCreated, true, specs.StateCreated},
		{"started", self, start, specs.StateCreated, false, specs.StateRunning},
		{"paused", self, start, StatusPaused, true, StatusPaused},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(s.fifo("c"))
			if c.fifo {
				if err := unix.Mkfifo(s.fifo("c"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			st := &State{State: specs.State{ID: "c", Pid: c.pid, Status: c.status}, InitStart: c.start}
			s.refresh(st)
			if st.Status != c.want {
				t.Errorf("status %q; want %q", st.Status, c.want)
			}
		})
	}
}

// A state that cannot be used is a damaged container (delete --force
// removes it), told apart from one that does not exist and from one that
// is still being created.
func TestLoadDamaged(t *testing.T) {
	for _, c := range []struct {
		name, content, reason string
	}{
		{"empty", "", "empty"},
		{"truncated", `{"ociVersion":"1.0.2","id":"d`, "unexpected end of JSON input"},
		{"not JSON", "garbage", "invalid character"},
		{"another container's", `{"ociVersion":"1.0.2","id":"other","status":"created","config":{}}`, "not the state of this container"},
		{"without config", `{"ociVersion":"1.0.2","id":"d","status":"created"}`, "not the state of this container"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Store{Root: t.TempDir()}
			if err := os.Mkdir(s.dir("d"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.dir("d"), "state.json"), []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load("d")
			if !errors.Is(err, ErrDamaged) || errors.Is(err, ErrNotExist) {
				t.Fatalf("Load: %v; want ErrDamaged", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "container d is damaged") || !strings.Contains(msg, c.reason) || !strings.Contains(msg, "delete --force d") {
				t.Errorf("Load: %q; want the container, %q and how to remove it", msg, c.reason)
			}
		})
	}
}

// A directory without state.json is a container being created while its
// creator holds the lock (not there yet: ErrNotExist), and a damaged one
// once nobody holds it (the create was killed).
func TestLoadWithoutState(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	if _, err := s.Load("none"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Load of no container: %v; want ErrNotExist", err)
	}
	if _, err := s.Load("../x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Load of a bad id: %v; want ErrInvalid", err)
	}
	if err := os.Mkdir(s.dir("half"), 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.lock("half")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("half"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Load while its creator holds it: %v; want ErrNotExist", err)
	}
	if _, err := s.load("half", true); !errors.Is(err, ErrDamaged) {
		t.Errorf("load by the lock holder: %v; want ErrDamaged (missing)", err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("List while it is created: %v, %v; want nothing", list, err)
	}
	unlock()
	_, err = s.Load("half")
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Load once abandoned: %v; want ErrDamaged (missing)", err)
	}
}

// List gives every container sorted by id, damaged ones as such, and
// skips what is not a container directory.
func TestList(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	for _, id := range []string{"c3", "c1"} {
		st := newTestState(id)
		st.Pid = 0
		if err := os.Mkdir(s.dir(id), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := s.save(st); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(s.dir("c2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir("c2"), "state.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root, "c0"), nil, 0o600); err != nil { // a file, not a container
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range list {
		got = append(got, st.ID+":"+string(st.Status))
	}
	if want := []string{"c1:stopped", "c2:damaged", "c3:stopped"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List: %v; want %v", got, want)
	}
	if list, err := (&Store{Root: filepath.Join(s.Root, "absent")}).List(); err != nil || list != nil {
		t.Errorf("List of a root not made yet: %v, %v; want nothing", list, err)
	}
}

// The directory of a new container is refused when the id is taken.
func TestMakeDir(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	unlock, err := s.makeDir("x")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if fi, err := os.Stat(s.dir("x")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("container directory: %v, %v; want a 0700 directory", fi, err)
	}
	if _, err := s.makeDir("x"); !errors.Is(err, ErrExist) {
		t.Errorf("makeDir of a taken id: %v; want ErrExist", err)
	}
}

// The recovery note gives back the cgroup, what of it was made and the
// init, each note replacing the one before; without a usable note the
// cgroup is the default one named after the container.
func TestRecoveryNote(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	if err := os.Mkdir(s.dir("r"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := s.recovered("r"); got.CgroupPath != "/sdocker-runc/r" || got.CgroupOwnership != nil || got.Pid != 0 {
		t.Errorf("recovered without a note: %+v; want the default cgroup, no ownership", got)
	}
	first := &State{State: specs.State{ID: "r"}, CgroupPath: "/a/b", CgroupOwnership: &cgroups.Ownership{}}
	if err := s.noteRecovery(first); err != nil {
		t.Fatal(err)
	}
	if got := s.recovered("r"); got.CgroupPath != "/a/b" || got.CgroupOwnership == nil || got.Pid != 0 {
		t.Errorf("recovered from the first note: %+v", got)
	}
	st := newTestState("r")
	st.CgroupPath = "/custom/path"
	if err := s.noteRecovery(st); err != nil {
		t.Fatalf("second note: %v", err)
	}
	got := s.recovered("r")
	if got.ID != "r" || got.CgroupPath != "/custom/path" || got.Pid != st.Pid || got.InitStart != st.InitStart ||
		!reflect.DeepEqual(got.CgroupOwnership, st.CgroupOwnership) {
		t.Errorf("recovered: %+v; want cgroup, ownership and init of %+v", got, st)
	}
	// The note is one symbolic link, its target the JSON.
	target, err := os.Readlink(filepath.Join(s.dir("r"), recoveryLink))
	if err != nil {
		t.Fatal(err)
	}
	var r recovery
	if err := json.Unmarshal([]byte(target), &r); err != nil || r.CgroupPath != "/custom/path" {
		t.Errorf("note %q: %+v, %v", target, r, err)
	}
	for _, bad := range []string{"{", `{"cgroupPath":"/x"}`, `{"made":{}}`} {
		p := filepath.Join(s.dir("r"), recoveryLink)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(bad, p); err != nil {
			t.Fatal(err)
		}
		if got := s.recovered("r"); got.CgroupPath != "/sdocker-runc/r" || got.CgroupOwnership != nil {
			t.Errorf("recovered from note %q: %+v; want the default cgroup", bad, got)
		}
	}
}

// Head reads a state without decoding its config; a state saved from it
// keeps the config as it was, and Load decodes it whole.
func TestHeadKeepsConfig(t *testing.T) {
	st := newTestState("head")
	st.Config.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Args: []string{"true", "x"}}}}
	st.Config.Linux = &specs.Linux{Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}}}
	s := newTestContainer(t, st)
	h, err := s.Head("head")
	if err != nil {
		t.Fatal(err)
	}
	if h.Config != nil {
		t.Fatalf("Head decoded the config: %+v", h.Config)
	}
	want := *st
	want.Status = specs.StateRunning // no exec fifo: started
	got := *h
	got.rawConfig, want.Config = nil, nil
	if !reflect.DeepEqual(&got, &want) {
		t.Errorf("Head:\n got %+v\nwant %+v", &got, &want)
	}
	hooks, err := s.hooks(h)
	if err != nil || !reflect.DeepEqual(hooks, st.Config.Hooks) {
		t.Errorf("hooks: %+v, %v; want %+v", hooks, err, st.Config.Hooks)
	}
	h.Status = StatusPaused
	if err := s.save(h); err != nil {
		t.Fatal(err)
	}
	full, err := s.Load("head")
	if err != nil {
		t.Fatal(err)
	}
	if full.Status != StatusPaused || full.rawConfig != nil || !reflect.DeepEqual(full.Config, st.Config) {
		t.Errorf("Load after saving the head: status %s, config %+v (raw %q); want paused, %+v", full.Status, full.Config, full.rawConfig, st.Config)
	}
}

func ptr[T any](v T) *T { return &v }

// A config that is not an object is damage to every command; one that
// does not decode as a spec (or whose hooks do not) is damage to those
// that read it.
func TestConfigDamaged(t *testing.T) {
	for _, c := range []struct {
		name, config       string
		head, hooks, whole string // the reason given, "" for none
	}{
		{"null", `null`, "not the state of this container", "-", "-"},
		{"a number", `5`, "not the state of this container", "-", "-"},
		{"an array", `[{}]`, "not the state of this container", "-", "-"},
		{"bad process", `{"process":5}`, "", "", "field config.process: a JSON number"},
		{"bad hooks", `{"hooks":{"poststop":"x"}}`, "", "field config.hooks.poststop: a JSON string", "field config.hooks.poststop: a JSON string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Store{Root: t.TempDir()}
			if err := os.Mkdir(s.dir("d"), 0o700); err != nil {
				t.Fatal(err)
			}
			content := `{"ociVersion":"1.0.2","id":"d","status":"created","config":` + c.config + `}`
			if err := os.WriteFile(s.statePath("d"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(what string, err error, reason string) {
				t.Helper()
				if reason == "" {
					if err != nil {
						t.Errorf("%s: %v; want no error", what, err)
					}
					return
				}
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), "state.json") {
					t.Errorf("%s: %v; want ErrDamaged naming state.json: %s", what, err, reason)
				}
			}
			h, err := s.Head("d")
			check("Head", err, c.head)
			if c.head != "" {
				return
			}
			_, err = s.hooks(h)
			check("hooks", err, c.hooks)
			_, err = s.Load("d")
			check("Load", err, c.whole)
		})
	}
}
