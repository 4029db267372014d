package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/specgen"
)

// A container is damaged when one of its state files (container.json,
// spec.json) is missing or cannot be decoded: a full disk, a crash of the
// file system, a hand edit. Its directory's name is still its id, and its
// cgroups and mounts are named after that id, so it can be listed
// (`ps -a`), refused clearly by every command, and removed (`rm -f`).

// ErrDamaged is matched (errors.Is) by the error of a damaged container.
var ErrDamaged = errors.New("damaged container")

// StateDamaged is the state `ps` shows for a container whose record cannot
// be read.
const StateDamaged = "damaged"

// DamagedError says which state file of a container cannot be read, and why.
type DamagedError struct {
	ID   string // the container's directory name
	File *atomicfile.Damage
}

func (d *DamagedError) Error() string {
	short := ids.ShortID(d.ID)
	return fmt.Sprintf("container %s is damaged: %v (sdocker rm -f %s removes it)", short, d.File, short)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (d *DamagedError) Is(target error) bool { return target == ErrDamaged }

// Reason is the damage in short, as `ps` shows it: "container.json:
// unexpected end of JSON input".
func (d *DamagedError) Reason() string { return filepath.Base(d.File.Path) + ": " + d.File.Reason() }

// damaged is the error of container id whose state file path cannot be
// used for err (a *atomicfile.Damage, or what is wrong with the content).
func damaged(id, path string, err error) *DamagedError {
	return &DamagedError{ID: id, File: atomicfile.AsDamage(path, err)}
}

// isContainerID tells a container directory's name (64 hex digits) from
// anything else found in the containers directory.
func isContainerID(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// halfCreated reports whether dir holds nothing but temporary files and the
// state lock: what a command killed while creating a container leaves (see
// create).
func halfCreated(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, ent := range ents {
		if !strings.HasPrefix(ent.Name(), ".") && ent.Name() != stateLockName {
			return false
		}
	}
	return true
}

// damagedRecord is the record List returns for a container whose
// container.json cannot be read.
func damagedRecord(d *DamagedError) *Record {
	return &Record{ID: d.ID, Status: StateDamaged, Damaged: d.Reason()}
}

// readSpec reads and checks the spec of container id: a spec that is not
// there gives an error matching fs.ErrNotExist, one that cannot be read a
// *DamagedError.
func (e *Engine) readSpec(id string) (*specs.Spec, error) {
	p := e.specPath(id)
	var s *specs.Spec
	err := atomicfile.ReadJSON(p, &s)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, damaged(id, p, err)
	}
	if s.Process == nil || s.Linux == nil || s.Root == nil {
		return nil, damaged(id, p, errors.New("not a container spec (no process, linux or root)"))
	}
	return s, nil
}

// requireSpec fails for a record without a spec (its creation was
// interrupted, or spec.json went missing): nothing can run it.
func (e *Engine) requireSpec(r *Record) error {
	if r.Spec == nil {
		return damaged(r.ID, e.specPath(r.ID), fs.ErrNotExist)
	}
	return nil
}

// defaultCgroupPath is the cgroup every container gets (see
// specgen.WithCgroupsPath).
func (e *Engine) defaultCgroupPath(id string) string {
	return specgen.CgroupsPath(e.CgroupParent, id)
}

// releaseDamaged kills what the cgroups of container id hold, removes them
// and unmounts its rootfs: what the end of a container releases, found
// from its id alone.
func (e *Engine) releaseDamaged(id string) error {
	// The cgroup named after the container is its own; the record, when
	// it can be read, says what else it made.
	path, own := e.defaultCgroupPath(id), (*cgroups.Ownership)(nil)
	if r, err := e.loadRecord(id); err == nil && r.CgroupPath != "" {
		path, own = r.CgroupPath, r.CgroupOwnership
	}
	var errs []error
	cg, err := cgroups.Open(path, own)
	if err == nil {
		err = cg.Destroy()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("clean up container %s: %w", ids.ShortID(id), err))
	}
	errs = append(errs, e.releaseNetwork(id))
	return errors.Join(append(errs, image.ReleaseRootfs(e.containerDir(id)))...)
}

// endDamaged is the monitor's work once the init of container id has
// ended with code while its state files cannot be read (err): its cgroups
// and rootfs are released all the same, and if its record can still be
// written, the exit is recorded there (or, with --rm, the container goes).
func (e *Engine) endDamaged(id string, code int, err error) error {
	errs := []error{err, e.releaseDamaged(id)}
	r, rerr := e.loadRecord(id)
	switch {
	case rerr != nil:
	case r.AutoRemove:
		errs = append(errs, e.remove(id))
	default:
		errs = append(errs, e.updateRecord(id, func(n *Record) {
			n.Status, n.ExitCode, n.FinishedAt, n.Error = StateExited, code, time.Now().UTC(), err.Error()
		}))
	}
	return errors.Join(errs...)
}

// damagedWatcherWait bounds how long rm -f waits for the watcher of a
// damaged container to go once its processes are killed.
const damagedWatcherWait = 10 * time.Second

// removeDamaged removes container d.ID, whose state files cannot be read:
// what its cgroups hold is killed, its rootfs unmounted and its directory
// removed; with volumes, the anonymous volumes that its readable files
// name go too. A damaged container that is watched (it may run) needs
// force.
func (e *Engine) removeDamaged(d *DamagedError, force, volumes bool) error {
	id := d.ID
	lock, err := e.holdContainer(id)
	switch {
	case err == nil:
		defer lock.Close()
	case !errors.Is(err, unix.EWOULDBLOCK):
		return err
	case !force:
		return fmt.Errorf("%w: %w, and it may be running: use -f", ErrWrongState, d)
	}
	vols := e.ownedVolumes(id)
	if err := e.releaseDamaged(id); err != nil {
		return err
	}
	if lock == nil {
		e.waitExit(id, damagedWatcherWait) // its watcher ends with its init
	}
	if volumes {
		for _, v := range vols {
			if err := os.RemoveAll(v); err != nil {
				return fmt.Errorf("remove volume %s: %w", v, err)
			}
		}
	}
	return e.remove(id)
}

// ownedVolumes lists the directories of the anonymous volumes of container
// id that its record names, or if that cannot be read, its spec (mounts of
// a volume's data directory whose volume is anonymous).
func (e *Engine) ownedVolumes(id string) []string {
	var out []string
	if r, err := e.loadRecord(id); err == nil {
		for _, m := range r.Mounts {
			if name := e.volumeOf(m); m.Anonymous && name != "" {
				out = append(out, e.volumeDir(name))
			}
		}
		return out
	}
	s, err := e.readSpec(id)
	if err != nil {
		return nil
	}
	for _, m := range s.Mounts {
		if m.Type != "bind" {
			continue
		}
		if dir, ok := e.volumeDirOf(m.Source); ok {
			if v, err := e.Volume(filepath.Base(dir)); err == nil && v.Anonymous {
				out = append(out, dir)
			}
		} else if filepath.Dir(filepath.Clean(m.Source)) == e.volumesDir() {
			out = append(out, filepath.Clean(m.Source)) // of before named volumes
		}
	}
	return out
}
