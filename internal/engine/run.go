package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/hostrootfs"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/specgen"
	"github.com/sdocker/sdocker/internal/trace"
)

// RunOptions are the options of `sdocker run`.
type RunOptions struct {
	Image string // an image reference, a rootfs directory, or "" for the default rootfs
	Name  string
	Args  []string // command; default: the image's, or bash
	// Entrypoint replaces the image's entrypoint when set ("" clears it).
	Entrypoint  *string
	Env         []string
	Workdir     string
	User        string // uid[:gid] or name[:group]
	Hostname    string
	Tty         bool
	Interactive bool // attach stdin; detached: keep it open for attach
	Detach      bool
	Network     string // none, host, container:NAME_OR_ID, or a network ("" is bridge)
	// Publish are the -p options; PublishAll (-P) publishes every port the
	// image exposes on an ephemeral host port.
	Publish        []string
	PublishAll     bool
	NetworkAliases []string
	IP             string   // --ip on a user-defined network
	ExtraHosts     []string // --add-host NAME:IP
	DNS            network.DNSConfig
	CapAdd         []string
	CapDrop        []string
	Privileged     bool
	ReadOnly       bool
	Limits         specgen.Limits
	Remove         bool
	Labels         map[string]string
	Restart        string // no, on-failure[:N], always
	Process        ProcessOptions
	Isolation      IsolationOptions
	Log            LogConfig // --log-opt, see ParseLogOpts
	Health         HealthOptions

	MountOptions // -v, --mount, --tmpfs, --read-only-tmpfs, --volumes-from

	Stdin, Stdout, Stderr *os.File
	// NoSigProxy keeps the signals a foreground run gets from its
	// container (--sig-proxy=false): they end sdocker, and the container
	// with it.
	NoSigProxy bool
	// Trace, if not nil, gets each step of the start, which Run prints
	// with its duration to Stderr once the container runs.
	Trace *trace.Trace
	// StdinOnce (create -i): the container's stdin closes when the stdin
	// of an attach that passes it on ends (see HostOptions).
	StdinOnce bool

	byCreate bool // see Record.ByCreate
}

// DefaultRootfs is the rootfs `sdocker run` uses without an image.
func (e *Engine) DefaultRootfs() string { return filepath.Join(e.Root, "rootfs") }

// BuildRootfs builds (or refreshes) a rootfs from host binaries in dir.
func (e *Engine) BuildRootfs(dir string) error {
	w, err := hostrootfs.FindWorkloads()
	if err != nil {
		return err
	}
	return hostrootfs.Build(dir, hostrootfs.Options{Workloads: w})
}

// isPath tells a rootfs directory from an image reference: a path starts
// with / or a dot (image names such as library/busybox have slashes too).
func isPath(ref string) bool { return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") }

// resolveImage finds what a container runs on: a directory (returned as
// dir) or an image of the store.
func (e *Engine) resolveImage(ref string) (dir string, img *image.Image, err error) {
	if ref == "" {
		dir := e.DefaultRootfs()
		if !hostrootfs.IsBuilt(dir) {
			if err := e.BuildRootfs(dir); err != nil {
				return "", nil, fmt.Errorf("build default rootfs %s: %w", dir, err)
			}
		}
		return dir, nil, nil
	}
	if isPath(ref) {
		dir, err := filepath.Abs(ref)
		if err != nil {
			return "", nil, fmt.Errorf("%w: rootfs %q: %w", ErrInvalidInput, ref, err)
		}
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			return "", nil, fmt.Errorf("%w: rootfs %s: no such directory", ErrInvalidInput, ref)
		}
		return dir, nil, nil
	}
	store, err := e.Images()
	if err != nil {
		return "", nil, err
	}
	img, err = store.Get(ref)
	if err != nil {
		notImage := errors.Is(err, image.ErrNotFound) || errors.Is(err, image.ErrInvalidName)
		if st, serr := os.Stat(ref); notImage && serr == nil && st.IsDir() {
			return e.resolveImage("./" + ref) // a relative rootfs directory
		}
		if errors.Is(err, image.ErrNotFound) {
			return "", nil, fmt.Errorf("%w %q (pull it, or use sdocker import or load; a rootfs directory is a path, e.g. ./%s)", image.ErrNotFound, ref, ref)
		}
		return "", nil, err
	}
	return "", img, nil
}

// Images opens the image store.
func (e *Engine) Images() (*image.Store, error) { return image.Open(filepath.Join(e.Root, "image")) }

// create names the container r (whose id is set) and writes its record,
// complete but for its spec (spec.json follows). The caller holds the
// container's lock and its state lock until it closes lock and state. Dead
// containers are collected on the way.
func (e *Engine) create(r *Record) (lock, state *os.File, err error) {
	all, unlock, err := e.lockAndCollect()
	defer unlock()
	// What is left of other containers is cleaned up on the way; that
	// failing (their records cannot be written) does not concern this one.
	if all == nil && err != nil {
		return nil, nil, err
	}
	used := map[string]bool{}
	for _, o := range all {
		used[o.Name] = true
	}
	if r.Name == "" {
		r.Name = generateName(used)
	} else if used[r.Name] {
		return nil, nil, fmt.Errorf("%w: %q", ErrNameInUse, r.Name)
	}
	if err := e.assignAutoRange(r, all); err != nil {
		return nil, nil, err
	}
	if err := os.Mkdir(e.containerDir(r.ID), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", e.containerDir(r.ID), err)
	}
	if err := e.makeTraversable(r); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("user namespace: %w", err), e.remove(r.ID))
	}
	lock, err = e.holdContainer(r.ID)
	if err == nil {
		if state, err = e.newStateLock(r.ID); err != nil {
			lock.Close()
		}
	}
	if err == nil {
		if err = e.save(r); err != nil {
			state.Close()
			lock.Close()
		}
	}
	if err != nil {
		return nil, nil, errors.Join(err, e.remove(r.ID))
	}
	e.event(r, "create")
	return lock, state, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '_' || c == '.' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

// ParseRestartPolicy reads no, always, unless-stopped, on-failure or
// on-failure:N.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	switch {
	case s == "" || s == "no":
		return RestartPolicy{Name: "no"}, nil
	case (name == "always" || name == "unless-stopped") && !hasN:
		return RestartPolicy{Name: name}, nil
	case name == "on-failure" && !hasN:
		return RestartPolicy{Name: "on-failure"}, nil
	case name == "on-failure":
		v, err := strconv.Atoi(n)
		if err == nil && v >= 0 {
			return RestartPolicy{Name: "on-failure", MaxRetries: v}, nil
		}
	}
	return RestartPolicy{}, fmt.Errorf("%w: restart policy %q: use no, always, unless-stopped, on-failure or on-failure:N", ErrInvalidInput, s)
}

// prepare validates o, creates the container's root file system, spec and
// record. The caller holds the container's lock and its state lock until it
// closes lock and state.
func (e *Engine) prepare(o RunOptions) (r *Record, lock, state *os.File, err error) {
	r, process, res, err := e.newRecord(o)
	if err != nil {
		return nil, nil, nil, err
	}
	o.Trace.Mark("image resolve, volumes, record")
	processOpts, err := processSpec(o.Process)
	if err != nil {
		return nil, nil, nil, err
	}
	isolationOpts, modes, err := e.isolationSpec(o.Isolation, o.Name, r.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	r.Host.Namespaces = modes
	// The record is written whole, with what it keeps of the spec: the
	// spec is made first, all but what needs the container's root file
	// system in place (see populate). The process comes after HOSTNAME
	// and TERM: the image's and run's environment go over them.
	spec, err := specgen.New(
		specgen.WithRootfs(r.Rootfs),
		specgen.WithReadonlyRootfs(o.ReadOnly),
		specgen.WithHostname(o.Hostname, r.ID),
		specgen.WithTerminal(o.Tty),
		networkSpec(r),
		specgen.WithPrivileged(o.Privileged),
		specgen.WithCapabilities(o.CapAdd, o.CapDrop),
		specgen.WithCgroupParent(o.Limits.CgroupParent, e.CgroupParent, r.ID),
		specgen.WithResources(res),
		specgen.WithImageConfig(process),
		processOpts,
		isolationOpts,
		specgen.WithMounts(mountSpecs(r.Mounts)...),
		specgen.WithUserNamespace(r.Host.UIDMap, r.Host.GIDMap),
		idMapVolumes(r),
		specgen.WithBindPropagation(),
		specgen.WithMounts(e.etcMounts(r)...),
		rootlessSpec(r),
	)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	o.Trace.Mark("spec build")
	r.Spec, r.Command, r.CgroupPath = spec, userCommand(r, spec.Process.Args), spec.Linux.CgroupsPath
	// What its first start will make of its cgroup (see startContainer).
	if r.CgroupOwnership, err = cgroups.ToMake(r.CgroupPath); err != nil {
		return nil, nil, nil, err
	}
	for _, w := range cgroups.Warnings(res) {
		fmt.Fprintf(o.Stderr, "WARNING: %s\n", w)
	}
	lock, state, err = e.create(r)
	if err != nil {
		return nil, nil, nil, err
	}
	o.Trace.Mark("container directory, record")
	if o.Trace != nil {
		// Timed apart (populate finds it mounted).
		err = e.mountRootfs(r)
		o.Trace.Mark("rootfs prepare")
	}
	if err == nil {
		err = e.populate(r)
	}
	if err == nil {
		err = writeCIDFile(o.Process.CIDFile, r.ID)
	}
	o.Trace.Mark("user, /etc files, mount sources, spec write")
	if err != nil {
		r.AutoRemove = true // nothing is left, volumes included
		err = errors.Join(err, e.removeContainer(r))
		state.Close()
		lock.Close()
		return nil, nil, nil, err
	}
	return r, lock, state, nil
}

// checkRunOptions refuses the names and combinations of run options that
// cannot be, and reads the restart policy.
func checkRunOptions(o RunOptions) (RestartPolicy, error) {
	if o.Name != "" && !validName(o.Name) {
		return RestartPolicy{}, fmt.Errorf("%w: name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalidInput, o.Name)
	}
	policy, err := ParseRestartPolicy(o.Restart)
	if err != nil {
		return RestartPolicy{}, err
	}
	if policy.Name != "no" && o.Remove {
		return RestartPolicy{}, fmt.Errorf("%w: --restart and --rm cannot be combined", ErrInvalidInput)
	}
	if policy.Name != "no" && !o.Detach {
		return RestartPolicy{}, fmt.Errorf("%w: --restart needs -d (a restarted container runs detached)", ErrInvalidInput)
	}
	if o.Health.OnFailure == "restart" && !o.Detach {
		return RestartPolicy{}, fmt.Errorf("%w: --health-on-failure restart needs -d (a restarted container runs detached)", ErrInvalidInput)
	}
	return policy, nil
}

// newRecord validates o and resolves its image: the record of a container
// about to be created from o (its id new, its spec to be made), the
// process it runs and its limits.
func (e *Engine) newRecord(o RunOptions) (*Record, specgen.ImageConfig, *specs.LinuxResources, error) {
	var none specgen.ImageConfig
	policy, err := checkRunOptions(o)
	if err != nil {
		return nil, none, nil, err
	}
	mounts, err := e.runMounts(o.MountOptions, o.ReadOnly)
	if err != nil {
		return nil, none, nil, err
	}
	res, err := o.Limits.Resources()
	if err == nil {
		err = cgroups.Unsupported(res)
	}
	if err != nil {
		return nil, none, nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	dir, img, err := e.resolveImage(o.Image)
	if err != nil {
		return nil, none, nil, err
	}
	if mounts, err = e.imageVolumes(mounts, img); err != nil {
		return nil, none, nil, err
	}
	process, err := processOf(o, img)
	if err != nil {
		return nil, none, nil, err
	}
	var imageHealth *image.HealthConfig
	if img != nil {
		imageHealth = img.Config.Healthcheck
	}
	health, onFailure, err := healthConfig(o.Health, imageHealth)
	if err != nil {
		return nil, none, nil, err
	}
	r := &Record{
		Name: o.Name, Image: o.Image, Rootfs: dir, Created: time.Now().UTC(), Status: StateCreated,
		AutoRemove: o.Remove, ByCreate: o.byCreate, Restart: policy, Limits: o.Limits, Detached: o.Detach, Log: o.Log,
		Labels: o.Labels, Mounts: mounts, Config: processConfigOf(process, imageEnv(img)),
		Healthcheck: health, HealthOnFailure: onFailure,
		Host: HostOptions{
			Privileged: o.Privileged, ReadOnly: o.ReadOnly,
			CapAdd: o.CapAdd, CapDrop: o.CapDrop, User: process.User, Tty: o.Tty,
			OpenStdin: o.Interactive, StdinOnce: o.Interactive && (o.StdinOnce || !o.Detach),
			Init: o.Process.Init, StopSignal: o.Process.StopSignal, StopTimeout: o.Process.StopTimeout,
			GroupAdd: o.Process.GroupAdd,
		},
	}
	if r.ID, err = newID(); err != nil {
		return nil, none, nil, err
	}
	if err := e.chooseNetwork(o, r, img); err != nil {
		return nil, none, nil, err
	}
	if o.Image == "" {
		r.Image = dir
	}
	if img != nil {
		r.ImageID, r.Rootfs = img.ID, image.RootfsOf(e.containerDir(r.ID))
	}
	if err := e.usernsOptions(o.Isolation, r); err != nil {
		return nil, none, nil, err
	}
	keepIDDefaults(r, o.User)
	return r, process, res, nil
}

// processOf is what a container of o runs: the config of its image (none
// for a rootfs directory) with the choices of o merged in, as Docker
// merges them; bash on a rootfs directory when nothing gives a command.
func processOf(o RunOptions, img *image.Image) (specgen.ImageConfig, error) {
	var c specgen.ImageConfig
	if img != nil {
		ic := img.Config
		c = specgen.ImageConfig{
			Entrypoint: ic.Entrypoint, Cmd: ic.Cmd, Env: ic.Env,
			WorkingDir: ic.WorkingDir, User: ic.User,
		}
	}
	p := c.Merge(specgen.RunConfig{
		Entrypoint: o.Entrypoint, Cmd: o.Args, Env: hostValues(o.Env),
		WorkingDir: o.Workdir, User: o.User,
	})
	if len(p.Args()) == 0 {
		if img != nil {
			return p, fmt.Errorf("%w: image %s has no command: give one", ErrInvalidInput, o.Image)
		}
		p.Cmd = []string{"bash"}
	}
	return p, nil
}

// imageEnv is the environment of img's config (none without an image).
func imageEnv(img *image.Image) []string {
	if img == nil {
		return nil
	}
	return img.Config.Env
}

// hostValues gives each bare NAME of env (-e NAME) its value in this
// process's environment, as Docker's client does; a name it lacks stays
// bare (and is left out of the container's). Only run's own options take
// values from here: a bare name in an image's config stays bare, or an
// image could ask for any variable of the caller's environment.
func hostValues(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if kv != "" && !strings.Contains(kv, "=") {
			if v, ok := os.LookupEnv(kv); ok {
				kv += "=" + v
			}
		}
		out = append(out, kv)
	}
	return out
}

// populate puts in place what the spec of a container just created needs
// on disk, completes the spec from its root file system and writes it:
// the root file system of an image is mounted, the user looked up in its
// /etc/passwd and /etc/group, the volumes' sources made.
func (e *Engine) populate(r *Record) error {
	if err := e.mountRootfs(r); err != nil {
		return err
	}
	var own []string // an older record has no Config: HOME follows the user
	if r.Config != nil {
		own = r.Config.Env
	}
	if err := specgen.Apply(r.Spec, specgen.WithUser(r.Host.User, own), specgen.WithGroupAdd(r.Host.GroupAdd)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if err := e.writeEtcFiles(r); err != nil {
		return err
	}
	if err := e.makeMountSources(r); err != nil {
		return err
	}
	return e.saveSpec(r)
}

// mountRootfs mounts the root file system of a container of an image,
// unless it is mounted.
func (e *Engine) mountRootfs(r *Record) error {
	if !r.mountsRootfs() || isMounted(r.Rootfs) {
		return nil
	}
	m, err := rootfsIDMap(r)
	if err != nil {
		return err
	}
	if m != nil {
		defer m.Userns.Close()
	}
	if r.ImageID == "" {
		_, err = image.MountIDMapped(r.Host.IDMappedRootfs, e.containerDir(r.ID), m)
		return err
	}
	store, err := e.Images()
	if err != nil {
		return err
	}
	_, err = store.PrepareRootfsMapped(r.ImageID, e.containerDir(r.ID), m)
	return err
}

// removeStopped removes container r, which does not run and whose lock the
// caller holds, under its state lock (see holdState): no stop marks it
// meanwhile. The caller must not hold that lock already.
func (e *Engine) removeStopped(r *Record) error {
	if state, err := e.holdState(r.ID); err == nil {
		defer state.Close()
	}
	return e.removeContainer(r)
}

// removeContainer deletes everything of a container that does not run:
// its root file system mount, its directory and record, and with --rm (as
// Docker does) its anonymous volumes.
func (e *Engine) removeContainer(r *Record) error {
	err := e.cleanupNetwork(r)
	if r.mountsRootfs() {
		err = errors.Join(err, image.ReleaseRootfs(e.containerDir(r.ID)))
	}
	if r.AutoRemove {
		err = errors.Join(err, e.removeVolumes(r))
	}
	if err = errors.Join(err, e.remove(r.ID)); err == nil {
		e.event(r, "destroy")
	}
	return err
}

// removeVolumes deletes the anonymous volumes of r that no other
// container mounts (--volumes-from shares them).
func (e *Engine) removeVolumes(r *Record) error {
	if !slices.ContainsFunc(r.Mounts, func(m MountPoint) bool { return m.Anonymous }) {
		return nil // no need to read every record
	}
	users, err := e.VolumeUsers()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range r.Mounts {
		name := e.volumeOf(m)
		if !m.Anonymous || name == "" || slices.ContainsFunc(users[name], func(id string) bool { return id != r.ID }) {
			continue
		}
		if err := e.deleteVolume(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startContainer creates the container's cgroups and starts its init; the
// record says running once it returns without error.
func (e *Engine) startContainer(r *Record, o launch.Options) (*launch.Process, cgroups.Manager, error) {
	if err := e.requireSpec(r); err != nil {
		return nil, nil, err
	}
	if err := e.mountRootfs(r); err != nil {
		return nil, nil, err
	}
	// Where its exit goes even when the disk is full.
	if err := e.reserveExit(r.ID); err != nil {
		return nil, nil, err
	}
	if !r.StartedAt.IsZero() {
		// What a previous run may have left, of what it made.
		cg, err := e.cgroupOf(r)
		if err == nil {
			err = cg.Destroy()
		}
		if err != nil {
			return nil, nil, err
		}
	}
	// What the start is about to make is written down first: a command
	// killed half-way leaves its cleanup what was the container's.
	toMake, err := cgroups.ToMake(r.Spec.Linux.CgroupsPath)
	if err != nil {
		return nil, nil, err
	}
	if !r.CgroupOwnership.Covers(toMake) {
		err := e.updateRecord(r.ID, func(n *Record) {
			n.CgroupOwnership = toMake
			r.adopt(n)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if err := e.joinNamespacesOf(r); err != nil {
		return nil, nil, errors.Join(err, e.releaseShmOf(r))
	}
	started := false
	defer func() {
		if !started {
			_ = e.releaseShmOf(r) // what it failed on says more
		}
	}()
	cg, err := cgroups.New(r.Spec.Linux.CgroupsPath)
	if err != nil {
		return nil, nil, err
	}
	o.CreateCgroups = true
	o.Trace.Mark("start bookkeeping")
	atts, ready, err := e.connect(r)
	if err != nil {
		return nil, nil, errors.Join(err, cg.Destroy())
	}
	o.Trace.Mark("network")
	o.BeforePlaced = ready
	p, err := launch.Start(r.ID, withoutCgroupLimits(r.Spec), cg, o)
	if err != nil {
		if ready != nil {
			_ = ready() // what the start failed on says more; then pasta's pid is known
		}
		return nil, nil, errors.Join(err, cg.Destroy(), e.disconnect(r, atts))
	}
	pidStart, monitorStart := proc.StartTime(p.Pid), proc.StartTime(os.Getpid())
	err = e.updateRecord(r.ID, func(n *Record) {
		n.Status, n.Pid, n.StartedAt, n.BootID = StateRunning, p.Pid, time.Now().UTC(), proc.BootID()
		n.Networks = atts
		n.PidStart, n.Monitor, n.MonitorStart = pidStart, os.Getpid(), monitorStart
		n.CgroupOwnership = cg.Ownership()
		n.Error, n.OOMKilled = "", false
		r.adopt(n)
	})
	if err != nil {
		// Destroy kills whatever the signal missed; the status of a
		// killed init says nothing.
		_ = p.Signal(unix.SIGKILL)
		_, _ = p.Wait()
		return nil, nil, errors.Join(err, cg.Destroy(), e.disconnect(r, atts))
	}
	o.Trace.Mark("record: running")
	// What a check of an earlier run said no longer holds (a state
	// that cannot be written is corrected by the first check).
	_ = e.resetHealth(r)
	e.event(r, "start")
	started = true
	return p, cg, nil
}

// finishContainer records how the container ended and removes the cgroups
// made for it: those the record names (an update may have made a v1
// cpuset since cg was), else cg's. The exit goes to the reserved exit file
// first, then into the record: r has it even if the record could not be
// written (see recordExit).
func (e *Engine) finishContainer(r *Record, cg cgroups.Manager, code int) error {
	atts := r.Networks
	if n, err := e.loadRecord(r.ID); err == nil {
		if n.CgroupOwnership != nil {
			if c, err := cgroups.Open(n.CgroupPath, n.CgroupOwnership); err == nil {
				cg = c
			}
		}
		atts = n.Networks // with those network connect added
	}
	// As Docker does, its shareable /dev/shm goes when it stops: the
	// containers that joined it keep theirs.
	nerr := errors.Join(e.disconnect(r, atts), e.releaseShmOf(r))
	r.Networks = nil
	n, err := cg.OOMKills()
	x := exitStatus{Pid: r.Pid, PidStart: r.PidStart, BootID: r.BootID, Code: code, FinishedAt: time.Now().UTC(), OOMKilled: err == nil && n > 0}
	x.apply(r)
	if r.OOMKilled {
		e.event(r, "oom")
	}
	e.event(r, "die", exitAttr(code)...)
	if r.AutoRemove {
		// The record goes next: no point writing it.
		return errors.Join(nerr, cg.Destroy())
	}
	xerr := e.writeExit(r.ID, x)
	err = errors.Join(nerr, cg.Destroy())
	r.CgroupOwnership = cg.Ownership() // without what is gone
	if rerr := e.recordExit(r); rerr != nil {
		return errors.Join(err, rerr, xerr)
	}
	return err
}

// recordExit writes the exit that r has into its record.
func (e *Engine) recordExit(r *Record) error {
	x := *r
	return e.updateRecord(r.ID, func(n *Record) {
		n.Status, n.ExitCode, n.FinishedAt, n.OOMKilled = x.Status, x.ExitCode, x.FinishedAt, x.OOMKilled
		n.CgroupOwnership = x.CgroupOwnership
		n.Networks = x.Networks
		r.adopt(n)
	})
}

func isMounted(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// Run runs a container in the foreground and returns its exit status; with
// o.Detach it starts a monitor for it and returns at once.
func (e *Engine) Run(o RunOptions) (int, error) {
	r, lock, state, err := e.prepare(o)
	if err != nil {
		return 125, err
	}
	defer lock.Close()
	if o.Detach {
		defer state.Close()
		err := e.startMonitor(r, lock, state, nil)
		o.Trace.Mark("monitor start (the container's start in it)")
		writeTrace(o.Trace, o.Stderr)
		if err != nil {
			return launch.ExitCodeOf(err), errors.Join(err, removeCIDFile(o.Process.CIDFile))
		}
		fmt.Fprintln(o.Stdout, r.ID)
		return 0, nil
	}
	fmt.Fprintf(o.Stderr, "[+] start container with id %s\n", ids.ShortID(r.ID))
	stdio := launch.Stdio{Stdout: o.Stdout, Stderr: o.Stderr}
	if o.Interactive {
		stdio.Stdin = o.Stdin
	}
	// Signals that arrive while the container starts are delivered once it runs.
	sigs := make(chan os.Signal, 64)
	if o.NoSigProxy {
		signal.Notify(sigs, unix.SIGWINCH) // the terminal's size still
	} else {
		defer launch.NotifyProxied(sigs)()
	}
	p, cg, err := e.startContainer(r, launch.Options{Stdio: stdio, KillWithParent: true, Trace: o.Trace})
	writeTrace(o.Trace, o.Stderr)
	if err != nil {
		// A container that could not even start leaves nothing.
		r.AutoRemove = true
		code := launch.ExitCodeOf(err)
		err = errors.Join(err, e.removeContainer(r), removeCIDFile(o.Process.CIDFile))
		state.Close()
		return code, err
	}
	state.Close()
	stopChecks := e.checkInProcess(r)
	code := attach(p, o.Interactive, o.Stdin, o.Stdout, sigs)
	stopChecks()
	err = e.finishContainer(r, cg, code)
	if r.OOMKilled {
		fmt.Fprintf(o.Stderr, "[+] container %s was killed: out of memory\n", ids.ShortID(r.ID))
	}
	if r.AutoRemove {
		err = errors.Join(err, e.removeStopped(r))
	} else if r.mountsRootfs() {
		err = errors.Join(err, image.ReleaseRootfs(e.containerDir(r.ID)))
	}
	return code, err
}

// writeTrace prints the steps of a traced start (nothing without one).
func writeTrace(t *trace.Trace, w io.Writer) {
	if t != nil {
		_ = t.Write(w) // a trace lost with stderr changes nothing of the run
	}
}

// attach connects the terminal or forwards signals while p runs, and
// returns its exit status as a shell reports it.
func attach(p *launch.Process, interactive bool, stdin, stdout *os.File, sigs chan os.Signal) int {
	var outDone chan struct{}
	if p.Console != nil {
		defer p.Console.Close()
		if interactive {
			if restore, err := makeRaw(stdin); err == nil {
				defer restore()
			}
			// Either side closing ends the copy; the exit status is
			// what is reported.
			go func() { _, _ = io.Copy(p.Console, stdin) }()
		}
		resize(stdin, p.Console)
		outDone = make(chan struct{})
		go func() {
			_, _ = io.Copy(stdout, p.Console) // EIO: the pty has closed
			close(outDone)
		}()
	}
	waited := make(chan struct{})
	var state *unix.WaitStatus
	go func() {
		state, _ = p.Wait()
		close(waited)
	}()
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == unix.SIGWINCH && p.Console != nil {
				resize(stdin, p.Console)
			} else {
				// An init that has just ended takes no signal.
				_ = p.Signal(sig.(syscall.Signal))
			}
		case <-waited:
			break wait
		}
	}
	if outDone != nil {
		// The pty ends when the last process holding it is gone.
		select {
		case <-outDone:
		case <-time.After(2 * time.Second):
		}
	}
	return launch.ExitCode(state, 125)
}

// ImageUsers is the set of image ids that containers (running or not) use.
func (e *Engine) ImageUsers() (map[string]bool, error) {
	all, err := e.List()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, r := range all {
		if r.ImageID != "" {
			used[r.ImageID] = true
		}
	}
	return used, nil
}
