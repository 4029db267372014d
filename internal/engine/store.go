// Package engine keeps containers by id and name on disk and runs them on
// the runtime core: the part of `sdocker` behind its command line.
package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/rootless"
	"github.com/sdocker/sdocker/internal/specgen"
)

// Sentinel errors the command line maps to messages.
var (
	ErrNotFound     = errors.New("no such container")
	ErrAmbiguous    = errors.New("ambiguous container reference")
	ErrNameInUse    = errors.New("name already in use")
	ErrWrongState   = errors.New("wrong container state")
	ErrInvalidInput = errors.New("invalid argument")
)

// Container states.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateExited     = "exited"
)

// Record is what sdocker knows of one container; it lives in
// ROOT/containers/ID/container.json.
type Record struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Image is what the user named: an image reference or a rootfs
	// directory; ImageID is the image's id in the store ("" for a directory).
	Image   string    `json:"image"`
	ImageID string    `json:"imageId,omitempty"`
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	// Spec is kept in its own file (spec.json), read only when needed:
	// listing containers must stay cheap.
	Spec *specs.Spec `json:"-"`
	// Command and CgroupPath come from the spec, for listings and cleanup.
	Command    []string          `json:"command"`
	CgroupPath string            `json:"cgroupPath"`
	Labels     map[string]string `json:"labels,omitempty"`
	Mounts     []MountPoint      `json:"mounts,omitempty"`
	// Ports are the published ports as asked (host port 0: picked at
	// start); Networks where the running container is, with the ports
	// as published. Networks is set while it may hold anything of the
	// host's network.
	Ports    []network.PortMapping `json:"ports,omitempty"`
	Networks []network.Attachment  `json:"networks,omitempty"`
	// CgroupOwnership says which of the cgroup's directories the last
	// start made (the others existed and were joined): what cleanup may
	// kill in and remove. Nil in a record from before it was kept, when
	// every one was made.
	CgroupOwnership *cgroups.Ownership `json:"cgroupOwnership,omitempty"`
	// AutoRemove deletes the record when the container ends (--rm).
	AutoRemove bool `json:"autoRemove,omitempty"`
	// ByCreate says create made it: created and unwatched, it waits for
	// its start (with --rm too), and is no start that died (see Collect).
	ByCreate bool          `json:"byCreate,omitempty"`
	Restart  RestartPolicy `json:"restart"`
	// Limits are the resource options as given, for inspect and update.
	Limits   specgen.Limits `json:"limits"`
	Detached bool           `json:"detached,omitempty"`
	// Log is how the monitor rotates the log (--log-opt).
	Log LogConfig `json:"log,omitzero"`
	// Host are the other options the container was created with.
	Host HostOptions `json:"host"`
	// Config is what the container runs as Docker's container config has
	// it, for commit. Nil in a record from before it was kept.
	Config *ProcessConfig `json:"config,omitempty"`
	// Healthcheck is the container's healthcheck (see healthConfig), and
	// HealthOnFailure what is done when it is unhealthy ("" is nothing).
	Healthcheck     *image.HealthConfig `json:"healthcheck,omitempty"`
	HealthOnFailure string              `json:"healthOnFailure,omitempty"`
	// Health is its health state, read by LoadHealth only.
	Health *Health `json:"-"`

	Status string `json:"status"`
	// Pid and PidStart (from /proc/PID/stat) identify the container's
	// init; Monitor and MonitorStart the sdocker process that waits for it.
	Pid          int       `json:"pid,omitempty"`
	PidStart     uint64    `json:"pidStart,omitempty"`
	Monitor      int       `json:"monitor,omitempty"`
	MonitorStart uint64    `json:"monitorStart,omitempty"`
	BootID       string    `json:"bootId,omitempty"`
	StartedAt    time.Time `json:"startedAt,omitempty"`
	FinishedAt   time.Time `json:"finishedAt,omitempty"`
	ExitCode     int       `json:"exitCode"`
	OOMKilled    bool      `json:"oomKilled,omitempty"`
	RestartCount int       `json:"restartCount,omitempty"`
	Error        string    `json:"error,omitempty"`
	// Damaged says why the record could not be read (StateDamaged).
	Damaged string `json:"-"`

	// exitUnsaved is the exit that the exit file had for the record, which
	// still says the container runs on disk (see applyExit).
	exitUnsaved *exitStatus
}

// HostOptions are the run options kept for inspect.
type HostOptions struct {
	Network        string     `json:"network,omitempty"` // see isBridgeMode
	NetworkAliases []string   `json:"networkAliases,omitempty"`
	IP             netip.Addr `json:"ip,omitzero"`
	ExtraHosts     []string   `json:"extraHosts,omitempty"`
	// Connected are the networks `network connect` added: a start puts
	// the container on them again, after its own.
	Connected  []ConnectedNetwork `json:"connected,omitempty"`
	DNS        network.DNSConfig  `json:"dns,omitzero"`
	Privileged bool               `json:"privileged,omitempty"`
	ReadOnly   bool               `json:"readOnly,omitempty"`
	CapAdd     []string           `json:"capAdd,omitempty"`
	CapDrop    []string           `json:"capDrop,omitempty"`
	User       string             `json:"user,omitempty"`
	Tty        bool               `json:"tty,omitempty"`
	// OpenStdin (-i) keeps the container's stdin open: a detached one's
	// monitor passes it what attach clients send. StdinOnce closes it
	// when the first client's stdin ends (create -i, or a foreground
	// run -i started again; not run -d -i), as Docker does.
	OpenStdin bool `json:"openStdin,omitempty"`
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// Init, StopSignal, StopTimeout and GroupAdd are those of
	// ProcessOptions.
	Init        bool     `json:"init,omitempty"`
	StopSignal  string   `json:"stopSignal,omitempty"`
	StopTimeout *int     `json:"stopTimeout,omitempty"`
	GroupAdd    []string `json:"groupAdd,omitempty"`
	// Namespaces are the namespaces shared with the host or another
	// container (--ipc, --pid, --uts).
	Namespaces NamespaceModes `json:"namespaces,omitzero"`
	// Userns is --userns as given (private for --uidmap); UIDMap and
	// GIDMap the container's mappings, which no --userns auto hands out
	// again while the record exists. IDMappedRootfs is the directory the
	// container runs on, id-mapped at its rootfs.
	Userns         string                 `json:"userns,omitempty"`
	UIDMap         []specs.LinuxIDMapping `json:"uidMap,omitempty"`
	GIDMap         []specs.LinuxIDMapping `json:"gidMap,omitempty"`
	IDMappedRootfs string                 `json:"idMappedRootfs,omitempty"`
}

// ProcessConfig is a container's process as its image's config and run's
// choices made it (Docker's merge): the entrypoint and command apart, the
// environment with one value per name.
type ProcessConfig struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
}

// processConfigOf is the ProcessConfig of a container that runs p (see
// processOf) of an image whose environment is imageEnv. Its environment is
// in Docker's order: run's variables, then the image's that run does not
// set. A variable without a value (-e NAME the caller lacks) is left out,
// as the container's environment leaves it out.
func processConfigOf(p specgen.ImageConfig, imageEnv []string) *ProcessConfig {
	c := &ProcessConfig{Entrypoint: p.Entrypoint, Cmd: p.Cmd, WorkingDir: p.WorkingDir}
	var own []string
	for _, kv := range p.Env[len(imageEnv):] { // run's come after the image's
		if strings.Contains(kv, "=") {
			own = specgen.SetEnv(own, kv)
		}
	}
	c.Env = own
	for _, kv := range imageEnv {
		k, _, ok := strings.Cut(kv, "=")
		if ok && !slices.ContainsFunc(own, func(o string) bool { return strings.HasPrefix(o, k+"=") }) {
			c.Env = specgen.SetEnv(c.Env, kv)
		}
	}
	return c
}

// ConnectedNetwork is a network that `network connect` added, as given.
type ConnectedNetwork struct {
	Name    string     `json:"name"`
	Aliases []string   `json:"aliases,omitempty"`
	IP      netip.Addr `json:"ip,omitzero"`
}

// MountPoint is a mount of the container's own choosing: a host directory
// or file (bind), a volume of the engine, or a tmpfs.
type MountPoint struct {
	// Type is bind, volume or tmpfs; "" is bind, or volume when Anonymous
	// (the records of before named volumes).
	Type        string `json:"type,omitempty"`
	Name        string `json:"name,omitempty"` // the volume's
	Source      string `json:"source"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
	// Anonymous volumes (-v /path) live under ROOT/volumes; rm -v deletes them.
	Anonymous bool `json:"anonymous,omitempty"`
	// Propagation is the bind propagation (rprivate when "").
	Propagation string `json:"propagation,omitempty"`
	// NoCopy keeps a new volume empty (volume-nocopy): the image's content
	// at Destination is not copied into it.
	NoCopy bool `json:"noCopy,omitempty"`
	// TmpfsOptions are a tmpfs's options (size=, mode=, exec...).
	TmpfsOptions []string `json:"tmpfsOptions,omitempty"`
}

// RestartPolicy says when the monitor starts an exited container again:
// "no", "on-failure" (at most MaxRetries times if MaxRetries > 0), "always" or
// "unless-stopped" (the same as always: with no daemon, a stopped container
// is never started again by anyone but a command).
type RestartPolicy struct {
	Name       string `json:"name"`
	MaxRetries int    `json:"maxRetries,omitempty"`
}

// Engine is the container store under one root directory.
type Engine struct {
	Root string // e.g. /var/lib/sdocker
	// CgroupParent is the cgroup every container's own one goes under.
	CgroupParent string
	// SubIDUser is the user whose subordinate ids --userns auto hands
	// out (DefaultSubIDUser if empty); SubUIDFile and SubGIDFile the files
	// that give them (/etc/subuid and /etc/subgid if empty).
	SubIDUser, SubUIDFile, SubGIDFile string
}

// New opens (creating if needed) the store under root.
func New(root string) (*Engine, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("root %q: not an absolute path", root)
	}
	e := &Engine{Root: root, CgroupParent: "sdocker"}
	if rootless.Active() {
		e.setupRootless()
	}
	if err := os.MkdirAll(e.containersDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", e.containersDir(), err)
	}
	return e, nil
}

func (e *Engine) containersDir() string         { return filepath.Join(e.Root, "containers") }
func (e *Engine) containerDir(id string) string { return filepath.Join(e.containersDir(), id) }

// LogPath is where a container's output is kept, as JSON lines.
func (e *Engine) LogPath(id string) string {
	return filepath.Join(e.containerDir(id), "container-json.log")
}

// stopMarker exists while a container was stopped or killed on purpose: its
// restart policy must not bring it back.
func (e *Engine) stopMarker(id string) string { return filepath.Join(e.containerDir(id), "stopped") }

// lock takes the store-wide lock: held while names are assigned and while
// dead containers are collected. The returned function releases it.
func (e *Engine) lock() (func(), error) { return flockFile(filepath.Join(e.Root, "lock")) }

// flockFile takes the lock of file p (flock'ed, created if missing); the
// returned function releases it.
func flockFile(p string) (func(), error) {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { unix.Close(fd) }, nil
}

// The state lock of a container (ROOT/containers/ID/state.lock, flock'ed)
// orders the commands that change what it does. Whoever starts it holds the
// lock until the record names the running init (or the failed start is
// cleaned up); stop, kill, pause and rm hold it while they look at the
// record and signal, and whoever removes a container holds it while doing
// so. A command that meets a starting container so waits for the start to
// end, and a restart policy cannot start a container again behind a stop.
//
// Order: the container's lock (holdContainer), then its state lock, then
// the store lock; nobody waits for a state lock while holding the store
// lock, nor for a container's lock while holding its state lock.

// stateWait bounds every wait for a state lock or for an exit: a command
// always ends, if need be with an error.
const stateWait = time.Minute

// stateLockName is the state lock's file in a container's directory.
const stateLockName = "state.lock"

func (e *Engine) stateLockPath(id string) string {
	return filepath.Join(e.containerDir(id), stateLockName)
}

func (e *Engine) recordPath(id string) string {
	return filepath.Join(e.containerDir(id), "container.json")
}

// stateBusy reports whether somebody holds the state lock of container id:
// a directory without its record is then being created or removed.
func (e *Engine) stateBusy(id string) bool {
	fd, err := unix.Open(e.stateLockPath(id), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == unix.EWOULDBLOCK
}

// newStateLock creates and takes the state lock of a container being
// created (nobody else knows it yet).
func (e *Engine) newStateLock(id string) (*os.File, error) {
	p := e.stateLockPath(id)
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// holdState takes the state lock of container id, waiting (at most
// stateWait) for a start under way to end; ErrNotFound once the container
// is gone. Closing the returned file releases the lock.
func (e *Engine) holdState(id string) (*os.File, error) {
	p := e.stateLockPath(id)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) && e.exists(id) {
		// A container of an older sdocker, which had no state lock (the
		// record of a newer one goes first when it is removed).
		fd, err = unix.Open(p, unix.O_CREAT|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	for end := time.Now().Add(stateWait); ; {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil || !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	switch {
	case errors.Is(err, unix.EWOULDBLOCK):
		err = fmt.Errorf("%w: container %s is still starting after %s", ErrWrongState, ids.ShortID(id), stateWait)
	case err != nil:
		err = fmt.Errorf("lock %s: %w", p, err)
	case !e.exists(id):
		err = fmt.Errorf("%w: %s", ErrNotFound, id) // removed while we waited
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

func (e *Engine) specPath(id string) string { return filepath.Join(e.containerDir(id), "spec.json") }

// exists reports whether container id has a record.
func (e *Engine) exists(id string) bool {
	_, err := os.Stat(e.recordPath(id))
	return err == nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate container id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// save writes r atomically (temp file, then rename); not its spec.
func (e *Engine) save(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode container %s: %w", r.ID, err)
	}
	return atomicfile.Write(e.recordPath(r.ID), b, 0o600, false)
}

// saveSpec writes r's spec and what the record keeps of it.
func (e *Engine) saveSpec(r *Record) error {
	b, err := json.Marshal(r.Spec)
	if err != nil {
		return fmt.Errorf("encode spec of %s: %w", r.ID, err)
	}
	r.Command, r.CgroupPath = r.Spec.Process.Args, r.Spec.Linux.CgroupsPath
	return atomicfile.Write(e.specPath(r.ID), b, 0o600, false)
}

// load reads a record and its spec. A container whose state files cannot
// be read gives a *DamagedError.
func (e *Engine) load(id string) (*Record, error) {
	r, err := e.loadRecord(id)
	if err != nil {
		return nil, err
	}
	r.Spec, err = e.readSpec(id)
	if errors.Is(err, fs.ErrNotExist) {
		if r.Status == StateCreated && r.Pid == 0 || e.stateBusy(id) {
			// A container still being created (its creator holds the
			// state lock), or whose creator died before it wrote the
			// spec (collected): what needs the spec says so (requireSpec).
			return r, nil
		}
		return nil, damaged(id, e.specPath(id), err)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// loadRecord reads a record without its spec. A container directory whose
// record is missing or cannot be decoded gives a *DamagedError.
func (e *Engine) loadRecord(id string) (*Record, error) {
	if !isContainerID(id) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	dir := e.containerDir(id)
	p := e.recordPath(id)
	var r *Record
	err := atomicfile.ReadJSON(p, &r)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil || halfCreated(dir) || e.stateBusy(id) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
	}
	if err != nil {
		return nil, damaged(id, p, err)
	}
	if r.ID != id {
		return nil, damaged(id, p, errors.New("not the record of this container"))
	}
	e.applyExit(r)
	return r, nil
}

// removingPrefix names the directory of a container being removed (see
// remove): no container's, it is not listed, and what a remover killed
// half-way leaves there is collected (removeHalfCreated).
const removingPrefix = ".removing-"

// remove deletes the directory of container id: it is no longer listed
// while the rest goes, and a record never outlives the state lock file
// (see holdState).
func (e *Engine) remove(id string) error {
	// The directory leaves the listing at once, record and state lock
	// together, under a name that is no container's (what a killed
	// remover leaves there is collected, see removeHalfCreated); then it
	// goes.
	dir := e.containerDir(id)
	gone := e.containerDir(removingPrefix + id)
	switch err := os.Rename(dir, gone); {
	case err == nil:
		dir = gone
	case errors.Is(err, os.ErrNotExist):
		return nil
	default:
		if err := os.Remove(e.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove container %s: %w", id, err)
		}
	}
	if err := releaseShm(dir); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// List returns every container record (without its spec), newest first. A
// container whose record cannot be read is listed in StateDamaged; a
// directory that a command killed while creating it left is skipped.
func (e *Engine) List() ([]*Record, error) {
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.containersDir(), err)
	}
	var out []*Record
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		r, err := e.loadRecord(ent.Name())
		var d *DamagedError
		switch {
		case err == nil:
		case errors.As(err, &d) && isContainerID(ent.Name()):
			r = damagedRecord(d)
		default:
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Find resolves ref — a full id, a unique id prefix or a name — to a record.
// A full id is read directly (a healthcheck's every interval, ...): its cost
// does not grow with the number of containers.
func (e *Engine) Find(ref string) (*Record, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: empty container reference", ErrInvalidInput)
	}
	if isContainerID(ref) {
		// A full id comes before a name, as in the list below; one of no
		// container may still be a name.
		if r, err := e.load(ref); !errors.Is(err, ErrNotFound) {
			return r, err
		}
	}
	all, err := e.List()
	if err != nil {
		return nil, err
	}
	var matches []*Record
	for _, r := range all {
		if r.ID == ref || r.Name == ref {
			return e.load(r.ID)
		}
		if strings.HasPrefix(r.ID, ref) {
			matches = append(matches, r)
		}
	}
	if len(matches) > 1 {
		// Not those removed since they were listed.
		matches = slices.DeleteFunc(matches, func(r *Record) bool { return !e.exists(r.ID) })
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	case 1:
		return e.load(matches[0].ID)
	}
	var short []string
	for _, m := range matches {
		short = append(short, ids.ShortID(m.ID))
	}
	return nil, fmt.Errorf("%w: %q matches %s", ErrAmbiguous, ref, strings.Join(short, ", "))
}
