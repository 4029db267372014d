package engine

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/runtime"
)

// ExecOptions are the options of `sdocker exec`.
type ExecOptions struct {
	Args        []string // default: bash
	Env         []string // KEY=VALUE added to the container's environment
	Workdir     string
	Tty         bool
	Interactive bool

	Stdin, Stdout, Stderr *os.File
}

// running returns the record of a running container, or an error saying
// why it cannot be entered.
func (e *Engine) running(ref string) (*Record, error) {
	r, err := e.Find(ref)
	if err != nil {
		return nil, err
	}
	if r.Status != StateRunning || r.BootID != proc.BootID() || !proc.Alive(r.Pid, r.PidStart) {
		return nil, fmt.Errorf("%w: container %s is not running", ErrWrongState, r.ID[:12])
	}
	return r, nil
}

// Exec runs a process in a running container and returns its exit status.
func (e *Engine) Exec(ref string, o ExecOptions) (int, error) {
	e.Collect()
	r, err := e.running(ref)
	if err != nil {
		return 125, err
	}
	pr := *r.Spec.Process
	pr.Args = o.Args
	if len(pr.Args) == 0 {
		pr.Args = []string{"bash"}
	}
	pr.Terminal = o.Tty
	pr.Env = append([]string{}, pr.Env...)
	if o.Tty {
		pr.Env = append(pr.Env, "TERM=xterm")
	}
	for _, kv := range o.Env {
		pr.Env = append(pr.Env, kv)
	}
	if o.Workdir != "" {
		pr.Cwd = o.Workdir
	}
	cg, err := cgroups.New(r.Spec.Linux.CgroupsPath)
	if err != nil {
		return 125, err
	}
	stdio := runtime.Stdio{Stdout: o.Stdout, Stderr: o.Stderr}
	if o.Interactive {
		stdio.Stdin = o.Stdin
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGWINCH)
	defer signal.Stop(sigs)
	p, err := runtime.Exec(r.Pid, r.Spec, &pr, cg, runtime.Options{Stdio: stdio, KillWithParent: true})
	if err != nil {
		return runtime.ExitCodeOf(err), err
	}
	return attach(p, o.Interactive, o.Stdin, o.Stdout, sigs), nil
}

// Remove deletes a stopped container; force kills a running one first.
func (e *Engine) Remove(ref string, force bool) error {
	e.Collect()
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	if r.Status != StateExited {
		if !force {
			return fmt.Errorf("%w: container %s is running: stop it first or use -f", ErrWrongState, r.ID[:12])
		}
		if proc.Alive(r.Pid, r.PidStart) {
			unix.Kill(r.Pid, unix.SIGKILL)
		}
		// The watching sdocker process cleans up and exits; wait for it
		// (its lock), then clean whatever is left.
		if err := e.waitUnlocked(r.ID); err != nil {
			return err
		}
		if err := e.Collect(); err != nil {
			return err
		}
	}
	return e.remove(r.ID)
}

// waitUnlocked waits until no process holds the container's lock.
func (e *Engine) waitUnlocked(id string) error {
	dir := e.containerDir(id)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	return nil
}
