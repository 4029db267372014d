// Package oci is the OCI runtime face of sdocker: containers created from a
// bundle and driven by id (create, start, state, kill, delete, exec, pause,
// resume, update), with their state under a root directory, as runc keeps it.
package oci

import (
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
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", st.ID, err)
	}
	return atomicfile.Write(filepath.Join(s.dir(st.ID), "state.json"), b, 0o600, false)
}

// load reads the state of container id; held says whether the caller holds
// the container's lock.
func (s *Store) load(id string, held bool) (*State, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: container id %q", ErrInvalid, id)
	}
	p := filepath.Join(s.dir(id), "state.json")
	var st *State
	err := atomicfile.ReadJSON(p, &st)
	if errors.Is(err, os.ErrNotExist) && !(held && fileExists(s.dir(id)) || s.abandoned(id)) {
		// No container, or one that is still being created.
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err == nil && (st.ID != id || st.Config == nil) {
		err = errors.New("not the state of this container")
	}
	if err != nil {
		return nil, &damagedError{id: id, file: atomicfile.AsDamage(p, err)}
	}
	return st, nil
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
