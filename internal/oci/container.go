package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/specgen"
)

// refresh sets st.Status from what the kernel says of the init.
func (s *Store) refresh(st *State) {
	switch {
	case st.Pid == 0 || !proc.Alive(st.Pid, st.InitStart):
		st.Status = specs.StateStopped
	case st.Status == StatusPaused:
	case fileExists(s.fifo(st.ID)):
		st.Status = specs.StateCreated
	default:
		st.Status = specs.StateRunning
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// specState is the state the OCI spec defines, as hooks and `state` see it.
func (st *State) specState() []byte {
	s := st.State
	if s.Status == StatusPaused {
		s.Status = specs.StateRunning
	}
	b, _ := json.Marshal(s)
	return b
}

// Load returns the state of container id, its status fresh.
func (s *Store) Load(id string) (*State, error) {
	st, err := s.loadFresh(id, false)
	if err != nil {
		return nil, err
	}
	if err := s.decodeConfig(st); err != nil {
		return nil, err
	}
	return st, nil
}

// Head is Load without the config (Config nil): what the state command
// prints, and all that kill and delete read.
func (s *Store) Head(id string) (*State, error) { return s.loadFresh(id, false) }

// loadFresh is Load for a caller that may hold the container's lock (held).
func (s *Store) loadFresh(id string, held bool) (*State, error) {
	st, err := s.load(id, held)
	if err != nil {
		return nil, err
	}
	s.refresh(st)
	return st, nil
}

// CreateOptions are the options of `create` (and `run`).
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoNewKeyring  bool
	PreserveFDs   int
	Stdio         launch.Stdio
	// KillWithParent: the container dies with this process (`run` without --detach).
	KillWithParent bool
	// Start: the process runs as soon as the container is set up (`run`):
	// no exec fifo to wait on, and the state goes straight to running.
	Start bool
}

func readConfig(bundle string) (string, []byte, error) {
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return p, nil, fmt.Errorf("read %s: %w", p, err)
	}
	return p, b, nil
}

func parseSpec(p string, b []byte) (*specs.Spec, error) {
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("%w: parse %s: %w", ErrInvalid, p, err)
	}
	absMountDestinations(&spec)
	if err := Validate(&spec); err != nil {
		return nil, err
	}
	if err := validateMusts(&spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

// earlySpec decodes what cloning the init needs of a spec: its namespaces,
// id mappings, cgroups path and whether the process has a terminal (a few types, so
// quickly decoded even cold). Errors are left to parseSpec.
func earlySpec(b []byte) (*specs.Spec, bool) {
	var early struct {
		Process *struct {
			Terminal bool `json:"terminal"`
		} `json:"process"`
		Linux *struct {
			Namespaces  []specs.LinuxNamespace `json:"namespaces"`
			CgroupsPath string                 `json:"cgroupsPath"`
			UIDMappings []specs.LinuxIDMapping `json:"uidMappings"`
			GIDMappings []specs.LinuxIDMapping `json:"gidMappings"`
		} `json:"linux"`
	}
	if json.Unmarshal(b, &early) != nil || early.Process == nil || early.Linux == nil {
		return nil, false
	}
	return &specs.Spec{
		Process: &specs.Process{Terminal: early.Process.Terminal},
		Linux: &specs.Linux{Namespaces: early.Linux.Namespaces, CgroupsPath: early.Linux.CgroupsPath,
			UIDMappings: early.Linux.UIDMappings, GIDMappings: early.Linux.GIDMappings},
	}, true
}

// Create makes container id from a bundle: namespaces, cgroups, mounts, and
// an init waiting to run the configured process until Start.
func (s *Store) Create(id string, o CreateOptions) (_ *State, _ *launch.Process, err error) {
	bundle, path, raw, err := readBundle(id, o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := s.makeDir(id)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	c := &creating{s: s, id: id, o: o}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.undo())
		}
	}()
	if err := c.runtimeOptions(); err != nil {
		return nil, nil, err
	}
	if err := c.startEarly(raw); err != nil {
		return nil, nil, err
	}
	st, err := c.load(bundle, path, raw)
	if err != nil {
		return nil, nil, err
	}
	if c.cg == nil {
		if c.cg, err = s.newCgroup(id, st.CgroupPath); err != nil {
			return nil, nil, err
		}
	}
	addDefaultDevices(st.Config)
	if err := c.start(st); err != nil {
		return nil, nil, err
	}
	if c.p.Console != nil {
		err = sendConsole(o.ConsoleSocket, c.p.Console)
		c.p.Console.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	if o.Start {
		if err := poststart(st, st.Config.Hooks); err != nil {
			return nil, nil, err
		}
	}
	return st, c.p, nil
}

// readBundle checks id and reads the bundle's config.json: the bundle's
// absolute path, the config's path and its bytes.
func readBundle(id, bundle string) (abs, path string, raw []byte, err error) {
	if !validID(id) {
		return "", "", nil, fmt.Errorf("%w: container id %q: use letters, digits and _.+-", ErrInvalid, id)
	}
	abs, err = filepath.Abs(bundle)
	if err != nil {
		return "", "", nil, fmt.Errorf("%w: bundle %q: %w", ErrInvalid, bundle, err)
	}
	path, raw, err = readConfig(abs)
	return abs, path, raw, err
}

// makeDir makes container id's directory and takes its lock.
func (s *Store) makeDir(id string) (unlock func(), err error) {
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", s.Root, err)
	}
	if err := os.Mkdir(s.dir(id), 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExist, id)
		}
		return nil, fmt.Errorf("create %s: %w", s.dir(id), err)
	}
	if unlock, err = s.lock(id); err != nil {
		if rerr := os.RemoveAll(s.dir(id)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", s.dir(id), rerr))
		}
		return nil, err
	}
	return unlock, nil
}

// creating is a Create under way: what it has made so far, which undo
// removes when it fails.
type creating struct {
	s  *Store
	id string
	o  CreateOptions
	ro launch.Options
	cg cgroups.Manager
	// starting is the init started early, until Finish takes it over.
	starting       *launch.Starting
	p              *launch.Process
	pidFileWritten bool
	// st is the container's state once its init gets the whole config:
	// from then on a failure goes on as delete does, poststop hooks
	// included (runtime.md's lifecycle).
	st *State
}

// undo ends the init and removes what the failed Create made. A cgroup
// that cannot be removed keeps the container's directory, and with it the
// note that finds the cgroup again: delete --force removes both.
func (c *creating) undo() error {
	var errs []error
	if c.pidFileWritten {
		if err := os.Remove(c.o.PidFile); err != nil {
			errs = append(errs, fmt.Errorf("remove pid file: %w", err))
		}
	}
	if c.starting != nil && c.p == nil {
		c.starting.Abort()
	}
	if c.p != nil {
		// Destroy kills whatever the signal missed; the status of a
		// killed init says nothing.
		_ = c.p.Signal(unix.SIGKILL)
		_, _ = c.p.Wait()
	}
	if c.cg != nil {
		if err := c.cg.Destroy(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("container %s left behind: %w", c.id, err))...)
		}
	}
	if c.st != nil {
		poststop(c.st, c.st.Config.Hooks)
	}
	if err := os.RemoveAll(c.s.dir(c.id)); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.s.dir(c.id), err))
	}
	return errors.Join(errs...)
}

// runtimeOptions sets what the start needs beside the spec: stdio,
// preserved descriptors, keyring, and the exec fifo the init waits on
// until Start (none for `run`).
func (c *creating) runtimeOptions() error {
	c.ro = launch.Options{Stdio: c.o.Stdio, KillWithParent: c.o.KillWithParent, CreateCgroups: true}
	if !c.o.Start {
		fifo := c.s.fifo(c.id)
		if err := unix.Mkfifo(fifo, 0o622); err != nil {
			return fmt.Errorf("create exec fifo: %w", err)
		}
		// Whatever the umask: the init may already run as another user
		// when it opens the fifo.
		if err := os.Chmod(fifo, 0o622); err != nil {
			return fmt.Errorf("create exec fifo: %w", err)
		}
		c.ro.ExecFifo = fifo
	}
	for i := 0; i < c.o.PreserveFDs; i++ {
		c.ro.PreserveFDs = append(c.ro.PreserveFDs, os.NewFile(uintptr(3+i), "preserved"))
	}
	c.ro.NewKeyring = !c.o.NoNewKeyring
	return nil
}

// startEarly starts the init as soon as what cloning it needs is known:
// its Go runtime boots while the whole spec is decoded and checked (load).
// Whatever goes wrong early is found again, and reported, by the full
// decode; a failed early start leaves the start to Start.
func (c *creating) startEarly(raw []byte) error {
	early, ok := earlySpec(raw)
	if !ok {
		return nil
	}
	cg, err := c.s.newCgroup(c.id, cgroupPath(early, c.id))
	if err != nil {
		return err
	}
	c.cg = cg
	if c.starting, err = launch.StartEarly(c.id, early, cg, c.ro); err != nil {
		// The start is left to Start; the cgroup made for the clone
		// (v2) goes, or undo says it could not.
		c.starting = nil
		return cg.Destroy()
	}
	return nil
}

// newCgroup is the Manager of container id's cgroup at path, noted (see
// noteCgroup) before anything of it is made.
func (s *Store) newCgroup(id, path string) (cgroups.Manager, error) {
	if err := s.noteCgroup(id, path); err != nil {
		return nil, err
	}
	return cgroups.New(path)
}

// load decodes and checks the whole spec (its root made absolute) and
// makes the container's state from it.
func (c *creating) load(bundle, path string, raw []byte) (*State, error) {
	spec, err := parseSpec(path, raw)
	if err != nil {
		return nil, err
	}
	if err := checkConsole(spec, c.o.ConsoleSocket); err != nil {
		return nil, err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	// In a mount namespace given by path the rootfs is the init's to
	// resolve, once it has joined it.
	if st, err := os.Stat(rootfs); !joinsMountNamespace(spec) && (err != nil || !st.IsDir()) {
		return nil, fmt.Errorf("%w: root.path %s: not a directory", ErrInvalid, rootfs)
	}
	spec.Root.Path = rootfs
	return &State{
		State: specs.State{
			Version: specs.Version, ID: c.id, Status: specs.StateCreating,
			Bundle: bundle, Annotations: spec.Annotations,
		},
		Created: time.Now().UTC(), Rootfs: rootfs, Config: spec,
		CgroupPath: cgroupPath(spec, c.id),
	}, nil
}

func joinsMountNamespace(spec *specs.Spec) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.MountNamespace && ns.Path != "" {
			return true
		}
	}
	return false
}

// checkConsole refuses a spec without a process, and a terminal without a
// console socket or the other way round.
func checkConsole(spec *specs.Spec, consoleSocket string) error {
	switch {
	case spec.Process == nil:
		return fmt.Errorf("%w: process: a process is required", ErrInvalid)
	case spec.Process.Terminal && consoleSocket == "":
		return fmt.Errorf("%w: process.terminal needs --console-socket", ErrInvalid)
	case !spec.Process.Terminal && consoleSocket != "":
		return fmt.Errorf("%w: --console-socket given but process.terminal is false", ErrInvalid)
	}
	return nil
}

// addDefaultDevices appends the device rules every container gets to the
// spec's linux.resources, where the start reads them.
func addDefaultDevices(spec *specs.Spec) {
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	specgen.AddDefaultDevices(spec.Linux.Resources)
}

// start hands the whole spec to the init started early, or starts it now.
func (c *creating) start(st *State) (err error) {
	c.st = st
	cb := launch.Callbacks{CreateRuntime: createRuntimeHooks(st), WhileStarting: c.whileStarting(st)}
	if c.starting != nil {
		c.p, err = c.starting.Finish(st.Config, cb)
		c.starting = nil // Finish ended it on failure
		return err
	}
	c.ro.Callbacks = cb
	c.p, err = launch.Start(c.id, st.Config, c.cg, c.ro)
	return err
}

// createRuntimeHooks runs the prestart and createRuntime hooks of st's
// spec, and gives the state the init's own hooks see; nil without hooks.
func createRuntimeHooks(st *State) func(pid int) ([]byte, error) {
	h := st.Config.Hooks
	if h == nil || len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer)+len(h.StartContainer) == 0 { //nolint:staticcheck // SA1019: a spec may still carry prestart hooks
		return nil
	}
	return func(pid int) ([]byte, error) {
		hs := *st // (st may already be written as created: see whileStarting)
		hs.Pid, hs.Status = pid, specs.StateCreating
		state := hs.specState()
		if err := launch.RunHooks("prestart", h.Prestart, state); err != nil { //nolint:staticcheck // prestart is deprecated but still honoured
			return nil, err
		}
		if err := launch.RunHooks("createRuntime", h.CreateRuntime, state); err != nil {
			return nil, err
		}
		return state, nil
	}
}

// whileStarting writes the state file (and the pid file) while the init
// sets the container up, with the status it will have when Create returns
// (the container's lock keeps the other commands waiting till then; a
// failed start removes both).
func (c *creating) whileStarting(st *State) func(pid int) error {
	status := specs.StateCreated
	if c.o.Start {
		status = specs.StateRunning
	}
	return func(pid int) error {
		st.Pid, st.InitStart, st.Status = pid, proc.StartTime(pid), status
		st.CgroupOwnership = c.cg.Ownership()
		if err := c.s.save(st); err != nil {
			return err
		}
		if err := c.s.noteRecovery(st); err != nil {
			return err
		}
		if c.o.PidFile != "" {
			c.pidFileWritten = true
			return writePidFile(c.o.PidFile, pid)
		}
		return nil
	}
}

// cgroupPath is the container's cgroup: the spec's cgroupsPath, or
// /sdocker-runc/ID.
func cgroupPath(spec *specs.Spec, id string) string {
	if spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		return filepath.Join("/", spec.Linux.CgroupsPath)
	}
	return "/sdocker-runc/" + id
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return atomicfile.Write(abs, []byte(strconv.Itoa(pid)), 0o644, false)
}

// lockedLoad takes the container's lock and reads its state; the caller
// releases the lock with unlock.
func (s *Store) lockedLoad(id string) (st *State, unlock func(), err error) {
	if unlock, err = s.lock(id); err != nil {
		return nil, nil, err
	}
	if st, err = s.loadFresh(id, true); err != nil {
		unlock()
		return nil, nil, err
	}
	return st, unlock, nil
}

// Start lets a created container's init run its process.
func (s *Store) Start(id string) error {
	st, unlock, err := s.lockedLoad(id)
	if err != nil {
		return err
	}
	defer unlock()
	if st.Status != specs.StateCreated {
		return startRefused(id, st.Status)
	}
	hooks, err := s.hooks(st)
	if err != nil {
		return err
	}
	if err := s.openFifo(st); err != nil {
		return err
	}
	st.Status = specs.StateRunning
	if err := s.save(st); err != nil {
		return err
	}
	return poststart(st, hooks)
}

// poststart runs the poststart hooks of a container that has just started.
// One that fails stops the container and is the error (runtime-spec 1.1 and
// later, and runc; 1.0 had it a warning).
func poststart(st *State, h *specs.Hooks) error {
	if h != nil {
		if err := launch.RunHooks("poststart", h.Poststart, st.specState()); err != nil {
			// An init that has ended is stopped as well.
			_ = proc.Signal(st.Pid, st.InitStart, unix.SIGKILL)
			return fmt.Errorf("%w: the container was stopped", err)
		}
	}
	return nil
}

// openFifo reads the byte the waiting init writes into the exec fifo, which
// releases it; then the fifo goes.
func (s *Store) openFifo(st *State) error {
	f, err := os.OpenFile(s.fifo(st.ID), os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer f.Close()
	fd := int(f.Fd())
	buf := make([]byte, 1)
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			break
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		if !proc.Alive(st.Pid, st.InitStart) {
			return fmt.Errorf("%w (its init exited before start)", startRefused(st.ID, specs.StateStopped))
		}
		// Only a pause between reads: its result is the next read's.
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
	}
	return os.Remove(s.fifo(st.ID))
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroups (of a stopped container too, as runc: what it left).
func (s *Store) Kill(id string, sig syscall.Signal, all bool) error {
	st, err := s.Head(id)
	if err != nil {
		return err
	}
	if st.Status == specs.StateStopped && !all {
		return cannot("signal", id, ErrNotRunning, st.Status)
	}
	if !all {
		err := proc.Signal(st.Pid, st.InitStart, sig)
		if errors.Is(err, proc.ErrGone) {
			// It stopped since its state was read.
			return fmt.Errorf("cannot signal container %s: %w (%w)", id, ErrNotRunning, err)
		}
		return err
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return err
	}
	pids, err := processes(st, cg)
	if err != nil {
		if st.Status == specs.StateStopped && errors.Is(err, fs.ErrNotExist) {
			return nil // as runc: nothing is left to signal
		}
		return err
	}
	for _, pid := range pids {
		unix.Kill(pid, sig) // (ESRCH: it has ended since it was listed)
	}
	if st.Status == StatusPaused && sig == unix.SIGKILL {
		// Thawed once the signal is pending: they then die at once.
		return cg.Thaw()
	}
	return nil
}

// cgroupOf is the Manager of the container's cgroups, knowing which of
// them were made for it.
func cgroupOf(st *State) (cgroups.Manager, error) {
	return cgroups.Open(st.CgroupPath, st.CgroupOwnership)
}

// processes lists the container's processes: every process in its cgroup
// when the cgroup was made for it; in a cgroup it joined, which others may
// share, those of its init's family only (proc.Family).
func processes(st *State, cg cgroups.Manager) ([]int, error) {
	pids, err := cg.Pids()
	if err != nil || !cg.Joined() {
		return pids, err
	}
	return proc.Family(pids, st.Pid, st.InitStart), nil
}

// Delete removes a stopped (or created) container; force kills a running one.
func (s *Store) Delete(id string, force bool) error {
	if !validID(id) {
		return fmt.Errorf("%w: container id %q", ErrInvalid, id)
	}
	unlock, err := s.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.loadFresh(id, true)
	if errors.Is(err, ErrDamaged) {
		return s.deleteDamaged(id, force, err)
	}
	if err != nil {
		return err
	}
	hooks, err := s.hooks(st)
	if err != nil {
		return s.deleteDamaged(id, force, err)
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return err
	}
	switch st.Status {
	case specs.StateRunning, StatusPaused:
		if !force {
			return fmt.Errorf("%w (use --force)", stateError(fmt.Sprintf("cannot delete container %s that is not stopped: %s", id, st.Status)))
		}
		fallthrough
	case specs.StateCreated:
		// Destroy ends what is left in a cgroup made for the container; in
		// one it joined, its processes are found through its init, so
		// before the init dies.
		if cg.Joined() {
			killJoined(st, cg)
		}
		// An init that has ended is no error: Destroy below kills what
		// is left.
		_ = proc.Signal(st.Pid, st.InitStart, unix.SIGKILL)
		if st.Status == StatusPaused {
			if err := cg.Thaw(); err != nil {
				return err
			}
		}
		for i := 0; i < 100 && proc.Alive(st.Pid, st.InitStart); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := cg.Destroy(); err != nil {
		return err
	}
	poststop(st, hooks)
	if err := os.RemoveAll(s.dir(id)); err != nil {
		return fmt.Errorf("remove %s: %w", s.dir(id), err)
	}
	return nil
}

// poststop runs the poststop hooks of a container whose resources are
// gone; a hook that fails is a warning (runtime.md).
func poststop(st *State, h *specs.Hooks) {
	st.Status = specs.StateStopped
	if h != nil {
		if err := launch.RunHooks("poststop", h.Poststop, st.specState()); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		}
	}
}

// killJoined ends the processes of a container in a cgroup it joined,
// which others may share. They are stopped first, and listed again until
// no new one shows: a stopped process forks no more and stays below the
// init, where it is found, until the SIGKILL.
func killJoined(st *State, cg cgroups.Manager) {
	stopped := map[int]bool{}
	for i := 0; i < 100; i++ {
		pids, err := processes(st, cg)
		fresh := false
		for _, pid := range pids {
			if !stopped[pid] {
				unix.Kill(pid, unix.SIGSTOP)
				stopped[pid], fresh = true, true
			}
		}
		if err != nil || !fresh {
			break
		}
	}
	for pid := range stopped {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// recoveryLink is the symbolic link, in a container's directory, whose
// target is a recovery note in JSON: the container's cgroup path, what of
// that cgroup it made, and its init's pid and start time, which the state
// also holds. It is written before the cgroup is made (with what create is
// about to make) and again once the init runs; a container whose state is
// damaged, or whose create was killed before it wrote one, is cleaned up
// from it.
const recoveryLink = "recovery"

type recovery struct {
	CgroupPath string             `json:"cgroupPath"`
	Pid        int                `json:"pid"`
	InitStart  uint64             `json:"initStart"`
	Made       *cgroups.Ownership `json:"made"`
}

// noteCgroup writes the first recovery note of container id, whose cgroup
// is path: the directories of it that do not exist yet are those its create
// is about to make.
func (s *Store) noteCgroup(id, path string) error {
	toMake, err := cgroups.ToMake(path)
	if err != nil {
		return err
	}
	return s.noteRecovery(&State{State: specs.State{ID: id}, CgroupPath: path, CgroupOwnership: toMake})
}

// noteRecovery writes st's recovery note (see recoveryLink), in place of
// the one before.
func (s *Store) noteRecovery(st *State) error {
	b, err := json.Marshal(recovery{CgroupPath: st.CgroupPath, Pid: st.Pid, InitStart: st.InitStart, Made: st.CgroupOwnership})
	if err != nil {
		return fmt.Errorf("record recovery note of %s: %w", st.ID, err)
	}
	p := filepath.Join(s.dir(st.ID), recoveryLink)
	err = os.Symlink(string(b), p)
	if errors.Is(err, fs.ErrExist) {
		if err = os.Remove(p); err == nil {
			err = os.Symlink(string(b), p)
		}
	}
	if err != nil {
		return fmt.Errorf("record recovery note of %s: %w", st.ID, err)
	}
	return nil
}

// recovered is what of a damaged state the recovery note of container id
// gives back. Without a note, its cgroup is the one named after it, and
// its own.
func (s *Store) recovered(id string) *State {
	var r recovery
	if t, err := os.Readlink(filepath.Join(s.dir(id), recoveryLink)); err == nil && json.Unmarshal([]byte(t), &r) == nil && r.Made != nil && r.CgroupPath != "" {
		return &State{State: specs.State{ID: id, Pid: r.Pid}, InitStart: r.InitStart, CgroupPath: r.CgroupPath, CgroupOwnership: r.Made}
	}
	return &State{State: specs.State{ID: id}, CgroupPath: cgroupPath(&specs.Spec{}, id)}
}

// deleteDamaged removes container id whose state cannot be read (damage):
// what its cgroup holds is killed (with force; without, a cgroup that
// holds processes is refused), the cgroup and the directory go. The caller
// holds the container's lock.
func (s *Store) deleteDamaged(id string, force bool, damage error) error {
	st := s.recovered(id)
	path := st.CgroupPath
	cg, err := cgroupOf(st)
	if err != nil {
		return fmt.Errorf("%w: %w", damage, err)
	}
	if pids, _ := processes(st, cg); len(pids) > 0 && !force {
		return fmt.Errorf("%w: %w; its cgroup %s holds processes (use --force)", ErrWrongState, damage, path)
	}
	if cg.Joined() {
		killJoined(st, cg)
	}
	if err := cg.Destroy(); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir(id)); err != nil {
		return fmt.Errorf("remove %s: %w", s.dir(id), err)
	}
	return nil
}

// Pause freezes every process of a running container; Resume thaws them.
func (s *Store) Pause(id string) error  { return s.freeze(id, true) }
func (s *Store) Resume(id string) error { return s.freeze(id, false) }

func (s *Store) freeze(id string, freeze bool) error {
	st, unlock, err := s.lockedLoad(id)
	if err != nil {
		return err
	}
	defer unlock()
	want, verb, why := specs.StateRunning, "pause", ErrNotRunning
	if !freeze {
		want, verb, why = StatusPaused, "resume", ErrNotPaused
	}
	if st.Status != want {
		return cannot(verb, id, why, st.Status)
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return err
	}
	return cgroups.SetFrozen(cg, freeze, func() error {
		st.Status = specs.StateRunning
		if freeze {
			st.Status = StatusPaused
		}
		return s.save(st)
	})
}

// Update changes the resource limits of a container.
func (s *Store) Update(id string, r *specs.LinuxResources) error {
	st, unlock, err := s.lockedLoad(id)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.decodeConfig(st); err != nil {
		return err
	}
	if st.Status == specs.StateStopped {
		return cannot("update", id, ErrNotRunning, st.Status)
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return err
	}
	if st.CgroupOwnership, err = cgroups.Update(cg, r); err != nil {
		return err
	}
	if err := s.noteRecovery(st); err != nil {
		return err
	}
	if st.Config.Linux == nil {
		st.Config.Linux = &specs.Linux{}
	}
	st.Config.Linux.Resources = cgroups.Updated(st.Config.Linux.Resources, r)
	return s.save(st)
}

// Processes lists the host pids of the container's processes.
func (s *Store) Processes(id string) ([]int, error) {
	st, err := s.Head(id)
	if err != nil {
		return nil, err
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return nil, err
	}
	return processes(st, cg)
}

// Stats reads the container's cgroup counters.
func (s *Store) Stats(id string) (*cgroups.Stats, error) {
	st, err := s.Head(id)
	if err != nil {
		return nil, err
	}
	if st.Status == specs.StateStopped {
		return nil, cannot("read the stats of", id, ErrNotRunning, st.Status)
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// ExecOptions are the options of `exec`.
type ExecOptions struct {
	PidFile       string
	ConsoleSocket string
	Detach        bool
	PreserveFDs   int
	Stdio         launch.Stdio
}

// ExecIn starts p in the running container whose state the caller has just
// loaded. Unless detached, the returned process is waited for by the caller.
func (s *Store) ExecIn(st *State, p *specs.Process, o ExecOptions) (*launch.Process, error) {
	id := st.ID
	if st.Status != specs.StateRunning {
		return nil, fmt.Errorf("%w: %s", stateError("cannot exec in a "+string(st.Status)+" container"), id)
	}
	if p.Terminal && o.ConsoleSocket == "" {
		return nil, fmt.Errorf("%w: a terminal needs --console-socket", ErrInvalid)
	}
	if err := validateProcess(p); err != nil {
		return nil, err
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return nil, err
	}
	ro := launch.Options{Stdio: o.Stdio, KillWithParent: !o.Detach}
	for i := 0; i < o.PreserveFDs; i++ {
		ro.PreserveFDs = append(ro.PreserveFDs, os.NewFile(uintptr(3+i), "preserved"))
	}
	rp, err := launch.Exec(st.Pid, st.Config, p, cg, ro)
	if err != nil {
		return nil, err
	}
	if rp.Console != nil {
		err := sendConsole(o.ConsoleSocket, rp.Console)
		rp.Console.Close()
		if err != nil {
			return nil, errors.Join(err, rp.Signal(unix.SIGKILL))
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, rp.Pid); err != nil {
			return nil, errors.Join(err, rp.Signal(unix.SIGKILL))
		}
	}
	return rp, nil
}

// sendConsole hands a pty master to the process listening on socketPath.
func sendConsole(socketPath string, master *os.File) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socketPath}); err != nil {
		return fmt.Errorf("connect console socket %s: %w", socketPath, err)
	}
	if err := unix.Sendmsg(fd, []byte("/dev/ptmx"), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send console to %s: %w", socketPath, err)
	}
	return nil
}
