package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// ErrVolumeNotFound and ErrVolumeInUse are the errors of the volume commands.
var (
	ErrVolumeNotFound = errors.New("no such volume")
	ErrVolumeInUse    = errors.New("volume is in use")
)

// Volume is a directory the engine keeps for containers to mount:
// ROOT/volumes/NAME/_data, described by ROOT/volumes/NAME/volume.json.
// An anonymous volume (-v /path) is named by a random id.
type Volume struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	Anonymous bool              `json:"anonymous,omitempty"`
	// Mountpoint is where its content is (not stored: it follows the root).
	Mountpoint string `json:"-"`
}

func (e *Engine) volumesDir() string            { return filepath.Join(e.Root, "volumes") }
func (e *Engine) volumeDir(name string) string  { return filepath.Join(e.volumesDir(), name) }
func (e *Engine) volumeData(name string) string { return filepath.Join(e.volumeDir(name), "_data") }

// CreateVolume creates volume name (a new random one if name is ""), or
// returns the one of that name as it is, as Docker does.
func (e *Engine) CreateVolume(name string, labels map[string]string) (*Volume, error) {
	if name == "" {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		name = id
	}
	if !validName(name) {
		return nil, fmt.Errorf("%w: volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalidInput, name)
	}
	v, _, err := e.ensureVolume(name, labels, false)
	return v, err
}

// ensureVolume returns volume name, creating it if missing; created says
// it was.
func (e *Engine) ensureVolume(name string, labels map[string]string, anonymous bool) (v *Volume, created bool, err error) {
	if v, err := e.Volume(name); err == nil || !errors.Is(err, ErrVolumeNotFound) {
		return v, false, err
	}
	if err := os.MkdirAll(e.volumesDir(), 0o700); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", e.volumesDir(), err)
	}
	if err := os.MkdirAll(e.volumeData(name), 0o755); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", e.volumeData(name), err)
	}
	v = &Volume{Name: name, CreatedAt: time.Now().UTC(), Labels: labels, Anonymous: anonymous, Mountpoint: e.volumeData(name)}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false, fmt.Errorf("encode volume %s: %w", name, err)
	}
	p := filepath.Join(e.volumeDir(name), "volume.json")
	if err := atomicfile.Write(p, b, 0o600, true); err != nil {
		return nil, false, errors.Join(err, os.RemoveAll(e.volumeDir(name)))
	}
	return v, true, nil
}

// Volume reads the volume called name.
func (e *Engine) Volume(name string) (*Volume, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %s", ErrVolumeNotFound, name)
	}
	p := filepath.Join(e.volumeDir(name), "volume.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrVolumeNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	v.Name, v.Mountpoint = name, e.volumeData(name)
	return &v, nil
}

// Volumes lists the volumes by name.
func (e *Engine) Volumes() ([]*Volume, error) {
	ents, err := os.ReadDir(e.volumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.volumesDir(), err)
	}
	var out []*Volume
	for _, ent := range ents {
		if v, err := e.Volume(ent.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// VolumeUsers maps each volume name to the containers (running or not)
// whose mounts use it.
func (e *Engine) VolumeUsers() (map[string][]string, error) {
	all, err := e.List()
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, r := range all {
		for _, m := range r.Mounts {
			if n := e.volumeOf(m); n != "" {
				users[n] = append(users[n], r.ID)
			}
		}
	}
	return users, nil
}

// volumeOf is the name of the volume that m mounts, or "".
func (e *Engine) volumeOf(m MountPoint) string {
	if m.Name != "" {
		return m.Name
	}
	if rel, err := filepath.Rel(e.volumesDir(), m.Source); err == nil && !strings.HasPrefix(rel, "..") && rel != "." {
		return strings.Split(rel, string(filepath.Separator))[0]
	}
	return ""
}

// RemoveVolume deletes volume name; one that a container uses is refused
// (force does not change that, as in Docker: it only ignores a missing one).
func (e *Engine) RemoveVolume(name string, force bool) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := e.Volume(name); err != nil {
		if force && errors.Is(err, ErrVolumeNotFound) {
			return nil
		}
		return err
	}
	users, err := e.VolumeUsers()
	if err != nil {
		return err
	}
	if ids := users[name]; len(ids) > 0 {
		return fmt.Errorf("remove %s: %w by container %s", name, ErrVolumeInUse, shortIDs(ids))
	}
	return e.deleteVolume(name)
}

func (e *Engine) deleteVolume(name string) error {
	if err := os.RemoveAll(e.volumeDir(name)); err != nil {
		return fmt.Errorf("remove volume %s: %w", e.volumeDir(name), err)
	}
	return nil
}

func shortIDs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:min(12, len(id))]
	}
	return strings.Join(out, ", ")
}

// PruneVolumes deletes the volumes no container uses: the anonymous ones,
// or with all every one (Docker's volume prune and prune -a). It returns
// the names removed.
func (e *Engine) PruneVolumes(all bool) ([]string, error) {
	unlock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	vols, err := e.Volumes()
	if err != nil {
		return nil, err
	}
	users, err := e.VolumeUsers()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range vols {
		if len(users[v.Name]) > 0 || !all && !v.Anonymous {
			continue
		}
		if err := e.deleteVolume(v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}
