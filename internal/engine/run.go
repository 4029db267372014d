package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/rootfs"
	"github.com/sdocker/sdocker/internal/runtime"
	"github.com/sdocker/sdocker/internal/specgen"
)

// RunOptions are the options of `sdocker run`.
type RunOptions struct {
	Image       string // a rootfs directory; "" for the default rootfs
	Name        string
	Args        []string // command; "" means bash
	Env         []string
	Workdir     string
	Hostname    string
	Tty         bool
	Interactive bool // attach stdin
	Network     string
	CapAdd      []string
	CapDrop     []string
	Privileged  bool
	ReadOnly    bool
	Limits      specgen.Limits
	Remove      bool

	Stdin, Stdout, Stderr *os.File
}

// DefaultRootfs is the rootfs `sdocker run` uses without an image.
func (e *Engine) DefaultRootfs() string { return filepath.Join(e.Root, "rootfs") }

// BuildRootfs builds (or refreshes) a rootfs from host binaries in dir.
func (e *Engine) BuildRootfs(dir string) error {
	w, err := rootfs.FindWorkloads()
	if err != nil {
		return err
	}
	return rootfs.Build(dir, rootfs.Options{Workloads: w})
}

func (e *Engine) resolveRootfs(image string) (string, error) {
	if image == "" {
		dir := e.DefaultRootfs()
		if !rootfs.IsBuilt(dir) {
			if err := e.BuildRootfs(dir); err != nil {
				return "", fmt.Errorf("build default rootfs %s: %w", dir, err)
			}
		}
		return dir, nil
	}
	dir, err := filepath.Abs(image)
	if err != nil {
		return "", fmt.Errorf("%w: rootfs %q: %v", ErrInvalidInput, image, err)
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("%w: rootfs %s: no such directory", ErrInvalidInput, image)
	}
	return dir, nil
}

// create reserves an id and a name and writes the container's record. The
// caller holds the container's lock until release is called.
func (e *Engine) create(r *Record) (release func(), err error) {
	unlock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := e.List()
	if err != nil {
		return nil, err
	}
	if err := e.collect(all); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, o := range all {
		used[o.Name] = true
	}
	if r.Name == "" {
		r.Name = generateName(used)
	} else if used[r.Name] {
		return nil, fmt.Errorf("%w: %q", ErrNameInUse, r.Name)
	}
	for {
		if r.ID, err = newID(); err != nil {
			return nil, err
		}
		err = os.Mkdir(e.containerDir(r.ID), 0o700)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", e.containerDir(r.ID), err)
	}
	release, err = e.holdContainer(r.ID)
	if err == nil {
		err = e.save(r)
	}
	if err != nil {
		if release != nil {
			release()
		}
		e.remove(r.ID)
		return nil, err
	}
	return release, nil
}

var validName = func(s string) bool {
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

// Run runs a container in the foreground and returns its exit status.
func (e *Engine) Run(o RunOptions) (int, error) {
	if o.Name != "" && !validName(o.Name) {
		return 125, fmt.Errorf("%w: name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalidInput, o.Name)
	}
	res, err := o.Limits.Resources()
	if err != nil {
		return 125, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	dir, err := e.resolveRootfs(o.Image)
	if err != nil {
		return 125, err
	}
	args := o.Args
	if len(args) == 0 {
		args = []string{"bash"}
	}
	r := &Record{Name: o.Name, Image: dir, Created: time.Now().UTC(), Status: StateCreated, AutoRemove: o.Remove}
	// The id is needed for the spec; validate the options before reserving one.
	gen := specgen.Options{
		Rootfs: dir, Args: args, Env: o.Env, Cwd: o.Workdir, Hostname: o.Hostname, Tty: o.Tty,
		Network: o.Network, CapAdd: o.CapAdd, CapDrop: o.CapDrop, Privileged: o.Privileged,
		ReadOnly: o.ReadOnly, CgroupParent: e.CgroupParent, Resources: res, ID: "0",
	}
	if _, err := specgen.Generate(gen); err != nil {
		return 125, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	for _, w := range cgroups.Warnings(res) {
		fmt.Fprintf(o.Stderr, "WARNING: %s\n", w)
	}
	release, err := e.create(r)
	if err != nil {
		return 125, err
	}
	defer release()
	gen.ID = r.ID
	spec, err := specgen.Generate(gen)
	if err != nil {
		e.remove(r.ID)
		return 125, err
	}
	r.Spec = spec
	cg, err := cgroups.New(spec.Linux.CgroupsPath)
	if err == nil {
		err = cg.Create(spec.Linux.Resources)
	}
	if err != nil {
		e.remove(r.ID)
		return 125, err
	}
	cleanup := func() error {
		err := cg.Destroy()
		if r.AutoRemove {
			return errors.Join(err, e.remove(r.ID))
		}
		return errors.Join(err, e.save(r))
	}

	fmt.Fprintf(o.Stderr, "[+] start container with id %s\n", specgen.ShortID(r.ID))
	stdio := runtime.Stdio{Stdout: o.Stdout, Stderr: o.Stderr}
	if o.Interactive {
		stdio.Stdin = o.Stdin
	}
	// Signals that arrive while the container starts are delivered once it runs.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGWINCH)
	defer signal.Stop(sigs)
	p, err := runtime.Start(r.ID, spec, cg, runtime.Options{Stdio: stdio, KillWithParent: true})
	if err != nil {
		// A container whose program could not even start leaves nothing.
		r.AutoRemove = true
		return runtime.ExitCodeOf(err), errors.Join(err, cleanup())
	}
	r.Status, r.Pid, r.StartedAt, r.BootID = StateRunning, p.Pid, time.Now().UTC(), proc.BootID()
	r.PidStart = proc.StartTime(p.Pid)
	r.Monitor = os.Getpid()
	r.MonitorStart = proc.StartTime(r.Monitor)
	if err := e.save(r); err != nil {
		p.Signal(unix.SIGKILL)
		p.Wait()
		return 125, errors.Join(err, cleanup())
	}

	code := attach(p, o.Interactive, o.Stdin, o.Stdout, sigs)
	r.Status, r.ExitCode, r.FinishedAt = StateExited, code, time.Now().UTC()
	if n, err := cg.OOMKills(); err == nil && n > 0 {
		r.OOMKilled = true
		fmt.Fprintf(o.Stderr, "[+] container %s was killed: out of memory (the kernel's OOM killer ended %d process(es))\n", specgen.ShortID(r.ID), n)
	}
	return code, cleanup()
}

// attach connects the terminal or forwards signals while p runs, and
// returns its exit status as a shell reports it.
func attach(p *runtime.Process, interactive bool, stdin, stdout *os.File, sigs chan os.Signal) int {
	var outDone chan struct{}
	if p.Console != nil {
		defer p.Console.Close()
		if interactive {
			if restore, err := makeRaw(stdin); err == nil {
				defer restore()
			}
			go io.Copy(p.Console, stdin)
		}
		resize(stdin, p.Console)
		outDone = make(chan struct{})
		go func() {
			io.Copy(stdout, p.Console)
			close(outDone)
		}()
	}
	waited := make(chan struct{})
	var state *os.ProcessState
	go func() {
		state, _ = p.Wait()
		close(waited)
	}()
wait:
	for {
		select {
		case sig := <-sigs:
			if sig != unix.SIGWINCH {
				p.Signal(sig.(syscall.Signal))
			} else if p.Console != nil {
				resize(stdin, p.Console)
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
	return exitStatus(state)
}

func exitStatus(st *os.ProcessState) int {
	if st == nil {
		return 125
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
