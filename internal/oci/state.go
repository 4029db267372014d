// Package oci is the OCI runtime face of sdocker: containers created from a
// bundle and driven by id (create, start, state, kill, delete, exec, pause,
// resume, update), with their state under a root directory, as runc keeps it.
package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/cgroups"
)

// Sentinel errors.
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container already exists")
	ErrWrongState = errors.New("wrong container state")
	ErrInvalid    = errors.New("invalid argument")
	// ErrDamaged is matched by the error of a container whose state.json
	// is missing or cannot be decoded: delete --force removes it.
	ErrDamaged = errors.New("damaged container")
)

// A container in the wrong state for a command is said in runc's words:
// containerd's shim, podman and cri-o recognise a container that has
// already stopped, or is gone, by these phrases in the runtime's error
// ("container not running", "does not exist"). Each matches ErrWrongState.
var (
	ErrNotRunning = stateError("container not running")
	ErrNotPaused  = stateError("container not paused")
)

// stateError is a wrong state, in runc's words.
type stateError string

func (e stateError) Error() string        { return string(e) }
func (e stateError) Is(target error) bool { return target == ErrWrongState }

// cannot is the error of a command that a container's status refuses:
// "cannot VERB container ID: container not running (it is stopped)".
func cannot(verb, id string, why error, status specs.ContainerState) error {
	return fmt.Errorf("cannot %s container %s: %w (it is %s)", verb, id, why, status)
}

// startRefused is start's error for a container that is not created,
// in runc's words.
func startRefused(id string, status specs.ContainerState) error {
	why := stateError("cannot start a container in the " + string(status) + " state")
	switch status {
	case specs.StateStopped:
		why = "cannot start a container that has stopped"
	case specs.StateRunning:
		why = "cannot start an already running container"
	}
	return fmt.Errorf("%w: %s", why, id)
}

// StatusDamaged is the status list shows for a container whose state
// cannot be read.
const StatusDamaged specs.ContainerState = "damaged"

// damagedError says why the state of a container cannot be used.
type damagedError struct {
	id   string
	file *atomicfile.Damage
}

func (d *damagedError) Error() string {
	return fmt.Sprintf("container %s is damaged: %v (delete --force %s removes it)", d.id, d.file, d.id)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (d *damagedError) Is(target error) bool { return target == ErrDamaged }

// Status values beyond the spec's.
const StatusPaused specs.ContainerState = "paused"

// State is what the runtime keeps of a container, in ROOT/ID/state.json.
type State struct {
	specs.State
	// InitStart is the init's start time (/proc/PID/stat field 22): with
	// Pid it names one process over time.
	InitStart uint64      `json:"initStart"`
	Created   time.Time   `json:"created"`
	Rootfs    string      `json:"rootfs"`
	Config    *specs.Spec `json:"config"`
	// CgroupPath is where the container's cgroups are, relative to each
	// hierarchy root.
	CgroupPath string `json:"cgroupPath"`
	Owner      string `json:"owner,omitempty"`
	// CgroupOwnership says which of the CgroupPath directories were made
	// for the container, the others being cgroups that existed and were
	// joined; nil in a state from before it was kept (every one was made
	// then).
	CgroupOwnership *cgroups.Ownership `json:"cgroupOwnership,omitempty"`
	// rawConfig is the config as state.json holds it while Config is not
	// decoded (see load).
	rawConfig json.RawMessage
}

// stateFile is state.json with the config left undecoded: the spec's
// types are many, and encoding/json's first use of them (cold reflection
// over the whole specs.Spec tree) costs more than the rest of a short
// command such as kill or delete. Its Config hides State's.
type stateFile struct {
	State
	Config json.RawMessage `json:"config"`
}

// Store is the state directory (--root).
type Store struct {
	Root string
}

// validID accepts runc's container ids: a letter or digit, then letters,
// digits and _.+- (at most 1024 characters).
func validID(id string) bool {
	if id == "" || len(id) > 1024 {
		return false
	}
	for i, c := range id {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_.+-", c)) {
			return false
		}
	}
	return true
}

func (s *Store) dir(id string) string { return filepath.Join(s.Root, id) }

func (s *Store) fifo(id string) string { return filepath.Join(s.dir(id), "exec.fifo") }

// lock takes the container's lock (flock on its state directory); the
// returned function releases it.
func (s *Store) lock(id string) (func(), error) {
	fd, err := unix.Open(s.dir(id), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
		}
		return nil, fmt.Errorf("open %s: %w", s.dir(id), err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", s.dir(id), err)
	}
	return func() { unix.Close(fd) }, nil
}

func (s *Store) save(st *State) error {
	var v any = st
	if st.Config == nil {
		v = &stateFile{State: *st, Config: st.rawConfig}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", st.ID, err)
	}
	return atomicfile.Write(s.statePath(st.ID), b, 0o600, false)
}

func (s *Store) statePath(id string) string { return filepath.Join(s.dir(id), "state.json") }

// load reads the state of container id, its config left undecoded (Config
// nil: see stateFile, and decodeConfig); held says whether the caller
// holds the container's lock.
func (s *Store) load(id string, held bool) (*State, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: container id %q", ErrInvalid, id)
	}
	p := s.statePath(id)
	var f *stateFile
	err := atomicfile.ReadJSON(p, &f)
	if errors.Is(err, os.ErrNotExist) && !(held && fileExists(s.dir(id)) || s.abandoned(id)) {
		// No container, or one that is still being created.
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err == nil && (f.ID != id || !isObject(f.Config)) {
		err = errors.New("not the state of this container")
	}
	if err != nil {
		return nil, &damagedError{id: id, file: atomicfile.AsDamage(p, err)}
	}
	st := &f.State
	st.rawConfig = f.Config
	return st, nil
}

// isObject reports whether b, valid JSON, is an object.
func isObject(b json.RawMessage) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// decodeConfig decodes the config of a state that load returned.
func (s *Store) decodeConfig(st *State) error {
	if st.Config != nil {
		return nil
	}
	var f struct {
		Config *specs.Spec `json:"config"`
	}
	if err := s.decodeRawConfig(st, &f); err != nil {
		return err
	}
	st.Config, st.rawConfig = f.Config, nil
	return nil
}

// hooks returns the hooks of st's config, decoding only them when the
// config is not decoded.
func (s *Store) hooks(st *State) (*specs.Hooks, error) {
	if st.Config != nil {
		return st.Config.Hooks, nil
	}
	var f struct {
		Config struct {
			Hooks *specs.Hooks `json:"hooks"`
		} `json:"config"`
	}
	err := s.decodeRawConfig(st, &f)
	return f.Config.Hooks, err
}

// decodeRawConfig decodes st's undecoded config into v, a struct with a
// "config" field: as part of state.json, so that an error names the field
// as the whole file's decode would (config.process, ...).
func (s *Store) decodeRawConfig(st *State, v any) error {
	b := make([]byte, 0, len(st.rawConfig)+11)
	b = append(append(append(b, `{"config":`...), st.rawConfig...), '}')
	p := s.statePath(st.ID)
	if err := atomicfile.DecodeJSON(p, b, v); err != nil {
		return &damagedError{id: st.ID, file: atomicfile.AsDamage(p, err)}
	}
	return nil
}

// abandoned reports whether the directory of container id is there
// without anyone holding its lock: a container whose state is gone, not one
// being created (its creator holds the lock until the state is written).
func (s *Store) abandoned(id string) bool {
	fd, err := unix.Open(s.dir(id), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == nil
}

// List returns the states of all containers, sorted by id.
func (s *Store) List() ([]*State, error) {
	ents, err := os.ReadDir(s.Root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", s.Root, err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, err := s.load(e.Name(), false)
		switch {
		case errors.Is(err, ErrDamaged):
			st = &State{State: specs.State{ID: e.Name(), Status: StatusDamaged}}
		case err != nil:
			continue
		default:
			s.refresh(st)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
